"""Visual pitch estimation for the violin (thesis ch. 5; PAPERS.md §4): tasks ``violin-teacher``
(spectrogram → pitch class) and ``violin`` (video frames → pitch class, the student).

Both learn from the audio pitch tracker's pseudo labels (``--option labels=pseudo``, the default;
made on first use) or the synthetic data's true pitch (``labels=truth``).  The student takes
``--option frames=1|5`` (5: the first convolution per frame, fused by a 3-D convolution; ``--init``
with 1-frame weights starts a 5-frame student from them, inflated) and, with
``distill=1`` (the default), also matches the frozen teacher's fc6, fc7 and fc8 on the same moment's
sound (L1, each term weighted to the size of the cross-entropy); ``teacher=`` names the teacher's
weights (default ``violin-teacher-lite``).  ``distill=0`` trains the student on the labels alone —
the thesis found it then failed to converge.  ``class_weights=1`` weights the cross-entropy by
inverse square-root class frequency (off by default for the student: it stalled learning, see below).

Metrics (:func:`violin_eval`, printed by ``train eval violin``) follow the thesis' Table 2: RPA (raw
pitch accuracy: the right semitone on frames where a note sounds), RPA tol (right within ±1 frame),
RPA ±1 st (at most one semitone off: the thesis' wording of RPA),
PA (pitch accuracy over all frames, "no note" included), ACA (mean per-class accuracy) and ACE (mean
error in semitones on frames with a note).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from x2studio.core.errors import InputError
from x2studio.models.violin import N_CLASSES, PitchStudent, PitchTeacher, distillation_loss

from ..data.violin import PSEUDO_TRACKER, ViolinItems, load_manifest, make_pseudo_labels
from ..loop import Recipe

__all__ = ["ViolinTeacherTask", "ViolinStudentTask", "violin_eval", "table2_metrics"]

log = logging.getLogger(__name__)


def _ensure_labels(data: Path, labels: str, job=None) -> None:
    if labels != "pseudo":
        return
    from x2studio.pipelines.violin_audio import ATTACK_S

    from ..data.violin import labels_current

    missing = [e for e in load_manifest(data)["videos"]
               if not labels_current(Path(data) / "pseudo" / f"{e['id']}.npz", ATTACK_S)]
    if missing:      # the thesis' labels: made once, by the pitch tracker, the first time they are needed
        log.info("making audio pseudo labels for %d videos", len(missing))
        make_pseudo_labels(data, PSEUDO_TRACKER, job=job)


def _class_weights(ds: ViolinItems) -> torch.Tensor:
    """Inverse square-root frequency weights (classes a tune rarely visits still count), mean 1."""
    counts = ds.class_counts().astype(np.float64)
    w = 1.0 / np.sqrt(np.maximum(counts, 1.0))
    w[counts == 0] = 0.0
    w = w / max(w[counts > 0].mean(), 1e-9) if (counts > 0).any() else np.ones_like(w)
    return torch.tensor(w, dtype=torch.float32)


def _accuracy(logits: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    pred = logits.argmax(1)
    note = y > 0
    return {"pa": float((pred == y).float().mean()),
            "rpa": float((pred[note] == y[note]).float().mean()) if note.any() else 0.0}


class ViolinTeacherTask:
    name = "violin-teacher"
    architecture = "violin-teacher"

    def __init__(self) -> None:
        self.recipes = {
            "tiny": Recipe("tiny", steps=8, batch_size=8, eval_every=4, eval_batches=2, ckpt_every=4, keep=2,
                           model={"bins": 64, "steps": 8, "base": 4, "fc": 32}, options={"labels": "truth"}),
            "lite": Recipe("lite", steps=1500, batch_size=64, lr=1e-3, eval_every=250, eval_batches=20, ckpt_every=250,
                           plateau_patience=3, export_dtype="float16",
                           model={"bins": 256, "steps": 16, "base": 16, "fc": 256}, options={"labels": "pseudo"}),
            # the thesis': Adam 1e-3, batch 64
            "paper": Recipe("paper", steps=60000, batch_size=64, lr=1e-3, eval_every=2000, eval_batches=50,
                            ckpt_every=2000, num_workers=4, precision="amp",
                            model={"bins": 512, "steps": 32, "base": 96, "fc": 1024}, options={"labels": "pseudo"}),
        }
        self.weight = None

    def config(self, recipe: Recipe) -> dict:
        return {"bins": 256, "steps": 16, "base": 16, "fc": 256, **recipe.model}

    def build_model(self, recipe: Recipe):
        return self.model_from_config(self.config(recipe))

    def model_from_config(self, config: dict):
        return PitchTeacher(**config)

    def dataset(self, data: Path, split: str, recipe: Recipe, cache: Path, job=None):
        cfg = self.config(recipe)
        labels = recipe.options.get("labels", "pseudo")
        _ensure_labels(Path(data), labels, job)
        ds = ViolinItems(data, split, cache, modality="audio", bins=cfg["bins"], steps=cfg["steps"], labels=labels,
                         seed=recipe.seed, job=job)
        if split == "train":
            self.weight = _class_weights(ds)
        return ds

    def loss(self, model, batch):
        x, _, y = batch
        logits = model(x)
        w = self.weight.to(x.device) if self.weight is not None else None
        ce = F.cross_entropy(logits, y, weight=w)
        return ce, {"ce": ce.item(), **_accuracy(logits.detach(), y)}

    def export(self, model, recipe: Recipe):
        return model.state_dict(), self.config(recipe)


class ViolinStudentTask:
    name = "violin"
    architecture = "violin-student"

    def __init__(self) -> None:
        self.recipes = {
            "tiny": Recipe("tiny", steps=8, batch_size=4, eval_every=4, eval_batches=2, ckpt_every=4, keep=2,
                           model={"height": 32, "width": 64, "base": 4, "fc": 32},
                           options={"frames": 5, "labels": "truth", "distill": 0}),
            # CPU-sized: half the thesis' 400×200 each way, a quarter of the widths
            "lite": Recipe("lite", steps=3000, batch_size=32, lr=1e-3, eval_every=250, eval_batches=20, ckpt_every=250,
                           plateau_patience=3, export_dtype="float16",
                           model={"height": 100, "width": 200, "base": 16, "fc": 256},
                           options={"frames": 5, "labels": "pseudo", "distill": 1, "teacher": "violin-teacher-lite"}),
            # the thesis': 400×200 frames, Adam 1e-3, batch 64 (1 frame) / 24 (5 frames)
            "paper": Recipe("paper", steps=100000, batch_size=24, lr=1e-3, eval_every=2000, eval_batches=50,
                            ckpt_every=2000, num_workers=4, precision="amp",
                            model={"height": 200, "width": 400, "base": 96, "fc": 1024},
                            options={"frames": 5, "labels": "pseudo", "distill": 1, "teacher": "violin-teacher-paper"}),
        }
        self.weight = None
        self.teacher = None
        self._data: Path | None = None
        self._cache: Path | None = None

    def config(self, recipe: Recipe) -> dict:
        cfg = {"height": 100, "width": 200, "base": 16, "fc": 256, **recipe.model}
        cfg["frames"] = int(recipe.options.get("frames", 5))
        return {k: cfg[k] for k in ("frames", "height", "width", "base", "fc")}

    def build_model(self, recipe: Recipe):
        return self.model_from_config(self.config(recipe))

    def model_from_config(self, config: dict):
        return PitchStudent(**config)

    def adapt_init(self, model, entry, state: dict) -> dict:
        """``--init`` with 1-frame weights for a 5-frame student: inflate them (see
        :meth:`PitchStudent.inflated_state`); other weights load as they are."""
        frames = int(entry.card.config.get("frames", model.frames))
        if model.frames > 1 and frames == 1:
            try:
                return model.inflated_state(state)
            except ValueError as exc:
                raise InputError(f"The weights '{entry.name}' cannot start this {model.frames}-frame student ({exc}).",
                                 "Use 1-frame weights with the same width, height, base and fc.") from exc
        return state

    def _load_teacher(self, recipe: Recipe, fc: int) -> None:
        from x2studio.models.registry import model_from_card

        from ..loop import resolve_weights

        name = str(recipe.options.get("teacher", "violin-teacher-lite"))
        try:
            entry = resolve_weights(name)
        except (InputError, KeyError, FileNotFoundError) as exc:
            raise InputError(f"The teacher '{name}' for distillation was not found ({exc}).",
                             "Train it first ('x2studio train violin-teacher …'), give --option teacher=NAME, or "
                             "train without it (--option distill=0).") from exc
        teacher = model_from_card(entry, "cpu", allowed=("violin-teacher",))
        if teacher.fc != fc:
            raise InputError(f"The teacher '{name}' has fc layers {teacher.fc} wide; the student's are {fc}.",
                             "Distil from a teacher with the same fc width (the recipe's model.fc).")
        for p in teacher.parameters():
            p.requires_grad_(False)
        self.teacher = teacher

    def dataset(self, data: Path, split: str, recipe: Recipe, cache: Path, job=None):
        cfg = self.config(recipe)
        labels = recipe.options.get("labels", "pseudo")
        distill = bool(int(recipe.options.get("distill", 1)))
        _ensure_labels(Path(data), labels, job)
        if distill and self.teacher is None:
            self._load_teacher(recipe, cfg["fc"])
        t = self.teacher
        ds = ViolinItems(data, split, cache, modality="visual", frames=cfg["frames"], size=(cfg["width"], cfg["height"]),
                         bins=t.bins if t is not None else 256, steps=t.steps if t is not None else 16, labels=labels,
                         with_spec=distill, augment=split == "train", seed=recipe.seed, job=job)
        if split == "train" and int(recipe.options.get("class_weights", 0)):
            # off by default: on the 'all' subset (1 frame, true pitch, 200 steps) the student with these
            # weights (0.1 for "no note" … 6.4 for the rarest note) stayed at 11 % val RPA, without them
            # it reached 53 % (2026-12-03); the teacher, whose task is easier, learns with them
            self.weight = _class_weights(ds)
        self._data, self._cache = Path(data), Path(cache)
        return ds

    def loss(self, model, batch):
        x, spec, y = batch
        f6, f7, logits = model.forward_features(x)
        w = self.weight.to(x.device) if self.weight is not None else None
        ce = F.cross_entropy(logits, y, weight=w)
        info = {"ce": ce.item(), **_accuracy(logits.detach(), y)}
        if self.teacher is not None and spec.numel():
            if next(self.teacher.parameters()).device != x.device:
                self.teacher.to(x.device)
            with torch.no_grad():
                t_feats = self.teacher.forward_features(spec)
            dl, parts = distillation_loss((f6, f7, logits), t_feats, ce)
            info.update({"l1_fc6": parts[0], "l1_fc7": parts[1], "l1_fc8": parts[2]})
            return ce + dl, info
        return ce, info

    def export(self, model, recipe: Recipe):
        return model.state_dict(), self.config(recipe)

    def export_metrics(self, model, recipe: Recipe) -> dict:
        """RPA of the exported model on the validation videos against the true pitch (when known)."""
        if self._data is None:
            return {}
        try:
            m = violin_eval(self._data, model, split="val", labels="truth", cache=self._cache)
        except InputError as exc:
            log.info("no validation metrics: %s", exc)
            return {}
        return {"val_rpa": m["rpa"], "val_rpa_tol": m["rpa_tol"]}


# ------------------------------------------------------------------------------------ evaluation

def table2_metrics(pred: np.ndarray, truth: np.ndarray) -> dict:
    """The thesis' Table 2 metrics for predicted and true classes per frame (lists of per-video arrays)."""
    preds = [np.asarray(p) for p in pred]
    trues = [np.asarray(t) for t in truth]
    p, t = np.concatenate(preds), np.concatenate(trues)
    note = t > 0
    ok = p == t
    tol = np.zeros_like(ok)
    start = 0
    for pv, tv in zip(preds, trues):
        n = len(tv)
        hit = pv == tv
        near = hit.copy()
        near[1:] |= pv[:-1] == tv[1:]      # the right class one frame early or late
        near[:-1] |= pv[1:] == tv[:-1]
        tol[start:start + n] = near
        start += n
    classes = [c for c in np.unique(t[note])]
    aca = float(np.mean([ok[t == c].mean() for c in classes])) if classes else 0.0
    err = np.abs(np.where(p[note] > 0, p[note], 0) - t[note]).astype(np.float64)
    err[p[note] == 0] = np.nan        # "no note" on a sounding frame has no pitch error: counted apart
    # the thesis' own wording (ch. 5): "counted as correctly estimated if it lies within one semitone
    # of the ground truth pitch": a sounding class at most one semitone off; "rpa" is the stricter
    # right semitone (mir_eval's 50-cent raw pitch accuracy on semitone classes)
    semi = (p > 0) & (np.abs(p.astype(np.int64) - t.astype(np.int64)) <= 1)
    return {"rpa": float(ok[note].mean()) if note.any() else 0.0,
            "rpa_tol": float(tol[note].mean()) if note.any() else 0.0,
            "rpa_semitone": float(semi[note].mean()) if note.any() else 0.0,
            "pa": float(ok.mean()) if len(ok) else 0.0,
            "aca": aca,
            "ace": float(np.nanmean(err)) if np.isfinite(err).any() else 0.0,
            "missed": float((p[note] == 0).mean()) if note.any() else 0.0,
            "frames": int(note.sum())}


@torch.no_grad()
def _predict(model, ds: ViolinItems, v: int, batch: int = 64) -> np.ndarray:
    rows = np.nonzero(ds.index[:, 0] == v)[0]
    out = []
    for i in range(0, len(rows), batch):
        items = [ds[int(j)] for j in rows[i:i + batch]]
        x = torch.stack([it[0] for it in items])
        out.append(model(x.to(next(model.parameters()).device)).argmax(1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def violin_eval(data: str | Path, weights, split: str = "test", labels: str = "truth", device: str = "cpu",
                cache: str | Path | None = None, job=None) -> dict:
    """Table 2 metrics of a teacher or student (weights name, file, or a model) on ``split`` of a
    violin dataset, against the true pitch (``labels="truth"``) or the pseudo labels."""
    from x2studio.core import paths
    from x2studio.models.registry import model_from_card

    from ..loop import resolve_weights

    name = "model"
    if isinstance(weights, torch.nn.Module):
        model = weights.eval()
    else:
        entry = resolve_weights(weights)
        model = model_from_card(entry, device, allowed=("violin-teacher", "violin-student"))
        name = entry.name
    cache = Path(cache) if cache else paths.cache_dir() / "training"
    was_training = model.training
    model.eval()
    try:
        if isinstance(model, PitchTeacher):
            ds = ViolinItems(data, split, cache, modality="audio", bins=model.bins, steps=model.steps, labels=labels)
            kind = "audio → pitch"
        else:
            ds = ViolinItems(data, split, cache, modality="visual", frames=model.frames, size=(model.width, model.height),
                             labels=labels)
            kind = f"{model.frames} frame{'s' if model.frames > 1 else ''} → pitch"
        preds, trues = [], []
        for v in range(len(ds.entries)):
            if job is not None:
                job.progress(v, len(ds.entries), f"video {v + 1}/{len(ds.entries)}")
            preds.append(_predict(model, ds, v))
            trues.append(ds.cls[v][:len(preds[-1])])
    finally:
        model.train(was_training)
    out = table2_metrics(preds, trues)
    out.update(weights=name, kind=kind, split=split, labels=labels, videos=len(ds.entries),
               subset=load_manifest(data)["config"].get("subset"), classes=N_CLASSES)
    return out
