"""The Paint panel: draw on the embedded face (brush, eraser, stamps with alpha) and see the edit
follow the face through a driving video (thesis Fig. 8).

The canvas is the source's embedded face (a pose-free texture); strokes go on a transparent layer
over it (:class:`~x2studio.pipelines.paint.PaintLayer`, one stroke = one undo step).  After every
change the layer is handed to the reenactment thread, which regenerates the current driving frame;
the layer can be saved, loaded, kept while the source changes (the same edit on another person) and
exported with the driving video as an MP4 job.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QKeySequence, QShortcut
from PySide6.QtWidgets import (QColorDialog, QComboBox, QDoubleSpinBox, QFileDialog, QGridLayout, QHBoxLayout, QLabel,
                               QRadioButton, QSlider, QVBoxLayout, QWidget)

from ...core.errors import X2Error
from ...core.settings import Settings
from ...pipelines.paint import PaintLayer
from ...workers.jobs import JobRunner
from ...workers.media import to_qimage
from ...workers.reenact import ReenactServer
from ..widgets.image_view import ImageView, demo_file
from ..widgets.paint_canvas import PaintCanvas
from .base import Panel
from .common import (MP4_FILTER, SOURCE_FILTER, VIDEO_FILTER, PhotoSource, hrow, make_button, start_export,
                     view_grid)

__all__ = ["PaintPanel"]

log = logging.getLogger(__name__)


class PaintPanel(PhotoSource, Panel):
    setup_message = "Finding the face and computing its embedded face…"
    source_title, source_filter = "Source face", SOURCE_FILTER

    panel_id = "paint"
    title = "Paint"
    preferred_weights = "x2face-lite"
    no_weights_message = "No X2Face weights are installed: train them in the Train panel (task x2face)."

    resultShown = Signal(object)

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(settings, parent)
        self.source: str | None = None
        self.driving: Path | None = None
        self.frames, self.index = 0, 0
        self.ready = False
        self.layer: PaintLayer | None = None
        self.plain = None                    # the embedded face without paint (QImage)
        self.stamp_image = None
        self.last_result: dict | None = None
        self.jobs = JobRunner(self)

        self.server = ReenactServer(self)
        self.server.ready.connect(self._on_ready)
        self.server.drivingOpened.connect(self._on_driving_opened)
        self.server.tracking.connect(
            lambda share: self.status.setText(f"Tracking the face through the driving video: {100 * share:.0f}%"))
        self.server.result.connect(self._on_result)
        self.server.failed.connect(self._on_failed)

        self.status = QLabel("", self)
        self.status.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addLayout(self._top_row())
        for row in self._tool_rows():
            layout.addLayout(row)
        layout.addLayout(self._views(), 1)
        layout.addLayout(self._bottom_row())
        layout.addWidget(self.status)
        QShortcut(QKeySequence.StandardKey.Undo, self, self.undo)
        QShortcut(QKeySequence.StandardKey.Redo, self, self.redo)
        self._update_buttons()

    # ------------------------------------------------------------------ layout
    def _top_row(self) -> QHBoxLayout:
        self.source_button = make_button(self, "Source face…", "A photo or a video; keep the layer to paint the "
                                         "same edit on another person", self._choose_source)
        self.weights_box = QComboBox(self)
        self.weights_box.currentTextChanged.connect(lambda _t: self._setup())
        self.driving_button = make_button(self, "Driving video…", "The video whose face drives the painted face",
                                          self._choose_driving)
        return hrow(self.source_button, QLabel("Weights", self), self.weights_box, self.driving_button)

    def _tool_rows(self) -> tuple[QHBoxLayout, ...]:
        self.brush = QRadioButton("Brush", self)
        self.eraser = QRadioButton("Eraser", self)
        self.stamp = QRadioButton("Stamp", self)
        self.brush.setChecked(True)
        for b, mode in ((self.brush, "brush"), (self.eraser, "eraser"), (self.stamp, "stamp")):
            b.toggled.connect(lambda on, m=mode: on and self._set_mode(m))
        self.size_spin = QDoubleSpinBox(self)
        self.size_spin.setRange(1.0, 64.0)
        self.size_spin.setValue(6.0)
        self.size_spin.setSuffix(" px")
        self.size_spin.setToolTip("Brush size, or the stamp's width ×4, in embedded-face pixels")
        self.size_spin.valueChanged.connect(self._sync_canvas)
        self.color = QColor(200, 30, 30)
        self.color_button = make_button(self, "Colour…", "The brush's colour", self._choose_color)
        self.stamp_button = make_button(self, "Stamp image…", "A PNG with transparency (glasses, a tattoo, a scar)",
                                        self._choose_stamp)
        return (hrow(self.brush, self.eraser, self.stamp, QLabel("Size", self), self.size_spin, self.color_button,
                     self.stamp_button), self._stroke_row(), self._layer_row())

    def _stroke_row(self) -> QHBoxLayout:
        self.hardness = QSlider(Qt.Orientation.Horizontal, self)
        self.hardness.setRange(0, 100)
        self.hardness.setValue(60)
        self.opacity = QSlider(Qt.Orientation.Horizontal, self)
        self.opacity.setRange(1, 100)
        self.opacity.setValue(100)
        row = QHBoxLayout()
        for w in (QLabel("Hardness", self), self.hardness, QLabel("Opacity", self), self.opacity):
            row.addWidget(w, 1 if isinstance(w, QSlider) else 0)
        return row

    def _layer_row(self) -> QHBoxLayout:
        self.undo_button = make_button(self, "Undo", "Undo the last stroke", self.undo)
        self.redo_button = make_button(self, "Redo", "Redo the stroke undone", self.redo)
        self.clear_button = make_button(self, "Clear", "Remove all the paint", self.clear)
        self.save_button = make_button(self, "Save layer…", "Save the paint as a PNG layer", self._choose_save)
        self.load_button = make_button(self, "Load layer…", "Load a PNG layer painted before", self._choose_load)
        return hrow(self.undo_button, self.redo_button, self.clear_button, self.save_button, self.load_button)

    def _views(self) -> QGridLayout:
        self.canvas = PaintCanvas(self)
        self.canvas.strokeFinished.connect(self.add_stroke)
        self.canvas.stampAt.connect(self.add_stamp)
        self.driving_view = ImageView("driving", self)
        self.generated_view = ImageView("generated", self)
        self.composite_view = ImageView("pasted back", self)
        return view_grid(self, ((self.canvas, "Embedded face (paint here)", 2), (self.driving_view, "Driving", 1),
                                (self.generated_view, "Generated", 1), (self.composite_view, "Pasted back", 1)))

    def _bottom_row(self) -> QHBoxLayout:
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.valueChanged.connect(self._on_slider)
        self.frame_label = QLabel("", self)
        self.export_button = make_button(self, "Export MP4…", "The painted face driven by the video, as MP4",
                                         self._choose_export)
        row = hrow(QLabel("Driving frame", self), stretch=False)
        row.addWidget(self.slider, 1)
        row.addWidget(self.frame_label)
        row.addWidget(self.export_button)
        return row

    # ------------------------------------------------------------------ start-up
    def start_demo(self) -> None:
        src, drv = demo_file("face_2.png"), demo_file("talking_3.mp4")
        if self.weights_box.count() and src.is_file() and drv.is_file():
            self.set_source(str(src))
            self.set_driving(drv)

    def weight_names(self) -> list[str]:
        from ...weights.registry import WeightsRegistry

        return WeightsRegistry().names("x2face")

    # ------------------------------------------------------------------ source and driving
    def _source_arg(self):
        return [self.source]

    def _on_ready(self, info) -> None:
        if self.layer is None or self.layer.size != info.size:
            if self.layer is not None and self.layer.rgba[..., 3].any():
                self.status.setText(f"These weights' embedded face is {info.size}²: a new, empty layer.")
            self.layer = PaintLayer(info.size)
            self.server.set_layer(None)
        self.ready = True
        self.plain = info.embedded_plain
        self._show_layer()
        self.status.setText(f"Weights '{info.weights}' on {self.device.upper()}. Paint on the embedded face.")
        self._update_buttons()
        self._request()

    def _choose_driving(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Driving video", "", VIDEO_FILTER)
        if path:
            self.set_driving(Path(path))

    def set_driving(self, path: Path) -> None:
        self.driving = Path(path)
        self.server.open_driving(str(path))

    def _on_driving_opened(self, frames: int, fps: float) -> None:
        self.frames = frames
        self.slider.blockSignals(True)
        self.slider.setRange(0, frames - 1)
        self.slider.setValue(min(self.index, frames - 1))
        self.slider.blockSignals(False)
        self._update_buttons()
        self._request()

    def _on_slider(self, value: int) -> None:
        self.index = value
        self._request()

    def _request(self) -> None:
        if self.ready and self.driving is not None and self.frames:
            self.server.want_frame(self.index)

    def _on_result(self, out: dict) -> None:
        self.last_result = out
        self.driving_view.set_image(out["driving"])
        if out["found"]:
            self.generated_view.set_image(out["generated"])
            self.composite_view.set_image(out["composite"])
            self.frame_label.setText(f"{out['index'] + 1} / {self.frames} · {out['ms']:.0f} ms")
        else:
            self.frame_label.setText("no face in this driving frame")
        self.resultShown.emit(out)

    def _on_failed(self, message: str) -> None:
        self.status.setText(message)
        self.errorRaised.emit(message, "")
        self._update_buttons()

    # ------------------------------------------------------------------ painting
    def _set_mode(self, mode: str) -> None:
        self.canvas.mode = mode
        self._sync_canvas()

    def _sync_canvas(self) -> None:
        self.canvas.brush_px = self.size_spin.value()
        self.canvas.color = self.color

    def _choose_color(self) -> None:
        c = QColorDialog.getColor(self.color, self, "Brush colour")
        if c.isValid():
            self.set_color(c)

    def set_color(self, color: QColor) -> None:
        self.color = QColor(color)
        self.color_button.setStyleSheet(f"background: {self.color.name()};")
        self._sync_canvas()

    def _choose_stamp(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Stamp image", "", "Images (*.png *.jpg *.jpeg *.webp)")
        if path:
            self.set_stamp(Path(path))

    def set_stamp(self, path: Path) -> bool:
        from ...media.image import read_image_rgba

        try:
            self.stamp_image = read_image_rgba(path)
        except X2Error as exc:
            self._on_failed(str(exc))
            return False
        self.stamp.setChecked(True)
        self.status.setText(f"Stamp '{Path(path).name}': click on the embedded face to place it.")
        return True

    def add_stroke(self, points: list) -> None:
        if self.layer is None:
            return
        try:
            self.layer.stroke(points, size=self.size_spin.value(), hardness=self.hardness.value() / 100,
                              color=(self.color.red(), self.color.green(), self.color.blue()),
                              opacity=self.opacity.value() / 100, erase=self.canvas.mode == "eraser")
        except X2Error as exc:
            self._on_failed(str(exc))
            return
        self._layer_changed()

    def add_stamp(self, x: float, y: float) -> None:
        if self.layer is None:
            return
        if self.stamp_image is None:
            self._on_failed("Choose a stamp image first (a PNG with transparency).")
            return
        try:
            self.layer.stamp(self.stamp_image, (x, y), width=4 * self.size_spin.value(),
                             opacity=self.opacity.value() / 100)
        except X2Error as exc:
            self._on_failed(str(exc))
            return
        self._layer_changed()

    def undo(self) -> None:
        if self.layer is not None and self.layer.undo():
            self._layer_changed()

    def redo(self) -> None:
        if self.layer is not None and self.layer.redo():
            self._layer_changed()

    def clear(self) -> None:
        if self.layer is not None:
            self.layer.clear()
            self._layer_changed()

    def _layer_changed(self) -> None:
        self._show_layer()
        self.server.set_layer(self.layer.rgba)
        self._request()
        self._update_buttons()

    def _show_layer(self) -> None:
        self.canvas.set_images(self.plain, to_qimage(self.layer.rgba) if self.layer else None)

    # ------------------------------------------------------------------ files
    def _choose_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save paint layer", "layer.png", "PNG with transparency (*.png)")
        if path:
            self.save_layer(Path(path))

    def save_layer(self, path: Path) -> bool:
        try:
            self.layer.save(path)
        except X2Error as exc:
            self._on_failed(str(exc))
            return False
        self.status.setText(f"Saved the layer to {path}.")
        return True

    def _choose_load(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load paint layer", "", "PNG (*.png)")
        if path:
            self.load_layer(Path(path))

    def load_layer(self, path: Path) -> bool:
        try:
            layer = PaintLayer.load(path, self.layer.size if self.layer else None)
        except X2Error as exc:
            self._on_failed(str(exc))
            return False
        self.layer = layer
        self._layer_changed()
        self.status.setText(f"Loaded the layer {Path(path).name}.")
        return True

    def _choose_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export the edited video", "painted.mp4", MP4_FILTER)
        if path:
            self.export(Path(path))

    def export(self, out: Path):
        """The driving video with the painted face, as a job (progress, cancel)."""
        if not self.ready or self.driving is None or self.layer is None:
            self.errorRaised.emit("Choose a source face and a driving video first.", "")
            return None
        from ...pipelines.paint import PaintRequest, paint_face

        layer = PaintLayer(self.layer.size)          # a copy: painting goes on while the export runs
        layer.rgba = self.layer.rgba.copy()
        try:
            request = PaintRequest(Path(self.source), layer, Path(self.driving), Path(out),
                                   self.weights_box.currentText(), self.device)
        except X2Error as exc:
            self._on_failed(f"Export failed: {exc}")
            return None
        return start_export(self, out, lambda job: paint_face(request, job),
                            lambda rep: self.status.setText(" ".join(rep.lines())), self.status, self._on_failed)

    def _update_buttons(self) -> None:
        has = self.layer is not None
        self.undo_button.setEnabled(has and self.layer.can_undo())
        self.redo_button.setEnabled(has and self.layer.can_redo())
        for w in (self.clear_button, self.save_button, self.load_button):
            w.setEnabled(self.ready)
        self.export_button.setEnabled(self.ready and self.driving is not None and self.frames > 0)
        self.slider.setEnabled(self.frames > 0)

    def shutdown(self) -> None:
        self.jobs.shutdown()
        self.server.shutdown()
