"""Speech-driven faces off the GUI thread: one thread owns X2Face, the speech features and the
mappings.  Loading speech computes every frame's feature once; frame requests (playback, seeking,
the strength slider) are served newest first (latest wins)."""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, Signal, Slot

from .latest import LatestWins
from .media import to_qimage
from .threads import hand_back, make_thread

__all__ = ["SpeechServer"]


class _SpeechWorker(LatestWins):
    ready = Signal(object)       # dict: source (QImage), weights, features
    loaded = Signal(object)      # dict: clip, frames, fps, envelope (times, peaks), name

    def __init__(self) -> None:
        super().__init__()
        self.reenactor = None
        self.driver = None
        self.clip = None
        self.name = ""

    @Slot(str, str, str)
    def setup(self, weights: str, device: str, source: str) -> None:
        self._guard(self._setup, weights, device, source)

    def _setup(self, weights: str, device: str, source: str) -> None:
        from ..pipelines.reenact import Reenactor
        from ..pipelines.speech import SpeechDriver

        self.driver = None
        if self.reenactor is None or self.reenactor.weights != weights or str(self.reenactor.device) != device:
            self.reenactor = Reenactor(weights, device=device)
        self.reenactor.set_sources(self.reenactor.load_sources([source]))
        driver = SpeechDriver(self.reenactor)
        if self.clip is not None:
            driver.load(self.clip, name=self.name)
        self.driver = driver
        self.ready.emit({"source": to_qimage(self.reenactor.sources[0].crop), "weights": weights,
                         "features": driver.features.name})

    @Slot(object, str)
    def load(self, audio, name: str) -> None:
        self._guard(self._load, audio, name)

    def _load(self, audio, name: str) -> None:
        from ..media.audio import AudioClip, load_audio, peak_envelope
        from ..pipelines.speech import check_speech

        clip = audio if isinstance(audio, AudioClip) else load_audio(audio)
        check_speech(clip, name=name)
        if self.driver is not None:
            self.driver.load(clip, name=name)
        self.clip, self.name = clip, name
        frames = self.driver.frames if self.driver is not None else int(clip.duration_s * 25)
        self.loaded.emit({"clip": clip, "frames": frames, "fps": 25.0, "envelope": peak_envelope(clip),
                          "name": name})

    def ready_to_serve(self) -> bool:
        return self.driver is not None and self.driver.feats is not None

    def handle(self, request) -> dict:
        index, strength = request
        t0 = time.perf_counter()
        crop = self.driver.render(int(index), float(strength))
        return {"frame": int(index), "generated": to_qimage(crop),
                "composite": to_qimage(self.reenactor.composite(crop)), "ms": (time.perf_counter() - t0) * 1000}

    @Slot()
    def finish(self) -> None:
        hand_back(self)


class SpeechServer(QObject):
    """The GUI's handle: ``setup`` a source, ``load`` speech, then ``want(frame, strength)``."""

    ready = Signal(object)
    loaded = Signal(object)
    result = Signal(object)
    failed = Signal(str)
    _setup = Signal(str, str, str)
    _load = Signal(object, str)
    _serve = Signal()
    _finish = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread = make_thread("speech")
        self._worker = _SpeechWorker()
        self._worker.moveToThread(self._thread)
        self._setup.connect(self._worker.setup)
        self._load.connect(self._worker.load)
        self._serve.connect(self._worker.serve)
        self._finish.connect(self._worker.finish)
        for name in ("ready", "loaded", "result", "failed"):
            getattr(self._worker, name).connect(getattr(self, name))
        self._thread.start()

    def setup(self, weights: str, device: str, source: str) -> None:
        self._setup.emit(weights, device, str(source))

    def load(self, audio, name: str = "the audio") -> None:
        """Speech from a file path or an :class:`~x2studio.media.audio.AudioClip` (a recording)."""
        self._load.emit(audio if not hasattr(audio, "__fspath__") else str(audio), name)

    def want(self, frame: int, strength: float) -> None:
        if self._worker.set_wanted((int(frame), float(strength))):
            self._serve.emit()

    def shutdown(self) -> None:
        if self._thread.isRunning():
            self._finish.emit()
            self._thread.quit()
            self._thread.wait(10000)
