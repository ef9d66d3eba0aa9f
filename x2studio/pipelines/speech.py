"""Drive a source face with speech (thesis §3.4.2; PAPERS.md §1 "Audio").

Every video frame ``k`` (shown at ``k / fps``) gets a speech feature from the 0.2 s of audio centred
on it (:func:`x2studio.media.audio.frame_windows`):

- learned: the audio stream of an audio-visual synchronisation network trained on talking faces
  (``avsync`` weights, 256-D; :mod:`x2studio.models.avsync`);
- baseline: MFCCs of the window (:class:`MfccFeatures`, 18 × 13 = 234-D), kept to measure what
  the learned features add.

f_a→v (:class:`x2studio.models.audiomap.VectorFromAudio`, weights ``NAME-a2v`` for X2Face weights
``NAME``) maps a feature to a driving vector.  At use time the source is driven by itself with the
pose removed from the audio's change::

    d      = f_a→v(a) − f_a→v(a_src)                 a_src: the feature of silence (a closed mouth)
    Δp     = f_v→p(v_src + d) − f_v→p(v_src)         the pose change ``d`` would make
    v      = v_src + s · (d − J·x),   with x such that f_v→p reads J·x as Δp

where J holds f_p→v's direction for each angle.  This is the thesis'
``v_src + f_a→v(a) − f_a→v(a_src) − f_p→v(p_audio − p_src)``, solved so that the pose read-out of
the result is exactly the source's: subtracting f_p→v(Δp) itself would take out the wrong amount,
because f_p→v carries the closed-loop gain of the pose sliders (calibrated on generated faces, not
on vectors) and f_v→p∘f_p→v is not the identity.  ``s`` is the strength (1 as trained).

- :class:`SpeechDriver` — ``load(clip)`` then ``render(k)`` / ``render_many``; vectors of any frame.
- :func:`speak_video` — a talking video (MP4 with the speech), atomically.
- :func:`check_speech` — is the audio usable (not empty, not shorter than a window, not silent).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..core.choices import AUDIO_SUFFIXES, MP4_SUFFIXES
from ..core.errors import InputError
from ..core.jobs import Job
from ..media.audio import AudioClip, frame_windows, load_audio, resample, to_mono
from ..media.video import VideoWriter
from ..models.registry import model_from_card
from ..weights.registry import WeightsRegistry, load_entry
from .pose import PoseController, load_mapping
from .reenact import Reenactor

__all__ = ["SpeechFeatures", "MfccFeatures", "speech_features", "SpeechDriver", "speak_video", "check_speech",
           "read_speech",
           "SILENCE_PEAK", "DEFAULT_FEATURES", "SpeakReport"]

log = logging.getLogger(__name__)

DEFAULT_FEATURES = "avsync-face-lite"
SILENCE_PEAK = 10 ** (-60 / 20)          # −60 dBFS: quieter than this is silence


def check_speech(clip: AudioClip, window_s: float = 0.2, name: str = "the audio") -> None:
    """Raise :class:`InputError` unless ``clip`` holds at least one window of sound."""
    if clip.frames == 0:
        raise InputError(f"{name} has no samples.", "Choose a recording with speech.")
    if clip.duration_s < window_s:
        raise InputError(f"{name} lasts {clip.duration_s * 1000:.0f} ms, shorter than one {window_s * 1000:.0f} ms "
                         "window of the speech features.", "Use a longer recording.")
    if not np.isfinite(clip.samples).all():
        raise InputError(f"{name} contains invalid (NaN or infinite) samples; the file is damaged.",
                         "Re-export the recording.")
    if clip.peak < SILENCE_PEAK:
        raise InputError(f"{name} is silent (its loudest sample is below −60 dBFS).",
                         "Choose a recording with speech, or check the microphone.")


class SpeechFeatures:
    """The learned features: the audio stream of ``avsync`` weights.  ``(clip, fps) → (n, 256)``."""

    def __init__(self, weights: str = DEFAULT_FEATURES, device: str = "cpu",
                 registry: WeightsRegistry | None = None) -> None:
        if str(weights).endswith((".safetensors", ".json")):       # a file (e.g. a training run's)
            entry = load_entry(Path(weights))
            self.name = str(weights)
        else:
            entry = (registry or WeightsRegistry()).get(weights)
            self.name = entry.name
        model = model_from_card(entry, device, allowed=("avsync",))
        self.stream = model.audio
        self.sample_rate, self.window_s, self.dim = int(model.sample_rate), float(model.window_s), int(model.dim)
        self.device = torch.device(device)

    def windows(self, windows: np.ndarray, batch: int = 256) -> np.ndarray:
        out = []
        with torch.inference_mode():
            for k in range(0, len(windows), batch):
                x = torch.from_numpy(np.ascontiguousarray(windows[k:k + batch], np.float32)).to(self.device)
                out.append(self.stream(x).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)

    def __call__(self, clip: AudioClip, fps: float, frames: np.ndarray | None = None) -> np.ndarray:
        mono = resample(to_mono(clip.samples), clip.sample_rate, self.sample_rate)
        return self.windows(frame_windows(mono, self.sample_rate, fps, self.window_s, frames))

    def silence(self) -> np.ndarray:
        return self.windows(np.zeros((1, int(round(self.sample_rate * self.window_s))), np.float32))[0]


def _mel_filters(sr: int, n_fft: int, bands: int, fmin: float = 20.0, fmax: float | None = None) -> np.ndarray:
    """HTK-style triangular mel filters ``(bands, n_fft // 2 + 1)``."""
    fmax = fmax or sr / 2
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)          # noqa: E731
    hz = lambda m: 700.0 * (10 ** (m / 2595.0) - 1.0)           # noqa: E731
    edges = hz(np.linspace(mel(fmin), mel(fmax), bands + 2))
    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    return np.maximum(0.0, np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid))).astype(np.float32)


class MfccFeatures:
    """The baseline: 13 MFCCs of 25 ms frames every 10 ms across the window, flattened (18 × 13).

    Written with numpy (a mel filterbank and a DCT matrix): librosa would add numba, llvmlite and
    scipy to the install for these few lines, and torchaudio has no build for the torch used here."""

    name = "mfcc"

    def __init__(self, sample_rate: int = 16000, window_s: float = 0.2, bands: int = 40, coeffs: int = 13) -> None:
        self.sample_rate, self.window_s = sample_rate, window_s
        self.frame, self.hop, self.n_fft = int(0.025 * sample_rate), int(0.010 * sample_rate), 512
        win = int(round(window_s * sample_rate))
        self.steps = 1 + (win - self.frame) // self.hop
        self.filters = _mel_filters(sample_rate, self.n_fft, bands)
        k = np.arange(bands)
        self.dct = (np.sqrt(2.0 / bands) * np.cos(np.pi / bands * (k[None, :] + 0.5) * np.arange(coeffs)[:, None])
                    ).astype(np.float32)
        self.dct[0] /= np.sqrt(2.0)
        self.dim = self.steps * coeffs

    def windows(self, windows: np.ndarray) -> np.ndarray:
        idx = np.arange(self.steps)[:, None] * self.hop + np.arange(self.frame)[None, :]
        frames = windows[:, idx] * np.hanning(self.frame).astype(np.float32)          # (N, steps, frame)
        power = np.abs(np.fft.rfft(frames, self.n_fft, axis=-1)) ** 2
        logmel = np.log(power @ self.filters.T + 1e-8)
        return (logmel @ self.dct.T).reshape(len(windows), -1).astype(np.float32)

    def __call__(self, clip: AudioClip, fps: float, frames: np.ndarray | None = None) -> np.ndarray:
        mono = resample(to_mono(clip.samples), clip.sample_rate, self.sample_rate)
        return self.windows(frame_windows(mono, self.sample_rate, fps, self.window_s, frames))

    def silence(self) -> np.ndarray:
        return self.windows(np.zeros((1, int(round(self.sample_rate * self.window_s))), np.float32))[0]


def speech_features(name: str, device: str = "cpu", registry: WeightsRegistry | None = None):
    """``"mfcc"`` → the baseline; anything else → the audio stream of those ``avsync`` weights (a
    registry name or a ``.safetensors`` file)."""
    return MfccFeatures() if name == "mfcc" else SpeechFeatures(name, device, registry)


class SpeechDriver:
    """Speech control of a :class:`Reenactor`'s sources (set them first)."""

    def __init__(self, reenactor: Reenactor, mapping: str | None = None, registry: WeightsRegistry | None = None) -> None:
        registry = registry or WeightsRegistry()
        self.reenactor = reenactor
        dev = reenactor.device
        self.a2v = load_mapping(registry, reenactor.weights, "a2v", mapping).to(dev)
        self.poses = PoseController(reenactor, registry)
        self.v2p, self.p2v = self.poses.v2p, self.poses.p2v
        self.features = speech_features(self.a2v.features, str(dev), registry)
        with torch.inference_mode():
            self._silence = self.a2v(torch.from_numpy(self.features.silence())[None].to(dev))
        self.feats: torch.Tensor | None = None
        self.clip: AudioClip | None = None
        self.fps = 25.0

    @property
    def frames(self) -> int:
        return 0 if self.feats is None else len(self.feats)

    def load(self, clip: AudioClip, fps: float = 25.0, name: str = "the audio") -> int:
        """Compute the features of every frame of ``clip`` at ``fps``; returns the frame count."""
        check_speech(clip, self.features.window_s, name)
        if not 1 <= fps <= 60:
            raise InputError(f"{fps} frames per second is outside 1…60.")
        feats = self.features(clip, fps)
        self.feats = torch.from_numpy(feats).to(self.reenactor.device)
        self.clip, self.fps = clip, float(fps)
        return len(feats)

    def frame_at(self, time_s: float) -> int:
        """The frame shown at ``time_s`` (the last one before it)."""
        return int(np.clip(np.floor(time_s * self.fps + 1e-6), 0, max(self.frames - 1, 0)))

    def vectors(self, feats: torch.Tensor, strength: float = 1.0) -> torch.Tensor:
        """Driving vectors for features ``(B, in_dim)`` (see the module's equation)."""
        r = self.reenactor
        if r.embedded is None or r.v_source is None:
            raise InputError("Choose a source face first.")
        return r.v_source + float(strength) * self.deltas(feats)

    def deltas(self, feats: torch.Tensor) -> torch.Tensor:
        """The pose-free changes of the source's driving vector for features ``(B, in_dim)``."""
        r = self.reenactor
        with torch.inference_mode():
            d = self.a2v(feats) - self._silence
        return self.poses.strip_pose(r.v_source, d)

    def frame_vectors(self, indices: Sequence[int], strength: float = 1.0) -> torch.Tensor:
        if self.feats is None:
            raise InputError("Load some speech first.")
        idx = torch.as_tensor(np.clip(np.asarray(indices, np.int64), 0, self.frames - 1), device=self.feats.device)
        return self.vectors(self.feats[idx], strength)

    def render_many(self, indices: Sequence[int], strength: float = 1.0, batch: int = 16) -> list[np.ndarray]:
        """Generated crops (S×S RGB) of frames ``indices``."""
        r = self.reenactor
        out: list[np.ndarray] = []
        for k in range(0, len(indices), batch):
            v = self.frame_vectors(indices[k:k + batch], strength)
            with torch.inference_mode():
                gen = r.generate(v)
            out += [r.to_image(g) for g in gen]
        return out

    def render(self, index: int, strength: float = 1.0) -> np.ndarray:
        return self.render_many([index], strength)[0]


def read_speech(audio: str | Path | AudioClip) -> tuple[AudioClip, str]:
    """``(clip, name for messages)`` of a speech file (or an already loaded clip)."""
    if isinstance(audio, AudioClip):
        return audio, "the audio"
    path = Path(audio)
    if path.suffix.lower() not in AUDIO_SUFFIXES:
        raise InputError(f"'{path.name}' is not an audio file X2 Studio reads.",
                         "Use WAV, FLAC, MP3, OGG (or a video with sound).")
    return load_audio(path), f"'{path.name}'"


@dataclass
class SpeakReport:
    out: Path
    frames: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [f"wrote {self.out} ({self.frames} frames, {self.seconds:.1f} s, with the speech)", *self.notes]


def speak_video(driver: SpeechDriver, audio: str | Path | AudioClip, out: str | Path, *, strength: float = 1.0,
                fps: float = 25.0, paste: bool = True, job: Job | None = None) -> SpeakReport:
    """The source talking ``audio``: an MP4 with the speech as its sound, written atomically."""
    out = Path(out)
    if out.suffix.lower() not in MP4_SUFFIXES:
        raise InputError(f"'{out.name}': the talking video is written as MP4.", "Use a name ending in .mp4.")
    if not out.parent.is_dir():
        raise InputError(f"The folder '{out.parent}' does not exist.")
    r = driver.reenactor
    if r.embedded is None:
        raise InputError("Choose the source face first.")
    clip, name = read_speech(audio)
    job = job or Job()
    job.progress(0, None, "speech features")
    n = driver.load(clip, fps, name)
    report = SpeakReport(out=out, frames=n, seconds=n / fps)
    size = r.sources[0].frame.shape[1::-1] if paste else (r.size, r.size)
    size = (size[0] - size[0] % 2, size[1] - size[1] % 2)
    samples = np.clip(clip.samples[:, :2], -1, 1)
    keep = int(round(n / fps * clip.sample_rate))
    samples = samples[:keep] if len(samples) >= keep else np.pad(samples, ((0, keep - len(samples)), (0, 0)))
    writer = VideoWriter(out, fps, size, audio_rate=clip.sample_rate, audio_channels=samples.shape[1])
    try:
        for k in range(0, n, 16):
            job.progress(k, n, "generating the talking face")
            for crop in driver.render_many(list(range(k, min(n, k + 16))), strength):
                img = r.composite(crop) if paste else crop
                writer.write(np.ascontiguousarray(img[:size[1], :size[0]]))
        writer.write_audio(samples)
        writer.close()
    except BaseException:
        writer.abort()
        raise
    job.progress(n, n, "done")
    return report
