"""Decoding for the Media panel, off the GUI thread.

``FrameServer`` owns a :class:`~x2studio.media.video.VideoReader` on its own thread.  The GUI asks
for frames with :meth:`FrameServer.want`; only the latest request is served (stale ones are
dropped, "latest wins"), so scrubbing and playback never queue up work.  Frames arrive as
``QImage`` (safe to build off the GUI thread) through ``frameReady``.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QImage

from ..core.errors import X2Error, format_error
from ..media.audio import load_audio, peak_envelope
from ..media.video import MediaInfo, VideoReader, probe
from .threads import make_thread, retire, stop_thread

__all__ = ["FrameServer", "to_qimage"]

log = logging.getLogger(__name__)


def to_qimage(rgb: np.ndarray) -> QImage:
    """A QImage that owns a copy of an ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA uint8 array."""
    rgb = np.ascontiguousarray(rgb)
    h, w, c = rgb.shape
    fmt = QImage.Format.Format_RGBA8888 if c == 4 else QImage.Format.Format_RGB888
    return QImage(rgb.data, w, h, c * w, fmt).copy()


class _Decoder(QObject):
    opened = Signal(object, object)  # MediaInfo, (w, h, fps, frames) or None for audio-only
    audioReady = Signal(object, object)  # AudioClip, (times_s, peaks) waveform envelope
    audioMissing = Signal(str)
    frameReady = Signal(int, float, QImage)
    failed = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self._reader: VideoReader | None = None
        self._lock = threading.Lock()
        self._wanted: int | None = None

    def set_wanted(self, index: int) -> bool:
        """Record the latest request; True if a decode pass must be scheduled."""
        with self._lock:
            idle = self._wanted is None
            self._wanted = index
            return idle

    @Slot(str)
    def open(self, path: str) -> None:
        self.close()
        try:
            info: MediaInfo = probe(path)
            video = None
            if info.video is not None:
                self._reader = VideoReader(path)
                r = self._reader
                video = (r.width, r.height, r.fps, max(1, r.frame_count))
            self.opened.emit(info, video)
            if info.audio is not None:
                try:
                    clip = load_audio(path)
                    self.audioReady.emit(clip, peak_envelope(clip))  # envelope here, off the GUI thread
                except X2Error as exc:
                    self.audioMissing.emit(str(exc))
            else:
                self.audioMissing.emit("This file has no audio track.")
        except X2Error as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # noqa: BLE001 - reach the user as a message
            log.exception("opening %s failed", path)
            self.failed.emit(format_error(exc))

    @Slot()
    def serve(self) -> None:
        while True:
            with self._lock:
                index = self._wanted
            if index is None or self._reader is None:
                with self._lock:
                    self._wanted = None
                return
            try:
                frame = self._reader.read(index)
                image = to_qimage(frame.image)
            except X2Error as exc:
                with self._lock:
                    self._wanted = None
                self.failed.emit(str(exc))
                return
            except Exception as exc:  # noqa: BLE001
                log.exception("decoding frame %d failed", index)
                with self._lock:
                    self._wanted = None
                self.failed.emit(format_error(exc))
                return
            with self._lock:
                done = self._wanted == index
                if done:
                    self._wanted = None
            self.frameReady.emit(frame.index, frame.time_s, image)
            if done:
                return

    @Slot()
    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        with self._lock:
            self._wanted = None

    @Slot()
    def finish(self) -> None:
        """Last call on the decoder thread: close, and hand the object back to the GUI thread."""
        self.close()
        retire(self)


class FrameServer(QObject):
    """The GUI's handle on the decoder thread."""

    opened = Signal(object, object)
    audioReady = Signal(object, object)
    audioMissing = Signal(str)
    frameReady = Signal(int, float, QImage)
    failed = Signal(str)
    _openRequested = Signal(str)
    _serveRequested = Signal()
    _finishRequested = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread = make_thread("media decoder")
        self._decoder = _Decoder()
        self._decoder.moveToThread(self._thread)
        self._openRequested.connect(self._decoder.open)
        self._serveRequested.connect(self._decoder.serve)
        self._finishRequested.connect(self._decoder.finish)
        self._decoder.opened.connect(self.opened)
        self._decoder.audioReady.connect(self.audioReady)
        self._decoder.audioMissing.connect(self.audioMissing)
        self._decoder.frameReady.connect(self.frameReady)
        self._decoder.failed.connect(self.failed)
        self._thread.start()

    def open(self, path: str | Path) -> None:
        self._openRequested.emit(str(path))

    def want(self, index: int) -> None:
        if self._decoder.set_wanted(int(index)):
            self._serveRequested.emit()

    def shutdown(self) -> None:
        stop_thread(self._thread, self._finishRequested)
