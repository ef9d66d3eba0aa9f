"""The Transcribe panel: notes from a top-view piano video or a violin video, with a roll and playback.

Piano mode:

Open a video → the keyboard's corners (remembered for the video, from a sidecar JSON, or a default
quad to drag onto the keyboard) → Transcribe (a job: progress, cancel) → the notes in a piano roll
(pyqtgraph) under the video, the keys being played highlighted on the keyboard, a playhead that
follows playback and seeks on drag, a live threshold slider (no network pass), synthesized
playback (FluidSynth) alone or mixed with the video's own sound, and export as MIDI, MusicXML or
CSV.  When a MIDI file with the video's name lies beside it (the demo's true notes), the roll shows
those notes too, outlined, and the status line how well the transcription matches them.

Violin mode (the same video view, roll, playback and export): the pitch of every frame from the
picture (the student network), the sound (a pitch tracker) or both, drawn as lines over the notes
segmented from them; the threshold slider is the picture's confidence below which a frame is left
unvoiced; under the roll, the **intonation view**: how many cents the sound is off the note played.
**Live** (both instruments; the webcam, or the open video played in real time): the violin's pitch
from the picture, note name and confidence in the status line and the track scrolling over the roll;
the piano's notes as they are played, synthesized at once, with the latency shown (:mod:`.piano_live`);
stopping turns the take into notes that play and export like a video's (live reads the picture only).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QHBoxLayout, QLabel, QPushButton, QSlider,
                               QSplitter, QStyle, QVBoxLayout, QWidget)

from ...core.errors import AudioDeviceError, X2Error
from ...core.settings import Settings
from ...workers.jobs import JobRunner
from ...workers.media import FrameServer
from ..widgets.keyboard_view import KeyboardView
from ...core.resources import demo_dir
from .base import Panel
from .common import VIDEO_FILTER, ClockedPlayback, compact, fill_weights_box
from .piano_live import PianoLiveMixin
from .sync_check import PianoSyncMixin
from .violin_live import ViolinLiveMixin

__all__ = ["TranscribePanel", "KeyboardView"]

log = logging.getLogger(__name__)
# the fused mode's per-note marks: found by both sources, the picture only, the sound only, neither alone
_SOURCE_COLOURS = {"both": (255, 170, 0, 200), "picture": (51, 200, 255, 220), "sound": (255, 110, 200, 220),
                   "fused": (160, 160, 160, 220)}


_SOURCE_MODES = {"Picture": "visual", "Sound": "audio", "Picture + sound": "fused"}


class TranscribePanel(PianoSyncMixin, PianoLiveMixin, ViolinLiveMixin, ClockedPlayback, Panel):
    panel_id = "transcribe"
    title = "Transcribe"

    transcribed = Signal(object)
    keyboardFound = Signal(object)      # corners, or None

    MODES = ("piano", "violin")
    PIANO_SOURCES = ("Transcribe from the video's picture (the visual model), its sound (Basic Pitch, the audio "
                     "teacher) or both fused (best when the sound is noisy or mixed with other instruments)")

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(settings, parent)
        self.mode = "piano"
        self._last_video: dict[str, Path] = {}
        self.video: Path | None = None
        self.width_px = self.height_px = 0
        self.fps, self.n_frames = 25.0, 0
        self.frame = 0
        self.result = None
        self.notes: list = []
        self.reference: list | None = None
        self._sources: list[str] | None = None       # the fused mode's per-note marks
        self.original = None
        self._polys: dict[int, np.ndarray] = {}
        self._handle = None
        self._player = None
        self._playing = False
        self._synth_dirty = True
        self._synth_job = None
        self._corners_known = None
        self._init_live()
        self._init_piano_live()
        self._init_sync()
        self.jobs = JobRunner(self)
        self.frames = FrameServer(self)
        self.frames.opened.connect(self._on_opened)
        self.frames.audioReady.connect(lambda clip, _env: self._on_original_audio(clip))
        self.frames.frameReady.connect(self._on_frame)
        self.frames.failed.connect(lambda msg: self._fail(msg))

        # ------------------------------------------------------------ controls
        self.open_button = QPushButton("Open…", self)
        self.open_button.setToolTip("Open a video of a keyboard filmed from above")
        self.open_button.clicked.connect(self._choose_video)
        self.instrument_box = QComboBox(self)
        self.instrument_box.addItems(["Piano", "Violin"])
        self.instrument_box.setToolTip("The instrument in the video: a keyboard from above, or a violinist")
        self.instrument_box.currentIndexChanged.connect(lambda i: self.set_mode(self.MODES[i]))
        self.weights_box = QComboBox(self)
        self.source_box = QComboBox(self)
        self.source_box.addItems(["Picture", "Sound", "Picture + sound"])
        # sized to what it holds, so that "Picture + sound" is not cut
        self.source_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.source_box.setToolTip(self.PIANO_SOURCES)
        self.source_box.currentIndexChanged.connect(lambda _i: self._update_buttons())
        self.transcribe_button = QPushButton("Transcribe", self)
        self.transcribe_button.clicked.connect(self.transcribe)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.clicked.connect(self.cancel)
        self.threshold = QSlider(Qt.Orientation.Horizontal, self)
        self.threshold.setRange(5, 95)
        self.threshold.setValue(40)
        self.threshold.setFixedWidth(140)
        self.threshold.setToolTip("Onset threshold: lower finds more notes (and more false ones)")
        self.threshold.valueChanged.connect(self._on_threshold)
        self.threshold.sliderReleased.connect(lambda: self._on_threshold(self.threshold.value()))
        self.threshold_label = QLabel("0.40", self)
        self.weights_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.weights_box.setMinimumContentsLength(6)     # the top row still fits a 700-px window
        self.threshold.setFixedWidth(110)
        top = QHBoxLayout()
        self.weights_box.setToolTip("The visual model's weights")
        for w in (self.instrument_box, self.open_button, self.source_box, self.weights_box,
                  self.transcribe_button, self.cancel_button):
            top.addWidget(w)
        compact(self.open_button, self.cancel_button)      # with "Picture + sound" the row still fits 700 px
        top.addStretch(1)

        self.view = KeyboardView(self)
        self.view.cornersChanged.connect(self._on_corners)
        self.roll = pg.PlotWidget(self)
        self.roll.setBackground("#1e1e1e")
        self.roll.setLabel("bottom", "time (s)")
        self.roll.setLabel("left", "MIDI pitch")
        self.roll.setYRange(21, 108)
        self.roll.setMouseEnabled(x=True, y=False)
        self.roll.showGrid(x=True, y=True, alpha=0.2)
        self.playhead = pg.InfiniteLine(0.0, movable=True, pen=pg.mkPen("#ffcc00", width=2))
        self.playhead.sigDragged.connect(lambda line: self.seek_time(line.value()))
        self.roll.addItem(self.playhead)
        self._bars: list = []
        self._tracks: list = []
        # the violin's intonation view: cents off the note, over time (hidden for the piano)
        self.intonation = pg.PlotWidget(self)
        self.intonation.setBackground("#1e1e1e")
        self.intonation.setLabel("left", "cents off")
        self.intonation.setYRange(-50, 50)
        self.intonation.setMouseEnabled(x=True, y=False)
        self.intonation.showGrid(x=True, y=True, alpha=0.2)
        self.intonation.setXLink(self.roll)
        self.intonation.addItem(pg.InfiniteLine(0.0, angle=0, pen=pg.mkPen("#7fd07f", width=1)))
        self.cents_curve = pg.PlotDataItem(pen=None, symbol="o", symbolSize=3, symbolPen=None,
                                           symbolBrush=pg.mkBrush(255, 110, 200, 220))
        self.intonation.addItem(self.cents_curve)
        self.intonation.hide()
        self.roll.addLegend(offset=(-10, 10), brush=pg.mkBrush(30, 30, 30, 210))
        split = QSplitter(Qt.Orientation.Vertical, self)
        split.addWidget(self.view)
        split.addWidget(self.roll)
        split.addWidget(self.intonation)
        split.setSizes([340, 200, 110])

        self.play_button = QPushButton(self)
        self.play_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        self.play_button.setToolTip("Play the video with the transcribed notes synthesized")
        self.play_button.clicked.connect(self.toggle_play)
        self.with_original = QCheckBox("Mix in the video's sound", self)
        self.with_original.toggled.connect(lambda _on: self._mark_synth_dirty())
        self.time_label = QLabel("0.00 s", self)
        self.export_midi = QPushButton("MIDI…", self)
        self.export_midi.setToolTip("Export the notes as a MIDI file")
        self.export_midi.clicked.connect(lambda: self._export("midi"))
        self.export_xml = QPushButton("MusicXML…", self)
        self.export_xml.clicked.connect(lambda: self._export("musicxml"))
        self.export_csv = QPushButton("CSV…", self)
        self.export_csv.clicked.connect(lambda: self._export("csv"))
        self.with_original.setText("+ its sound")
        self.with_original.setToolTip("Play the video's own sound mixed with the synthesized notes")
        self.live_button = QPushButton("Live", self)
        self.live_button.setCheckable(True)
        self.live_button.toggled.connect(self.set_live)
        self.live_source = QComboBox(self)
        self.live_source.addItems(["Webcam", "Video"])
        self.live_source.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.live_source.setToolTip("What the live mode reads: the webcam, or the open video played in real time")
        bottom = QHBoxLayout()
        for w in (self.play_button, self.time_label, self.with_original, QLabel("Threshold", self), self.threshold,
                  self.threshold_label, self.live_button, self.live_source):
            bottom.addWidget(w)
        bottom.addStretch(1)
        exports = QHBoxLayout()
        exports.addWidget(QLabel("Export", self))
        for w in (self.export_midi, self.export_xml, self.export_csv):
            exports.addWidget(w)
        exports.addStretch(1)
        for w in self._sync_widgets():
            exports.addWidget(w)
        compact(self.export_midi, self.export_csv, *self._sync_widgets())   # the row fits a 700-px window
        compact(self.live_button)
        self.status = QLabel("Open a video of a keyboard filmed from above (the demo clip opens by itself).", self)
        self.status.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(split, 1)
        layout.addWidget(self.sync_plot)
        layout.addLayout(bottom)
        layout.addLayout(exports)
        layout.addWidget(self.status)
        self._timer = QTimer(self)
        self._timer.setInterval(30)
        self._timer.timeout.connect(self._on_tick)
        self.refresh_weights()
        self._live_tooltip()
        self._update_buttons()

    # ------------------------------------------------------------------ set-up
    def refresh_weights(self) -> None:
        from ...weights.registry import WeightsRegistry

        if self.mode == "violin":
            fill_weights_box(self.weights_box, WeightsRegistry().names("violin-student"), preferred="violin-lite")
        else:
            fill_weights_box(self.weights_box, WeightsRegistry().names("piano"), preferred="piano-lite")
        self._update_buttons()

    def set_mode(self, mode: str) -> None:
        """Switch between the piano and the violin; each mode reopens its last video (or its demo)."""
        if mode not in self.MODES or mode == self.mode:
            return
        self.set_live(False)
        self.cancel()
        self.pause()
        if self.video is not None:
            self._last_video[self.mode] = self.video
        self.mode = mode
        self.instrument_box.blockSignals(True)
        self.instrument_box.setCurrentIndex(self.MODES.index(mode))
        self.instrument_box.blockSignals(False)
        violin = mode == "violin"
        self.source_box.blockSignals(True)
        self.source_box.clear()
        self.source_box.addItems(["Picture", "Sound", "Picture + sound"])
        self.source_box.blockSignals(False)
        self.source_box.setToolTip("The pitch from the video's picture (the visual model), its sound (a pitch "
                                   "tracker) or both" if violin else self.PIANO_SOURCES)
        self.threshold.setToolTip("Confidence below which a frame is left unvoiced" if violin else
                                  "Onset threshold: lower finds more notes (and more false ones)")
        self.intonation.setVisible(violin)
        self._live_tooltip()
        self.view.set_corners(None)
        self.view.set_lit([])
        self.open_button.setToolTip("Open a video of a violinist" if violin else "Open a video of a keyboard filmed from above")
        self.video, self.result, self.notes, self.reference = None, None, [], None
        self.n_frames = 0
        self.refresh_weights()
        self._draw_roll()
        target = self._last_video.get(mode) or self._demo()
        if target is not None:
            self.open_video(target)
        else:
            self.status.setText("Open a video of a violinist." if violin else "Open a video of a keyboard filmed from above.")
        self._update_buttons()

    def _demo(self) -> Path | None:
        demo = sorted(demo_dir().glob(f"{self.mode}_*.mp4"))
        return demo[0] if demo else None

    def set_device(self, device: str) -> None:
        self.device = device

    def showEvent(self, event) -> None:  # noqa: N802 - open the demo the first time the panel is shown
        super().showEvent(event)
        if self.video is None:
            demo = self._demo()
            if demo is not None:
                self.open_video(demo)

    def _choose_video(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Violin video" if self.mode == "violin" else "Piano video", "",
                                              VIDEO_FILTER)
        if path:
            self.open_video(path)

    def open_video(self, path: str | Path) -> None:
        from ...media.midi import load_midi
        from ...pipelines.piano import keyboard_of

        path = Path(path)
        if not path.is_file():
            self._fail(f"The file '{path}' does not exist.")
            return
        self.pause()
        self.video, self.result, self.notes, self.original = path, None, [], None
        self.reference = None
        self._reset_sync()
        ref = path.with_suffix(".mid")
        if ref.is_file():
            try:
                self.reference = list(load_midi(ref).notes)
            except X2Error:
                self.reference = None
        self._corners_known = keyboard_of(path) if self.mode == "piano" else None
        self.status.setText(f"Opening {path.name}…")
        self.frames.open(path)
        self._draw_roll()
        self._update_buttons()

    def _on_opened(self, info, video) -> None:
        if video is None:
            self._fail(f"'{info.path.name}' has no picture: the {self.mode} is transcribed from the video.")
            self.video = None
            self._update_buttons()
            return
        self.width_px, self.height_px, self.fps, self.n_frames = int(video[0]), int(video[1]), float(video[2]), int(video[3])
        if self.mode == "violin":
            self.status.setText(f"{self.video.name}: {self.n_frames} frames at {self.fps:g} fps. Transcribe finds the "
                                "pitch of every frame (the fingerboard, left hand and bow in view).")
            self.seek_frame(0)
            self._draw_roll()
            self._update_buttons()
            return
        corners = self._corners_known
        if corners is None:
            w, h = self.width_px, self.height_px
            corners = np.array([[0.05 * w, 0.4 * h], [0.95 * w, 0.4 * h], [0.95 * w, 0.6 * h], [0.05 * w, 0.6 * h]])
            hint = "Looking for the keyboard…"
            self._find_keyboard()
        else:
            hint = "The keyboard position is known for this video; drag the corners to adjust it, then Transcribe."
        self._set_corners(corners)
        self.status.setText(f"{self.video.name}: {self.n_frames} frames at {self.fps:g} fps. {hint}")
        self.seek_frame(0)
        self._update_buttons()

    def _find_keyboard(self) -> None:
        from ...pipelines.keyboard import detect_in_video

        video = self.video

        def done(corners) -> None:
            if video != self.video:
                return
            if corners is None:
                self.status.setText("No keyboard was found automatically: drag the four blue corners onto the "
                                    "keyboard's corners (A0 at the left), then Transcribe.")
            else:
                self._set_corners(corners)
                self.status.setText("Keyboard found: check the blue outline (drag a corner to adjust), then Transcribe.")
            self.keyboardFound.emit(corners)

        self.jobs.start("Finding the keyboard", lambda job: detect_in_video(video), on_success=done,
                        on_failure=lambda m, d: self.status.setText(f"Finding the keyboard failed: {m}"))

    def _set_corners(self, corners: np.ndarray) -> None:
        from ...pipelines.piano import key_polygons

        self.view.set_corners(corners)
        self._polys = key_polygons(corners)
        self._show_lit()

    def _on_corners(self, corners: np.ndarray) -> None:
        self._set_corners(corners)
        if self.live_button.isChecked() and self.piano_live is not None:
            self.piano_live.set_corners(corners)
            return
        self.status.setText("Keyboard moved: Transcribe again to use the new position.")

    # ------------------------------------------------------------------ transcription
    def transcribe(self):
        from ...pipelines.piano import remember_keyboard
        from ...pipelines.transcribe_piano import PianoRequest, transcribe_piano

        if self.mode == "violin":
            return self._transcribe_violin()
        mode = _SOURCE_MODES[self.source_box.currentText()]
        if self.video is None or self.view.corners is None or not (mode == "audio" or self.weights_box.currentText()):
            return None
        if self._handle is not None:
            return self._handle
        try:
            remember_keyboard(self.video, self.view.corners)
        except (OSError, X2Error) as exc:
            log.warning("could not remember the keyboard of %s: %s", self.video, exc)
        try:
            request = PianoRequest(self.video, mode, self.view.corners.copy(), weights=self.weights_box.currentText(),
                                   device=self.device, audio_shift_s=self.audio_shift)
        except X2Error as exc:
            self._fail(f"Transcription failed: {exc}")
            return None
        return self._start(self.video, lambda job: transcribe_piano(request, job))

    def _transcribe_violin(self):
        from ...pipelines.violin import transcribe_video

        if self.video is None or self._handle is not None:
            return self._handle
        mode = _SOURCE_MODES[self.source_box.currentText()]
        weights = self.weights_box.currentText()
        if mode != "audio" and not weights:
            return None
        video, device = self.video, self.device
        return self._start(video, lambda job: transcribe_video(video, mode, None, job, weights=weights, device=device))

    def _start(self, video: Path, work):
        self.pause()
        self.status.setText("Transcribing…")
        handle = self.jobs.start(f"Transcribing {video.name}", work, on_success=self._on_transcribed,
                                 on_failure=lambda m, d: self._fail(f"Transcription failed: {m}", d))
        handle.progress.connect(lambda ev: self.status.setText(
            f"{ev.message or 'Transcribing'}: {100 * (ev.fraction or 0):.0f}%"))
        handle.cancelled.connect(lambda: self.status.setText("Transcription cancelled."))
        handle.ended.connect(self._on_job_ended)
        self._handle = handle
        self._update_buttons()
        return handle

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
        if self.result is None:
            return
        if self.mode == "violin":
            if self.result.probs is not None:
                self._set_notes(self.result.renotes(value / 100))
            return
        self._set_notes(self.result.renotes(value / 100))

    def _set_notes(self, notes) -> None:
        self.notes = list(notes)
        self._mark_synth_dirty()
        dragging = self.threshold.isSliderDown()
        self._sources = None
        if self.mode == "piano" and not dragging:       # the fused mode: mark each note by its source
            self._sources = self.result.marks(tuple(self.notes))
        self._draw_roll()
        self._show_lit()
        self.status.setText(" ".join(self._summary() + self._against_reference(dragging)))
        self._update_buttons()

    def _summary(self) -> list[str]:
        if self.mode == "violin":
            return self.result.lines(self.threshold.value() / 100)
        counts = {} if self._sources is None else {k: self._sources.count(k) for k in _SOURCE_COLOURS}
        return self.result.lines(tuple(self.notes), self.threshold.value() / 100, counts)

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

    # ------------------------------------------------------------------ piano roll
    def _draw_tracks(self) -> None:
        """The violin's pitch tracks (picture, sound) over the roll, and the cents in the intonation view."""
        for item in self._tracks:
            self.roll.removeItem(item)
        self._tracks = []
        self.cents_curve.setData([], [])
        r = self.result
        if self.mode != "violin" or r is None:
            return
        t = r.frame_times()
        for name, track, colour in (("picture", r.visual, "#33c8ff"), ("sound", r.audio, "#ff6ec8")):
            if track is None:
                continue
            y = np.where(track > 0, track, np.nan)
            item = pg.PlotDataItem(t, y, pen=pg.mkPen(colour, width=1.5), connect="finite", name=name)
            self.roll.addItem(item)
            self._tracks.append(item)
        cents = r.cents()
        ok = np.isfinite(cents)
        self.cents_curve.setData(t[ok], cents[ok])

    def _draw_roll(self) -> None:
        for item in self._bars:
            self.roll.removeItem(item)
        self._bars = []
        self._draw_tracks()
        if self.reference:
            r = self.reference
            ref = pg.BarGraphItem(x0=[n.onset for n in r], y0=[n.pitch - 0.45 for n in r],
                                  width=[n.duration for n in r], height=0.9, brush=None,
                                  pen=pg.mkPen("#7fd07f", width=1))
            self.roll.addItem(ref)
            self._bars.append(ref)
        for name, colour, n in self._note_groups():
            bars = pg.BarGraphItem(x0=[x.onset for x in n], y0=[x.pitch - 0.4 for x in n], name=name,
                                   width=[x.duration for x in n], height=0.8, brush=pg.mkBrush(colour),
                                   pen=pg.mkPen(None))
            self.roll.addItem(bars)
            self._bars.append(bars)
        pitches = [x.pitch for x in (self.notes or []) + (self.reference or [])]
        if pitches:
            self.roll.setYRange(max(21, min(pitches) - 3), min(108, max(pitches) + 3), padding=0)
        duration = self.n_frames / self.fps if self.n_frames else 10.0
        if self._is_take():
            duration = max(1.0, float(self.result.frame_times()[-1]))
        self.roll.setXRange(0, duration, padding=0.01)

    def _note_groups(self) -> list[tuple[str | None, tuple, list]]:
        """The notes to draw, by source where the fused mode marked them (name, colour, notes)."""
        from ...pipelines.piano_fusion import SOURCE_NAMES

        marks = self._sources if self._sources is not None and len(self._sources) == len(self.notes) else None
        if marks is None:
            return [(None, (255, 170, 0, 200), self.notes)] if self.notes else []
        return [(SOURCE_NAMES[k], colour, [n for n, m in zip(self.notes, marks) if m == k])
                for k, colour in _SOURCE_COLOURS.items() if k in marks]

    def _show_lit(self) -> None:
        if self.mode != "piano" or not self.notes or not self._polys:
            self.view.set_lit([])
            return
        t = self.frame / self.fps
        self.view.set_lit([self._polys[n.pitch] for n in self.notes if n.onset <= t < n.offset and n.pitch in self._polys])

    # ------------------------------------------------------------------ playback
    def seek_time(self, seconds: float) -> None:
        self.seek_frame(int(math.floor(max(0.0, seconds) * self.fps + 1e-6)))

    def seek_frame(self, index: int) -> None:
        if not self.n_frames:
            return
        self.frame = int(min(max(0, index), self.n_frames - 1))
        t = self.frame / self.fps
        self.playhead.setValue(t)
        self.time_label.setText(f"{t:.2f} s")
        self.frames.want(self.frame)
        self._show_lit()
        if self._playing:
            self._restart_clock(t)

    def _on_frame(self, index: int, _t: float, image: QImage) -> None:
        self.view.set_image(image)

    def _mark_synth_dirty(self) -> None:
        self._synth_dirty = True

    def play(self) -> None:
        if not self.n_frames or self._playing:
            return
        if self._synth_dirty and self._synth_job is None:
            from ...pipelines.notes import PreviewRequest, preview_sound

            request = PreviewRequest(tuple(self.notes), self.n_frames / self.fps,
                                     self.original if self.with_original.isChecked() else None,
                                     self.settings.soundfont or None)
            self.status.setText("Preparing the sound…")
            self._synth_job = self.jobs.start("Synthesizing the notes", lambda job: preview_sound(request),
                                              on_success=self._on_sound_ready,
                                              on_failure=lambda m, d: self._on_sound_ready(None, m))
            self._synth_job.ended.connect(lambda: setattr(self, "_synth_job", None))
            return
        if self._synth_job is not None:
            return
        start = 0 if self.frame >= self.n_frames - 1 else self.frame
        self._begin_playing(start / self.fps)

    def _on_sound_ready(self, clip, error: str | None = None) -> None:
        from ...media.playback import AudioPlayer

        self._synth_dirty = False
        if clip is None:
            self._player = None
            self.status.setText(f"Sound: {error}; the picture still plays.")
        else:
            try:
                if self._player is None:
                    self._player = AudioPlayer(self.settings.audio_output or None)
                self._player.load(clip)
                self.status.setText("Playing the transcription" + (" with the video's sound." if
                                                                   self.with_original.isChecked() else "."))
            except (AudioDeviceError, X2Error) as exc:
                self._player = None
                self.status.setText(f"Sound: playback disabled ({exc}); the picture still plays.")
        self._synth_job = None
        start = 0 if self.frame >= self.n_frames - 1 else self.frame
        self._begin_playing(start / self.fps)

    def pause(self) -> None:
        self._end_playing()

    def _sound_disabled(self, message: str) -> None:
        self.status.setText(message)

    def _on_tick(self) -> None:
        k = int(self._clock() * self.fps)
        if k >= self.n_frames:
            self.pause()
            return
        if k != self.frame:
            self.frame = k
            self.playhead.setValue(k / self.fps)
            self.time_label.setText(f"{k / self.fps:.2f} s")
            self.frames.want(k)
            self._show_lit()

    # ------------------------------------------------------------------ export
    def _export(self, kind: str, path: str | Path | None = None):
        from ...pipelines.notes import EXPORT_SUFFIXES, ExportRequest, export_notes

        if not self.notes:
            return None
        suffix = EXPORT_SUFFIXES[kind]
        if path is None:
            start = str(self.video.with_name(self.video.stem + "-transcribed" + suffix)) if self.video else ""
            path, _ = QFileDialog.getSaveFileName(self, f"Export {kind.upper()}", start, f"*{suffix}")
            if not path:
                return None
        try:
            request = ExportRequest(**{kind: Path(path)}, protect=(self.video,) if self.video else ())
        except X2Error as exc:
            self._fail(f"Export failed: {exc}")
            return None
        notes = tuple(self.notes)
        self.status.setText(f"Writing {Path(path).name}…")

        def work(job):
            line = export_notes(request, notes, job).lines()[0]
            return line[0].upper() + line[1:] + "."

        return self.jobs.start(f"Exporting {Path(path).name}", work, on_success=self.status.setText,
                               on_failure=lambda m, d: self._fail(f"Export failed: {m}", d))

    # ------------------------------------------------------------------ misc
    def _fail(self, message: str, details: str = "") -> None:
        self.status.setText(message)
        self.errorRaised.emit(message, details)

    def _update_buttons(self) -> None:
        busy = self._handle is not None
        has_video = self.video is not None and self.n_frames > 0
        by_ear = self.source_box.currentText() == "Sound"
        live = self.live_button.isChecked()
        self.transcribe_button.setEnabled(has_video and not busy and not live
                                          and (by_ear or bool(self.weights_box.currentText())))
        self.live_button.setEnabled(bool(self.weights_box.currentText()) and not busy)
        self.weights_box.setEnabled(not by_ear)
        self.threshold.setEnabled(not by_ear)
        self.cancel_button.setEnabled(busy)
        for b in (self.export_midi, self.export_xml, self.export_csv):
            b.setEnabled(bool(self.notes) and not busy)
        self.play_button.setEnabled(has_video)
        self._update_sync_buttons(has_video, busy or live)
        if not self.weights_box.currentText():
            self.transcribe_button.setToolTip(f"No {self.mode} weights: train some with 'x2studio train {self.mode}'.")

    def shutdown(self) -> None:
        self._shutdown_live()
        self._shutdown_piano_live()
        self.pause()
        self.jobs.shutdown()
        self.frames.shutdown()
        if self._player is not None:
            self._player.close()
            self._player = None
