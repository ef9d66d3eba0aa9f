"""Audio load, save and resample.

Files soundfile reads (WAV, FLAC, OGG, MP3, AIFF...) go through soundfile; audio tracks inside
video containers (MP4/AAC, MKV, WebM...) are decoded with PyAV.  Samples are float32 in [-1, 1],
shape ``(n, channels)``.  Resampling uses soxr (high-quality, fast).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import soundfile as sf
import soxr

from ..core.atomic import atomic_path
from ..core.errors import InputError, MediaError, OutputError
from .video import check_input, open_container

__all__ = ["AudioClip", "load_audio", "save_audio", "resample", "to_mono", "peak_envelope", "frame_windows",
           "frame_count", "delay", "shifted_sound"]

log = logging.getLogger(__name__)

_WRITE_FORMATS = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".mp3": "MP3", ".aiff": "AIFF", ".aif": "AIFF"}


@dataclass(frozen=True)
class AudioClip:
    """Audio samples with their rate.

    Attributes:
        samples: float32 array ``(n, channels)``, values in [-1, 1].
        sample_rate: samples per second.
    """

    samples: np.ndarray
    sample_rate: int

    @property
    def channels(self) -> int:
        return int(self.samples.shape[1])

    @property
    def frames(self) -> int:
        return int(self.samples.shape[0])

    @property
    def duration_s(self) -> float:
        return self.frames / float(self.sample_rate)

    @property
    def peak(self) -> float:
        return float(np.abs(self.samples).max()) if self.frames else 0.0

    def mono(self) -> "AudioClip":
        return AudioClip(to_mono(self.samples)[:, None], self.sample_rate)

    def resampled(self, rate: int) -> "AudioClip":
        return AudioClip(resample(self.samples, self.sample_rate, rate), rate)


def to_mono(samples: np.ndarray) -> np.ndarray:
    """``(n,)`` float32: the mean of the channels."""
    samples = np.asarray(samples, dtype=np.float32)
    return samples if samples.ndim == 1 else samples.mean(axis=1, dtype=np.float32)


def peak_envelope(clip: AudioClip, bins: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """``(times_s, peaks)``: the largest absolute sample of each of ``bins`` equal slices (for waveforms)."""
    mono = np.abs(to_mono(clip.samples))
    if len(mono) == 0:
        return np.zeros(0), np.zeros(0)
    bins = max(1, min(bins, len(mono)))
    starts = np.linspace(0, len(mono), bins, endpoint=False).astype(np.int64)
    return starts / float(clip.sample_rate), np.maximum.reduceat(mono, starts)


def delay(samples: np.ndarray, k: int) -> np.ndarray:
    """``samples`` (``(n, …)``) played ``k`` samples later (negative: earlier), at the same length:
    silence fills the start (or the end)."""
    samples = np.asarray(samples)
    out = np.zeros_like(samples)
    k = int(np.clip(k, -len(samples), len(samples)))
    if k >= 0:
        out[k:] = samples[:len(samples) - k]
    else:
        out[:k] = samples[-k:]
    return out


def frame_count(duration_s: float, fps: float) -> int:
    """How many video frames at ``fps`` audio of ``duration_s`` covers (frame ``k`` is at ``k / fps``)."""
    return max(0, int(np.floor(duration_s * fps + 1e-6)))


def frame_windows(samples: np.ndarray, sample_rate: int, fps: float, window_s: float = 0.2,
                  frames: np.ndarray | None = None) -> np.ndarray:
    """The audio window of each video frame: ``(n_frames, round(window_s · rate))`` float32.

    Frame ``k`` is shown at ``k / fps``; its window is the ``window_s`` of audio centred on that
    time (samples before the start or past the end are zeros).  ``frames`` picks frame indices
    (default: every frame the audio covers).  ``samples`` is mono ``(n,)``.
    """
    mono = to_mono(samples)
    win = int(round(window_s * sample_rate))
    if frames is None:
        frames = np.arange(frame_count(len(mono) / float(sample_rate), fps))
    frames = np.asarray(frames, np.int64)
    if win <= 0:
        raise InputError(f"An audio window of {window_s} s at {sample_rate} Hz has no samples.")
    half = win // 2
    padded = np.concatenate([np.zeros(half, np.float32), mono, np.zeros(win, np.float32)])
    centres = np.round(frames * (sample_rate / float(fps))).astype(np.int64)   # index into mono
    starts = np.clip(centres, 0, len(mono) + half)     # window start in padded = centre − half + half
    idx = starts[:, None] + np.arange(win)[None, :]
    return padded[idx]


def resample(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Resample ``(n,)`` or ``(n, ch)`` float32 audio from ``rate_in`` to ``rate_out`` Hz."""
    if rate_in <= 0 or rate_out <= 0:
        raise InputError(f"Cannot resample from {rate_in} Hz to {rate_out} Hz.", "Sample rates must be positive.")
    samples = np.asarray(samples, dtype=np.float32)
    if rate_in == rate_out or samples.shape[0] == 0:
        return samples.copy()
    return soxr.resample(samples, rate_in, rate_out, quality="HQ").astype(np.float32, copy=False)


def _decode_with_av(path: Path) -> tuple[np.ndarray, int]:
    path, container = open_container(path)
    with container:
        if not container.streams.audio:
            raise MediaError(f"'{path.name}' has no audio track.", "Choose a file with sound.")
        stream = container.streams.audio[0]
        rate = int(stream.codec_context.sample_rate or 0)
        channels = max(1, min(2, int(stream.codec_context.channels or 1)))
        resampler = av.AudioResampler(format="fltp", layout="mono" if channels == 1 else "stereo", rate=rate)
        chunks: list[np.ndarray] = []
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray())
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray())
        except (av.error.FFmpegError, EOFError) as exc:
            if not chunks:
                raise MediaError(f"The audio of '{path.name}' cannot be decoded ({exc}); it is corrupt.") from exc
            log.warning("%s: audio decoding stopped early (%s); the file is truncated", path.name, exc)
    if not chunks:
        return np.zeros((0, channels), np.float32), rate
    data = np.concatenate(chunks, axis=1).T.astype(np.float32, copy=False)
    # AAC and other frame-based codecs pad the last frame; the stream's duration says where the
    # real audio ends.
    if stream.duration is not None and stream.time_base is not None:
        true_len = int(round(float(stream.duration * stream.time_base) * rate))
        if 0 < true_len < len(data):
            data = data[:true_len]
    return data, rate


def load_audio(path: str | os.PathLike[str], sample_rate: int | None = None, mono: bool = False) -> AudioClip:
    """Load any audio file or the audio track of a video.

    Args:
        path: the file.
        sample_rate: resample to this rate (Hz); ``None`` keeps the file's rate.
        mono: mix down to one channel.

    Raises:
        InputError: missing or unreadable file.  MediaError: not audio, corrupt, or no samples.
    """
    p = check_input(path)
    try:
        data, rate = sf.read(str(p), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as sf_exc:
        log.debug("soundfile cannot read %s (%s); trying PyAV", p, sf_exc)
        data, rate = _decode_with_av(p)
    if data.shape[0] == 0:
        raise MediaError(f"'{p.name}' contains no audio samples.", "Choose a file with sound.")
    clip = AudioClip(np.ascontiguousarray(data), int(rate))
    if mono:
        clip = clip.mono()
    if sample_rate and sample_rate != clip.sample_rate:
        clip = clip.resampled(int(sample_rate))
    return clip


def save_audio(path: str | os.PathLike[str], clip: AudioClip, subtype: str | None = None) -> Path:
    """Write ``clip`` atomically; the format follows the extension (.wav, .flac, .ogg, .mp3, .aiff)."""
    target = Path(path).expanduser()
    fmt = _WRITE_FORMATS.get(target.suffix.lower())
    if fmt is None:
        raise OutputError(f"Cannot write audio as '{target.suffix or 'no extension'}'.",
                          f"Use one of {', '.join(sorted(_WRITE_FORMATS))}.")
    if clip.frames == 0:
        raise InputError("There is no audio to write (zero samples).")
    samples = np.clip(np.asarray(clip.samples, dtype=np.float32), -1.0, 1.0)
    with atomic_path(target) as tmp:
        try:
            sf.write(str(tmp), samples, clip.sample_rate, format=fmt,
                     subtype=subtype or ("PCM_16" if fmt in ("WAV", "AIFF") else None))
        except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
            raise OutputError(f"Could not write '{target}' ({exc}).") from exc
    return target


def shifted_sound(path: str | os.PathLike[str], shift_s: float) -> AudioClip:
    """A file's sound moved ``shift_s`` earlier (a positive shift: it was late), its length kept."""
    clip = load_audio(path)
    return AudioClip(delay(clip.samples, -int(round(shift_s * clip.sample_rate))), clip.sample_rate)
