"""Piano transcription from the picture and the sound together (thesis ch. 6, audio-visual fusion):
the visual model's per-key onset/key-down probabilities and Basic Pitch's onset/note probabilities,
per video frame, fused by a small MLP (:class:`x2studio.models.piano_fusion.PianoFusion`) into onset
probabilities; note durations come from the video (the key seen down), as in the visual mode.

It matters when the sound is not only the piano: another instrument, a second piano, noise.  The
thesis' Table 2 mixes the piano's sound with other piano audio at SNR 1; :func:`mix_at_snr` does
the same for training and evaluation.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..core.errors import InputError, MediaError
from ..core.jobs import Job
from .piano import Transcription, probabilities_to_notes

__all__ = ["FusedTranscriber", "DEFAULT_FUSION", "fusion_inputs", "fusion_windows", "mix_at_snr", "note_sources",
           "SOURCE_NAMES"]

DEFAULT_FUSION = "piano-fusion-lite"


def mix_at_snr(signal: np.ndarray, other: np.ndarray, snr_db: float) -> np.ndarray:
    """``signal`` with ``other`` (looped or cut to its length) added at ``snr_db`` (0 dB: SNR 1, equal
    power), scaled so the mix does not clip.  Both mono, same rate."""
    s = np.asarray(signal, np.float32).reshape(-1)
    o = np.resize(np.asarray(other, np.float32).reshape(-1), len(s)) if len(other) else np.zeros_like(s)
    rs, ro = float(np.sqrt(np.mean(s.astype(np.float64) ** 2))), float(np.sqrt(np.mean(o.astype(np.float64) ** 2)))
    if ro > 0 and rs > 0:
        o = o * (rs / ro) / (10 ** (snr_db / 20))
    mix = s + o
    peak = float(np.abs(mix).max()) if mix.size else 0.0
    return (mix / peak * 0.99 if peak > 0.99 else mix).astype(np.float32)


SOURCE_NAMES = {"both": "seen and heard", "picture": "seen only", "sound": "heard only",
                "fused": "found by neither alone"}


def note_sources(notes, seen, heard, onset_tolerance: float = 0.05) -> list[str]:
    """Which source alone also finds each of ``notes`` (the fused ones): ``"both"``, ``"picture"``
    (seen, not heard), ``"sound"`` (heard, not seen) or ``"fused"`` (neither alone: the fusion's own),
    where a note is found by a source when one of its notes has the same pitch and an onset within
    ``onset_tolerance`` (mir_eval's one-to-one matching, as the metrics)."""
    import mir_eval

    notes = list(notes)

    def matched(other) -> set[int]:
        other = list(other)
        if not notes or not other:
            return set()
        arr = [(np.array([[n.onset, max(n.offset, n.onset + 1e-3)] for n in x], float),
                440.0 * 2 ** ((np.array([n.pitch for n in x], float) - 69) / 12)) for x in (notes, other)]
        pairs = mir_eval.transcription.match_notes(arr[0][0], arr[0][1], arr[1][0], arr[1][1],
                                                   onset_tolerance=onset_tolerance, offset_ratio=None)
        return {i for i, _ in pairs}

    s, h = matched(seen), matched(heard)
    return ["both" if i in s and i in h else "picture" if i in s else "sound" if i in h else "fused"
            for i in range(len(notes))]


def fusion_inputs(visual_onset: np.ndarray, visual_down: np.ndarray, audio: np.ndarray) -> np.ndarray:
    """``(T, 4, 88)``: the visual onset and key-down probabilities and the audio (Basic Pitch) onset
    and note probabilities (``audio`` ``(T, 2, 88)``) of each frame."""
    n = min(len(visual_onset), len(visual_down), len(audio))
    return np.concatenate([np.stack([visual_onset[:n], visual_down[:n]], 1), audio[:n]], 1).astype(np.float32)


def fusion_windows(inputs: np.ndarray, context: int, frames: np.ndarray | None = None) -> np.ndarray:
    """``(N, 4, 88, 2·context + 1)``: the inputs of frames ``k − context … k + context`` for each
    ``k`` of ``frames`` (default all), the first and last frame repeated past the ends."""
    t = len(inputs)
    ks = np.arange(t) if frames is None else np.asarray(frames)
    idx = np.clip(ks[:, None] + np.arange(-context, context + 1)[None], 0, t - 1)
    return np.ascontiguousarray(inputs[idx].transpose(0, 2, 3, 1))


class FusedTranscriber:
    """The fusion MLP with the visual model it was trained on and the audio model, loaded once.

    Args:
        weights: fusion weights (a registry name or a .safetensors file).
        device: ``"cpu"``, ``"cuda"``… (default: CUDA when present).
        visual: visual weights (default: those named in the fusion weights' card).
    """

    def __init__(self, weights: str = DEFAULT_FUSION, device: str | None = None, visual: str | None = None) -> None:
        from ..core.device import resolve_device
        from ..models.registry import model_from_card
        from ..weights.registry import resolve_entry
        from .piano import PianoTranscriber
        from .piano_audio import AudioTranscriber

        entry = resolve_entry(weights)
        self.device = str(device or resolve_device().torch_device)
        self.model = model_from_card(entry, self.device, allowed=("piano-fusion",))
        self.entry = entry
        self.visual = PianoTranscriber(visual or self.model.visual, self.device)
        self.audio = AudioTranscriber()
        self.threshold = float(entry.card.metrics.get("threshold", 0.5))
        self.sigma = float(entry.card.metrics.get("sigma", 1.0))

    def probabilities(self, inputs: np.ndarray, batch: int = 1024) -> np.ndarray:
        """``(T, 4, 88)`` fusion inputs → ``(T, 88)`` onset probabilities."""
        out = []
        with torch.inference_mode():
            for s in range(0, len(inputs), batch):
                x = fusion_windows(inputs, self.model.context, np.arange(s, min(s + batch, len(inputs))))
                out.append(torch.sigmoid(self.model(torch.from_numpy(x).to(self.device))).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 88), np.float32)

    def sound(self, video: str | os.PathLike[str]):
        """The video's sound, read before the (longer) picture pass, so that a video without usable
        sound is told at once."""
        from ..media.audio import load_audio, to_mono

        name = f"'{Path(video).name}'"
        try:
            clip = load_audio(video)
        except MediaError as exc:
            raise InputError(f"The sound of {name} cannot be read ({exc.message}).",
                             "Transcribe from the picture alone (visual mode).") from exc
        mono = to_mono(clip.samples) if clip.samples.ndim == 2 else clip.samples
        if mono.size == 0 or float(np.sqrt(np.mean(np.square(mono, dtype=np.float64)))) < 1e-4:
            raise InputError(f"The sound of {name} is silent or empty (fused mode needs the sound).",
                             "Transcribe from the picture alone (visual mode).")
        return clip

    def audio_features(self, audio, fps: float, frames: int, name: str = "the video") -> tuple[list, np.ndarray]:
        """The notes heard (Basic Pitch's own) and its per-frame posteriors (the fusion's input)."""
        try:
            return self.audio.notes_and_posteriors(audio, fps, frames)
        except InputError as exc:
            raise InputError(f"{exc.message} (fused mode needs the sound of {name})",
                             "Transcribe from the picture alone (visual mode).") from exc

    def transcribe_video(self, video: str | os.PathLike[str], corners: np.ndarray | None = None, audio=None,
                         threshold: float | None = None, sigma: float | None = None,
                         job: Job | None = None) -> Transcription:
        """Transcribe ``video`` from its picture and its sound (or ``audio`` instead of its sound)."""
        clip = self.sound(video) if audio is None else audio
        vis = self.visual.transcribe_video(video, corners, job=job)
        heard, post = self.audio_features(clip, vis.fps, len(vis.onset), f"'{Path(video).name}'")
        onset = self.probabilities(fusion_inputs(vis.onset, vis.down, post))
        thr = self.threshold if threshold is None else float(threshold)
        sg = self.sigma if sigma is None else float(sigma)
        down = vis.down[:len(onset)]
        notes = probabilities_to_notes(onset, vis.fps, down, thr, sg,
                                       times=None if vis.times is None else vis.times[:len(onset)])
        # the fused notes are decided without the visual model's key rules (the fusion chose its own threshold)
        return Transcription(notes, onset, down, vis.fps, vis.corners, weights=self.entry.name, threshold=thr, sigma=sg,
                             mode="fused", times=None if vis.times is None else vis.times[:len(onset)],
                             visual_weights=vis.weights, picture_notes=tuple(vis.notes), sound_notes=tuple(heard))
