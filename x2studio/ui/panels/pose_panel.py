"""The Pose panel: turn the face in a photo with yaw / pitch / roll sliders (X2Face + pose mappings).

The source's own pose (read from its driving vector by f_v→p) is where the sliders start and what
"Reset" returns to.  Each slider move asks :class:`~x2studio.workers.pose.PoseServer` for a
preview; only the newest request is rendered, so dragging never queues work.  "Export sweep" writes
an animation along one axis (MP4 or GIF) as a job with progress and cancel.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QGridLayout, QHBoxLayout, QLabel,
                               QPushButton, QSlider, QVBoxLayout, QWidget)

from ...core.errors import X2Error
from ...core.poses import AXES, LIMITS
from ...core.settings import Settings
from ...workers.jobs import JobRunner
from ...workers.pose import PoseServer
from ..widgets.image_view import ImageView, demo_file
from .base import Panel
from .common import PhotoSource, start_export

__all__ = ["PosePanel"]

log = logging.getLogger(__name__)
STEPS = 2          # slider ticks per degree


class PosePanel(PhotoSource, Panel):
    setup_message = "Finding the face and reading its pose…"
    panel_id = "pose"
    title = "Pose"
    preferred_weights = "x2face-lite"
    no_weights_message = ("No X2Face weights with pose mappings are installed: train 'x2face-v2p' and "
                          "'x2face-p2v' in the Train panel.")

    resultShown = Signal(object)

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(settings, parent)
        self.source: str | None = None
        self.source_pose = [0.0, 0.0, 0.0]
        self.ready = False
        self.layer = None                    # a PaintLayer shown on the posed face
        self.last_result: dict | None = None
        self.jobs = JobRunner(self)

        self.server = PoseServer(self)
        self.server.ready.connect(self._on_ready)
        self.server.result.connect(self._on_result)
        self.server.failed.connect(self._on_failed)

        layout = QVBoxLayout(self)
        layout.addLayout(self._build_top())
        layout.addLayout(self._build_views(), 1)
        layout.addLayout(self._build_sliders())
        layout.addLayout(self._build_pose_row())
        layout.addLayout(self._build_bottom())
        self._update_buttons()

    # ------------------------------------------------------------------ layout
    def _build_top(self) -> QHBoxLayout:
        self.source_button = QPushButton("Source photo…", self)
        self.source_button.clicked.connect(self._choose_source)
        self.weights_box = QComboBox(self)
        self.weights_box.currentTextChanged.connect(lambda _t: self._setup())
        self.paste = QCheckBox("Paste back", self)
        self.paste.setChecked(True)
        top = QHBoxLayout()
        for w in (self.source_button, QLabel("Weights", self), self.weights_box, self.paste):
            top.addWidget(w)
        top.addStretch(1)
        return top

    def _build_views(self) -> QGridLayout:
        self.source_view = ImageView("source", self)
        self.embedded_view = ImageView("embedded face", self)
        self.generated_view = ImageView("generated", self)
        self.composite_view = ImageView("pasted back", self)
        views = QGridLayout()
        for col, (view, name) in enumerate(((self.source_view, "Source"), (self.embedded_view, "Embedded face"),
                                            (self.generated_view, "Generated"), (self.composite_view, "Pasted back"))):
            views.addWidget(QLabel(name, self), 0, col, alignment=Qt.AlignmentFlag.AlignHCenter)
            views.addWidget(view, 1, col)
            views.setColumnStretch(col, 1)
        views.setRowStretch(1, 1)
        return views

    def _build_sliders(self) -> QGridLayout:
        """A slider and a spin box per axis, over the range the pose mappings were trained on."""
        self.sliders: dict[str, QSlider] = {}
        self.spins: dict[str, QDoubleSpinBox] = {}
        grid = QGridLayout()
        for row, axis in enumerate(AXES):
            lo, hi = LIMITS[axis]
            slider = QSlider(Qt.Orientation.Horizontal, self)
            slider.setRange(int(lo * STEPS), int(hi * STEPS))
            slider.setObjectName(f"{axis}Slider")
            spin = QDoubleSpinBox(self)
            spin.setRange(lo, hi)
            spin.setDecimals(1)
            spin.setSingleStep(1.0)
            spin.setSuffix("°")
            slider.valueChanged.connect(lambda v, a=axis: self._on_slider(a, v))
            spin.valueChanged.connect(lambda v, a=axis: self._on_spin(a, v))
            self.sliders[axis], self.spins[axis] = slider, spin
            grid.addWidget(QLabel(axis.capitalize(), self), row, 0)
            grid.addWidget(slider, row, 1)
            grid.addWidget(spin, row, 2)
        grid.setColumnStretch(1, 1)
        return grid

    def _build_pose_row(self) -> QHBoxLayout:
        self.source_pose_label = QLabel("", self)
        self.reset_button = QPushButton("Reset to the source's pose", self)
        self.reset_button.clicked.connect(self.reset)
        self.latency = QLabel("", self)
        pose_row = QHBoxLayout()
        pose_row.addWidget(self.source_pose_label, 1)
        pose_row.addWidget(self.latency)
        pose_row.addWidget(self.reset_button)
        return pose_row

    def _build_bottom(self) -> QHBoxLayout:
        self.sweep_axis = QComboBox(self)
        self.sweep_axis.addItems(AXES)
        self.sweep_button = QPushButton("Export sweep…", self)
        self.sweep_button.setToolTip("An animation along one axis (there and back), as MP4 or GIF")
        self.sweep_button.clicked.connect(self._choose_sweep)
        self.still_button = QPushButton("Save image…", self)
        self.still_button.clicked.connect(self._choose_still)
        self.layer_button = QPushButton("Paint layer…", self)
        self.layer_button.setToolTip("Show a layer painted in the Paint panel on the posed face (empty: none)")
        self.layer_button.clicked.connect(self._choose_layer)
        self.status = QLabel("", self)
        self.status.setWordWrap(True)
        bottom = QHBoxLayout()
        for w in (QLabel("Sweep", self), self.sweep_axis, self.sweep_button, self.still_button, self.layer_button):
            bottom.addWidget(w)
        bottom.addWidget(self.status, 1)
        return bottom

    # ------------------------------------------------------------------ start-up
    def start_demo(self) -> None:
        demo = demo_file("face_2.png")
        if self.weights_box.count() and demo.is_file():
            self.set_source(str(demo))

    def weight_names(self) -> list[str]:
        from ...weights.registry import WeightsRegistry

        reg = WeightsRegistry()
        have = set(reg.names())
        return [n for n in reg.names("x2face") if f"{n}-v2p" in have and f"{n}-p2v" in have]

    # ------------------------------------------------------------------ source
    def _on_ready(self, info) -> None:
        self.ready = True
        self.source_pose = list(info.pose)
        self.source_view.set_image(info.source)
        self.embedded_view.set_image(info.embedded)
        y, p, r = self.source_pose
        self.source_pose_label.setText(f"Source pose (read by f_v→p): yaw {y:+.1f}°, pitch {p:+.1f}°, roll {r:+.1f}°")
        self.status.setText(f"Weights '{info.weights}' on {self.device.upper()}. Move the sliders.")
        self._update_buttons()
        self.reset()

    # ------------------------------------------------------------------ sliders
    def pose(self) -> list[float]:
        return [self.spins[a].value() for a in AXES]

    def set_pose(self, pose) -> None:
        """Move the controls to ``pose`` (degrees) and ask for one preview."""
        for axis, value in zip(AXES, pose):
            for w, v in ((self.spins[axis], float(value)), (self.sliders[axis], int(round(float(value) * STEPS)))):
                w.blockSignals(True)
                w.setValue(v)
                w.blockSignals(False)
        self._request()

    def reset(self) -> None:
        self.set_pose(self.source_pose)

    def _on_slider(self, axis: str, value: int) -> None:
        spin = self.spins[axis]
        spin.blockSignals(True)
        spin.setValue(value / STEPS)
        spin.blockSignals(False)
        self._request()

    def _on_spin(self, axis: str, value: float) -> None:
        slider = self.sliders[axis]
        slider.blockSignals(True)
        slider.setValue(int(round(value * STEPS)))
        slider.blockSignals(False)
        self._request()

    def _request(self) -> None:
        if self.ready:
            self.server.want(self.pose())

    def _on_result(self, out: dict) -> None:
        self.last_result = out
        self.generated_view.set_image(out["generated"])
        self.composite_view.set_image(out["composite"] if self.paste.isChecked() else out["generated"])
        self.latency.setText(f"{out['ms']:.0f} ms")
        self.resultShown.emit(out)

    def _on_failed(self, message: str) -> None:
        self.status.setText(message)
        self.errorRaised.emit(message, "")
        self._update_buttons()

    # ------------------------------------------------------------------ paint layer
    def _choose_layer(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Paint layer (cancel: none)", "", "PNG (*.png)")
        self.set_layer(Path(path) if path else None)

    def set_layer(self, path: Path | None) -> bool:
        """Show the paint layer saved at ``path`` on the posed face (None: no layer)."""
        from ...pipelines.paint import PaintLayer

        try:
            self.layer = None if path is None else PaintLayer.load(path)
        except X2Error as exc:
            self._on_failed(str(exc))
            return False
        self.server.set_layer(None if self.layer is None else self.layer.rgba)
        self._request()
        self.status.setText("No paint layer." if path is None else f"Paint layer {Path(path).name} on the face.")
        return True

    # ------------------------------------------------------------------ export
    def _choose_sweep(self) -> None:
        axis = self.sweep_axis.currentText()
        path, _ = QFileDialog.getSaveFileName(self, f"Export {axis} sweep", f"sweep_{axis}.mp4",
                                              "MP4 video (*.mp4);;GIF animation (*.gif)")
        if path:
            self.export_sweep(Path(path), axis)

    def export_sweep(self, out: Path, axis: str):
        """The source swept along ``axis`` from the current pose (there and back) → ``out`` as a job."""
        if not self.ready:
            self.errorRaised.emit("Choose a source photo first.", "")
            return None
        from ...pipelines.pose_photo import PoseRequest, pose_photo

        try:
            request = PoseRequest(Path(self.source), out, tuple(self.pose()), axis, paste=self.paste.isChecked(),
                                  weights=self.weights_box.currentText(), device=self.device, paint=self.layer)
        except X2Error as exc:
            self._on_failed(f"Export failed: {exc}")
            return None
        return start_export(self, out, lambda job: pose_photo(request, job).output, self._on_exported, self.status,
                            self._on_failed)

    def _on_exported(self, path) -> None:
        self.status.setText(f"Wrote {path}.")
        self.statusMessage.emit(f"Exported {path}")

    def _choose_still(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save image", "posed.png", "PNG image (*.png)")
        if path:
            self.save_image(Path(path))

    def save_image(self, path: Path) -> bool:
        from ...core.atomic import atomic_path

        img = self.composite_view.image()
        if img is None or img.isNull():
            return False
        with atomic_path(path) as tmp:
            if not img.save(str(tmp), "PNG"):
                self.errorRaised.emit(f"Could not write '{path}'.", "Is the folder writable?")
                return False
        self.status.setText(f"Saved {path}.")
        return True

    def _update_buttons(self) -> None:
        for w in (*self.sliders.values(), *self.spins.values(), self.reset_button, self.sweep_button,
                  self.still_button, self.layer_button):
            w.setEnabled(self.ready)

    def shutdown(self) -> None:
        self.jobs.shutdown()
        self.server.shutdown()
