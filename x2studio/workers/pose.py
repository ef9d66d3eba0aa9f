"""Pose-slider previews off the GUI thread: one thread owns the X2Face model and the pose mappings;
slider moves are requests, and only the newest is rendered (a drag coalesces)."""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, Signal, Slot

from .latest import LatestWins, LatestWinsServer
from .media import to_qimage
from .messages import SourceReady

__all__ = ["PoseServer"]


class _PoseWorker(LatestWins):
    ready = Signal(object)       # dict: source, embedded (QImage), pose (yaw, pitch, roll), weights

    def __init__(self) -> None:
        super().__init__()
        self.reenactor = None
        self.controller = None
        self.layer = None

    @Slot(str, str, str)
    def setup(self, weights: str, device: str, source: str) -> None:
        self._guard(self._setup, weights, device, source)

    def _setup(self, weights: str, device: str, source: str) -> None:
        from ..pipelines.pose import PoseController
        from ..pipelines.reenact import Reenactor

        self.controller = None
        self.take_offers()
        if self.reenactor is None or self.reenactor.weights != weights or str(self.reenactor.device) != device:
            self.reenactor = Reenactor(weights, device=device)
            if self.layer is not None and self.layer.size == self.reenactor.size:
                self.reenactor.set_paint(self.layer)
        self.reenactor.set_sources(self.reenactor.load_sources([source]))
        self.controller = PoseController(self.reenactor)
        pose = self.controller.source_pose()
        self.ready.emit(SourceReady(weights, to_qimage(self.reenactor.sources[0].crop),
                                    tuple(float(x) for x in pose), to_qimage(self.reenactor.embedded_face())))

    def ready_to_serve(self) -> bool:
        return self.controller is not None

    def apply_offers(self, offers: dict) -> None:
        from ..pipelines.paint import PaintLayer

        if "layer" in offers:
            self.layer = PaintLayer.from_rgba(offers["layer"])
            if self.reenactor is not None:
                self.reenactor.set_paint(self.layer if self.layer is None or self.layer.size == self.reenactor.size
                                         else None)

    def handle(self, pose) -> dict:
        t0 = time.perf_counter()
        crop = self.controller.render(pose)
        return {"pose": list(pose), "generated": to_qimage(crop),
                "composite": to_qimage(self.reenactor.composite(crop)), "ms": (time.perf_counter() - t0) * 1000}


class PoseServer(LatestWinsServer):
    """The GUI's handle: ``setup`` a source, then ``want(pose)`` as often as the sliders move."""

    ready = Signal(object)
    _setup = Signal(str, str, str)
    forwarded = ("ready",)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(_PoseWorker(), "pose", parent)
        self._setup.connect(self._worker.setup)
        self._start()

    def setup(self, weights: str, device: str, source: str) -> None:
        self._setup.emit(weights, device, str(source))

    def set_layer(self, rgba) -> None:
        """Draw this paint layer (RGBA; None removes it) on the embedded face of the previews."""
        self._worker.offer("layer", None if rgba is None else rgba.copy())

    def want(self, pose) -> None:
        self._want(tuple(float(x) for x in pose))
