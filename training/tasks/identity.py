"""Identity classification with VGG-11 (configuration A) on the training identities of a face-track
dataset: the identity network whose conv layers X2Face's stage II uses as content losses (the
thesis used VGG-Face; here it is trained on our own identities).

Identities are the *training* split's (the splits are identity-disjoint, so held-out people are never
classes); every 10th frame of each track is kept for validation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from x2studio.face.dataset import load_manifest
from x2studio.models.vgg import VGG11

from ..data.faces import FaceFrames
from ..loop import Recipe

__all__ = ["IdentityFrames", "IdentityTask"]

VAL_EVERY = 10


class IdentityFrames:
    """Frames of the training identities with their class index; ``part`` "train" or "val"
    (every 10th frame of each track)."""

    def __init__(self, frames: FaceFrames, identities: list[str], part: str) -> None:
        self.frames = frames
        manifest = load_manifest(frames.root)
        ident_of = {t["id"]: t["identity"] for t in manifest["tracks"]}
        cls = {name: k for k, name in enumerate(identities)}
        idx = np.arange(len(frames))
        local = idx - frames.offsets[np.searchsorted(frames.offsets, idx, side="right") - 1]
        keep = (local % VAL_EVERY == 0) if part == "val" else (local % VAL_EVERY != 0)
        self.index = idx[keep]
        track_of = np.searchsorted(frames.offsets, self.index, side="right") - 1
        self.labels = np.array([cls[ident_of[frames.track_ids[t]]] for t in track_of], np.int64)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int):
        img = self.frames[int(self.index[i])]
        return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))), int(self.labels[i])


def training_identities(data: Path) -> list[str]:
    manifest = load_manifest(data)
    return sorted({t["identity"] for t in manifest["tracks"] if t["split"] == "train"})


class IdentityTask:
    name = "identity"
    architecture = "vgg11-identity"

    def __init__(self) -> None:
        self.recipes = {
            "tiny": Recipe("tiny", steps=12, batch_size=8, image_size=32, eval_every=6, eval_batches=2, ckpt_every=4,
                           keep=2, frame_step=2, model={"base": 4, "fc": 32}),
            # this CPU, minutes: the identity network of x2face-lite's stage II (64² input: X2Face's
            # 128² frames are reduced for it)
            "lite": Recipe("lite", steps=2000, batch_size=32, image_size=64, optimizer="adam", lr=3e-4,
                           eval_every=500, eval_batches=8, ckpt_every=500, frame_step=2, export_dtype="float16",
                           model={"base": 16, "fc": 256}),
            # the same network at X2Face-lite's own frame size, so stage II's content losses see the
            # generated 128² faces without reducing them (measured against lite in training/tasks/x2face.py)
            "lite-128": Recipe("lite-128", steps=2000, batch_size=32, image_size=128, optimizer="adam", lr=3e-4,
                               eval_every=500, eval_batches=8, ckpt_every=500, frame_step=2, export_dtype="float16",
                               model={"base": 16, "fc": 256}),
            # the thesis' network size (VGG-11 at 64 base filters, fc 4096), SGD as for VGG
            "paper": Recipe("paper", steps=200_000, batch_size=64, image_size=256, optimizer="sgd", lr=1e-2,
                            momentum=0.9, weight_decay=5e-4, eval_every=5000, eval_batches=50, ckpt_every=5000,
                            frame_step=5, precision="amp", num_workers=4, model={"base": 64, "fc": 4096}),
        }
        self._classes: dict[str, int] = {}

    def config(self, recipe: Recipe, data: Path | None = None) -> dict:
        n = self._classes.get(str(data)) if data is not None else None
        if n is None and self._classes:
            n = next(iter(self._classes.values()))
        return {"num_classes": int(n or 1), "image_size": recipe.image_size, **recipe.model}

    def build_model(self, recipe: Recipe) -> torch.nn.Module:
        return self.model_from_config(self.config(recipe))

    def model_from_config(self, config: dict) -> torch.nn.Module:
        return VGG11(**config)

    def dataset(self, data: Path, split: str, recipe: Recipe, cache: Path, job=None):
        identities = training_identities(data)
        self._classes = {str(data): len(identities)}
        frames = FaceFrames(data, "train", recipe.image_size, cache, recipe.frame_step, job=job)
        return IdentityFrames(frames, identities, "val" if split != "train" else "train")

    def on_device(self, batch):
        x, y = batch
        return x.float().div_(255.0), y

    def loss(self, model, batch):
        x, y = batch
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        return loss, {"accuracy": float((logits.argmax(1) == y).float().mean())}

    def export(self, model, recipe: Recipe):
        return model.state_dict(), {"num_classes": model.num_classes, "image_size": model.image_size, **recipe.model}
