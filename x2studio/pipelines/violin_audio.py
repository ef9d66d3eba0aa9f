"""The pitch of a monophonic instrument (the violin) from its sound, per video frame.

This is the thesis' audio side (ch. 5): the pseudo ground truth the visual model learns from, and
the app's "by ear" pitch track.  Trackers (all offline; ``pitch_trackers()`` says which are here):

- ``pyin``  — probabilistic YIN (librosa): f0 with a voicing decision and probability.  Default.
- ``yin``   — YIN in the time domain (librosa), voiced where the sound is loud enough.
- ``yinfft`` — YIN in the spectral domain (aubio), the thesis' choice; needs ``pip install aubio``.
- ``crepe`` — torchcrepe's tiny CREPE network (weights in its wheel); needs ``pip install torchcrepe``.

:func:`track_pitch` resamples to 16 kHz mono, runs a tracker with a 10-ms hop and reads the estimate
nearest each frame time ``k / fps`` (the convention of :func:`x2studio.media.audio.frame_windows`),
so a video's frame ``k`` gets the pitch sounding when it is shown.
"""

from __future__ import annotations

import logging
import os
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import DependencyError, InputError

__all__ = ["PitchTrack", "track_pitch", "pitch_trackers", "audio_pitch_of_video", "TRACKERS", "FMIN", "FMAX", "ATTACK_S"]

log = logging.getLogger(__name__)

RATE = 16000
HOP = 160                        # 10 ms
FMIN, FMAX = 175.0, 1500.0       # Hz: below G3 (196 Hz) to above E6 (1319 Hz, MIDI 88)
TRACKERS = ("pyin", "yin", "yinfft", "crepe")
_SILENT_DB = -45.0               # frames this far below the clip's loudest are unvoiced


@dataclass
class PitchTrack:
    """Per video frame: fractional MIDI pitch (0 where unvoiced), voiced flag and confidence 0…1."""

    midi: np.ndarray
    voiced: np.ndarray
    confidence: np.ndarray
    fps: float
    tracker: str

    def __len__(self) -> int:
        return len(self.midi)


def pitch_trackers() -> dict[str, bool]:
    """Which trackers can run here."""
    out = {"pyin": True, "yin": True}
    try:
        import aubio  # noqa: F401 - only whether it imports
        out["yinfft"] = True
    except ImportError:
        out["yinfft"] = False
    try:
        _torchcrepe()
        out["crepe"] = True
    except DependencyError:
        out["crepe"] = False
    return out


def _torchcrepe():
    # torchcrepe imports torchaudio only to read files (load.py), which we never ask it to do; no
    # torchaudio build matches our torch here (STACK.md), so a stand-in module satisfies that import
    if "torchaudio" not in sys.modules:
        try:
            import torchaudio  # noqa: F401 - only whether it imports
        except ImportError:
            sys.modules["torchaudio"] = types.ModuleType("torchaudio")
    try:
        import torchcrepe
    except ImportError as exc:
        raise DependencyError("The 'crepe' pitch tracker needs torchcrepe.", "pip install --no-deps torchcrepe tqdm") from exc
    return torchcrepe


def _mono16k(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    from ..media.audio import resample

    x = np.asarray(samples, np.float32)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if sample_rate != RATE:
        x = resample(x[:, None], sample_rate, RATE)[:, 0]
    return np.ascontiguousarray(x, np.float32)


def _analysis(x: np.ndarray, tracker: str, device: str = "cpu") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(f0 Hz, voiced, confidence) every 10 ms, frame j centred at j · 10 ms."""
    import librosa

    if tracker == "pyin":
        f0, voiced, prob = librosa.pyin(x, fmin=FMIN, fmax=FMAX, sr=RATE, frame_length=1024, hop_length=HOP,
                                        center=True, fill_na=0.0)
        return np.nan_to_num(f0), voiced.astype(bool), np.nan_to_num(prob)
    if tracker == "yin":
        f0 = librosa.yin(x, fmin=FMIN, fmax=FMAX, sr=RATE, frame_length=1024, hop_length=HOP, center=True)
        return f0, np.ones(len(f0), bool), np.ones(len(f0))
    if tracker == "yinfft":
        try:
            import aubio
        except ImportError as exc:
            raise DependencyError("The 'yinfft' pitch tracker needs aubio.", "pip install aubio") from exc
        win = 2048
        det = aubio.pitch("yinfft", win, HOP, RATE)
        det.set_unit("Hz")
        det.set_tolerance(0.85)     # (aubio 0.4.9's yinfft reports no confidence: voicing is the loudness gate's)
        # aubio reads HOP samples at a time and analyses the last `win`: its answer after hop j is
        # centred at (j + 1) · HOP − win / 2, so the estimate for time m · HOP comes `lag` hops later
        lag = int(round(win / (2 * HOP))) - 1
        n = len(x) // HOP + 1
        padded = np.concatenate([x, np.zeros((n + lag + 1) * HOP - len(x), np.float32)])
        out, conf = np.zeros(n + lag), np.zeros(n + lag)
        for j in range(n + lag):
            out[j] = det(np.ascontiguousarray(padded[j * HOP:(j + 1) * HOP]))[0]
            conf[j] = det.get_confidence()
        f0, conf = out[lag:lag + n], conf[lag:lag + n]
        return f0, (f0 >= FMIN) & (f0 <= FMAX), np.ones(len(f0))
    if tracker == "crepe":
        import torch

        tc = _torchcrepe()
        audio = torch.from_numpy(x)[None]
        f0, period = tc.predict(audio, RATE, HOP, FMIN, FMAX, "tiny", decoder=tc.decode.weighted_argmax,
                                return_periodicity=True, batch_size=512, device=device, pad=True)
        f0, period = f0[0].numpy(), period[0].numpy()
        return f0, period > 0.4, period
    raise InputError(f"Unknown pitch tracker '{tracker}'.", f"Use one of: {', '.join(TRACKERS)}.")


# A bowed note's pitch is heard a little after the finger lands (docs/measurements.md#violin-audio-attack-s)
ATTACK_S = 0.04


def track_pitch(samples: np.ndarray, sample_rate: int, n_frames: int, fps: float, tracker: str = "pyin",
                device: str = "cpu", lookahead_s: float = ATTACK_S) -> PitchTrack:
    """The pitch sounding at each of ``n_frames`` video frames (frame k at k / fps), read from the
    sound ``lookahead_s`` later (the note's attack, see :data:`ATTACK_S`)."""
    if tracker not in TRACKERS:
        raise InputError(f"Unknown pitch tracker '{tracker}'.", f"Use one of: {', '.join(TRACKERS)}.")
    if n_frames <= 0 or fps <= 0:
        raise InputError("There are no frames to give a pitch to.")
    x = _mono16k(samples, sample_rate)
    if len(x) < RATE // 10:
        raise InputError("The sound is shorter than 0.1 s: no pitch can be heard.")
    peak = float(np.abs(x).max()) if len(x) else 0.0
    if peak < 1e-4:
        raise InputError("The sound is silent: no pitch can be heard.", "Use the picture (visual mode) instead.")
    f0, voiced, conf = _analysis(x / peak * 0.9, tracker, device)
    # loudness gate: a tracker's guesses in near silence are not notes
    import librosa

    rms = librosa.feature.rms(y=x, frame_length=1024, hop_length=HOP, center=True)[0]
    db = 20 * np.log10(np.maximum(rms, 1e-9) / max(float(rms.max()), 1e-9))
    m = min(len(f0), len(db))
    f0, voiced, conf, db = f0[:m], voiced[:m], conf[:m], db[:m]
    voiced = voiced & (db > _SILENT_DB) & (f0 > 0)
    j = np.clip(np.round((np.arange(n_frames) / fps + float(lookahead_s)) * RATE / HOP).astype(int), 0, m - 1)
    hz = f0[j]
    v = voiced[j]
    midi = np.where(v, 69.0 + 12.0 * np.log2(np.maximum(hz, 1e-6) / 440.0), 0.0)
    return PitchTrack(midi.astype(np.float32), v.astype(bool), np.clip(conf[j], 0, 1).astype(np.float32), float(fps),
                      tracker)


def audio_pitch_of_video(video: str | os.PathLike[str], n_frames: int | None = None, fps: float | None = None,
                         tracker: str = "pyin") -> PitchTrack:
    """The pitch track of a video's sound, one value per video frame."""
    from ..media.audio import load_audio
    from ..media.video import probe

    info = probe(Path(video))
    if info.video is None and (n_frames is None or fps is None):
        raise InputError(f"'{Path(video).name}' has no picture to align the pitch with.")
    fps = float(fps or info.video.fps)
    n_frames = int(n_frames or info.video.frames)
    clip = load_audio(video)
    return track_pitch(clip.samples, clip.sample_rate, n_frames, fps, tracker)
