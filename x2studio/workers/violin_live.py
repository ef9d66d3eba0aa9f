"""The violin's live mode on a thread of its own: webcam frames go in as they come (only resized and
kept, on the caller's thread), the student network reads the newest window on the worker's thread
("latest wins": a slow model skips moments instead of falling behind the camera), and each answer
comes back as ``result``: ``{"t", "midi", "confidence", "note", "ms"}``."""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot

from .latest import LatestWins, LatestWinsServer

__all__ = ["LiveViolinServer"]


class _Live(LatestWins):
    ready = Signal(str)                      # the weights' name

    def __init__(self) -> None:
        super().__init__()
        self.live = None

    @Slot(str, str, float)
    def setup(self, weights: str, device: str, threshold: float) -> None:
        self._guard(self._setup, weights, device, threshold)

    def _setup(self, weights: str, device: str, threshold: float) -> None:
        from ..pipelines.violin import LiveViolin, ViolinTranscriber

        tr = self.live.tr if self.live is not None and self.live.tr.entry.name == weights else None
        self.live = LiveViolin(tr or ViolinTranscriber(weights, device or None),
                               threshold=threshold if threshold >= 0 else None)
        self.ready.emit(self.live.tr.entry.name)

    def ready_to_serve(self) -> bool:
        return self.live is not None

    def handle(self, _req) -> dict | None:
        t0 = time.perf_counter()
        out = self.live.estimate()
        if out is not None:
            out["ms"] = (time.perf_counter() - t0) * 1000
        return out


class LiveViolinServer(LatestWinsServer):
    """The GUI's handle: :meth:`setup` loads the weights (and starts a new take), :meth:`push` hands
    over a camera frame, :meth:`take` returns what was recorded as a transcription."""

    ready = Signal(str)
    _setup = Signal(str, str, float)
    forwarded = ("ready",)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(_Live(), "violin-live", parent)
        self._live = self._worker
        self._setup.connect(self._live.setup)
        self._clock = time.perf_counter()
        self._start()

    def setup(self, weights: str, device: str = "", threshold: float | None = None) -> None:
        self._setup.emit(weights, device or "", -1.0 if threshold is None else float(threshold))

    def push(self, rgb: np.ndarray, t: float | None = None) -> None:
        live = self._live.live
        if live is None:                     # the weights are still loading: this frame is dropped
            return
        try:
            live.add(rgb, time.perf_counter() - self._clock if t is None else float(t))
        except Exception as exc:  # noqa: BLE001 - a bad frame is reported, not raised into Qt
            self.failed.emit(str(exc))
            return
        self._want("estimate")

    def take(self):
        live = self._live.live
        return None if live is None else live.take()
