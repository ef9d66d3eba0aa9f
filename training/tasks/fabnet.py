"""FAb-Net (thesis ch. 4; PAPERS.md §2): task ``fabnet``.

Pairs of frames of one face track: the shared encoder embeds both, the decoder turns the 512-D pair
into offsets that sample the source into the target; L1 to the target.  Options:

- ``train_sources`` K (default 1): half of the batches fuse K source frames through the confidence
  maps (what trains them; the "3 source frames" row of the thesis' tables);
- ``curriculum`` 1: rank the samples of each batch by their loss and back-propagate only those
  inside a percentile window, first the 0–50th; each time the validation loss stops improving
  (``plateau_patience`` evaluations) the window moves up by 10, four times, ending at 40–90th.
  The window is saved in checkpoints and restored on resume.

Evaluation reports the L1 with 1 and 3 source frames.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from x2studio.models.fabnet import FAbNet

from ..data.faces import FaceFrames
from ..loop import Recipe
from .baselines import to_unit
from .x2face import TrackPairs

__all__ = ["FAbNetTask", "Curriculum"]


class Curriculum:
    """The percentile window of FAb-Net's curriculum and its plateau logic."""

    START, WIDTH, STEP, SHIFTS = 0, 50, 10, 4

    def __init__(self, patience: int = 2) -> None:
        self.patience = patience
        self.lo = self.START
        self.shifts = 0
        self.best = float("inf")
        self.bad = 0

    @property
    def window(self) -> tuple[int, int]:
        return self.lo, self.lo + self.WIDTH

    def select(self, losses: torch.Tensor) -> torch.Tensor:
        """The mean of the per-sample ``losses`` whose rank lies in the window (at least one)."""
        n = len(losses)
        order = torch.argsort(losses.detach())
        a = int(np.floor(self.lo / 100 * n))
        b = max(a + 1, int(np.ceil((self.lo + self.WIDTH) / 100 * n)))
        return losses[order[a:min(b, n)]].mean()

    def on_eval(self, val_loss: float) -> bool:
        """Record a validation loss; True when the window moved."""
        if val_loss < self.best - 1e-6:
            self.best, self.bad = val_loss, 0
            return False
        self.bad += 1
        if self.bad >= self.patience and self.shifts < self.SHIFTS:
            self.lo += self.STEP
            self.shifts += 1
            self.bad = 0
            self.best = float("inf")      # the loss is measured on other samples now
            return True
        return False

    def state(self) -> dict:
        return {"lo": self.lo, "shifts": self.shifts, "best": None if self.best == float("inf") else self.best,
                "bad": self.bad}

    def load(self, state: dict) -> None:
        self.lo = int(state.get("lo", self.START))
        self.shifts = int(state.get("shifts", 0))
        best = state.get("best")
        self.best = float("inf") if best is None else float(best)
        self.bad = int(state.get("bad", 0))


class FAbNetTask:
    name = "fabnet"
    architecture = "fabnet"

    def __init__(self) -> None:
        model = {"dim": 256, "base": 32, "max_channels": 128}
        self.recipes = {
            "tiny": Recipe("tiny", steps=12, batch_size=4, image_size=32, eval_every=4, eval_batches=2,
                           ckpt_every=4, keep=2, frame_step=2, model={"dim": 32, "base": 8, "max_channels": 32}),
            # this 2-core CPU, minutes, at 64² (the first fabnet-lite: docs/measurements.md#fabnet-lite)
            "lite": Recipe("lite", steps=3000, batch_size=16, image_size=64, optimizer="adam", lr=1e-3,
                           eval_every=250, eval_batches=8, ckpt_every=250, frame_step=2, export_dtype="float16",
                           model=model),
            # the lite model at 128², the faces128 frames at their own size: the bundled fabnet-lite
            # (docs/measurements.md#fabnet-lite-128)
            "lite-128": Recipe("lite-128", steps=14000, batch_size=16, image_size=128, optimizer="adam", lr=1e-3,
                               eval_every=500, eval_batches=8, ckpt_every=500, frame_step=2, export_dtype="float16",
                               model=model),
            # + curriculum (batch 32 as the thesis), from the bundled weights
            # (docs/measurements.md#fabnet-lite-curriculum)
            "lite-curriculum": Recipe("lite-curriculum", steps=2000, batch_size=32, image_size=128, optimizer="adam",
                                      lr=3e-4, eval_every=200, eval_batches=8, ckpt_every=200, frame_step=2,
                                      plateau_patience=2, export_dtype="float16", init="fabnet-lite", model=model,
                                      options={"curriculum": 1}),
            # the Table-1 rows at 64² (minutes each here), the curriculum with and without, from a 64²
            # FAb-Net given with --init (docs/measurements.md#fabnet-ablation-64)
            "ablation-64": Recipe("ablation-64", steps=2000, batch_size=32, image_size=64, optimizer="adam",
                                  lr=3e-4, eval_every=200, eval_batches=8, ckpt_every=200, frame_step=2,
                                  plateau_patience=2, export_dtype="float16", model=model, options={"curriculum": 1}),
            # the lite model trained on: from the lite weights with the curriculum, batch 64, on a GPU
            # (tried on an H100, 2026-11-25: 6000 steps at 20 steps/s overfit the 30-min synthetic set, val L1
            # 0.0806 against the bundled 0.0765, so it is for bigger datasets)
            "lite-gpu": Recipe("lite-gpu", steps=20000, batch_size=64, image_size=128, optimizer="adam", lr=3e-4,
                               eval_every=1000, eval_batches=8, ckpt_every=1000, frame_step=2, plateau_patience=3,
                               export_dtype="float16", init="fabnet-lite", model=model, num_workers=4,
                               options={"curriculum": 1}),
            # the thesis: 256², SGD lr 1e-3 momentum 0.9, batch 8 (32 with the curriculum), 1-fps frames
            "paper": Recipe("paper", steps=500_000, batch_size=8, image_size=256, optimizer="sgd", lr=1e-3,
                            momentum=0.9, eval_every=5000, eval_batches=50, ckpt_every=5000, frame_step=25,
                            precision="amp", num_workers=4, model={"dim": 256, "base": 32, "max_channels": 256}),
        }
        self.curriculum: Curriculum | None = None
        self.train_sources = 1

    def config(self, recipe: Recipe) -> dict:
        return {"image_size": recipe.image_size, **recipe.model}

    def build_model(self, recipe: Recipe) -> torch.nn.Module:
        return self.model_from_config(self.config(recipe))

    def model_from_config(self, config: dict) -> torch.nn.Module:
        return FAbNet(**config)

    def dataset(self, data: Path, split: str, recipe: Recipe, cache: Path, job=None):
        self.train_sources = int(recipe.options.get("train_sources", 1))
        if int(recipe.options.get("curriculum", 0)):
            if self.curriculum is None:
                self.curriculum = Curriculum(recipe.plateau_patience)
        else:
            self.curriculum = None
        frames = FaceFrames(data, split, recipe.image_size, cache, recipe.frame_step, job=job)
        return TrackPairs(frames, sources=3, seed=recipe.seed + (split != "train"))

    def on_device(self, batch):
        src, tgt = batch[0], batch[1]
        return to_unit(src), to_unit(tgt)

    def loss(self, model, batch):
        src, tgt = batch
        if not model.training:
            l1 = F.l1_loss(model(src[:, :1], tgt), tgt)
            l3 = F.l1_loss(model(src[:, :3], tgt), tgt)
            # the validation loss (best weights, plateau schedule, curriculum shifts) is what the run trains:
            # with train_sources=3, half its steps use three sources.  It was the 1-source L1 alone, which
            # such a run hardly changes: a 2000-step run kept its step-200 weights for a 0.0001 lead
            loss = (l1 + l3) / 2 if self.train_sources > 1 else l1
            return loss, {"l1": float(l1), "l1_3src": float(l3)}
        k = self.train_sources if self.train_sources > 1 and int(torch.randint(2, ())) else 1
        per = (model(src[:, :k], tgt) - tgt).abs().mean((1, 2, 3))
        logs = {"l1": float(per.detach().mean())}
        if self.curriculum is None:
            return per.mean(), logs
        lo, hi = self.curriculum.window
        logs.update({"window_lo": float(lo), "window_hi": float(hi)})
        return self.curriculum.select(per), logs

    # curriculum state, saved in checkpoints by the loop
    def task_state(self) -> dict:
        return {"curriculum": self.curriculum.state()} if self.curriculum is not None else {}

    def load_task_state(self, state: dict) -> None:
        if self.curriculum is not None and "curriculum" in state:
            self.curriculum.load(state["curriculum"])

    def on_eval(self, step: int, metrics: dict) -> None:
        if self.curriculum is not None and "val_loss" in metrics:
            self.curriculum.on_eval(float(metrics["val_loss"]))

    def export(self, model, recipe: Recipe):
        return model.state_dict(), self.config(recipe)
