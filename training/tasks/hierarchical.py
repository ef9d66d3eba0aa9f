"""Task ``hierarchical``: the hierarchical probabilistic embedding (thesis appendix A).

Pairs of frames of one face track (the whole track, as the paper does for faces), the source
transformed into the target level by level.  The loss is the Laplace-weighted photometric loss of
every trained level (Eq. 6) plus ``λ`` × the cyclic loss at level 1 (Eq. 7, 8; option ``cyclic``,
default λ = 1, 0 turns it off).  **Level-by-level curriculum**: training starts with level 1 only and
adds the next level each time the validation loss plateaus (``plateau_patience`` evaluations
without improvement; option ``levels`` caps how many are trained, ``r`` in the thesis' tables).  The
current level is task state, saved in every checkpoint, so a resumed run continues at its level.
Evaluation reports the L1 error of the generated frame at each trained level.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from x2studio.models.hierarchical import HierarchicalEmbedding, confidence_loss, cyclic_loss

from ..data.faces import FaceFrames
from ..loop import Recipe
from .baselines import to_unit
from .x2face import TrackPairs

__all__ = ["HierarchicalTask", "LevelCurriculum"]


class LevelCurriculum:
    """The number of trained levels: one more each time the validation loss plateaus."""

    def __init__(self, max_levels: int, patience: int = 2) -> None:
        self.max_levels, self.patience = max_levels, patience
        self.levels, self.best, self.bad = 1, float("inf"), 0

    def on_eval(self, val_loss: float) -> bool:
        if val_loss < self.best - 1e-6:
            self.best, self.bad = val_loss, 0
            return False
        self.bad += 1
        if self.bad >= self.patience and self.levels < self.max_levels:
            self.levels += 1
            self.bad, self.best = 0, float("inf")     # the loss now has another term
            return True
        return False

    def state(self) -> dict:
        return {"levels": self.levels, "best": None if self.best == float("inf") else self.best, "bad": self.bad}

    def load(self, state: dict) -> None:
        self.levels = int(state.get("levels", 1))
        self.best = float("inf") if state.get("best") is None else float(state["best"])
        self.bad = int(state.get("bad", 0))


class HierarchicalTask:
    name = "hierarchical"
    architecture = "hierarchical"

    def __init__(self) -> None:
        lite = {"dim": 256, "base": 32, "max_channels": 128, "base_res": 16, "levels": 3, "k": 9}
        self.recipes = {
            "tiny": Recipe("tiny", steps=12, batch_size=4, image_size=32, eval_every=4, eval_batches=2, ckpt_every=4,
                           keep=2, frame_step=2, plateau_patience=1,
                           model={"dim": 32, "base": 8, "max_channels": 32, "base_res": 8, "levels": 3, "k": 4}),
            # this 2-core CPU: 64² input, levels 16² → 32² → 64²
            "lite": Recipe("lite", steps=4000, batch_size=16, image_size=64, optimizer="adam", lr=1e-3,
                           eval_every=250, eval_batches=8, ckpt_every=250, frame_step=2, plateau_patience=2,
                           export_dtype="float16", model=lite),
            # the paper: 256² input, levels 32² → 64² → 128², K = 9, λ = 1, Adam 1e-3
            "paper": Recipe("paper", steps=300_000, batch_size=16, image_size=256, optimizer="adam", lr=1e-3,
                            eval_every=5000, eval_batches=50, ckpt_every=5000, frame_step=25, plateau_patience=3,
                            precision="amp", num_workers=4,
                            model={"dim": 256, "base": 32, "max_channels": 256, "base_res": 32, "levels": 3, "k": 9}),
        }
        self.curriculum = LevelCurriculum(3)
        self.cyclic = 1.0

    def config(self, recipe: Recipe) -> dict:
        return {"image_size": recipe.image_size, **recipe.model}

    def build_model(self, recipe: Recipe) -> torch.nn.Module:
        return self.model_from_config(self.config(recipe))

    def model_from_config(self, config: dict) -> torch.nn.Module:
        return HierarchicalEmbedding(**config)

    def dataset(self, data: Path, split: str, recipe: Recipe, cache: Path, job=None):
        levels = int(recipe.options.get("levels", recipe.model.get("levels", 3)))
        if split == "train":      # a new run starts at level 1 (a resumed one loads its level after this)
            self.curriculum = LevelCurriculum(min(levels, int(recipe.model.get("levels", 3))),
                                              recipe.plateau_patience)
        self.cyclic = float(recipe.options.get("cyclic", 1.0))
        frames = FaceFrames(data, split, recipe.image_size, cache, recipe.frame_step, job=job)
        return TrackPairs(frames, sources=1, seed=recipe.seed + (split != "train"))

    def on_device(self, batch):
        return to_unit(batch[0][:, 0]), to_unit(batch[1])

    def loss(self, model, batch):
        src, tgt = batch
        net = model.module if hasattr(model, "module") else model
        levels = self.curriculum.levels
        e_s, e_t = net.encoder(src), net.encoder(tgt)
        out = net.decode(e_s, e_t, src, levels)
        targets = net.pyramid(tgt, levels)
        logs = {"levels": float(levels)}
        loss = src.new_zeros(())
        for r, (lv, t) in enumerate(zip(out, targets), 1):
            loss = loss + confidence_loss(lv["generated"], t, lv["sigma"])
            logs[f"l1_r{r}"] = float(F.l1_loss(lv["generated"].detach(), t))
        if self.cyclic > 0:
            back = net.decode(e_t, e_s, tgt, 1, confidence=False)[0]["A"]
            cyc = cyclic_loss(out[0]["A"], back)
            loss = loss + self.cyclic * cyc
            logs["cyclic"] = float(cyc.detach())
        return loss, logs

    def samples(self, model, batch):
        """Rows: source, target, generated at each trained level (upsampled)."""
        import numpy as np

        src, tgt = batch
        with torch.no_grad():
            out = model(src[:4], tgt[:4], self.curriculum.levels)
        size = src.shape[-1]
        cols = [src[:4], tgt[:4]] + [F.interpolate(lv["generated"], size=(size, size), mode="nearest") for lv in out]
        grid = torch.cat([torch.cat(list(c), 2) for c in cols], 1)
        return ((grid.clamp(-1, 1) + 1) * 127.5).byte().permute(1, 2, 0).cpu().numpy().astype(np.uint8)

    def task_state(self) -> dict:
        return {"levels": self.curriculum.state()}

    def load_task_state(self, state: dict) -> None:
        if "levels" in state:
            self.curriculum.load(state["levels"])

    def on_eval(self, step: int, metrics: dict) -> bool:
        """True when a level was added (the loop then restarts its plateau schedule and best weights)."""
        return "val_loss" in metrics and self.curriculum.on_eval(float(metrics["val_loss"]))

    def export(self, model, recipe: Recipe):
        return model.state_dict(), self.config(recipe)
