"""Speech-driven (and mixed) faces off the GUI thread: one thread owns X2Face, the speech features
and the mappings.  Loading speech computes every frame's feature once, loading a driving video every
frame's driving vector once; frame requests (playback, seeking, the strength and mix controls) are
served newest first (latest wins)."""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, Signal, Slot

from .latest import LatestWins, LatestWinsServer
from .media import to_qimage
from .messages import SourceReady

__all__ = ["SpeechServer"]


class _SpeechWorker(LatestWins):
    ready = Signal(object)        # dict: source (QImage), weights, features
    loaded = Signal(object)       # dict: clip, frames, fps, envelope (times, peaks), name
    videoLoaded = Signal(object)  # dict: frames, fps, name, first (QImage of the first driving face)

    def __init__(self) -> None:
        super().__init__()
        self.reenactor = None
        self.mixer = None
        self.clip = None
        self.name = ""
        self.video = None             # driving vectors of the driving video's frames
        self.video_fps = 25.0

    @property
    def driver(self):
        return None if self.mixer is None else self.mixer.speech

    @Slot(str, str, str)
    def setup(self, weights: str, device: str, source: str) -> None:
        self._guard(self._setup, weights, device, source)

    def _setup(self, weights: str, device: str, source: str) -> None:
        from ..pipelines.mix import DriverMixer
        from ..pipelines.reenact import Reenactor

        self.mixer = None
        if self.reenactor is None or self.reenactor.weights != weights or str(self.reenactor.device) != device:
            self.reenactor = Reenactor(weights, device=device)
            self.video = None
        self.reenactor.set_sources(self.reenactor.load_sources([source]))
        mixer = DriverMixer(self.reenactor)
        if self.clip is not None:
            mixer.speech.load(self.clip, name=self.name)
        if self.video is not None:
            mixer.v_first = self.video[:1]
        self.mixer = mixer
        self.ready.emit(SourceReady(weights, to_qimage(self.reenactor.sources[0].crop),
                                    tuple(float(x) for x in mixer.poses.source_pose()),
                                    features=mixer.speech.features.name))

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

    @Slot(str)
    def load_video(self, path: str) -> None:
        self._guard(self._load_video, path)

    def _load_video(self, path: str) -> None:
        from ..core.errors import InputError
        from ..pipelines.mix import driving_vectors

        if not path:
            self.video = None
            self.videoLoaded.emit(None)
            return
        if self.mixer is None:
            raise InputError("Choose a source photo first.")
        vecs, fps, first = driving_vectors(self.mixer, path)
        self.video, self.video_fps = vecs, fps
        self.mixer.v_first = vecs[:1]
        self.videoLoaded.emit({"frames": len(vecs), "fps": fps, "name": path, "first": to_qimage(first)})

    def ready_to_serve(self) -> bool:
        return self.mixer is not None

    def handle(self, request) -> dict | None:
        import torch

        index, mix, time_s = request
        t0 = time.perf_counter()
        speech = [int(index)] if mix.speech_weight and self.driver.feats is not None else None
        video = None
        if self.video is not None and mix.video_weight:
            j = min(len(self.video) - 1, max(0, int(round(time_s * self.video_fps))))
            video = self.video[j:j + 1]
        r = self.reenactor
        v = self.mixer.vectors(mix, 1, speech, video)
        with torch.inference_mode():
            crop = r.to_image(r.model.generate(r.embedded, v)[0])
        return {"frame": int(index), "generated": to_qimage(crop),
                "composite": to_qimage(r.composite(crop)), "ms": (time.perf_counter() - t0) * 1000}


class SpeechServer(LatestWinsServer):
    """The GUI's handle: ``setup`` a source, ``load`` speech, then ``want(frame, mix)``."""

    ready = Signal(object)
    loaded = Signal(object)
    videoLoaded = Signal(object)
    _setup = Signal(str, str, str)
    _load = Signal(object, str)
    _load_video = Signal(str)
    forwarded = ("ready", "loaded", "videoLoaded")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(_SpeechWorker(), "speech", parent)
        self._setup.connect(self._worker.setup)
        self._load.connect(self._worker.load)
        self._load_video.connect(self._worker.load_video)
        self._start()

    def setup(self, weights: str, device: str, source: str) -> None:
        self._setup.emit(weights, device, str(source))

    def load(self, audio, name: str = "the audio") -> None:
        """Speech from a file path or an :class:`~x2studio.media.audio.AudioClip` (a recording)."""
        self._load.emit(audio if not hasattr(audio, "__fspath__") else str(audio), name)

    def load_video(self, path) -> None:
        """A driving video whose face's expression mixes in (``""``: none)."""
        self._load_video.emit(str(path) if path else "")

    def want(self, frame: int, mix, time_s: float | None = None) -> None:
        """Render frame ``frame`` (of the speech; ``time_s`` picks the driving video's frame) under
        ``mix`` (a :class:`~x2studio.pipelines.mix.Mix`)."""
        self._want((int(frame), mix, frame / 25.0 if time_s is None else float(time_s)))
