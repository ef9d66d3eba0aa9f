"""Audio-visual synchronisation (thesis ch. 7; PAPERS.md §6) on talking-face tracks: task ``avsync``.

The visual stream sees 5 grayscale frames of the mouth region, the audio stream the 0.2 s of
audio centred on them; matching pairs are pulled together and non-matching ones (windows that do
not overlap, from the same track or another) pushed beyond the margin (contrastive loss, margin 1).
Its audio stream is X2 Studio's learned speech feature (256-D per frame) for X2Face's audio
control.  Data: any face-track folder whose tracks have sound (``x2studio data synth faces`` or
real footage made into tracks).

Validation reports ``pair_acc``: the share of items whose matching window is nearer than the
non-matching one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from x2studio.core.errors import InputError

from x2studio.models.avsync import AVSync, contrastive_loss

from ..data.avclips import FaceAVClips
from ..data.faces import FaceFrames
from ..loop import Recipe

__all__ = ["AVSyncTask", "sync_eval"]


class AVSyncTask:
    name = "avsync"
    architecture = "avsync"

    def __init__(self) -> None:
        self.recipes = {
            "tiny": Recipe("tiny", steps=12, batch_size=4, image_size=64, eval_every=6, eval_batches=2,
                           ckpt_every=6, keep=2, lr=1e-3,
                           model={"base": 4, "fc": 16, "dim": 16, "audio_widths": [8, 4, 4, 4, 4, 8],
                                  "audio_fc": 16, "mouth_size": [24, 32]}),
            # CPU-sized: a ResNet-18 at a quarter of the widths; lr above the thesis' 1e-4 to converge
            # in an hour of CPU
            "lite": Recipe("lite", steps=6000, batch_size=32, image_size=128, lr=3e-4, eval_every=500,
                           eval_batches=16, ckpt_every=500, plateau_patience=3, export_dtype="float16",
                           model={"base": 16, "fc": 256, "dim": 256, "mouth_size": [48, 64]}),
            # the thesis': full-width ResNet-18, Adam 1e-4, batch 24
            "paper": Recipe("paper", steps=200000, batch_size=24, image_size=256, lr=1e-4, eval_every=2000,
                            eval_batches=50, ckpt_every=2000, num_workers=4, precision="amp",
                            model={"base": 64, "fc": 1024, "dim": 256, "mouth_size": [112, 112]}),
        }

    def config(self, recipe: Recipe) -> dict:
        cfg = {"sample_rate": 16000, "window_s": 0.2, "frames": 5, "kind": "face", **recipe.model}
        cfg["mouth_size"] = list(cfg.get("mouth_size", (48, 64)))
        if "audio_widths" in cfg:
            cfg["audio_widths"] = list(cfg["audio_widths"])
        return cfg

    def build_model(self, recipe: Recipe) -> torch.nn.Module:
        return self.model_from_config(self.config(recipe))

    def model_from_config(self, config: dict) -> torch.nn.Module:
        return AVSync(**config)

    def dataset(self, data: Path, split: str, recipe: Recipe, cache: Path, job=None):
        cfg = self.config(recipe)
        return FaceAVClips(data, split, recipe.image_size, tuple(cfg["mouth_size"]), cfg["sample_rate"],
                           cfg["window_s"], cfg["frames"], cache, job=job, augment=split == "train")

    def on_device(self, batch):
        vis, a1, a2 = batch
        return vis.float().div_(255.0), a1.float(), a2.float()

    def loss(self, model, batch):
        vis, a1, a2 = batch
        b = vis.shape[0]
        net = model.module if hasattr(model, "module") else model
        v, a = model(vis, torch.cat([a1, a2]))
        match = torch.cat([torch.ones(b), torch.zeros(b)]).to(v.device)
        loss = contrastive_loss(v, a, match)
        with torch.no_grad():
            d = net.distance(v, a)
            logs = {"d_match": float(d[:b].mean()), "d_other": float(d[b:].mean()),
                    "pair_acc": float((d[:b] < d[b:]).float().mean())}
        return loss, logs

    def export(self, model, recipe: Recipe):
        return model.state_dict(), self.config(recipe)


def sync_eval(data: str | Path, split: str = "test", weights: str = "avsync-face-lite", max_shift_s: float = 2.0,
              seed: int = 0, png: str | Path | None = None, device: str = "cpu", cache: str | Path | None = None,
              job=None) -> dict:
    """The thesis' Figure 7.3 on held-out clips, and the offset accuracy.

    - The curve: per offset in ±``max_shift_s`` (one frame apart), the mean distance ‖v − a‖ over
      the clips of ``split`` with their true sound — lowest at 0 when the network has learnt sync.
    - Offset accuracy: each clip's sound shifted by a known amount drawn from ±``max_shift_s``; the
      share whose estimate (searched over ±(``max_shift_s`` + 0.4 s)) is within ±1 frame; and the
      same for the non-learned baseline (cross-correlation of mouth motion with sound onsets).
    """
    from x2studio.core import paths
    from x2studio.face.dataset import load_manifest
    from x2studio.media.audio import AudioClip, delay, load_audio
    from x2studio.pipelines.sync import SyncModel, _pick, mouths_of, offset_curve, onset_baseline

    data = Path(data)
    cache = Path(cache) if cache else paths.cache_dir() / "training"
    model = SyncModel(weights, device)
    manifest = load_manifest(data)
    tracks = {t["id"]: t for t in manifest["tracks"] if t["split"] == split and t.get("audio", True)}
    frames = FaceFrames(data, split, 128, cache, 1, job=job)
    rng = np.random.default_rng(seed)
    curves, rows = [], []
    for i, tid in enumerate(frames.track_ids):
        if tid not in tracks:
            continue
        if job is not None:
            job.progress(i, len(frames.track_ids), f"sync of {tid}")
        t = tracks[tid]
        fps = float(t.get("fps") or manifest.get("fps") or 25.0)
        crops = np.asarray(frames.arrays[i])
        mouths = mouths_of(crops, tuple(model.model.mouth_size))
        valid = np.ones(len(mouths), bool)
        v = model.visual(mouths, valid)
        clip = load_audio(data / t["video"], mono=True)
        max_off = int(round(max_shift_s * fps))
        curves.append(offset_curve(v, model.audio(clip, fps), max_off)[1])
        true = int(rng.integers(-max_off, max_off + 1))
        shifted = AudioClip(delay(clip.samples, int(round(true / fps * clip.sample_rate))), clip.sample_rate)
        search = max_off + int(round(0.4 * fps))
        est, conf = _pick(*offset_curve(v, model.audio(shifted, fps), search))
        base, _ = onset_baseline(mouths, valid, shifted, fps, search)
        rows.append({"track": tid, "true": true, "estimate": est, "confidence": conf, "baseline": base,
                     "frames": len(mouths)})
    if not rows:
        raise InputError(f"'{data}' has no '{split}' tracks with sound.")
    curve = np.nanmean(np.stack(curves), 0)
    fps = float(manifest.get("fps") or 25.0)
    offsets = np.arange(len(curve)) - len(curve) // 2
    hit = lambda e, t: e is not None and abs(e - t) <= 1     # noqa: E731
    out = {"weights": weights, "split": split, "clips": len(rows), "fps": fps,
           "curve_offsets_s": (offsets / fps).tolist(), "curve": [float(x) for x in curve],
           "curve_min_at_s": float(offsets[int(np.nanargmin(curve))] / fps),
           "accuracy": float(np.mean([hit(r["estimate"], r["true"]) for r in rows])),
           "baseline_accuracy": float(np.mean([hit(r["baseline"], r["true"]) for r in rows])), "rows": rows}
    if png is not None:
        out["png"] = str(_plot(offsets / fps, curve, weights, split, len(rows), Path(png)))
    return out


def _plot(x: np.ndarray, y: np.ndarray, weights: str, split: str, clips: int, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from x2studio.core.atomic import atomic_path

    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=120)
    ax.plot(x, y, color="#1f77b4")
    ax.axvline(0, color="#999", lw=0.8, ls="--")
    ax.set_xlabel("offset of the sound (s; positive: late)")
    ax.set_ylabel("mean distance ‖v − a‖")
    ax.set_title(f"{weights}: {clips} held-out '{split}' clips")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path
