"""What the Piano and Violin panels share: a video view (with the instrument's overlay), a roll of the
notes under it, a threshold slider that re-picks notes without a network pass, synthesized playback
alone or mixed with the video's own sound, export as MIDI, MusicXML or CSV, a Live button, and the
transcription run as a job (progress, cancel).  When a MIDI file with the video's name lies beside
it (the demos' true notes), the roll shows those notes too, outlined, and the status line how well
the transcription matches them.

A subclass names its instrument and weights, builds its request (:meth:`NotesPanel._transcription_work`)
and says what a transcription means (:meth:`NotesPanel._summary`); the hooks below draw its own
parts (the keyboard's lit keys, the violin's pitch tracks)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QHBoxLayout, QLabel, QPushButton, QSlider,
                               QSplitter, QStyle, QVBoxLayout, QWidget)

from ...core.errors import X2Error
from ...core.resources import demo_dir
from ...core.settings import Settings
from ...workers.jobs import JobRunner
from ...workers.media import FrameServer
from ...workers.reenact import CameraReader
from ..widgets.video_view import VideoView
from .base import Panel
from .common import MUSIC_FILTER, compact, make_button
from .notes_playback import NotesPlayback

__all__ = ["NotesPanel", "SOURCE_MODES", "dark_plot"]

log = logging.getLogger(__name__)

SOURCE_MODES = {"Picture": "visual", "Sound": "audio", "Picture + sound": "fused"}
RECORDING_FPS = 25.0            # the playhead's steps through a recording with no picture


def dark_plot(parent: QWidget, left: str) -> pg.PlotWidget:
    plot = pg.PlotWidget(parent)
    plot.setBackground("#1e1e1e")
    plot.setLabel("left", left)
    plot.setMouseEnabled(x=True, y=False)
    plot.showGrid(x=True, y=True, alpha=0.2)
    return plot


class NotesPanel(NotesPlayback, Panel):
    transcribed = Signal(object)

    instrument = ""                       # "piano" or "violin": its demos are resources/demo/<instrument>_*.mp4
    open_tip = ""                         # what to open (the Open button's tip and the first status line)
    sources_tip = ""
    threshold_tip = ""
    live_tip = ""

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(settings, parent)
        self.video: Path | None = None
        self.width_px = self.height_px = 0
        self.fps, self.n_frames = 25.0, 0
        self.frame = 0
        self.result = None
        self.notes: list = []
        self.reference: list | None = None
        self.original = None
        self.recording = False               # the open file has no picture: its notes come from its sound
        self._handle = None
        self._synth_dirty = True
        self._synth_job = None
        self._bars: list = []
        self.jobs = JobRunner(self)
        self.frames = FrameServer(self)
        self.frames.opened.connect(self._on_opened)
        self.frames.audioReady.connect(lambda clip, _env: self._on_original_audio(clip))
        self.frames.frameReady.connect(self._on_frame)
        self.frames.failed.connect(lambda msg: self._fail(msg))
        self.camera = CameraReader(self)
        self.camera.frame.connect(self._on_camera_frame)
        self.camera.failed.connect(self._on_camera_failed)
        self.camera.ended.connect(lambda: self.set_live(False))      # a video played live is over
        self._timer = QTimer(self)
        self._timer.setInterval(30)
        self._timer.timeout.connect(self._on_tick)

    def _build(self, extra_rows: tuple = ()) -> None:
        """The layout, once the subclass has made its own widgets (``extra_rows`` under the roll)."""
        self.view = self._make_view()
        self.status = QLabel(self.open_tip + " (the demo clip opens by itself).", self)
        self.status.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addLayout(self._top_row())
        layout.addWidget(self._plots(), 1)
        for row in extra_rows:
            layout.addWidget(row)
        layout.addLayout(self._play_row())
        layout.addLayout(self._export_row())
        layout.addWidget(self.status)
        self.refresh_weights()

    def refresh_weights(self) -> None:
        super().refresh_weights()
        self._update_buttons()

    def _top_row(self) -> QHBoxLayout:
        self.open_button = make_button(self, "Open…", self.open_tip, self._choose_video)
        self.source_box = QComboBox(self)
        self.source_box.addItems(list(SOURCE_MODES))
        self.source_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)   # "Picture + sound" uncut
        self.source_box.setToolTip(self.sources_tip)
        self.source_box.currentIndexChanged.connect(lambda _i: self._update_buttons())
        self.weights_box = QComboBox(self)
        self.weights_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.weights_box.setMinimumContentsLength(6)     # the top row still fits a 700-px window
        self.weights_box.setToolTip("The visual model's weights")
        self.transcribe_button = make_button(self, "Transcribe", "", self.transcribe)
        self.cancel_button = make_button(self, "Cancel", "Stop the transcription", self.cancel)
        compact(self.open_button, self.cancel_button)
        row = QHBoxLayout()
        for w in (self.open_button, self.source_box, self.weights_box, self.transcribe_button, self.cancel_button):
            row.addWidget(w)
        row.addStretch(1)
        return row

    def _plots(self) -> QSplitter:
        self.roll = dark_plot(self, "MIDI pitch")
        self.roll.setLabel("bottom", "time (s)")
        self.roll.setYRange(21, 108)
        self.playhead = pg.InfiniteLine(0.0, movable=True, pen=pg.mkPen("#ffcc00", width=2))
        self.playhead.sigDragged.connect(lambda line: self.seek_time(line.value()))
        self.roll.addItem(self.playhead)
        self.roll.addLegend(offset=(-10, 10), brush=pg.mkBrush(30, 30, 30, 210))
        split = QSplitter(Qt.Orientation.Vertical, self)
        for w in (self.view, self.roll, *self._more_plots()):
            split.addWidget(w)
        split.setSizes([340, 200, 110])
        return split

    def _play_row(self) -> QHBoxLayout:
        self.play_button = make_button(self, "", "Play the video with the transcribed notes synthesized", self.toggle_play)
        self.play_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        self.time_label = QLabel("0.00 s", self)
        self.with_original = QCheckBox("+ its sound", self)
        self.with_original.setToolTip("Play the video's own sound mixed with the synthesized notes")
        self.with_original.toggled.connect(lambda _on: self._mark_synth_dirty())
        self.threshold = QSlider(Qt.Orientation.Horizontal, self)
        self.threshold.setRange(5, 95)
        self.threshold.setValue(40)
        self.threshold.setFixedWidth(110)
        self.threshold.setToolTip(self.threshold_tip)
        self.threshold.valueChanged.connect(self._on_threshold)
        self.threshold.sliderReleased.connect(lambda: self._on_threshold(self.threshold.value()))
        self.threshold_label = QLabel("0.40", self)
        self.live_button = QPushButton("Live", self)
        self.live_button.setCheckable(True)
        self.live_button.setToolTip(self.live_tip)
        self.live_button.toggled.connect(self.set_live)
        self.live_source = QComboBox(self)
        self.live_source.addItems(["Webcam", "Video"])
        self.live_source.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.live_source.setToolTip("What the live mode reads: the webcam, or the open video played in real time")
        compact(self.live_button)
        row = QHBoxLayout()
        for w in (self.play_button, self.time_label, self.with_original, QLabel("Threshold", self), self.threshold,
                  self.threshold_label, self.live_button, self.live_source):
            row.addWidget(w)
        row.addStretch(1)
        return row

    def _export_row(self) -> QHBoxLayout:
        self.export_midi = make_button(self, "MIDI…", "Export the notes as a MIDI file", lambda: self._export("midi"))
        self.export_xml = make_button(self, "MusicXML…", "Export the notes as sheet music (MusicXML)",
                                  lambda: self._export("musicxml"))
        self.export_csv = make_button(self, "CSV…", "Export the notes as a table (onset, offset, pitch)",
                                  lambda: self._export("csv"))
        compact(self.export_midi, self.export_csv)          # the row fits a 700-px window
        row = QHBoxLayout()
        row.addWidget(QLabel("Export", self))
        for w in (self.export_midi, self.export_xml, self.export_csv, *self._more_exports()):
            row.addWidget(w)
        row.addStretch(1)
        return row

    # ------------------------------------------------------------------ hooks for the instrument
    def _make_view(self) -> VideoView:
        view = VideoView(self)
        view.set_hint(self.open_tip + ".")
        return view

    def _more_plots(self) -> tuple:
        """Plots under the roll (the violin's intonation view)."""
        return ()

    def _more_exports(self) -> tuple:
        """Widgets at the end of the export row (the piano's sync check)."""
        return ()

    def _after_opening(self) -> None:
        """The video's picture is known (size, fps, frame count): the instrument's set-up."""

    def _after_notes(self, dragging: bool) -> None:
        """New notes are in ``self.notes``: the instrument's marks, before the roll is drawn."""

    def _draw_extras(self) -> None:
        """The instrument's own curves on the roll."""

    def _show_lit(self) -> None:
        """Light what is being played at the current frame (the piano's keys)."""

    def _transcription_work(self):
        """The job's work (``job -> result``) for the current choices, or None when they are not ready."""
        raise NotImplementedError

    def _summary(self) -> list[str]:
        raise NotImplementedError

    def set_live(self, on: bool) -> None:
        raise NotImplementedError

    def _on_camera_frame(self, rgb: np.ndarray, t: float | None = None) -> None:
        raise NotImplementedError

    def _on_original_audio(self, clip) -> None:
        self.original = clip

    def _can_sync(self) -> bool:
        return False

    # ------------------------------------------------------------------ opening
    def _demo(self) -> Path | None:
        demo = sorted(demo_dir().glob(f"{self.instrument}_*.mp4"))
        return demo[0] if demo else None

    def start_demo(self) -> None:
        demo = self._demo()
        if self.video is None and demo is not None:
            self.open_video(demo)

    def _choose_video(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, f"{self.instrument.title()} video or recording", "", MUSIC_FILTER)
        if path:
            self.open_video(path)

    def open_video(self, path: str | Path) -> None:
        path = Path(path)
        if not path.is_file():
            self._fail(f"The file '{path}' does not exist.")
            return
        self.pause()
        self.video, self.result, self.notes, self.original = path, None, [], None
        self.reference = self._reference_of(path)
        self._before_opening(path)
        self.status.setText(f"Opening {path.name}…")
        self.frames.open(path)
        self._draw_roll()
        self._update_buttons()

    def _before_opening(self, path: Path) -> None:
        """A new video is about to be opened: forget what belonged to the last one."""

    @staticmethod
    def _reference_of(video: Path) -> list | None:
        from ...media.midi import load_midi

        ref = video.with_suffix(".mid")
        try:
            return list(load_midi(ref).notes) if ref.is_file() else None
        except X2Error:
            return None

    def _on_opened(self, info, video) -> None:
        if video is None:
            self._open_recording(info)
            return
        self.recording = False
        self.view.set_hint(self.open_tip + ".")
        self.width_px, self.height_px, self.fps, self.n_frames = int(video[0]), int(video[1]), float(video[2]), int(video[3])
        self._after_opening()
        self.seek_frame(0)
        self._draw_roll()
        self._update_buttons()

    def _open_recording(self, info) -> None:
        """A file with no picture (a WAV, say): its notes come from its sound."""
        name = info.path.name
        if info.audio is None:
            self._fail(f"'{name}' has neither a picture nor a sound.")
            self.video = None
            self._update_buttons()
            return
        self.recording = True
        self.fps, self.width_px, self.height_px = RECORDING_FPS, 0, 0
        self.n_frames = max(1, int(round((info.duration_s or 0.0) * self.fps)))
        self.source_box.setCurrentText("Sound")
        self.view.set_image(None)
        self.view.set_hint(f"{name}: a recording with no picture.")
        self.status.setText(f"{name}: a recording of {info.duration_s or 0.0:.1f} s with no picture: Transcribe "
                            "finds its notes in its sound.")
        self.seek_frame(0)
        self._draw_roll()
        self._update_buttons()

    # ------------------------------------------------------------------ transcription
    def transcribe(self):
        if self._handle is not None:
            return self._handle
        work = self._transcription_work() if self.video is not None else None
        if work is None:
            return None
        self.pause()
        self.status.setText("Transcribing…")
        handle = self.jobs.start(f"Transcribing {self.video.name}", work, on_success=self._on_transcribed,
                                 on_failure=lambda m, d: self._fail(f"Transcription failed: {m}", d))
        handle.progress.connect(lambda ev: self.status.setText(
            f"{ev.message or 'Transcribing'}: {100 * (ev.fraction or 0):.0f}%"))
        handle.cancelled.connect(lambda: self.status.setText("Transcription cancelled."))
        handle.ended.connect(self._on_job_ended)
        self._handle = handle
        self._update_buttons()
        return handle

    def _source_mode(self) -> str:
        return SOURCE_MODES[self.source_box.currentText()]

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()

    def _on_job_ended(self) -> None:
        self._handle = None
        self._update_buttons()

    def _on_transcribed(self, result) -> None:
        self.result = result
        if result.threshold is not None:
            self._show_threshold(result.threshold)
        self._set_notes(result.notes)
        self.transcribed.emit(result)

    def _show_threshold(self, threshold: float) -> None:
        """The slider at the result's own threshold (no re-thresholding)."""
        self.threshold.blockSignals(True)
        self.threshold.setValue(int(round(100 * threshold)))
        self.threshold.blockSignals(False)
        self.threshold_label.setText(f"{threshold:.2f}")

    def _on_threshold(self, value: int) -> None:
        self.threshold_label.setText(f"{value / 100:.2f}")
        if self.result is not None and self._can_rethreshold():
            self._set_notes(self.result.renotes(value / 100))

    def _can_rethreshold(self) -> bool:
        return True

    def _set_notes(self, notes) -> None:
        self.notes = list(notes)
        self._mark_synth_dirty()
        dragging = self.threshold.isSliderDown()
        self._after_notes(dragging)
        self._draw_roll()
        self._show_lit()
        self.status.setText(" ".join(self._summary() + self._against_reference(dragging)))
        self._update_buttons()

    def _is_take(self) -> bool:
        return self.result is not None and self.result.live

    def _against_reference(self, dragging: bool) -> list[str]:
        """The notes' F1 against the MIDI beside the video (not during a drag: matching 1,500 notes takes ~0.5 s)."""
        from ...pipelines.piano import note_metrics

        ref = self.reference
        if not ref or dragging:
            return []
        if self._is_take():
            ref = [n for n in ref if n.onset <= self.result.frame_times()[-1]]     # a live take of part of the video
        m = note_metrics(ref, self.notes)
        return [f"Against {self.video.with_suffix('.mid').name}: F1 {100 * m['f1']:.1f}% "
                f"(precision {100 * m['precision']:.1f}%, recall {100 * m['recall']:.1f}%)."]

    # ------------------------------------------------------------------ the roll
    def _draw_roll(self) -> None:
        for item in self._bars:
            self.roll.removeItem(item)
        self._bars = []
        self._draw_extras()
        if self.reference:
            self._add_bars(None, None, self.reference, 0.45, pg.mkPen("#7fd07f", width=1))
        for name, colour, notes in self._note_groups():
            self._add_bars(name, pg.mkBrush(colour), notes, 0.4, pg.mkPen(None))
        pitches = [x.pitch for x in (self.notes or []) + (self.reference or [])]
        if pitches:
            self.roll.setYRange(max(21, min(pitches) - 3), min(108, max(pitches) + 3), padding=0)
        duration = self.n_frames / self.fps if self.n_frames else 10.0
        if self._is_take():
            duration = max(1.0, float(self.result.frame_times()[-1]))
        self.roll.setXRange(0, duration, padding=0.01)

    def _add_bars(self, name, brush, notes, half: float, pen) -> None:
        bars = pg.BarGraphItem(x0=[n.onset for n in notes], y0=[n.pitch - half for n in notes], name=name,
                               width=[n.duration for n in notes], height=2 * half, brush=brush, pen=pen)
        self.roll.addItem(bars)
        self._bars.append(bars)

    def _note_groups(self) -> list[tuple[str | None, tuple, list]]:
        """The notes to draw: (legend name, colour, notes) for each group."""
        return [(None, (255, 170, 0, 200), self.notes)] if self.notes else []

    # ------------------------------------------------------------------ live, errors, state
    def _on_live_failed(self, message: str) -> None:
        self.set_live(False)
        self._fail(f"Live mode stopped: {message}")

    def _on_camera_failed(self, message: str) -> None:
        self.set_live(False)
        self._fail(message)

    def _fail(self, message: str, details: str = "") -> None:
        self.status.setText(message)
        self.errorRaised.emit(message, details)

    def _update_buttons(self) -> None:
        busy = self._handle is not None
        has_video = self.video is not None and self.n_frames > 0
        by_ear = self.source_box.currentText() == "Sound"
        has_weights = bool(self.weights_box.currentText())
        live = self.live_button.isChecked()
        self.transcribe_button.setEnabled(has_video and not busy and not live and (by_ear or has_weights))
        self.transcribe_button.setToolTip("" if has_weights else
                                          f"No {self.instrument} weights: train some with "
                                          f"'x2studio train {self.instrument}', or transcribe from the sound.")
        self.live_button.setEnabled(has_weights and not busy and not self.recording)
        self.weights_box.setEnabled(not by_ear)
        self.source_box.setEnabled(not self.recording)
        self.threshold.setEnabled(not by_ear)
        self.cancel_button.setEnabled(busy)
        for b in (self.export_midi, self.export_xml, self.export_csv):
            b.setEnabled(bool(self.notes) and not busy)
        self.play_button.setEnabled(has_video)
        self._update_more_buttons(has_video, busy or live)

    def _update_more_buttons(self, has_video: bool, busy: bool) -> None:
        """Enable the instrument's own buttons."""

    def _shutdown_live(self) -> None:
        self.camera.stop()

    def shutdown(self) -> None:
        self._shutdown_live()
        self.pause()
        self.jobs.shutdown()
        self.frames.shutdown()
        if self._player is not None:
            self._player.close()
            self._player = None
