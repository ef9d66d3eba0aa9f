"""What panels share: the weights chooser, the export job, the source-photo set-up (Pose, Audio,
Paint) and clocked playback (Media, Audio, Transcribe)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QGridLayout, QHBoxLayout, QLabel, QPushButton, QStyle,
                               QWidget)

from ...core.choices import AUDIO_SUFFIXES, IMAGE_SUFFIXES, VIDEO_SUFFIXES, dialog_filter
from ...core.errors import AudioDeviceError

__all__ = ["make_button", "make_check", "hrow", "view_grid", "compact", "fill_weights_box", "start_export", "PhotoSource", "ClockedPlayback", "SOURCE_FILTER", "PHOTO_FILTER",
           "VIDEO_FILTER", "MP4_FILTER", "MUSIC_FILTER"]

PHOTO_FILTER = dialog_filter("Images", IMAGE_SUFFIXES)
SOURCE_FILTER = dialog_filter("Images and videos", IMAGE_SUFFIXES, VIDEO_SUFFIXES)
VIDEO_FILTER = dialog_filter("Videos", VIDEO_SUFFIXES)
MP4_FILTER = dialog_filter("MP4 video", (".mp4",), all_files=False)
MUSIC_FILTER = dialog_filter("Videos and recordings", VIDEO_SUFFIXES, AUDIO_SUFFIXES)


def make_button(parent: QWidget, text: str, tip: str = "", on_click: Callable | None = None,
                checkable: bool = False) -> QPushButton:
    """A push button with its tooltip, wired to ``on_click`` (``toggled`` when ``checkable``)."""
    button = QPushButton(text, parent)
    button.setToolTip(tip)
    button.setCheckable(checkable)
    if on_click is not None:
        (button.toggled if checkable else button.clicked).connect(on_click)
    return button


def make_check(parent: QWidget, text: str, tip: str = "", on_toggle: Callable | None = None,
               checked: bool = False) -> QCheckBox:
    """A check box with its tooltip and starting state, wired to ``on_toggle(checked)``."""
    box = QCheckBox(text, parent)
    box.setToolTip(tip)
    box.setChecked(checked)
    if on_toggle is not None:
        box.toggled.connect(on_toggle)
    return box


def hrow(*items, stretch: bool = True) -> QHBoxLayout:
    """A row of widgets (an int is a spacing), with a stretch at the end unless ``stretch`` is False."""
    row = QHBoxLayout()
    for item in items:
        if isinstance(item, int):
            row.addSpacing(item)
        else:
            row.addWidget(item)
    if stretch:
        row.addStretch(1)
    return row


def view_grid(parent: QWidget, views, start: int = 0) -> QGridLayout:
    """Views side by side, each under its name: ``views`` is (widget, name, stretch) per column, from
    column ``start`` (the columns before it are the caller's)."""
    grid = QGridLayout()
    for col, (view, name, stretch) in enumerate(views, start=start):
        grid.addWidget(QLabel(name, parent), 0, col, alignment=Qt.AlignmentFlag.AlignHCenter)
        grid.addWidget(view, 1, col)
        grid.setColumnStretch(col, stretch)
    grid.setRowStretch(1, 1)
    return grid


def compact(*buttons) -> None:
    """Buttons as narrow as their text (the style's minimum of 80 px would widen a full row)."""
    for b in buttons:
        b.setMaximumWidth(max(b.fontMetrics().horizontalAdvance(b.text()) + 22, 40))
        b.setMinimumWidth(0)


def fill_weights_box(box: QComboBox, names: list[str], preferred: str = "x2face-lite") -> None:
    """Offer ``names``, keeping the current choice when it is still there (else ``preferred``),
    without emitting a change while the list is rebuilt."""
    current = box.currentText()
    box.blockSignals(True)
    box.clear()
    box.addItems(names)
    if current in names:
        box.setCurrentText(current)
    elif preferred in names:
        box.setCurrentText(preferred)
    box.blockSignals(False)


def start_export(panel, out: Path, work: Callable, on_success: Callable, status: QLabel,
                 on_failed: Callable[[str], None]):
    """Run ``work(job)`` as the panel's job "Exporting <name>", with progress and cancel in ``status``."""
    status.setText(f"Exporting {out.name}…")
    handle = panel.jobs.start(f"Exporting {out.name}", work, on_success=on_success,
                              on_failure=lambda m, d: on_failed(f"Export failed: {m}"))
    handle.progress.connect(lambda ev: status.setText(f"Exporting: {100 * (ev.fraction or 0):.0f}%"))
    handle.cancelled.connect(lambda: status.setText("Export cancelled; nothing was written."))
    return handle


class PhotoSource:
    """What the panels driving one source face share (mixed into Pose, Audio and Paint): choose the
    source, and (re)start their worker's set-up when the source, the weights or the device change.
    Needs ``weights_box``, ``server`` (with ``setup(weights, device, source)``), ``status``, ``ready``
    and ``_update_buttons``."""

    setup_message = "Finding the face…"
    source_title, source_filter = "Source photo", PHOTO_FILTER
    source: str | None = None
    device = "cpu"

    def set_device(self, device: str) -> None:
        self.device = device
        self._setup()

    def _choose_source(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, self.source_title, "", self.source_filter)
        if path:
            self.set_source(path)

    def _source_arg(self):
        """What the worker's ``setup`` takes as the source."""
        return self.source

    def set_source(self, path: str) -> None:
        self.source = str(path)
        self._setup()

    def _setup(self) -> None:
        if not self.source or not self.weights_box.currentText():
            return
        self.ready = False
        self.status.setText(self.setup_message)
        self.server.setup(self.weights_box.currentText(), self.device, self._source_arg())
        self._update_buttons()


class ClockedPlayback:
    """Playback timed by one clock: the sound card's position while sound plays (picture and sound
    stay together), else the monotonic clock.  Mixed into the Media, Audio, Piano and Violin panels;
    needs ``play_button``, ``_timer`` (the panel's tick) and ``_sound_disabled(message)``; the panel
    sets ``_player`` (an :class:`~x2studio.media.playback.AudioPlayer`, or ``None``)."""

    _playing = False
    _player = None
    _clock_origin = 0.0

    @property
    def is_playing(self) -> bool:
        return self._playing

    def toggle_play(self) -> None:
        self.pause() if self._playing else self.play()

    def _begin_playing(self, start_s: float, interval_ms: int | None = None) -> None:
        self._playing = True
        self._restart_clock(start_s)
        self._set_play_icon(True)
        if interval_ms is None:
            self._timer.start()
        else:
            self._timer.start(interval_ms)

    def _end_playing(self, stop_timer: bool = True) -> bool:
        """Stop; False if nothing was playing."""
        if not self._playing:
            return False
        self._playing = False
        if stop_timer:
            self._timer.stop()
        if self._player is not None:
            self._player.pause()
        self._set_play_icon(False)
        return True

    def _set_play_icon(self, playing: bool) -> None:
        icon = QStyle.StandardPixmap.SP_MediaPause if playing else QStyle.StandardPixmap.SP_MediaPlay
        self.play_button.setIcon(self.style().standardIcon(icon))

    def _restart_clock(self, seconds: float) -> None:
        self._clock_origin = time.monotonic() - seconds
        if self._player is not None and self._playing:
            try:
                self._player.play(from_s=seconds)
            except AudioDeviceError as exc:
                self._player = None
                self._sound_disabled(f"Sound: playback disabled. {exc}")

    def _clock(self) -> float:
        if self._player is not None and self._player.playing:
            return self._player.position_s
        return time.monotonic() - self._clock_origin
