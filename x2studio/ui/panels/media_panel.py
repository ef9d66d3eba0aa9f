"""The Media panel: open, play, scrub and export frames of a video or audio file.

Decoding runs on the :class:`~x2studio.workers.media.FrameServer` thread; audio plays through
:class:`~x2studio.media.playback.AudioPlayer`, whose position is the master clock while sound
plays (else the wall clock is).  The slider counts frames, so seeking is frame-exact.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QImage, QKeySequence, QShortcut
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QSlider, QStyle,
                               QVBoxLayout, QWidget)

from ...core.atomic import atomic_path
from ...core.errors import AudioDeviceError, OutputError, X2Error
from ...core.settings import Settings
from ...media.audio import AudioClip
from ...media.playback import AudioPlayer
from ...media.video import MediaInfo
from ...workers.media import FrameServer
from ..widgets.video_view import VideoView
from .base import Panel
from .common import ClockedPlayback

__all__ = ["MediaPanel", "timecode"]

log = logging.getLogger(__name__)
AUDIO_ONLY_RATE = 100.0  # slider steps per second for a file with no video


def timecode(seconds: float, fps: float) -> str:
    """``HH:MM:SS:FF`` (FF = frame within the second)."""
    fps_i = max(1, int(round(fps)))
    total_frames = int(math.floor(seconds * fps + 1e-6))
    ff = total_frames % fps_i
    s = int(seconds + 1e-9)
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}:{ff:02d}"


class MediaPanel(ClockedPlayback, Panel):
    panel_id = "media"
    title = "Media"

    mediaOpened = Signal(str)  # path

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(settings, parent)
        self.setAcceptDrops(False)  # the main window takes drops
        self.audio_output = settings.audio_output
        self.path: Path | None = None
        self.info: MediaInfo | None = None
        self.fps = 25.0
        self.frame_count = 0
        self.has_video = False
        self.current_index = -1
        self.current_time = 0.0
        self._requested = -1
        self._playing = False
        self._clock_origin = 0.0  # wall-clock playback: monotonic time of position 0
        self._player: AudioPlayer | None = None
        self._audio: AudioClip | None = None
        self.audio_status = ""

        self.server = FrameServer(self)
        self.server.opened.connect(self._on_server_opened)
        self.server.frameReady.connect(self._on_server_frame)
        self.server.audioReady.connect(self._on_server_audio)
        self.server.audioMissing.connect(self._on_server_audio_missing)
        self.server.failed.connect(self._on_server_failed)

        layout = QVBoxLayout(self)
        layout.addWidget(self._build_view(), 1)
        layout.addWidget(self._build_wave())
        layout.addLayout(self._build_controls())
        layout.addLayout(self._build_readout())
        self.info_label = QLabel("", self)
        self.info_label.setWordWrap(True)
        self.info_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.audio_label = QLabel("", self)
        self.audio_label.setWordWrap(True)
        layout.addWidget(self.info_label)
        layout.addWidget(self.audio_label)
        self._add_shortcuts()

        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._on_timer_tick)
        self._set_controls_enabled(False)

    # ------------------------------------------------------------------ layout
    def _build_view(self) -> VideoView:
        self.view = VideoView(self)
        return self.view

    def _build_wave(self) -> pg.PlotWidget:
        """The sound's waveform under the picture, with the playhead."""
        self.wave = pg.PlotWidget(self)
        self.wave.setMenuEnabled(False)
        self.wave.setMouseEnabled(False, False)
        self.wave.hideButtons()
        self.wave.getPlotItem().hideAxis("left")
        self.wave.setMaximumHeight(90)
        self.wave.setVisible(False)
        self._playhead = pg.InfiniteLine(pos=0, angle=90, pen=pg.mkPen("#ff5050", width=2))
        self.wave.addItem(self._playhead)
        return self.wave

    def _build_controls(self) -> QHBoxLayout:
        style = self.style()
        self.play_button = QPushButton(self)
        self.play_button.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        self.play_button.setToolTip("Play / pause (Space)")
        self.play_button.clicked.connect(self.toggle_play)
        self.prev_button = QPushButton(self)
        self.prev_button.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_MediaSeekBackward))
        self.prev_button.setToolTip("Previous frame (Left)")
        self.prev_button.clicked.connect(lambda: self.step(-1))
        self.next_button = QPushButton(self)
        self.next_button.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_MediaSeekForward))
        self.next_button.setToolTip("Next frame (Right)")
        self.next_button.clicked.connect(lambda: self.step(1))
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setRange(0, 0)
        self.slider.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.slider.valueChanged.connect(self._on_slider_value_changed)
        controls = QHBoxLayout()
        for w in (self.prev_button, self.play_button, self.next_button, self.slider):
            controls.addWidget(w)
        return controls

    def _build_readout(self) -> QHBoxLayout:
        self.frame_label = QLabel("Frame – / –", self)
        self.time_label = QLabel("00:00:00:00", self)
        self.time_label.setToolTip("Timecode HH:MM:SS:FF")
        self.export_button = QPushButton("Export frame…", self)
        self.export_button.setToolTip("Save the frame shown as a PNG image")
        self.export_button.clicked.connect(lambda: self.export_frame())
        readout = QHBoxLayout()
        readout.addWidget(self.frame_label)
        readout.addSpacing(16)
        readout.addWidget(self.time_label)
        readout.addStretch(1)
        readout.addWidget(self.export_button)
        return readout

    def _add_shortcuts(self) -> None:
        for key, slot in ((Qt.Key.Key_Space, self.toggle_play), (Qt.Key.Key_Left, lambda: self.step(-1)),
                          (Qt.Key.Key_Right, lambda: self.step(1))):
            sc = QShortcut(QKeySequence(key), self)
            sc.setContext(Qt.ShortcutContext.WindowShortcut)  # only while the panel is shown
            sc.activated.connect(slot)

    # ------------------------------------------------------------------ opening
    def open_file(self, path: str | Path) -> None:
        """Start opening ``path`` (decoding happens on the worker; errors arrive as errorRaised)."""
        self.pause()
        self.path = Path(path)
        self.view.set_image(None)
        self.view.set_hint(f"Opening {self.path.name}…")
        self.statusMessage.emit(f"Opening {self.path.name}…")
        self.server.open(self.path)

    def _on_server_opened(self, info: MediaInfo, video: tuple | None) -> None:
        self.info = info
        self.has_video = video is not None
        if video is not None:
            w, h, self.fps, self.frame_count = video
        else:
            self.fps = AUDIO_ONLY_RATE
            self.frame_count = max(1, int(math.ceil(info.duration_s * AUDIO_ONLY_RATE)))
            self.view.set_hint(f"{info.path.name}: audio only")
        self._unload_audio()
        self.current_index = -1
        self._requested = -1
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, self.frame_count - 1))
        self.slider.setValue(0)
        self.slider.blockSignals(False)
        self.wave.setVisible(info.audio is not None)
        self.wave.getPlotItem().clear()
        self.wave.addItem(self._playhead)
        self.info_label.setText(" · ".join(info.summary_lines()[1:]))
        self._set_controls_enabled(True)
        self.export_button.setEnabled(self.has_video)
        self.seek_frame(0)
        self.mediaOpened.emit(str(info.path))      # after the first frame: a listener may go elsewhere
        self.statusMessage.emit(f"Opened {info.path.name}")

    def _on_server_audio(self, clip: AudioClip, envelope: tuple[np.ndarray, np.ndarray]) -> None:
        self._draw_waveform(clip, envelope)
        self._load_player(clip)

    def _load_player(self, clip: AudioClip) -> None:
        self._audio = clip
        try:
            player = AudioPlayer(self.audio_output or None)
            player.load(clip)
        except AudioDeviceError as exc:
            self._player = None
            self._set_audio_status(f"Sound: playback disabled. {exc}")
            return
        self._player = player
        self._set_audio_status(f"Sound: {clip.sample_rate} Hz, {clip.channels} ch, {clip.duration_s:.2f} s")

    def _on_server_audio_missing(self, message: str) -> None:
        self._unload_audio()
        self._set_audio_status(f"No sound: {message}")

    def _set_audio_status(self, text: str) -> None:
        self.audio_status = text
        self.audio_label.setText(text)

    def _draw_waveform(self, clip: AudioClip, envelope: tuple[np.ndarray, np.ndarray]) -> None:
        t, peaks = envelope
        plot = self.wave.getPlotItem()
        plot.plot(t, peaks, pen=pg.mkPen("#4aa3ff"), fillLevel=0, brush=(74, 163, 255, 90))
        plot.plot(t, -peaks, pen=pg.mkPen("#4aa3ff"), fillLevel=0, brush=(74, 163, 255, 90))
        plot.setXRange(0, clip.duration_s, padding=0)

    def _unload_audio(self) -> None:
        if self._player is not None:
            self._player.close()
        self._player = None
        self._audio = None

    def _on_server_failed(self, message: str) -> None:
        self.pause()
        if self.info is None or (self.path is not None and self.info.path != self.path):
            self._set_controls_enabled(False)
            self.view.set_hint(f"Could not open {self.path.name if self.path else 'the file'}.")
        self.errorRaised.emit(message, "")

    # ------------------------------------------------------------------ transport

    def duration_s(self) -> float:
        return self.frame_count / self.fps if self.fps else 0.0

    def seek_frame(self, index: int) -> None:
        if self.info is None:
            return
        index = int(min(max(0, index), max(0, self.frame_count - 1)))
        if self.slider.value() != index:
            self.slider.blockSignals(True)
            self.slider.setValue(index)
            self.slider.blockSignals(False)
        self._show_position(index)
        if self._playing:
            self._restart_clock(index / self.fps)
        self._request(index)

    def step(self, delta: int) -> None:
        self.pause()
        self.seek_frame((self.current_index if self.current_index >= 0 else self.slider.value()) + delta)

    def play(self) -> None:
        if self.info is None or self._playing:
            return
        start = self.slider.value()
        if start >= self.frame_count - 1:
            start = 0
        self._begin_playing(start / self.fps, max(5, int(500 / max(self.fps, 1.0))))

    def pause(self) -> None:
        self._end_playing()

    def _sound_disabled(self, message: str) -> None:
        self._set_audio_status(message)

    def _on_timer_tick(self) -> None:
        index = int(math.floor(self._clock() * self.fps + 1e-6))
        if index >= self.frame_count:
            self.seek_frame(self.frame_count - 1)
            self.pause()
            return
        if index != self.slider.value():
            self.slider.blockSignals(True)
            self.slider.setValue(index)
            self.slider.blockSignals(False)
            self._show_position(index)
            self._request(index)

    def _on_slider_value_changed(self, value: int) -> None:
        self.seek_frame(value)

    def _request(self, index: int) -> None:
        if not self.has_video:
            self.current_index = index
            return
        if index != self._requested:
            self._requested = index
            self.server.want(index)

    def _on_server_frame(self, index: int, time_s: float, image: QImage) -> None:
        self.current_index = index
        self.current_time = time_s
        self.view.set_image(image)

    def _show_position(self, index: int) -> None:
        seconds = index / self.fps if self.fps else 0.0
        if self.has_video:
            self.frame_label.setText(f"Frame {index + 1} / {self.frame_count}")
        else:
            self.frame_label.setText("Audio only")
        self.time_label.setText(f"{timecode(seconds, self.fps if self.has_video else 25)} / "
                                f"{timecode(self.duration_s(), self.fps if self.has_video else 25)}")
        self._playhead.setPos(seconds)

    def _set_controls_enabled(self, enabled: bool) -> None:
        for w in (self.play_button, self.prev_button, self.next_button, self.slider, self.export_button):
            w.setEnabled(enabled)

    # ------------------------------------------------------------------ export
    def export_frame(self, path: str | Path | None = None) -> Path | None:
        """Save the frame shown as PNG (asks for a file name when ``path`` is None)."""
        image = self.view.image()
        if image is None or image.isNull():
            self.errorRaised.emit("There is no frame to export yet.", "")
            return None
        if path is None:
            default = (self.path.with_name(f"{self.path.stem}_frame{self.current_index + 1:05d}.png")
                       if self.path else Path.home() / "frame.png")
            chosen, _ = QFileDialog.getSaveFileName(self, "Export frame as PNG", str(default), "PNG image (*.png)")
            if not chosen:
                return None
            path = Path(chosen)
        path = Path(path)
        if path.suffix.lower() != ".png":
            path = path.with_suffix(".png")
        try:
            with atomic_path(path) as tmp:
                if not image.save(str(tmp), "PNG"):
                    raise OutputError(f"Could not write the PNG '{path}'.", "Check the folder and free disk space.")
        except X2Error as exc:
            self.errorRaised.emit(str(exc), "")
            return None
        self.statusMessage.emit(f"Saved frame {self.current_index + 1} to {path}")
        return path

    # ------------------------------------------------------------------ lifecycle
    def set_audio_output(self, name: str) -> None:
        self.audio_output = name
        if self._audio is not None:
            self._load_player(self._audio)


    def shutdown(self) -> None:
        self.pause()
        self._unload_audio()
        self.server.shutdown()
