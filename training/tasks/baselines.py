"""The self-supervised baselines of FAb-Net's tables (thesis ch. 4, supplementary §2), trained on
face-track frames: an **autoencoder** through the 256-D bottleneck (L1 reconstruction) and
**rotation prediction** (Gidaris et al.: every image in all four rotations, cross-entropy).
Both export their full model; ``model.encoder`` gives the 256-D embedding the attribute tables use.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from x2studio.models.fabnet import Autoencoder, RotationNet

from ..data.faces import FaceFrames
from ..loop import Recipe

__all__ = ["AutoencoderTask", "RotationTask", "FrameTensors", "to_unit"]


class FrameTensors:
    """``FaceFrames`` as ``uint8`` tensors ``(3, S, S)``; :func:`to_unit` makes them floats in [-1, 1]
    on the training device (loader workers then ship a quarter of the bytes)."""

    def __init__(self, frames: FaceFrames) -> None:
        self.frames = frames

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(self.frames[i].transpose(2, 0, 1)))


def to_unit(batch: torch.Tensor) -> torch.Tensor:
    """``uint8`` images → float in [-1, 1] (floats pass through)."""
    return batch.float().div_(127.5).sub_(1.0) if batch.dtype == torch.uint8 else batch


def _recipes(model_name: str) -> dict[str, Recipe]:
    return {
        # tests: seconds on a CPU
        "tiny": Recipe("tiny", steps=12, batch_size=4, image_size=32, eval_every=6, eval_batches=2,
                       ckpt_every=4, keep=2, model={"dim": 32, "base": 8, "max_channels": 32}),
        # this 2-core CPU, tens of minutes: the bundled weights
        # (channels capped at 128: 2.2 M parameters for the autoencoder, stored as float16)
        "lite": Recipe("lite", steps=3000, batch_size=32 if model_name == "autoencoder" else 16, image_size=64,
                       optimizer="adam", lr=1e-3, eval_every=250, eval_batches=8, ckpt_every=250, frame_step=5,
                       export_dtype="float16", model={"dim": 256, "base": 32, "max_channels": 128}),
        # thesis settings (FAb-Net): 256², SGD lr 1e-3 momentum 0.9, batch 8, frames at 1 fps
        "paper": Recipe("paper", steps=500_000, batch_size=8, image_size=256, optimizer="sgd", lr=1e-3,
                        momentum=0.9, eval_every=5000, eval_batches=50, ckpt_every=5000, frame_step=25,
                        precision="amp", num_workers=4, model={"dim": 256, "base": 32, "max_channels": 256}),
    }


class _FrameTask:
    name = ""
    architecture = ""
    model_cls: type = Autoencoder

    def __init__(self) -> None:
        self.recipes = _recipes(self.name)

    def config(self, recipe: Recipe) -> dict:
        return {"image_size": recipe.image_size, **recipe.model}

    def build_model(self, recipe: Recipe) -> torch.nn.Module:
        return self.model_from_config(self.config(recipe))

    def model_from_config(self, config: dict) -> torch.nn.Module:
        return self.model_cls(**config)

    def dataset(self, data: Path, split: str, recipe: Recipe, cache: Path, job=None):
        return FrameTensors(FaceFrames(data, split, recipe.image_size, cache, recipe.frame_step, job=job))

    def on_device(self, batch: torch.Tensor) -> torch.Tensor:
        return to_unit(batch)

    def export(self, model: torch.nn.Module, recipe: Recipe):
        return model.state_dict(), self.config(recipe)


class AutoencoderTask(_FrameTask):
    name = "autoencoder"
    architecture = "fabnet-autoencoder"
    model_cls = Autoencoder

    def loss(self, model, batch):
        rec = model(batch)
        loss = F.l1_loss(rec, batch)
        return loss, {"l1": float(loss.detach())}

    def samples(self, model, batch) -> np.ndarray:
        """Inputs (top row) over their reconstructions (bottom row)."""
        return image_grid([batch, model(batch)])


class RotationTask(_FrameTask):
    name = "rotation"
    architecture = "fabnet-rotation"
    model_cls = RotationNet

    def loss(self, model, batch):
        rots = torch.cat([torch.rot90(batch, k, dims=(2, 3)) for k in range(4)])
        labels = torch.arange(4, device=batch.device).repeat_interleave(len(batch))
        logits = model(rots)
        loss = F.cross_entropy(logits, labels)
        acc = (logits.argmax(1) == labels).float().mean()
        return loss, {"accuracy": float(acc)}

    def samples(self, model, batch) -> np.ndarray:
        """Each image (column) in its four rotations (rows); green frame: rotation predicted right."""
        batch = batch[:6]
        rows = [torch.rot90(batch, k, dims=(2, 3)) for k in range(4)]
        pred = model(torch.cat(rows)).argmax(1).view(4, -1)
        ok = pred == torch.arange(4, device=batch.device)[:, None]
        return image_grid(rows, ok)


def image_grid(rows: list[torch.Tensor], ok: torch.Tensor | None = None, pad: int = 2) -> np.ndarray:
    """Rows of ``(B, 3, S, S)`` images in [-1, 1] → one RGB ``uint8`` image (optional green/red frames)."""
    n, s = rows[0].shape[0], rows[0].shape[-1]
    cell = s + 2 * pad
    out = np.full((len(rows) * cell, n * cell, 3), 24, np.uint8)
    for r, imgs in enumerate(rows):
        arr = ((imgs.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
        for c in range(n):
            y, x = r * cell, c * cell
            if ok is not None:
                out[y:y + cell, x:x + cell] = (40, 190, 60) if bool(ok[r, c]) else (210, 50, 40)
            out[y + pad:y + pad + s, x + pad:x + pad + s] = arr[c]
    return out
