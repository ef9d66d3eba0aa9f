"""The Reenact panel: a source face follows a driving video or the webcam (X2Face).

Sources (images, or a video whose frames are picked), the embedded face they give, the driving
frame, the generated face and the source frame with the face pasted back, side by side.  The model
runs on :class:`~x2studio.workers.reenact.ReenactServer`'s thread; playback asks for the frame the
clock is at and the server serves only the latest request, so a slow model drops frames instead of
lagging.  Export writes an MP4 with the driving video's audio as a job (progress, cancel).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QComboBox, QFileDialog, QGridLayout, QHBoxLayout, QLabel, QListWidget,
                               QListWidgetItem, QRadioButton, QSlider, QVBoxLayout, QWidget)

from ...core.errors import X2Error
from ...core.settings import Settings
from ..widgets.image_view import ImageView, demo_file
from .base import Panel
from .common import MP4_FILTER, SOURCE_FILTER, VIDEO_FILTER, hrow, make_button, make_check, start_export, view_grid
from ...workers.jobs import JobRunner
from ...workers.reenact import CameraReader, ReenactServer

__all__ = ["ReenactPanel"]

log = logging.getLogger(__name__)
FUSION_LABELS = {"matched": "Sources: matched per frame", "confidence": "Sources: confidence",
                 "mean": "Sources: mean (paper)"}
MODE_HELP = {False: "Absolute (the paper): the face takes the driving face's pose, expression and face shape.",
             True: "Relative: only changes from the first driving frame are applied, so the source keeps "
                   "its own face shape."}


class ReenactPanel(Panel):
    panel_id = "reenact"
    title = "Reenact"
    preferred_weights = "x2face-lite"
    no_weights_message = "No X2Face weights are installed: train them in the Train panel (task x2face)."

    resultShown = Signal(object)

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(settings, parent)
        self.sources: list[str] = []
        self.driving: Path | None = None
        self.frames, self.fps = 0, 25.0
        self.index = 0
        self.ready = False
        self.last_result: dict | None = None
        self._playing = False
        self._clock = 0.0
        self.jobs = JobRunner(self)

        self.server = ReenactServer(self)
        self.server.ready.connect(self._on_ready)
        self.server.drivingOpened.connect(self._on_driving_opened)
        self.server.tracking.connect(
            lambda share: self.status.setText(f"Tracking the face through the driving video: {100 * share:.0f}%"))
        self.server.result.connect(self._on_result)
        self.server.failed.connect(self._on_failed)
        self.camera = CameraReader(self)
        self.camera.frame.connect(self.server.want_image)
        self.camera.failed.connect(self._on_camera_failed)

        self.status = QLabel("", self)
        self.status.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addLayout(self._top_row())
        layout.addLayout(self._mode_row())
        layout.addLayout(self._views(), 1)
        layout.addLayout(self._drive_row())
        layout.addLayout(self._bottom_row())
        self.timer = QTimer(self)
        self.timer.setInterval(15)
        self.timer.timeout.connect(self._tick)
        self._update_buttons()

    # ------------------------------------------------------------------ layout
    def _top_row(self) -> QHBoxLayout:
        self.sources_button = make_button(self, "Sources…", "One or more photos, or a video (3 frames are picked)",
                                          self._choose_sources)
        self.pose_sources_button = make_button(self, "By pose", "Use the source video's 3 frames closest in pose to "
                                               "the current driving frame (pose read from the face embedding)",
                                               self.sources_by_pose)
        self.weights_box = QComboBox(self)
        self.weights_box.setToolTip("The X2Face weights")
        self.weights_box.currentTextChanged.connect(lambda _t: self._setup())
        self.absolute = QRadioButton("Absolute", self)
        self.relative = QRadioButton("Relative", self)
        self.absolute.setChecked(True)
        self.relative.toggled.connect(self._on_mode)
        self.paste = make_check(self, "Paste back", "Paste the generated face back into the driving frame",
                                checked=True)
        return hrow(self.sources_button, self.pose_sources_button, self.weights_box, self.absolute, self.relative,
                    self.paste)

    def _mode_row(self) -> QHBoxLayout:
        """The mode's help and the fusion choice (the help wraps, so the box takes no width from the top row)."""
        from ...pipelines.reenact import FUSION_HELP

        self.fusion_box = QComboBox(self)
        for key, label in FUSION_LABELS.items():
            self.fusion_box.addItem(label, key)
            self.fusion_box.setItemData(self.fusion_box.count() - 1, FUSION_HELP[key], Qt.ItemDataRole.ToolTipRole)
        self.fusion_box.setToolTip("How several source faces are combined:\n"
                                   + "\n".join(f"{FUSION_LABELS[k]}: {v}" for k, v in FUSION_HELP.items()))
        self.fusion_box.currentIndexChanged.connect(self._on_fusion)
        self.mode_help = QLabel(MODE_HELP[False], self)
        self.mode_help.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.mode_help, 1)
        row.addWidget(self.fusion_box)
        return row

    def _views(self) -> QGridLayout:
        self.source_strip = QListWidget(self)
        self.source_strip.setViewMode(QListWidget.ViewMode.IconMode)
        self.source_strip.setIconSize(QPixmap(72, 72).size())
        self.source_strip.setFixedWidth(100)
        self.embedded_view = ImageView("embedded face", self)
        self.driving_view = ImageView("driving", self)
        self.generated_view = ImageView("generated", self)
        self.composite_view = ImageView("pasted back", self)
        views = view_grid(self, ((self.embedded_view, "Embedded face", 1), (self.driving_view, "Driving", 1),
                                 (self.generated_view, "Generated", 1), (self.composite_view, "Pasted back", 1)),
                          start=1)
        views.addWidget(self.source_strip, 0, 0, 2, 1)
        return views

    def _drive_row(self) -> QHBoxLayout:
        self.driving_button = make_button(self, "Driving video…", "The video whose face drives the sources",
                                          self._choose_driving)
        self.play_button = make_button(self, "Play", "Play the driving video with the generated face",
                                       self.toggle_play)
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.valueChanged.connect(self._on_slider)
        self.frame_label = QLabel("", self)
        self.webcam_button = make_button(self, "Webcam", "Drive the sources with your face, live", self.set_webcam,
                                         checkable=True)
        row = hrow(self.driving_button, self.play_button, stretch=False)
        row.addWidget(self.slider, 1)
        row.addWidget(self.frame_label)
        row.addWidget(self.webcam_button)
        return row

    def _bottom_row(self) -> QHBoxLayout:
        self.export_button = make_button(self, "Export MP4…", "The reenacted video with the driving video's sound",
                                         self._choose_export)
        self.still_button = make_button(self, "Save stills…", "The frame shown, as images", self._choose_stills)
        row = hrow(self.export_button, self.still_button, stretch=False)
        row.addWidget(self.status, 1)
        return row

    # ------------------------------------------------------------------ start-up
    def start_demo(self) -> None:
        """The bundled demo face driven by the demo clip."""
        demo_src, demo_drv = demo_file("face_0.png"), demo_file("talking_3.mp4")
        if self.weights_box.count() and demo_src.is_file() and demo_drv.is_file():
            self.set_sources([str(demo_src)])
            self.set_driving(demo_drv)

    def weight_names(self) -> list[str]:
        from ...weights.registry import WeightsRegistry

        return WeightsRegistry().names("x2face")

    def set_device(self, device: str) -> None:
        self.device = device
        self._setup()

    # ------------------------------------------------------------------ sources and driving
    def _choose_sources(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Source faces", "", SOURCE_FILTER)
        if paths:
            self.set_sources(paths)

    def set_sources(self, paths: list[str]) -> None:
        self.sources = [str(p) for p in paths]
        self._setup()

    def _setup(self) -> None:
        if not self.sources or not self.weights_box.currentText():
            return
        self.ready = False
        self.status.setText("Finding the source faces and computing the embedded face…")
        self.server.setup(self.weights_box.currentText(), self.device, self.sources)
        self._update_buttons()

    def _on_ready(self, info) -> None:
        self.ready = True
        self.embedded_view.set_image(info.embedded)
        self.source_strip.clear()
        for img, origin in zip(info.sources, info.origins):
            item = QListWidgetItem(QPixmap.fromImage(img).scaled(72, 72), "")
            item.setToolTip(origin)
            self.source_strip.addItem(item)
        self.status.setText(f"{len(info.sources)} source face(s); weights '{info.weights}' "
                            f"({info.size}²) on {self.device.upper()}.")
        self._update_buttons()
        self._request()

    def source_video(self) -> str | None:
        """The video among the sources (a frame spec ``clip.mp4@N`` counts as its video)."""
        from ...face.tracks import VIDEO_SUFFIXES
        from ...pipelines.reenact import split_frame_spec

        for s in self.sources:
            p, _ = split_frame_spec(s)
            if p.suffix.lower() in VIDEO_SUFFIXES:
                return str(p)
        return None

    def sources_by_pose(self, k: int = 3) -> None:
        """Replace the sources by the source video's ``k`` frames closest in pose to the current driving
        frame (a job: faces found, poses read by the embedding's pose head)."""
        video, driving, index = self.source_video(), self.driving, self.index
        if video is None or driving is None:
            self.errorRaised.emit("Choose a source video and a driving video first.",
                                  "The frames of the source video closest in pose to the driving frame are used.")
            return
        from ...pipelines.pick_sources import PickSourcesRequest, pick_sources

        try:
            request = PickSourcesRequest(Path(video), Path(driving), k, driving_frame=index, device=self.device)
        except X2Error as exc:
            self._on_failed(f"Picking sources by pose failed: {exc}")
            return

        def done(result) -> None:
            self.status.setText("Sources closest in pose: " + ", ".join(
                f"frame {r['frame']} ({r['distance_deg']:.0f}° away)" for r in result.rows))
            self.set_sources(result.specs())

        self.status.setText("Reading the poses of the source video's frames…")
        self.jobs.start("Picking sources by pose", lambda job: pick_sources(request, job), on_success=done,
                        on_failure=lambda m, d: self._on_failed(f"Picking sources by pose failed: {m}"))

    def _choose_driving(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Driving video", "", VIDEO_FILTER)
        if path:
            self.set_driving(Path(path))

    def set_driving(self, path: Path) -> None:
        self.set_webcam(False)
        self.driving = Path(path)
        self.server.open_driving(str(path))

    def _on_driving_opened(self, frames: int, fps: float) -> None:
        self.frames, self.fps = frames, fps
        self.slider.blockSignals(True)
        self.slider.setRange(0, frames - 1)
        self.slider.setValue(0)
        self.slider.blockSignals(False)
        self.index = 0
        self._update_buttons()
        self._request()

    def _request(self) -> None:
        if self.ready and self.driving is not None and self.frames and not self.camera.is_running():
            self.server.want_frame(self.index)

    def _on_slider(self, value: int) -> None:
        self.index = value
        self._clock = time.monotonic() - value / self.fps
        self._request()

    def fusion(self) -> str:
        return str(self.fusion_box.currentData())

    def _on_fusion(self, _index: int) -> None:
        self.server.set_fusion(self.fusion())
        self._request()

    def _on_mode(self, relative: bool) -> None:
        self.mode_help.setText(MODE_HELP[relative])
        self.server.set_relative(relative)
        self._request()

    # ------------------------------------------------------------------ playback and webcam
    def toggle_play(self) -> None:
        if not self.frames:
            return
        self._playing = not self._playing
        self.play_button.setText("Pause" if self._playing else "Play")
        if self._playing:
            if self.index >= self.frames - 1:
                self.index = 0
            self._clock = time.monotonic() - self.index / self.fps
            self.timer.start()
        else:
            self.timer.stop()

    def _tick(self) -> None:
        index = int((time.monotonic() - self._clock) * self.fps)
        if index >= self.frames:
            self.toggle_play()
            return
        if index != self.index:
            self.index = index
            self.slider.blockSignals(True)
            self.slider.setValue(index)
            self.slider.blockSignals(False)
            self._request()

    def set_webcam(self, on: bool) -> None:
        if self.webcam_button.isChecked() != on:
            self.webcam_button.setChecked(on)     # re-enters through toggled
            return
        if on:
            if self._playing:
                self.toggle_play()
            self.status.setText("Opening the webcam…")
            self.camera.start(0)
        else:
            self.camera.stop()

    def _on_camera_failed(self, message: str) -> None:
        self.set_webcam(False)
        self.status.setText(message)
        self.errorRaised.emit(message, "")

    # ------------------------------------------------------------------ results
    def _on_result(self, out: dict) -> None:
        self.last_result = out
        self.driving_view.set_image(out["driving"])
        if out["found"]:
            self.generated_view.set_image(out["generated"])
            self.composite_view.set_image(out["composite"])
            where = "webcam" if out["index"] < 0 else f"frame {out['index'] + 1} / {self.frames}"
            self.frame_label.setText(f"{where} · {out['ms']:.0f} ms")
        else:
            self.frame_label.setText("no face in this driving frame: holding the last one")
        self.resultShown.emit(out)

    def _on_failed(self, message: str) -> None:
        self.status.setText(message)
        self.errorRaised.emit(message, "")
        self._update_buttons()

    # ------------------------------------------------------------------ export
    def _choose_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export reenactment", "reenacted.mp4", MP4_FILTER)
        if path:
            self.export(Path(path))

    def export(self, out: Path):
        """Render the whole driving video to ``out`` (MP4 with the driving audio) as a job."""
        if not self.ready or self.driving is None:
            self.errorRaised.emit("Choose source faces and a driving video first.", "")
            return None
        from ...pipelines.reenactment import ReenactRequest, reenact

        try:
            request = ReenactRequest(tuple(Path(p) for p in self.sources), self.driving, out,
                                     self.weights_box.currentText(), self.device, fusion=self.fusion(),
                                     relative=self.relative.isChecked(), paste=self.paste.isChecked())
        except X2Error as exc:
            self._on_failed(f"Export failed: {exc}")
            return None

        def work(job):
            return reenact(request, job)

        return start_export(self, out, work, self._on_exported, self.status, self._on_failed)

    def _on_exported(self, report) -> None:
        self.status.setText(" ".join(report.lines()))
        self.statusMessage.emit(f"Exported {report.out}")

    def _choose_stills(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Save stills to")
        if folder:
            self.save_stills(Path(folder))

    def save_stills(self, folder: Path) -> list[Path]:
        """The current embedded face, generated face and pasted-back frame as PNGs."""
        from ...core.atomic import atomic_path

        written = []
        for view, name in ((self.embedded_view, "embedded"), (self.generated_view, "generated"),
                           (self.composite_view, "pasted_back")):
            img = view.image()
            if img is None or img.isNull():
                continue
            path = folder / f"{name}.png"
            with atomic_path(path) as tmp:
                if not img.save(str(tmp), "PNG"):
                    self.errorRaised.emit(f"Could not write '{path}'.", "Is the folder writable?")
                    return written
            written.append(path)
        self.status.setText(f"Saved {len(written)} image(s) to {folder}.")
        return written

    def _update_buttons(self) -> None:
        has_video = self.driving is not None and self.frames > 0
        self.pose_sources_button.setEnabled(has_video and self.source_video() is not None)
        self.play_button.setEnabled(self.ready and has_video)
        self.slider.setEnabled(has_video)
        self.export_button.setEnabled(self.ready and has_video)
        self.still_button.setEnabled(self.ready)

    def shutdown(self) -> None:
        self.timer.stop()
        self.camera.stop()
        self.jobs.shutdown()
        self.server.shutdown()
