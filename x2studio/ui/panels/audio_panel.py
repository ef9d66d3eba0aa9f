"""The Audio panel: make the face in a photo say a recording (X2Face driven by speech features).

Pick a source photo, load speech (WAV/FLAC/MP3/OGG, or a video's sound) or record it from the
microphone.  The waveform shows the speech with a playhead; clicking or dragging on it seeks; Play
plays the sound and shows the generated face of the frame being heard (the sound's position is the
clock; frames the model cannot keep up with are skipped, never queued).  "Strength" scales the
mouth movement.  "Export MP4…" writes the talking video with the speech as a job with progress and
cancel.

Mixing: the same face can at once take a head pose (the pose box: yaw, pitch, roll and a weight)
and the expression of a driving video (with a weight; "its head pose" lets the video turn the head
too), on top of the speech (whose weight is the strength).  With no speech loaded, the driving
video is the timeline.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFileDialog, QGridLayout, QHBoxLayout, QLabel, QSlider,
                               QStyle, QVBoxLayout, QWidget)

from ...core.choices import AUDIO_SUFFIXES, dialog_filter
from ...core.errors import AudioDeviceError, X2Error
from ...core.poses import AXES, LIMITS
from ...core.settings import Settings
from ...workers.jobs import JobRunner
from ...workers.speech import SpeechServer
from ..widgets.image_view import ImageView, demo_file
from ..widgets.waveform import Waveform
from .base import Panel
from .common import (MP4_FILTER, SOURCE_FILTER, ClockedPlayback, PhotoSource, hrow, make_button, make_check,
                     start_export, view_grid)
from .sync_check import SpeechSyncMixin, SyncCurve

__all__ = ["AudioPanel"]

log = logging.getLogger(__name__)
SPEECH_FILTER = dialog_filter("Speech", AUDIO_SUFFIXES)


class AudioPanel(SpeechSyncMixin, ClockedPlayback, PhotoSource, Panel):
    panel_id = "audio"
    title = "Audio"
    preferred_weights = "x2face-lite"
    no_weights_message = "No X2Face weights with an audio mapping are installed: fit one with 'x2studio train audio-map'."

    resultShown = Signal(object)
    speechLoaded = Signal(object)

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(settings, parent)
        self.source: str | None = None
        self.speech = None                   # path (str) or AudioClip (a recording)
        self.speech_name = ""
        self.clip = None
        self.frames = 0
        self.fps = 25.0
        self.frame = 0
        self.ready = False
        self.loaded = False
        self.last_result: dict | None = None
        self._playing = False
        self._clock_origin = 0.0
        self._player = None
        self._recorder = None
        self._model_status = ""
        self._speech_status = ""
        self.video: str | None = None
        self.video_frames = 0
        self.video_fps = 25.0
        self._pending_video: str | None = None
        self.jobs = JobRunner(self)

        self.server = SpeechServer(self)
        self.server.ready.connect(self._on_ready)
        self.server.loaded.connect(self._on_loaded)
        self.server.videoLoaded.connect(self._on_video_loaded)
        self.server.result.connect(self._on_result)
        self.server.failed.connect(self._on_failed)

        self.status = QLabel("", self)
        self.status.setWordWrap(True)
        self.sync_offset: float | None = None
        layout = QVBoxLayout(self)
        layout.addLayout(self._top_row())
        layout.addLayout(self._views(), 1)
        layout.addWidget(self._wave_plot())
        self.sync_plot = SyncCurve(self)
        layout.addWidget(self.sync_plot)
        for row in (self._transport_row(), self._pose_row(), self._video_row(), self._bottom_row()):
            layout.addLayout(row)
        self._timer = QTimer(self)
        self._timer.setInterval(20)
        self._timer.timeout.connect(self._on_tick)
        self._update_buttons()

    # ------------------------------------------------------------------ layout
    def _top_row(self) -> QHBoxLayout:
        self.source_button = make_button(self, "Source photo…", "The photo whose face speaks", self._choose_source)
        self.speech_button = make_button(self, "Speech…", "Load a recording: WAV, FLAC, MP3, OGG, or a video's sound",
                                         self._choose_speech)
        self.record_button = make_button(self, "Record", "Record speech from the microphone (press again to stop)",
                                         self._on_record_toggled, checkable=True)
        self.weights_box = QComboBox(self)
        self.weights_box.currentTextChanged.connect(lambda _t: self._setup())
        self.paste = make_check(self, "Paste back", "Paste the face back into the photo", lambda _c: self._request(),
                                checked=True)
        return hrow(self.source_button, self.speech_button, self.record_button, QLabel("Weights", self),
                    self.weights_box, self.paste)

    def _views(self) -> QGridLayout:
        self.source_view = ImageView("source", self)
        self.generated_view = ImageView("generated", self)
        return view_grid(self, ((self.source_view, "Source", 1), (self.generated_view, "Talking", 1)))

    def _wave_plot(self) -> Waveform:
        self.wave = Waveform(self)
        self.wave.seekRequested.connect(self.seek_time)
        self.playhead = pg.InfiniteLine(pos=0, angle=90, pen=pg.mkPen("#ff5050", width=2))
        self.wave.addItem(self.playhead)
        return self.wave

    def _transport_row(self) -> QHBoxLayout:
        self.play_button = make_button(self, "", "Play / pause: the sound with the talking face", self.toggle_play)
        self.play_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        self.time_label = QLabel("0.00 s", self)
        self.strength = QSlider(Qt.Orientation.Horizontal, self)
        self.strength.setRange(0, 300)
        self.strength.setValue(100)
        self.strength.setObjectName("strengthSlider")
        self.strength.setToolTip("How much the mouth moves (100% as trained)")
        self.strength.valueChanged.connect(self._on_strength)
        self.strength_label = QLabel("100%", self)
        self.latency = QLabel("", self)
        row = hrow(self.play_button, self.time_label, 20, QLabel("Speech strength", self), stretch=False)
        row.addWidget(self.strength, 1)
        row.addWidget(self.strength_label)
        row.addWidget(self.latency)
        return row

    def _pose_row(self) -> QHBoxLayout:
        self.pose_box = make_check(self, "Pose", "Turn the head as well (degrees), with this weight",
                                   lambda _c: self._request())
        self.angle_spins: dict[str, QDoubleSpinBox] = {}
        for axis in AXES:
            spin = QDoubleSpinBox(self)
            spin.setRange(*LIMITS[axis])
            spin.setDecimals(1)
            spin.setSuffix("°")
            spin.setPrefix(f"{axis} ")
            spin.valueChanged.connect(lambda _v: self._request())
            self.angle_spins[axis] = spin
        self.pose_weight = self._weight_spin("Weight of the pose")
        return hrow(QLabel("Mix:", self), self.pose_box, *self.angle_spins.values(), QLabel("×", self),
                    self.pose_weight)

    def _video_row(self) -> QHBoxLayout:
        self.video_button = make_button(self, "Driving video…", "A video whose face's expression mixes in "
                                        "(cancel: none)", self._choose_video)
        self.video_weight = self._weight_spin("Weight of the driving video")
        self.video_pose = make_check(self, "its head pose", "Let the driving video turn the head too (default: its "
                                     "expression only)", lambda _c: self._request())
        self.video_label = QLabel("no driving video", self)
        return hrow(30, self.video_button, QLabel("×", self), self.video_weight, self.video_pose, self.video_label)

    def _bottom_row(self) -> QHBoxLayout:
        self.export_button = make_button(self, "Export MP4…", "The talking face as a video with the speech",
                                         self._choose_export)
        self.sync_button = make_button(self, "Check sync", "When the speech comes from a video of the speaking "
                                       "face: is the sound in sync with the picture? (AV-sync network)", self.check_sync)
        self.fix_button = make_button(self, "Fix", "Move the speech by the offset found", self.fix_sync)
        self.sync_label = QLabel("", self)
        row = hrow(self.export_button, self.sync_button, self.fix_button, self.sync_label, stretch=False)
        row.addWidget(self.status, 1)
        return row

    def _weight_spin(self, tip: str) -> QDoubleSpinBox:
        from ...pipelines.mix import WEIGHT_RANGE

        spin = QDoubleSpinBox(self)
        spin.setRange(*WEIGHT_RANGE)
        spin.setSingleStep(0.1)
        spin.setValue(1.0)
        spin.setToolTip(tip)
        spin.valueChanged.connect(lambda _v: self._request())
        return spin

    def mix(self):
        """The drivers as the controls set them (:class:`~x2studio.pipelines.mix.Mix`)."""
        from ...pipelines.mix import Mix

        pose = tuple(self.angle_spins[a].value() for a in AXES) if self.pose_box.isChecked() else None
        return Mix(pose=pose, pose_weight=self.pose_weight.value(), speech_weight=self.strength_value(),
                   video_weight=self.video_weight.value() if self.video else 0.0,
                   video_pose=self.video_pose.isChecked())

    # ------------------------------------------------------------------ start-up
    def start_demo(self) -> None:
        demo = demo_file("face_1.png")
        if self.weights_box.count() and demo.is_file():
            self.set_source(str(demo))
        speech = demo_file("talking_3.mp4")
        if speech.is_file() and self.speech is None:
            self.load_speech(str(speech))

    def weight_names(self) -> list[str]:
        from ...weights.registry import WeightsRegistry

        reg = WeightsRegistry()
        have = set(reg.names())
        return [n for n in reg.names("x2face") if {f"{n}-a2v", f"{n}-v2p", f"{n}-p2v"} <= have]

    # ------------------------------------------------------------------ source and speech
    def _on_ready(self, info) -> None:
        self.ready = True
        for axis, value in zip(AXES, info.pose):       # the pose box starts at the source's own pose
            spin = self.angle_spins[axis]
            spin.blockSignals(True)
            spin.setValue(value)
            spin.blockSignals(False)
        self.source_view.set_image(info.source)
        self._model_status = (f"Weights '{info.weights}' ({info.features} speech features) on "
                              f"{self.device.upper()}.")
        self._show_status()
        self._update_buttons()
        self._request()

    def _show_status(self) -> None:
        self.status.setText(" ".join(t for t in (self._model_status, self._speech_status or
                                                 "Load or record some speech.") if t))

    def _choose_speech(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Speech", "", SPEECH_FILTER)
        if path:
            self.load_speech(path)

    def load_speech(self, audio, name: str | None = None) -> None:
        """Speech from a file path or an AudioClip (a recording)."""
        self.pause()
        self.speech = audio
        self.speech_name = name or (f"'{Path(audio).name}'" if isinstance(audio, (str, Path)) else "the recording")
        self.status.setText(f"Reading {self.speech_name}…")
        self.server.load(audio, self.speech_name)

    def _on_loaded(self, info: dict) -> None:
        from ...media.playback import AudioPlayer

        self.loaded = True
        self.clip, self.frames, self.fps = info["clip"], int(info["frames"]), float(info["fps"])
        t, peaks = info["envelope"]
        plot = self.wave.getPlotItem()
        for item in list(plot.listDataItems()):
            plot.removeItem(item)
        plot.plot(t, peaks, pen=pg.mkPen("#4aa3ff"), fillLevel=0, brush=(74, 163, 255, 90))
        plot.plot(t, -peaks, pen=pg.mkPen("#4aa3ff"), fillLevel=0, brush=(74, 163, 255, 90))
        plot.setXRange(0, self.clip.duration_s, padding=0)
        plot.setYRange(-1, 1, padding=0.05)
        if self._player is not None:
            self._player.close()
        self._player = None
        try:
            player = AudioPlayer(self.settings.audio_output or None)
            player.load(self.clip)
            self._player = player
            sound = ""
        except AudioDeviceError as exc:
            sound = f" Sound: playback disabled ({exc})."
        self._speech_status = f"Speech: {info['name']}, {self.clip.duration_s:.2f} s, {self.frames} frames.{sound}"
        self._show_status()
        self.speechLoaded.emit(info)
        self._update_buttons()
        self.seek_frame(0)

    def _choose_video(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Driving video (cancel: none)", "", SOURCE_FILTER)
        self.set_video(path or None)

    def set_video(self, path: str | None) -> None:
        """Mix in the expression of the face in this video (None: no driving video)."""
        self.video = None
        self.video_frames = 0
        self.video_label.setText("reading the driving video…" if path else "no driving video")
        self.server.load_video(path or "")
        self._pending_video = path
        if not path:
            self._update_buttons()
            self._request()

    def _on_video_loaded(self, info) -> None:
        if info is None:
            return
        self.video = self._pending_video or info["name"]
        self.video_frames, self.video_fps = int(info["frames"]), float(info["fps"])
        self.video_label.setText(f"{Path(self.video).name}: {self.video_frames} frames")
        self._update_buttons()
        if not self.loaded:
            self.seek_frame(0)
        else:
            self._request()

    def timeline(self) -> tuple[int, float]:
        """(frames, fps) of the timeline: the speech's, else the driving video's."""
        if self.loaded:
            return self.frames, self.fps
        return (self.video_frames, self.video_fps) if self.video else (0, 25.0)

    # ------------------------------------------------------------------ microphone
    def _on_record_toggled(self, on: bool) -> None:
        from ...media.playback import AudioRecorder

        if on:
            self.pause()
            rec = AudioRecorder()
            try:
                rec.start()
            except AudioDeviceError as exc:
                self.record_button.blockSignals(True)
                self.record_button.setChecked(False)
                self.record_button.blockSignals(False)
                self._on_failed(str(exc))
                return
            self._recorder = rec
            self.record_button.setText("Stop")
            self.status.setText("Recording… press Stop when done.")
            self._timer.start()
            return
        rec, self._recorder = self._recorder, None
        self.record_button.setText("Record")
        if rec is None:
            return
        clip = rec.stop()
        if not self._playing:
            self._timer.stop()
        self.load_speech(clip, "the recording")

    # ------------------------------------------------------------------ playback
    def seek_time(self, seconds: float) -> None:
        self.seek_frame(int(math.floor(max(0.0, seconds) * self.timeline()[1] + 1e-6)))

    def seek_frame(self, index: int) -> None:
        frames, fps = self.timeline()
        if not frames:
            return
        self.frame = int(min(max(0, index), max(frames - 1, 0)))
        t = self.frame / fps
        self.playhead.setValue(t)
        self.time_label.setText(f"{t:.2f} s")
        if self._playing:
            self._restart_clock(t)
        self._request()

    def play(self) -> None:
        frames, fps = self.timeline()
        if not (frames and self.ready) or self._playing:
            return
        start = 0 if self.frame >= frames - 1 else self.frame
        self._begin_playing(start / fps)

    def pause(self) -> None:
        self._end_playing(stop_timer=self._recorder is None)     # the recorder's level meter keeps ticking

    def _sound_disabled(self, message: str) -> None:
        self.status.setText(message)

    def _on_tick(self) -> None:
        if self._recorder is not None:
            rec = self._recorder
            self.status.setText(f"Recording… {rec.seconds:.1f} s, level {20 * math.log10(max(rec.level, 1e-5)):.0f} dBFS")
            if rec.full:
                self.record_button.setChecked(False)
            return
        if not self._playing:
            return
        frames, fps = self.timeline()
        index = int(math.floor(self._clock() * fps + 1e-6))
        if index >= frames:
            self.pause()
            self.seek_frame(frames - 1)
            return
        if index != self.frame:
            self.frame = index
            t = index / fps
            self.playhead.setValue(t)
            self.time_label.setText(f"{t:.2f} s")
            self._request()

    def _on_strength(self, value: int) -> None:
        self.strength_label.setText(f"{value}%")
        self._request()

    def strength_value(self) -> float:
        return self.strength.value() / 100.0

    def _request(self) -> None:
        frames, fps = self.timeline()
        if self.ready and frames:
            try:
                mix = self.mix().checked()
            except Exception as exc:  # noqa: BLE001 - an InputError from a control's value
                self.status.setText(str(exc))
                return
            self.server.want(self.frame, mix, self.frame / fps)

    def _on_result(self, out: dict) -> None:
        self.last_result = out
        self.generated_view.set_image(out["composite"] if self.paste.isChecked() else out["generated"])
        self.latency.setText(f"{out['ms']:.0f} ms")
        self.resultShown.emit(out)

    def _on_failed(self, message: str) -> None:
        if self._pending_video and not self.video:
            self._pending_video = None
            self.video_label.setText("no driving video")
        self.status.setText(message)
        self.errorRaised.emit(message, "")
        self._update_buttons()

    # ------------------------------------------------------------------ export
    def _choose_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export the talking face", "talking.mp4", MP4_FILTER)
        if path:
            self.export_video(Path(path))

    def export_video(self, out: Path):
        """The talking (and mixed) face, with the speech → ``out`` (MP4) as a job."""
        if not (self.ready and (self.loaded or self.video)):
            self.errorRaised.emit("Choose a source photo and some speech (or a driving video) first.", "")
            return None
        from ...pipelines.speak_photo import MixRequest, mix_photo

        try:
            request = MixRequest(Path(self.source), out, self.mix(), self.clip if self.loaded else None,
                                 Path(self.video) if self.video else None, self.paste.isChecked(),
                                 self.weights_box.currentText(), self.device)
        except X2Error as exc:
            self._on_failed(f"Export failed: {exc}")
            return None
        return start_export(self, out, lambda job: mix_photo(request, job), self._on_exported, self.status,
                            self._on_failed)

    def _on_exported(self, report) -> None:
        self.status.setText(f"Wrote {report.out} ({report.frames} frames; {', '.join(report.drivers)}).")
        self.statusMessage.emit(f"Exported {report.out}")

    def _update_buttons(self) -> None:
        has_time = bool(self.timeline()[0])
        for w in (self.play_button, self.export_button):
            w.setEnabled(self.ready and has_time)
        self.strength.setEnabled(self.ready and self.loaded)
        self.sync_button.setEnabled(self.loaded and isinstance(self.speech, str))
        self.fix_button.setEnabled(bool(self.sync_offset) and self.loaded)

    def shutdown(self) -> None:
        self.pause()
        if self._recorder is not None:
            self._recorder.stop()
            self._recorder = None
        if self._player is not None:
            self._player.close()
        self.jobs.shutdown()
        self.server.shutdown()
