"""Audio-visual fusion for piano transcription (thesis ch. 6; PAPERS.md §5): task ``piano-fusion``.

A 3-layer MLP on, per video frame and its neighbours, the frozen visual model's onset/key-down
probabilities (``--option visual=piano-lite``) and Basic Pitch's onset/note probabilities of the
video's sound, predicting per key an onset within ±1 frame (class-balanced BCE, as the visual task).
The sound is used as it is and mixed with another video's piano at ``--option snr_db=0`` (SNR 1, the
thesis' Table 2 condition): ``--option mixes=K`` gives each video its clean sound and K−1 mixes, each
with another video of the split.  Labels: true MIDI (``labels=midi``, the default) or the audio
pseudo labels (``labels=pseudo``).

The features are computed once per video and cached (keyed by the visual weights' checksum).
:func:`fusion_eval` prints the Table 2 analog: note F1 of the sound alone, the picture alone and
both fused, on held-out videos whose sound is mixed at SNR 1.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from x2studio.core.atomic import atomic_path
from x2studio.core.errors import InputError
from x2studio.models.piano import balanced_bce
from x2studio.models.piano_fusion import PianoFusion
from x2studio.pipelines.piano_fusion import fusion_inputs, fusion_windows, mix_at_snr

from ..data.piano import label_arrays, load_manifest, video_crops, video_notes
from ..loop import Recipe

__all__ = ["PianoFusionTask", "FusionFrames", "fusion_eval"]

log = logging.getLogger(__name__)

_MAX_POS_WEIGHT = 30.0
_RATE = 22050


def _save(path: Path, **arrays) -> None:
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


class _Features:
    """Per video, cached: the visual probabilities and the audio posteriors of its sound, clean or
    mixed with a partner's at an SNR."""

    def __init__(self, root: Path, visual: str, cache: Path, device: str = "cpu") -> None:
        from x2studio.models.registry import model_from_card

        from ..loop import resolve_weights

        self.root, self.cache = Path(root), Path(cache)
        entry = resolve_weights(visual)
        self.visual_name = entry.name
        self.visual_key = (entry.card.sha256 or entry.name)[:10]
        self.model = model_from_card(entry, device, allowed=("piano",))
        self._audio = None
        self.cache.mkdir(parents=True, exist_ok=True)

    @property
    def audio(self):
        if self._audio is None:
            from x2studio.pipelines.piano_audio import AudioTranscriber

            self._audio = AudioTranscriber()
        return self._audio

    def visual(self, e: dict) -> tuple[np.ndarray, np.ndarray]:
        from x2studio.pipelines.piano import sequence_probabilities

        path = self.cache / f"fusion_vis_{e['id']}_{self.visual_key}.npz"
        if not path.is_file():
            crops = video_crops(self.root, e, (self.model.width, self.model.height), self.cache)
            on, dn = sequence_probabilities(self.model, crops)
            _save(path, onset=on.astype(np.float16), down=dn.astype(np.float16))
        z = np.load(path)
        return z["onset"].astype(np.float32), z["down"].astype(np.float32)

    def sound(self, e: dict) -> np.ndarray:
        from x2studio.media.audio import load_audio

        path = self.cache / f"fusion_snd_{e['id']}_{_RATE}.npy"
        if not path.is_file():
            a = load_audio(self.root / e["video"], _RATE, mono=True).samples[:, 0].astype(np.float32)
            with atomic_path(path, suffix=".npy") as tmp:
                with open(tmp, "wb") as fh:
                    np.save(fh, a)
        return np.load(path)

    def mixed(self, e: dict, partner: dict | None, snr_db: float) -> np.ndarray:
        s = self.sound(e)
        return s if partner is None else mix_at_snr(s, self.sound(partner), snr_db)

    def audio_posteriors(self, e: dict, partner: dict | None, snr_db: float, frames: int) -> np.ndarray:
        from x2studio.media.audio import AudioClip

        tag = "clean" if partner is None else f"{partner['id']}_{snr_db:g}dB"
        path = self.cache / f"fusion_aud_{e['id']}_{tag}.npy"
        if not path.is_file():
            post = self.audio.posteriors(AudioClip(self.mixed(e, partner, snr_db)[:, None], _RATE), float(e["fps"]), frames)
            with atomic_path(path, suffix=".npy") as tmp:
                with open(tmp, "wb") as fh:
                    np.save(fh, post.astype(np.float16))
        return np.load(path).astype(np.float32)


def _partners(entries: list[dict], i: int, mixes: int) -> list[dict | None]:
    """The clean sound, then ``mixes − 1`` other videos of the split to mix in."""
    n = len(entries)
    return [None] + [entries[(i + j) % n] for j in range(1, mixes) if n > 1]


class FusionFrames(torch.utils.data.Dataset):
    """Items ``(inputs (4, 88, 2·context + 1), onset (88,))`` for every frame of every video and mix."""

    def __init__(self, root: str | Path, split: str, visual: str, context: int, cache: str | Path,
                 labels: str = "midi", snr_db: float = 0.0, mixes: int = 2, job=None, device: str = "cpu") -> None:
        root = Path(root)
        entries = [e for e in load_manifest(root)["videos"] if e.get("split") == split]
        if not entries:
            raise InputError(f"'{root}' has no '{split}' videos.", "Render more minutes so every split has videos.")
        feats = _Features(root, visual, Path(cache), device)
        self.context = int(context)
        self.inputs, self.onset, index = [], [], []
        for i, e in enumerate(entries):
            if job is not None:
                job.progress(i, len(entries), f"picture and sound of {e['id']} ({split})")
            on_v, dn_v = feats.visual(e)
            on, _ = label_arrays(video_notes(root, e, labels), len(on_v), float(e["fps"]))
            win = on.copy()
            win[1:] |= on[:-1]
            win[:-1] |= on[1:]
            for partner in _partners(entries, i, int(mixes)):
                x = fusion_inputs(on_v, dn_v, feats.audio_posteriors(e, partner, snr_db, len(on_v)))
                self.inputs.append(x)
                self.onset.append(win[:len(x)])
                index += [(len(self.inputs) - 1, k) for k in range(len(x))]
        self.index = np.array(index, np.int64)

    def __len__(self) -> int:
        return len(self.index)

    def positive_rate(self) -> np.ndarray:
        return (sum(o.sum(0) for o in self.onset) / max(len(self.index), 1)).astype(np.float32)

    def __getitem__(self, i: int):
        v, k = (int(x) for x in self.index[i])
        x = fusion_windows(self.inputs[v], self.context, np.array([k]))[0]
        return torch.from_numpy(x), torch.from_numpy(self.onset[v][k].astype(np.float32))


class PianoFusionTask:
    name = "piano-fusion"
    architecture = "piano-fusion"

    def __init__(self) -> None:
        opts = {"visual": "piano-lite", "labels": "midi", "snr_db": 0, "mixes": 2}
        self.recipes = {
            "tiny": Recipe("tiny", steps=10, batch_size=16, eval_every=5, eval_batches=2, ckpt_every=5, keep=2,
                           lr=1e-3, model={"context": 1, "hidden": 32}, options=dict(opts)),
            "lite": Recipe("lite", steps=3000, batch_size=256, lr=1e-3, eval_every=250, eval_batches=20,
                           ckpt_every=250, plateau_patience=4, export_dtype="float16",
                           model={"context": 2, "hidden": 512}, options={**opts, "mixes": 3}),
            # the same MLP, wider, on the paper-size visual model's probabilities
            "paper": Recipe("paper", steps=30000, batch_size=512, lr=1e-3, eval_every=1000, eval_batches=50,
                            ckpt_every=1000, model={"context": 2, "hidden": 1024}, options={**opts, "mixes": 3}),
        }
        self.pos_weight: torch.Tensor | None = None
        self._data: Path | None = None
        self._cache: Path | None = None

    def config(self, recipe: Recipe) -> dict:
        return {"context": int(recipe.model.get("context", 2)), "hidden": int(recipe.model.get("hidden", 512)),
                "keys": 88, "visual": str(recipe.options.get("visual", "piano-lite"))}

    def build_model(self, recipe: Recipe) -> torch.nn.Module:
        return self.model_from_config(self.config(recipe))

    def model_from_config(self, config: dict) -> torch.nn.Module:
        return PianoFusion(**config)

    def dataset(self, data: Path, split: str, recipe: Recipe, cache: Path, job=None):
        cfg, o = self.config(recipe), recipe.options
        ds = FusionFrames(data, split, cfg["visual"], cfg["context"], cache, labels=str(o.get("labels", "midi")),
                          snr_db=float(o.get("snr_db", 0)), mixes=int(o.get("mixes", 2)), job=job)
        self._data, self._cache = Path(data), Path(cache)
        if split == "train":
            r = ds.positive_rate()
            self.pos_weight = torch.from_numpy(np.clip((1 - r) / np.maximum(r, 1e-6), 1.0, _MAX_POS_WEIGHT))
        return ds

    def loss(self, model, batch):
        x, on = batch
        logits = model(x)
        loss = balanced_bce(logits, on, None if self.pos_weight is None else self.pos_weight.to(x.device))
        with torch.no_grad():
            pred = logits > 0
            tp = float((pred & (on > 0.5)).sum())
            fp = float((pred & (on < 0.5)).sum())
            fn = float((~pred & (on > 0.5)).sum())
        return loss, {"frame_f1": 2 * tp / max(2 * tp + fp + fn, 1.0)}

    def export(self, model, recipe: Recipe):
        return model.state_dict(), self.config(recipe)

    def export_metrics(self, model, recipe: Recipe) -> dict:
        """The post-processing (threshold, σ) picked on the validation videos' mixed sound."""
        if self._data is None:
            return {}
        o = recipe.options
        items = list(_fused_items(model, self._data, "val", self._cache, str(o.get("labels", "midi")),
                                  float(o.get("snr_db", 0))))
        best = {"f1": -1.0}
        for sigma in (0.0, 1.0, 2.0):
            for thr in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
                m = score_notes([(e, on, dn, truth) for e, on, dn, truth, _ in items], thr, sigma)
                if m["f1"] > best["f1"]:
                    best = {**m, "threshold": thr, "sigma": sigma}
        return {"threshold": best["threshold"], "sigma": best["sigma"], "val_note_f1": best["f1"]}


def _fused_items(model, data: Path, split: str, cache: Path, labels: str, snr_db: float | None, job=None):
    """Per ``split`` video: (entry, fused onset probs, visual down probs, true notes, mixed sound),
    its sound mixed with the next video's at ``snr_db`` (None: clean)."""
    entries = [e for e in load_manifest(data)["videos"] if e.get("split") == split]
    if not entries:
        raise InputError(f"'{data}' has no '{split}' videos.")
    feats = _Features(data, model.visual, cache, str(next(model.parameters()).device))
    model.eval()
    for i, e in enumerate(entries):
        if job is not None:
            job.progress(i, len(entries), f"fusing {e['id']}")
        partner = None if snr_db is None or len(entries) < 2 else entries[(i + 1) % len(entries)]
        on_v, dn_v = feats.visual(e)
        x = fusion_inputs(on_v, dn_v, feats.audio_posteriors(e, partner, snr_db or 0.0, len(on_v)))
        with torch.inference_mode():
            w = torch.from_numpy(fusion_windows(x, model.context)).to(next(model.parameters()).device)
            on = torch.sigmoid(model(w)).float().cpu().numpy()
        yield e, on, dn_v[:len(on)], video_notes(data, e, labels), (feats, partner, on_v, dn_v)


def score_notes(items, threshold: float, sigma: float) -> dict:
    from .piano import score_notes as score

    return score(items, threshold, sigma)


def fusion_eval(data: str | Path, weights: str, split: str = "test", labels: str = "midi", snr_db: float | None = 0.0,
                device: str = "cpu", cache: str | Path | None = None, job=None) -> dict:
    """The thesis' Table 2 analog: note-level P/R/F1 (50 ms) on the ``split`` videos of the sound
    alone (Basic Pitch on the mixed sound), the picture alone (the visual weights) and both fused,
    each video's sound mixed with the next video's at ``snr_db`` (None: the clean sound)."""
    from x2studio.core import paths
    from x2studio.media.audio import AudioClip
    from x2studio.models.registry import model_from_card

    from ..loop import resolve_weights

    data = Path(data)
    entry = resolve_weights(weights)
    model = model_from_card(entry, device, allowed=("piano-fusion",))
    cache = Path(cache) if cache else paths.cache_dir() / "training"
    thr, sg = float(entry.card.metrics.get("threshold", 0.5)), float(entry.card.metrics.get("sigma", 1.0))
    vis_entry = resolve_weights(model.visual)
    v_thr = float(vis_entry.card.metrics.get("threshold", 0.4))
    v_sg = float(vis_entry.card.metrics.get("sigma", 1.0))
    fused, visual, sound = [], [], []
    from x2studio.pipelines.piano import note_metrics

    for e, on, dn, truth, (feats, partner, on_v, dn_v) in _fused_items(model, data, split, cache, labels, snr_db, job):
        fused.append((e, on, dn, truth))
        visual.append((e, on_v, dn_v, truth))
        notes = feats.audio.transcribe(AudioClip(feats.mixed(e, partner, snr_db or 0.0)[:, None], _RATE))
        sound.append(note_metrics(truth, notes))
    tp, ref, est = (sum(m[k] for m in sound) for k in ("tp", "ref", "est"))
    p, r = (tp / est if est else 0.0), (tp / ref if ref else 0.0)
    rows = {"sound": {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0},
            "picture": score_notes(visual, v_thr, v_sg), "fused": score_notes(fused, thr, sg)}
    return {"weights": entry.name, "visual": vis_entry.name, "split": split, "labels": labels, "videos": len(fused),
            "snr_db": snr_db, "rows": rows}
