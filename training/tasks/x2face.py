"""X2Face, training stage I (thesis ch. 3 §3.2): a *source* and a *driving* frame from the same face
track; the generated frame (source's face sampled as the driving frame says) should equal the
driving frame under an L1 photometric loss.

Evaluation measures the Table-1 analog: L1 of generated vs driving with 1 source frame and with 3
(fused per pixel), and how much better 3 are (thesis: about 17%).  The validation and test sets give
each driving frame 3 source frames of its track; training uses ``sources`` (1, as in the paper).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from x2studio.models.x2face import X2Face

from ..data.faces import FaceFrames
from ..loop import Recipe
from .baselines import _grid

__all__ = ["TrackPairs", "X2FaceTask"]


class TrackPairs:
    """Item ``i``: (``sources`` frames of frame i's track, other than i; frame i) as ``uint8`` tensors
    ``(K, 3, S, S)`` and ``(3, S, S)``.  The sources are a function of ``(seed, i)``."""

    def __init__(self, frames: FaceFrames, sources: int = 1, seed: int = 0) -> None:
        self.frames, self.sources, self.seed = frames, sources, seed

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i: int):
        t, k = self.frames.locate(i)
        arr = self.frames.arrays[t]
        others = np.delete(np.arange(len(arr)), k) if len(arr) > 1 else np.array([k])
        rng = np.random.default_rng([self.seed, i])
        pick = rng.choice(others, self.sources, replace=len(others) < self.sources)
        return _chw(arr[np.sort(pick)]), _chw(arr[k])


def _chw(images) -> torch.Tensor:
    """``(..., H, W, 3)`` → ``(..., 3, H, W)`` tensor (uint8 kept)."""
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(np.asarray(images), -1, -3)))


class X2FaceTask:
    name = "x2face"
    architecture = "x2face"

    def __init__(self) -> None:
        model = {"base": 16, "max_channels": 128, "dim": 128}
        self.recipes = {
            # tests: seconds on a CPU
            "tiny": Recipe("tiny", steps=12, batch_size=4, image_size=32, eval_every=6, eval_batches=2,
                           ckpt_every=4, keep=2, frame_step=2, model={"base": 8, "max_channels": 32, "dim": 32}),
            # this 2-core CPU, about half an hour: the bundled x2face-lite (stage I).  Adam, not the
            # paper's SGD: it gets a CPU-sized budget much further.
            "lite": Recipe("lite", steps=6000, batch_size=16, image_size=128, optimizer="adam", lr=5e-4,
                           eval_every=500, eval_batches=8, ckpt_every=500, frame_step=2, export_dtype="float16",
                           model=model),
            # the thesis: 256², SGD lr 1e-3 momentum 0.9, batch 16, ÷10 on plateau; about 65 M parameters
            "paper": Recipe("paper", steps=400_000, batch_size=16, image_size=256, optimizer="sgd", lr=1e-3,
                            momentum=0.9, eval_every=5000, eval_batches=50, ckpt_every=5000, frame_step=1,
                            precision="amp", num_workers=4, model={"base": 64, "max_channels": 512, "dim": 128}),
        }

    def config(self, recipe: Recipe) -> dict:
        return {"image_size": recipe.image_size, **recipe.model}

    def build_model(self, recipe: Recipe) -> torch.nn.Module:
        return self.model_from_config(self.config(recipe))

    def model_from_config(self, config: dict) -> torch.nn.Module:
        return X2Face(**config)

    def dataset(self, data: Path, split: str, recipe: Recipe, cache: Path, job=None):
        frames = FaceFrames(data, split, recipe.image_size, cache, recipe.frame_step, job=job)
        return TrackPairs(frames, sources=1 if split == "train" else 3, seed=recipe.seed + (split != "train"))

    def on_device(self, batch):
        src, drv = batch
        return src.float().div_(255.0), drv.float().div_(255.0)

    def loss(self, model, batch):
        src, drv = batch
        if not model.training and src.shape[1] >= 3:     # evaluation: the Table-1 analog
            l1 = F.l1_loss(model(src[:, :1], drv), drv)
            l3 = F.l1_loss(model(src[:, :3], drv), drv)
            return l1, {"l1": float(l1), "l1_3src": float(l3),
                        "gain_3src_pct": float(100.0 * (l1 - l3) / l1.clamp_min(1e-8))}
        loss = F.l1_loss(model(src, drv), drv)
        return loss, {"l1": float(loss.detach())}

    def samples(self, model, batch) -> np.ndarray:
        """Columns: examples; rows: source, embedded face, driving frame, generated frame."""
        src, drv = batch
        src, drv = src[:6, :1], drv[:6]
        emb = model.embed(src)
        gen = model.generate(emb, model.driving.vector(drv))
        return _grid([x * 2 - 1 for x in (src[:, 0], emb, drv, gen)])

    def export(self, model, recipe: Recipe):
        return model.state_dict(), self.config(recipe)
