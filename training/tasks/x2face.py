"""X2Face training (thesis ch. 3 §3.2).

- **Stage I** (recipes ``lite``, ``paper``): a *source* and a *driving* frame from the same face
  track; the generated frame (the source's face sampled as the driving frame says) should equal the
  driving frame under an L1 photometric loss.
- **Stage II** (``lite-ii``, ``paper-ii``; option ``stage=2``): starts from stage-I weights at a
  lower rate and adds identity content losses from an identity network (``identity`` option: a
  ``vgg11-identity`` weights name, trained by the ``identity`` task; the thesis used VGG-Face):
  generated vs driving (same identity) on conv2–5 and conv7, and the source driven by *another*
  person's frame vs the source on conv6–7.  Each same-identity layer term is scaled to the size of
  the photometric L1 and each other-identity term to a tenth of it (our reading of "weights equal
  to the photometric loss per layer, 1/10 for a different identity"); the options ``same_weight``
  and ``other_weight`` change those multiples.

Evaluation measures the Table-1 analog: L1 of generated vs driving with 1 source frame and with 3,
and how much better 3 are (thesis: about 17%).  The 3 sources are fused per pixel three ways (see
:meth:`X2Face.fuse`): the paper's plain mean, the confidence rule (``l1_3src``: what training
fuses and selects on) and the app's default, matched to the driving frame.  With an identity network it also
measures identity leakage: the source driven by another person should still look like the source
(cosine distance of the identity network's pooled conv8 features; lower is better).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from x2studio.models.avsync import MOUTH_BOX
from x2studio.models.x2face import X2Face

from x2studio.core.errors import InputError

from ..data.faces import FaceFrames
from ..loop import Recipe, resolve_weights
from .baselines import image_grid

__all__ = ["TrackPairs", "X2FaceTask"]


class TrackPairs:
    """Item ``i``: (``sources`` frames of frame i's track, other than i; frame i[; a frame of another
    track]) as ``uint8`` tensors ``(K, 3, S, S)``, ``(3, S, S)``[, ``(3, S, S)``].  The choices are
    a function of ``(seed, i)``."""

    def __init__(self, frames: FaceFrames, sources: int = 1, seed: int = 0, other: bool = False) -> None:
        self.frames, self.sources, self.seed, self.other = frames, sources, seed, other
        if other and len(frames.arrays) < 2:
            raise InputError("Stage II needs at least two face tracks (other people) in each split.")

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i: int):
        t, k = self.frames.locate(i)
        arr = self.frames.arrays[t]
        others = np.delete(np.arange(len(arr)), k) if len(arr) > 1 else np.array([k])
        rng = np.random.default_rng([self.seed, i])
        pick = rng.choice(others, self.sources, replace=len(others) < self.sources)
        item = (_chw(arr[np.sort(pick)]), _chw(arr[k]))
        if self.other:
            u = int(rng.integers(len(self.frames.arrays) - 1))
            u += u >= t
            item += (_chw(self.frames.arrays[u][int(rng.integers(len(self.frames.arrays[u])))]),)
        return item


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
            # this 2-core CPU, about half an hour.  Adam, not the paper's SGD: it gets a CPU-sized budget
            # much further.  How the bundled x2face-lite was trained: docs/measurements.md#x2face
            "lite": Recipe("lite", steps=6000, batch_size=16, image_size=128, optimizer="adam", lr=5e-4,
                           eval_every=500, eval_batches=8, ckpt_every=500, frame_step=2, export_dtype="float16",
                           model=model),
            "tiny-ii": Recipe("tiny-ii", steps=6, batch_size=4, image_size=32, eval_every=3, eval_batches=2,
                              ckpt_every=3, keep=2, frame_step=2, model={"base": 8, "max_channels": 32, "dim": 32},
                              options={"stage": 2}),
            # stage II from the stage-I lite weights, at a tenth of stage I's final rate (the thesis: 1e-4),
            # batch 16 as stage I; the 128² identity network is what lets it tie stage I
            # (docs/measurements.md#x2face-stage-ii)
            "lite-ii": Recipe("lite-ii", steps=500, batch_size=16, image_size=128, optimizer="adam", lr=5e-6,
                              eval_every=250, eval_batches=16, ckpt_every=250, frame_step=2, export_dtype="float16",
                              init="x2face-lite", model=model,
                              options={"stage": 2, "identity": "identity-lite-128", "train_sources": 3}),
            # the thesis: 256², SGD lr 1e-3 momentum 0.9, batch 16, ÷10 on plateau; about 65 M parameters
            "paper": Recipe("paper", steps=400_000, batch_size=16, image_size=256, optimizer="sgd", lr=1e-3,
                            momentum=0.9, eval_every=5000, eval_batches=50, ckpt_every=5000, frame_step=1,
                            precision="amp", num_workers=4, model={"base": 64, "max_channels": 512, "dim": 128}),
            "paper-ii": Recipe("paper-ii", steps=100_000, batch_size=16, image_size=256, optimizer="sgd", lr=1e-4,
                               momentum=0.9, eval_every=5000, eval_batches=50, ckpt_every=5000, frame_step=1,
                               precision="amp", num_workers=4, init="x2face-paper",
                               model={"base": 64, "max_channels": 512, "dim": 128},
                               options={"stage": 2, "identity": "identity-paper"}),
        }
        self._idnet = None
        self._id_weights = ""
        self.stage = 1
        self.train_sources = 1
        self.mouth_weight = 0.0
        self.same_weight, self.other_weight = 1.0, 0.1

    def config(self, recipe: Recipe) -> dict:
        return {"image_size": recipe.image_size, **recipe.model}

    def build_model(self, recipe: Recipe) -> torch.nn.Module:
        return self.model_from_config(self.config(recipe))

    def model_from_config(self, config: dict) -> torch.nn.Module:
        return X2Face(**config)

    def dataset(self, data: Path, split: str, recipe: Recipe, cache: Path, job=None):
        self.stage = int(recipe.options.get("stage", 1))
        self.train_sources = int(recipe.options.get("train_sources", 1))
        self.mouth_weight = float(recipe.options.get("mouth_weight", 0.0))
        # stage II's identity terms, each as a multiple of the photometric L1 (the thesis: 1 and 1/10)
        self.same_weight = float(recipe.options.get("same_weight", 1.0))
        self.other_weight = float(recipe.options.get("other_weight", 0.1))
        if min(self.same_weight, self.other_weight) < 0:
            raise InputError("X2Face stage II's identity weights cannot be negative.",
                             "Give same_weight and other_weight of 0 or more (the thesis: 1 and 0.1).")
        identity = str(recipe.options.get("identity", ""))
        if identity != self._id_weights:
            self._idnet, self._id_weights = None, identity
        if self.stage == 2 and split == "train" and not identity:
            raise InputError("X2Face stage II needs an identity network.",
                             "Train one with the 'identity' task and pass --option identity=NAME.")
        frames = FaceFrames(data, split, recipe.image_size, cache, recipe.frame_step, job=job)
        other = bool(identity) and len(frames.arrays) > 1
        # three sources per item: training uses the first (as the paper), evaluation 1 and 3
        return TrackPairs(frames, sources=3, seed=recipe.seed + (split != "train"), other=other)

    def identity_net(self, device) -> torch.nn.Module | None:
        """The frozen identity network named by the ``identity`` option (loaded once)."""
        if not self._id_weights:
            return None
        if self._idnet is None:
            from x2studio.models.registry import model_from_card

            net = model_from_card(resolve_weights(self._id_weights), allowed=("vgg11-identity",))
            for p in net.parameters():
                p.requires_grad_(False)
            self._idnet = net
        return self._idnet.to(device)

    def on_device(self, batch):
        return tuple(x.float().div_(255.0) for x in batch)

    def _id_feats(self, net, x, upto=8):
        s = net.image_size
        if x.shape[-1] != s:
            x = F.interpolate(x, size=(s, s), mode="area")
        return net.features(x, upto)

    def loss(self, model, batch):
        src, drv = batch[0], batch[1]
        other = batch[2] if len(batch) > 2 else None
        if not model.training:     # evaluation: the Table-1 analog
            v = model.driving.vector(drv)
            parts = model.embed_sources(src[:, :3], vectors=True)
            l1 = F.l1_loss(model.generate(parts.faces[:, 0], v), drv)
            logs = {"l1": float(l1)}
            # 3 sources fused three ways: confidence weights (the released code's rule, what
            # training uses), the plain mean (the paper) and matched to the driving frame (the app's)
            for key, fusion in (("", "confidence"), ("_mean", "mean"), ("_matched", "matched")):
                l3 = F.l1_loss(model.generate(model.fuse(parts, v, fusion), v), drv)
                logs[f"l1_3src{key}"] = float(l3)
                logs[f"gain_3src{key}_pct"] = float(100.0 * (l1 - l3) / l1.clamp_min(1e-8))
            net = self.identity_net(src.device)
            if net is not None and other is not None:
                fg = self._id_feats(net, model(src[:, :1], other))[-1].mean((2, 3))
                fs = self._id_feats(net, src[:, 0])[-1].mean((2, 3))
                logs["identity_leak"] = float((1 - F.cosine_similarity(fg, fs)).mean())
            return l1, logs
        # one source (the paper); with the option train_sources=K, half of the batches fuse K sources,
        # which is what trains the confidence channel (a single source never uses it)
        k = self.train_sources if self.train_sources > 1 and int(torch.randint(2, ())) else 1
        src = src[:, :k]
        gen = model(src, drv)
        photo = F.l1_loss(gen, drv)
        logs = {"l1": float(photo.detach())}
        if self.mouth_weight > 0:
            # the mouth is a few per cent of a face crop's pixels: without extra weight the driving
            # vector learns pose and barely any mouth opening (option mouth_weight)
            s = gen.shape[-1]
            x0, y0, x1, y1 = (int(round(f * s)) for f in MOUTH_BOX)
            mouth = F.l1_loss(gen[..., y0:y1, x0:x1], drv[..., y0:y1, x0:x1])
            logs["l1_mouth"] = float(mouth.detach())
            photo = photo + self.mouth_weight * mouth
        if self.stage < 2:
            return photo, logs
        net = self.identity_net(src.device)
        fg = self._id_feats(net, gen, 7)
        with torch.no_grad():
            fd = self._id_feats(net, drv, 7)
            fs = self._id_feats(net, src[:, 0], 7)
        same = sum(self._scaled(fg[k], fd[k], photo, self.same_weight) for k in (1, 2, 3, 4, 6))   # conv2-5, 7
        fo = self._id_feats(net, model(src, other), 7)
        diff = sum(self._scaled(fo[k], fs[k], photo, self.other_weight) for k in (5, 6))           # conv6-7
        loss = photo + same + diff
        return loss, {**logs, "id_same": float(same.detach()), "id_other": float(diff.detach())}

    @staticmethod
    def _scaled(a, b, photo, weight):
        """L1 between features, scaled to ``weight`` × the photometric L1's size."""
        d = F.l1_loss(a, b)
        return d * (weight * photo.detach() / d.detach().clamp_min(1e-8))

    def samples(self, model, batch) -> np.ndarray:
        """Columns: examples; rows: source, embedded face, driving frame, generated frame."""
        src, drv = batch[0], batch[1]
        src, drv = src[:6, :1], drv[:6]
        emb = model.embed(src)
        gen = model.generate(emb, model.driving.vector(drv))
        return image_grid([x * 2 - 1 for x in (src[:, 0], emb, drv, gen)])

    def export(self, model, recipe: Recipe):
        return model.state_dict(), self.config(recipe)
