"""Audio-visual synchronisation (thesis ch. 7; PAPERS.md §6): task ``avsync`` on talking-face tracks
and task ``avsync-piano`` on piano videos (the thesis' own instance).

The visual stream sees 5 grayscale frames of the mouth region, the audio stream the 0.2 s of
audio centred on them; matching pairs are pulled together and non-matching ones (windows that do
not overlap, from the same track or another) pushed beyond the margin (contrastive loss, margin 1).
Its audio stream is X2 Studio's learned speech feature (256-D per frame) for X2Face's audio
control.  Data: any face-track folder whose tracks have sound (``x2studio data synth faces`` or
real footage made into tracks).  The piano instance sees the rectified keyboard instead of the mouth
(``mouth_size`` is then the keyboard crop's (H, W)); data: a piano dataset (``x2studio data synth
piano`` or ``x2studio data piano VIDEO… OUT`` from your recordings).

Validation reports ``pair_acc``: the share of items whose matching window is nearer than the
non-matching one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from x2studio.core.errors import InputError

from x2studio.models.avsync import AVSync, contrastive_loss

from ..data.avclips import FaceAVClips, PianoAVClips
from ..data.faces import FaceFrames
from ..loop import Recipe

__all__ = ["AVSyncTask", "AVSyncPianoTask", "sync_eval"]


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


class AVSyncPianoTask(AVSyncTask):
    """The same network and loss on piano videos: 5 frames of the rectified keyboard (grayscale) and
    the 0.2 s of sound centred on them."""

    name = "avsync-piano"

    def __init__(self) -> None:
        super().__init__()
        self.recipes = {
            "tiny": Recipe("tiny", steps=12, batch_size=4, image_size=0, eval_every=6, eval_batches=2,
                           ckpt_every=6, keep=2, lr=1e-3,
                           model={"base": 4, "fc": 16, "dim": 16, "audio_widths": [8, 4, 4, 4, 4, 8],
                                  "audio_fc": 16, "mouth_size": [16, 96]}),
            # CPU-sized like the face instance; the keyboard at 32×224 (4.3 px a white key: onsets
            # are seen as keys going down and hands moving, not read key by key)
            "lite": Recipe("lite", steps=3000, batch_size=32, image_size=0, lr=3e-4, eval_every=250,
                           eval_batches=16, ckpt_every=250, plateau_patience=4, export_dtype="float16",
                           model={"base": 16, "fc": 256, "dim": 256, "mouth_size": [32, 224]}),
            # the thesis': full-width ResNet-18 on the 145×800 keyboard of its transcriber, Adam 1e-4, batch 24
            "paper": Recipe("paper", steps=200000, batch_size=24, image_size=0, lr=1e-4, eval_every=2000,
                            eval_batches=50, ckpt_every=2000, num_workers=4, precision="amp",
                            model={"base": 64, "fc": 1024, "dim": 256, "mouth_size": [145, 800]}),
        }

    def config(self, recipe: Recipe) -> dict:
        return {**super().config(recipe), "kind": "piano"}

    def dataset(self, data: Path, split: str, recipe: Recipe, cache: Path, job=None):
        cfg = self.config(recipe)
        return PianoAVClips(data, split, tuple(cfg["mouth_size"]), cfg["sample_rate"], cfg["window_s"], cfg["frames"],
                            cache, job=job, augment=split == "train")


def _held_out(data: Path, split: str, model, cache: Path, job=None):
    """Per held-out video with sound: ``(id, regions (n, H, W) in [0, 1], valid (n,), fps, clip)`` —
    the mouth regions of a face-track folder's tracks, or the keyboards of a piano dataset's videos."""
    import json

    from x2studio.media.audio import load_audio

    try:
        kind = json.loads((data / "manifest.json").read_text()).get("kind")
    except (OSError, ValueError) as exc:
        raise InputError(f"'{data}' has no readable manifest.json ({exc}).") from exc
    want = "piano" if kind == "piano" else "face"
    if model.kind != want:
        raise InputError(f"The weights '{model.name}' sync {model.kind} videos; '{data}' holds {want} videos.",
                         f"Use AV-sync weights of kind '{want}'.")
    if want == "piano":
        from ..data.piano import load_manifest as load_piano_manifest, video_crops

        manifest = load_piano_manifest(data)
        videos = [v for v in manifest["videos"] if v["split"] == split]
        h, w = model.model.mouth_size
        for i, v in enumerate(videos):
            if job is not None:
                job.progress(i, len(videos), f"sync of {v['id']}")
            regions = np.asarray(video_crops(data, v, (int(w), int(h)), cache), np.float32) / 255.0
            yield (v["id"], regions, np.ones(len(regions), bool), float(v.get("fps") or 25.0),
                   load_audio(data / v["video"], mono=True))
        return
    from x2studio.face.dataset import load_manifest
    from x2studio.pipelines.sync import mouths_of

    manifest = load_manifest(data)
    tracks = {t["id"]: t for t in manifest["tracks"] if t["split"] == split and t.get("audio", True)}
    frames = FaceFrames(data, split, 128, cache, 1, job=job)
    for i, tid in enumerate(frames.track_ids):
        if tid not in tracks:
            continue
        if job is not None:
            job.progress(i, len(frames.track_ids), f"sync of {tid}")
        t = tracks[tid]
        mouths = mouths_of(np.asarray(frames.arrays[i]), tuple(model.model.mouth_size))
        yield (tid, mouths, np.ones(len(mouths), bool), float(t.get("fps") or manifest.get("fps") or 25.0),
               load_audio(data / t["video"], mono=True))


def sync_eval(data: str | Path, split: str = "test", weights: str = "avsync-face-lite", max_shift_s: float = 2.0,
              seed: int = 0, png: str | Path | None = None, device: str = "cpu", cache: str | Path | None = None,
              job=None, shifts: int = 1) -> dict:
    """The thesis' Figure 7.3 on held-out clips, and the offset accuracy (face tracks or piano videos,
    as the weights' kind).

    - The curve: per offset in ±``max_shift_s`` (40 ms apart), the mean distance ‖v − a‖ over
      the clips of ``split`` with their true sound — lowest at 0 when the network has learnt sync.
    - Offset accuracy: each clip's sound shifted by a known amount drawn from ±``max_shift_s``
      (``shifts`` draws per clip); the share whose estimate (searched over ±(``max_shift_s`` + 0.4 s))
      is within ±1 frame; and the same for the non-learned baseline (cross-correlation of the
      picture's motion with the sound's onsets).
    """
    from x2studio.core import paths
    from x2studio.media.audio import AudioClip, delay
    from x2studio.pipelines.sync import SyncModel, pick_offset, offset_curve, onset_baseline

    data = Path(data)
    cache = Path(cache) if cache else paths.cache_dir() / "training"
    model = SyncModel(weights, device)
    rng = np.random.default_rng(seed)
    curves, rows, fps_seen = [], [], []
    for vid, regions, valid, fps, clip in _held_out(data, split, model, cache, job):
        v = model.visual(regions, valid)
        max_off = int(round(max_shift_s * fps))
        curves.append(offset_curve(v, model.audio(clip, fps), max_off)[1])
        fps_seen.append(fps)
        search = max_off + int(round(0.4 * fps))
        for _ in range(max(1, int(shifts))):
            true = int(rng.integers(-max_off, max_off + 1))
            shifted = AudioClip(delay(clip.samples, int(round(true / fps * clip.sample_rate))), clip.sample_rate)
            est, conf = pick_offset(*offset_curve(v, model.audio(shifted, fps), search))
            base, _ = onset_baseline(regions, valid, shifted, fps, search)
            rows.append({"clip": vid, "true": true, "estimate": est, "confidence": conf, "baseline": base,
                         "frames": len(regions)})
    if not rows:
        raise InputError(f"'{data}' has no '{split}' videos with sound.")
    # clips at other frame rates: each curve read at the same offsets in seconds (40 ms apart)
    grid = np.round(np.arange(-round(max_shift_s / 0.04), round(max_shift_s / 0.04) + 1) * 0.04, 6)
    on_grid = []
    for c, f in zip(curves, fps_seen):
        x = (np.arange(len(c)) - len(c) // 2) / f
        ok = np.isfinite(c)
        on_grid.append(np.interp(grid, x[ok], c[ok], left=np.nan, right=np.nan) if ok.sum() >= 2 else np.full(len(grid), np.nan))
    curve = np.nanmean(np.stack(on_grid), 0)
    fps = float(np.median(fps_seen))
    hit = lambda e, t: e is not None and abs(e - t) <= 1     # noqa: E731
    out = {"weights": weights, "kind": model.kind, "split": split, "clips": len(curves), "trials": len(rows),
           "fps": fps, "curve_offsets_s": grid.tolist(), "curve": [float(x) for x in curve],
           "curve_min_at_s": float(grid[int(np.nanargmin(curve))]),
           "accuracy": float(np.mean([hit(r["estimate"], r["true"]) for r in rows])),
           "baseline_accuracy": float(np.mean([hit(r["baseline"], r["true"]) for r in rows])), "rows": rows}
    if png is not None:
        out["png"] = str(_plot(grid, curve, Path(weights).stem if weights.endswith(".safetensors") else weights, split,
                               len(curves), Path(png)))
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
