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

import torch

from x2studio.models.avsync import AVSync, contrastive_loss

from ..data.avclips import FaceAVClips
from ..loop import Recipe

__all__ = ["AVSyncTask"]


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
