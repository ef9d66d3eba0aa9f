"""Reenactment off the GUI thread.

``ReenactServer`` owns a :class:`~x2studio.pipelines.reenact.Reenactor` and the driving video's
reader on one thread.  The GUI asks for driving frames by index (a video) or hands it camera frames;
only the latest request is served ("latest wins"), so when the model is slower than playback or the
camera, frames are dropped instead of piling up.  ``CameraReader`` grabs webcam frames on a thread
of its own with OpenCV.
"""

from __future__ import annotations

import logging
import time

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot

from ..core.errors import MediaError
from ..face.tracks import crop
from ..media.video import VideoReader
from .latest import LatestWins, LatestWinsServer
from .media import to_qimage
from .messages import SourcesReady
from .threads import hand_back, make_thread

__all__ = ["ReenactServer", "CameraReader"]

log = logging.getLogger(__name__)


class _Driver(LatestWins):
    ready = Signal(object)                   # dict: embedded (QImage), sources [QImage], origins, weights
    drivingOpened = Signal(int, float)       # frames, fps
    tracking = Signal(float)                 # the share of the driving video tracked so far (0…1)
    # result: dict: index, driving, generated, composite (QImage), found

    def __init__(self) -> None:
        super().__init__()
        self.reenactor = None
        self._reader: VideoReader | None = None
        self._track = None                  # the driving face tracked through the video, as export drives
        self._last_index: int | None = None
        self.relative = False
        self.fusion = "matched"
        self.layer = None

    @Slot(str, str, object)
    def setup(self, weights: str, device: str, sources: list) -> None:
        self._guard(self._setup, weights, device, sources)

    def _setup(self, weights: str, device: str, sources: list) -> None:
        from ..pipelines.reenact import Reenactor

        self.take_offers()
        if self.reenactor is None or self.reenactor.weights != weights or str(self.reenactor.device) != device:
            self.reenactor = Reenactor(weights, device=device, fusion=self.fusion)
            if self.layer is not None and self.layer.size == self.reenactor.size:
                self.reenactor.set_paint(self.layer)
        srcs = self.reenactor.load_sources(sources)
        self.reenactor.set_sources(srcs)
        if self._reader is not None and self._track is None:     # the driving video came first
            self._track = self._tracked(str(self._reader.path))
        self._emit_ready()

    def _emit_ready(self) -> None:
        r = self.reenactor
        self.ready.emit(SourcesReady(r.weights, r.size, r.fusion, to_qimage(r.embedded_face()),
                                     to_qimage(r.embedded_face(painted=False)),
                                     tuple(to_qimage(s.crop) for s in r.sources), tuple(s.origin for s in r.sources)))

    def apply_offers(self, offers: dict) -> None:
        from ..pipelines.paint import PaintLayer

        if "fusion" in offers:
            self.fusion = offers["fusion"]
            if self.reenactor is not None:
                self.reenactor.set_fusion(self.fusion)
                if self.reenactor.embedded is not None:
                    self._emit_ready()        # the shown embedded face is the mean one with "mean"
        if "layer" in offers:
            self.layer = PaintLayer.from_rgba(offers["layer"])
            if self.reenactor is not None:
                self.reenactor.set_paint(self.layer)

    @Slot(str)
    def open_driving(self, path: str) -> None:
        self._guard(self._open_driving, path)

    def _open_driving(self, path: str) -> None:
        self.close_driving()
        self._reader = VideoReader(path)
        self._track = self._tracked(path)
        self.drivingOpened.emit(max(1, self._reader.frame_count), float(self._reader.fps or 25.0))

    def _tracked(self, path: str):
        """The driving face's boxes over the whole video (None: no face, or no model yet to detect with),
        so that a previewed frame is the frame the export writes."""
        from ..core.errors import X2Error
        from ..pipelines.reenactment import track_driving

        if self.reenactor is None:
            return None
        from ..core.jobs import Job

        job = Job(lambda ev: self.tracking.emit(float(ev.fraction or 0.0)), min_interval_s=0.25)
        try:
            return track_driving(path, self.reenactor.detector, job)
        except X2Error as exc:
            log.info("driving video %s not tracked: %s", path, exc)
            return None

    @Slot()
    def close_driving(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self._track = None

    def ready_to_serve(self) -> bool:
        return self.reenactor is not None and self.reenactor.embedded is not None

    def handle(self, req: tuple) -> dict | None:
        kind, payload = req
        if kind == "frame":
            if self._reader is None:
                return None
            frame = self._reader.read(int(payload))
            image, index = frame.image, frame.index
            reuse = self._last_index is not None and 0 < index - self._last_index <= 3    # playing on
        else:
            image, index, reuse = payload, -1, True                                        # the webcam
        self._last_index = index if kind == "frame" else None
        t0 = time.perf_counter()
        if self._track is not None and kind == "frame":
            gen = self._drive_tracked(image, index)
        else:
            gen, _ = self.reenactor.drive(image, relative=self.relative, reuse_box=reuse)
        out = {"index": index, "driving": to_qimage(image), "found": gen is not None,
               "ms": (time.perf_counter() - t0) * 1000}
        if gen is not None:
            out["generated"] = to_qimage(gen)
            out["composite"] = to_qimage(self.reenactor.composite(gen))
        return out

    def _drive_tracked(self, image: np.ndarray, index: int) -> np.ndarray | None:
        """A frame of the driving video, driven as the export drives it (the relative mode's reference:
        the track's first frame, as in the export)."""
        from ..pipelines.reenactment import drive_frame

        box = self._track.box(index)
        if box is None:
            return None
        if self.relative and self.reenactor.v_first is None:
            first = self._reader.read(self._track.first).image
            self.reenactor.set_reference(crop(first, self._track.box(self._track.first), self.reenactor.size))
        return drive_frame(self.reenactor, image, box, self.relative)

    @Slot(bool)
    def set_relative(self, relative: bool) -> None:
        self.relative = relative
        if self.reenactor is not None:
            self.reenactor.restart()

    def release(self) -> None:
        self.close_driving()


class ReenactServer(LatestWinsServer):
    """The GUI's handle on the reenactment thread."""

    ready = Signal(object)
    drivingOpened = Signal(int, float)
    tracking = Signal(float)
    _setup = Signal(str, str, object)
    _open = Signal(str)
    _relative = Signal(bool)
    forwarded = ("ready", "drivingOpened", "tracking")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(_Driver(), "reenactment", parent)
        self._driver = self._worker
        self._setup.connect(self._driver.setup)
        self._open.connect(self._driver.open_driving)
        self._relative.connect(self._driver.set_relative)
        self._start()

    def setup(self, weights: str, device: str, sources: list[str]) -> None:
        self._setup.emit(weights, device, list(sources))

    def open_driving(self, path: str) -> None:
        self._open.emit(str(path))

    def want_frame(self, index: int) -> None:
        self._want(("frame", int(index)))

    def want_image(self, rgb: np.ndarray) -> None:
        self._want(("image", rgb))

    def set_relative(self, relative: bool) -> None:
        self._relative.emit(bool(relative))

    def set_fusion(self, fusion: str) -> None:
        """How several sources are fused (``matched``, ``confidence``, ``mean``): from the next frame."""
        self._driver.offer("fusion", str(fusion))

    def set_layer(self, rgba) -> None:
        """Paint this RGBA layer (a copy is sent; None removes it) on the embedded face."""
        self._driver.offer("layer", None if rgba is None else rgba.copy())


class _Grabber(QObject):
    frame = Signal(object)
    failed = Signal(str)

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index
        self.running = True

    @Slot()
    def run(self) -> None:
        from ..media.live_frames import camera_frames

        try:
            for rgb in camera_frames(self.index, lambda: self.running):
                self.frame.emit(rgb)
        except MediaError as exc:
            self.failed.emit(exc.message)
        finally:
            hand_back(self)


class _FileGrabber(QObject):
    """A video's frames at the pace they were filmed (a stand-in for a camera: live modes on a
    recording).  Frames that are late (a slow decoder) are sent at once; none are queued here."""

    frame = Signal(object)
    failed = Signal(str)
    ended = Signal()

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.running = True

    @Slot()
    def run(self) -> None:
        from ..media.live_frames import paced_frames

        try:
            for image in paced_frames(self.path, lambda: self.running):
                self.frame.emit(np.ascontiguousarray(image))
            if self.running:
                self.ended.emit()
        except Exception as exc:  # noqa: BLE001 - a broken file reaches the user as a message
            self.failed.emit(f"The video could not be played live: {exc}")
        finally:
            hand_back(self)


class CameraReader(QObject):
    """Webcam frames (RGB arrays) on a thread of their own; ``stop`` ends it.  ``start(path)`` plays a
    video file in real time instead (``ended`` when it is over)."""

    frame = Signal(object)
    failed = Signal(str)
    stopped = Signal()
    ended = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread = None
        self._grabber: _Grabber | _FileGrabber | None = None

    def start(self, index: int | str = 0) -> None:
        self.stop()
        self._thread = make_thread("webcam", parent=self)
        self._grabber = _FileGrabber(index) if isinstance(index, str) else _Grabber(index)
        self._grabber.moveToThread(self._thread)
        if isinstance(self._grabber, _FileGrabber):
            self._grabber.ended.connect(self.ended)
            self._grabber.ended.connect(lambda: self._thread.quit() if self._thread else None)
        self._thread.started.connect(self._grabber.run)
        self._grabber.frame.connect(self.frame)
        self._grabber.failed.connect(self.failed)
        self._grabber.failed.connect(lambda _m: self._thread.quit() if self._thread else None)
        self._thread.finished.connect(self.stopped)
        self._thread.start()

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.isRunning()

    def stop(self) -> None:
        if self._grabber is not None:
            self._grabber.running = False
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait(5000)
        self._thread, self._grabber = None, None
