"""Attribute read-outs of a frozen face embedding (thesis ch. 4 §4.3; PAPERS.md §2 "Downstream"):
task ``attributes``.

A head — BatchNorm over the embedding, then a linear layer without bias — is trained with MSE on the
labelled stills of a rendered dataset while the encoder stays frozen.  Options:

- ``encoder``: the embedding's weights (``fabnet-lite``, ``autoencoder-lite``, ``rotation-lite``, …,
  or ``random:SEED`` for a randomly initialised encoder of the same shape as ``fabnet-lite``);
- ``target``: ``pose`` (yaw, pitch, roll; the Table-2 analog, MAE in degrees), ``lm68`` or ``lm5``
  (68 or 5 landmarks; the Table-1 analog, error as % of the inter-ocular distance), or
  ``expression`` (five binary, action-unit-like labels derived from the generator's expression
  parameters — mouth open, lips rounded, smile, brows raised, eyes closed; binary cross-entropy
  weighted by inverse label frequency on the training split as the thesis; the Table-3/4 analog,
  ROC AUC per label and their mean).

The embeddings are computed once per (weights, dataset, split) and cached, so an epoch costs nothing.

Recipes: ``lite`` sets the head to the exact minimiser of its loss (``optimizer="lstsq"``): least
squares for pose and landmarks, weighted logistic regression (scikit-learn) for expression, each with
a small ridge strength chosen on the ``val`` split.  ``adam`` is the thesis' procedure (Adam, lr 1e-3,
1000 steps), which stops short of that minimum on these correlated embeddings: on stills128's test
split fabnet-lite's pose read-out measured 6.31° after it against 4.87° at the minimum (2026-12-06).
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from x2studio.core.atomic import atomic_path
from x2studio.core.errors import InputError
from x2studio.models.fabnet import (EMBEDDERS, EXPRESSION_LABELS, EXPRESSION_THRESHOLDS, AttributeHead, FAbNetEncoder,
                                   to_model_input)
from x2studio.models.posemap import DEGREES

from ..data.faces import manifest_hash
from ..data.stills import StillImages
from ..loop import Recipe, resolve_weights
from .linear import ridge
from .posemap import TensorPairs, pose_errors

__all__ = ["AttributesTask", "embeddings", "landmark_targets", "landmark_error", "expression_targets", "expression_auc"]

log = logging.getLogger(__name__)

TARGETS = {"pose": 3, "lm68": 136, "lm5": 10, "expression": len(EXPRESSION_LABELS)}
# 5-point landmarks from the 68 (MAFL's): eye centres, nose tip, mouth corners
_LM5 = ((36, 37, 38, 39, 40, 41), (42, 43, 44, 45, 46, 47), (30,), (48,), (54,))


def landmark_targets(landmarks: np.ndarray, size: int, target: str) -> np.ndarray:
    """Landmarks ``(N, 68, 2)`` in pixels of a ``size``² still → flat targets in [-1, 1]."""
    lm = np.asarray(landmarks, np.float32)
    if target == "lm5":
        lm = np.stack([lm[:, list(ix)].mean(1) for ix in _LM5], 1)
    return (lm / size * 2 - 1).reshape(len(lm), -1)


def expression_targets(expression: np.ndarray) -> np.ndarray:
    """Expression parameters ``(N, 5)`` in [0, 1] → binary labels ``(N, 5)`` (``EXPRESSION_LABELS``)."""
    return (np.asarray(expression, np.float32) >= np.asarray(EXPRESSION_THRESHOLDS, np.float32)).astype(np.float32)


def expression_auc(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """ROC AUC per label (sklearn) and their mean; a label with one class only in ``labels`` is left out."""
    from sklearn.metrics import roc_auc_score

    out = {}
    for j, name in enumerate(EXPRESSION_LABELS):
        y = labels[:, j]
        if 0 < y.sum() < len(y):
            out[f"auc_{name.replace(' ', '_')}"] = float(roc_auc_score(y, logits[:, j]))
    if out:
        out["auc_mean"] = float(np.mean(list(out.values())))
    return out


def landmark_error(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """Mean point error as % of the inter-ocular distance (outer eye corners for 68 points, eye
    centres for 5), per sample; inputs flat ``(B, 2P)`` in any common unit."""
    p, t = pred.view(len(pred), -1, 2), true.view(len(true), -1, 2)
    if t.shape[1] == 68:
        iod = (t[:, 36] - t[:, 45]).norm(dim=1)
    else:
        iod = (t[:, 0] - t[:, 1]).norm(dim=1)
    return 100 * (p - t).norm(dim=2).mean(1) / iod.clamp_min(1e-6)


def _encoder(name: str, device: str = "cpu") -> tuple[torch.nn.Module, str]:
    """A frozen encoder and its identity for caches (the weights' hash, or random:SEED)."""
    from x2studio.models.registry import model_from_card

    if name.startswith("random"):
        seed = int(name.partition(":")[2] or 0)
        ref = resolve_weights("fabnet-lite").card.config if _has("fabnet-lite") else {"image_size": 64}
        torch.manual_seed(seed)
        enc = FAbNetEncoder(int(ref.get("image_size", 64)), int(ref.get("dim", 256)), int(ref.get("base", 32)),
                            int(ref.get("max_channels", 128)))
        # the cache key names the shape too: a random encoder follows fabnet-lite's, which changes when the
        # bundle does (64² → 128² on 2026-12-05), and embeddings cached for the old shape must not be reused
        shape = "-".join(str(v) for v in (enc.image_size, int(ref.get("dim", 256)), int(ref.get("base", 32)),
                                          int(ref.get("max_channels", 128))))
        return enc.eval().to(device), f"random{seed}-{shape}"
    entry = resolve_weights(name)
    arch = entry.card.architecture
    if arch in EMBEDDERS:
        return model_from_card(entry, device, allowed=EMBEDDERS).encoder, entry.card.sha256[:12]
    if arch == "x2face":
        x2 = model_from_card(entry, device, allowed=("x2face",))
        return _X2FaceEmbedder(x2), entry.card.sha256[:12]
    raise InputError(f"The weights '{name}' ({arch}) are not a face embedding.",
                     f"Use one of: {', '.join(EMBEDDERS)}, x2face, or random:SEED.")


def _has(name: str) -> bool:
    try:
        resolve_weights(name)
        return True
    except Exception:  # noqa: BLE001 - absent weights
        return False


class _X2FaceEmbedder(torch.nn.Module):
    """X2Face's driving vector as an embedding (the thesis' comparison row); inputs in [-1, 1]."""

    def __init__(self, x2face) -> None:
        super().__init__()
        self.x2face = x2face
        self.image_size, self.dim = int(x2face.image_size), int(x2face.driving.dim) if hasattr(x2face.driving, "dim") else 128

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.x2face.driving.vector((x + 1) / 2)


def embeddings(encoder: torch.nn.Module, tag: str, images, cache: Path, device: str = "cpu",
               batch: int = 128) -> np.ndarray:
    """``(N, dim)`` embeddings of ``images`` (``(N, S, S, 3) uint8``), cached under ``tag``."""
    path = Path(cache) / f"emb_{tag}.npy"
    if path.exists():
        out = np.load(path)
        if len(out) == len(images):
            return out
    size = int(encoder.image_size)
    chunks = []
    with torch.inference_mode():
        for k in range(0, len(images), batch):
            x = to_model_input(np.array(images[k:k + batch]), size).to(device)
            chunks.append(encoder(x).float().cpu().numpy())
    out = np.concatenate(chunks).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, out)
    return out


class AttributesTask:
    name = "attributes"
    architecture = "fabnet-head"

    def __init__(self) -> None:
        self.recipes = {
            "tiny": Recipe("tiny", steps=20, batch_size=8, eval_every=10, eval_batches=2, ckpt_every=10, keep=2,
                           optimizer="adam", lr=1e-2, options={"encoder": "random:0", "target": "pose"}),
            # the head's loss minimised exactly (see the module's doc); a second once the embeddings are cached
            "lite": Recipe("lite", steps=0, batch_size=128, optimizer="lstsq", lr=0.0, eval_batches=1000,
                           options={"encoder": "fabnet-lite", "target": "pose"}),
            # Adam 1e-3 as the thesis; seconds on a CPU once the embeddings are cached
            "adam": Recipe("adam", steps=1000, batch_size=128, optimizer="adam", lr=1e-3, eval_every=250,
                           eval_batches=4, ckpt_every=500, plateau_patience=2,
                           options={"encoder": "fabnet-lite", "target": "pose"}),
        }
        self.dim, self.target, self.encoder_name = 256, "pose", "fabnet-lite"

    def config(self, recipe: Recipe) -> dict:
        return {"dim": self.dim, "outputs": TARGETS[self.target], "target": self.target,
                "encoder": self.encoder_name}

    def build_model(self, recipe: Recipe) -> torch.nn.Module:
        return self.model_from_config(self.config(recipe))

    def model_from_config(self, config: dict) -> torch.nn.Module:
        return AttributeHead(**config)

    def dataset(self, data: Path, split: str, recipe: Recipe, cache: Path, job=None):
        self.target = str(recipe.options.get("target", "pose"))
        if self.target not in TARGETS:
            raise InputError(f"Unknown attribute '{self.target}'.", f"Targets: {', '.join(TARGETS)}.")
        self.encoder_name = str(recipe.options.get("encoder", "fabnet-lite"))
        enc, ident = _encoder(self.encoder_name)
        self.dim = int(enc.dim)
        stills = StillImages(data, split, int(enc.image_size), cache)
        emb = embeddings(enc, f"{ident}_{manifest_hash(data)[:12]}_{split}", stills.images, cache)
        if self.target == "pose":
            y = np.asarray(stills.labels["pose"], np.float32) / DEGREES
        elif self.target == "expression":
            y = expression_targets(stills.labels["expression"])
            if split == "train":    # inverse-frequency weights of the positives (the thesis' weighted BCE)
                pos = y.mean(0).clip(1e-3, 1 - 1e-3)
                self.pos_weight = torch.from_numpy(((1 - pos) / pos).astype(np.float32))
        else:
            y = landmark_targets(stills.labels["landmarks"], stills_size(data, split), self.target)
        return TensorPairs(emb, y)

    def loss(self, model, batch):
        e, y = batch
        pred = model(e)
        if self.target == "expression":
            w = getattr(self, "pos_weight", None)
            loss = F.binary_cross_entropy_with_logits(pred, y, pos_weight=None if w is None else w.to(pred.device))
            return loss, expression_auc(pred.detach().cpu().numpy(), y.cpu().numpy())
        loss = F.mse_loss(pred, y)
        if self.target == "pose":
            return loss, pose_errors(pred.detach() * DEGREES, y * DEGREES)
        return loss, {"error_iod_pct": float(landmark_error(pred.detach(), y).mean())}

    def solve(self, model: AttributeHead, train_ds: TensorPairs, val_ds: TensorPairs, recipe: Recipe) -> None:
        """Set ``model`` (BatchNorm + linear without bias) to the minimiser of its loss on ``train_ds``:
        the BatchNorm standardises with the training split's statistics, the linear layer holds the
        ridge (pose, landmarks) or weighted logistic (expression) coefficients on the standardised
        embedding, and the BatchNorm's shift carries their intercepts.  Ridge strengths are chosen on
        ``val_ds``; they land in the card (``export_metrics``)."""
        e, y = train_ds.a.double().numpy(), train_ds.b.double().numpy()
        mean, var = e.mean(0), e.var(0)
        bn_eps = model.bn.eps
        z = (e - mean) / np.sqrt(var + bn_eps)
        zv = (val_ds.a.double().numpy() - mean) / np.sqrt(var + bn_eps)
        yv = val_ds.b.double().numpy()
        if self.target == "expression":
            coef, intercept, self.strength = _logistic(z, y, zv, yv, getattr(self, "pos_weight", None))
        else:
            # strengths per sample, near OLS up to 0.1 (plain OLS is left out: dead units make it singular)
            self.strength, coef, _ = ridge(z, y - y.mean(0), (zv, yv - y.mean(0)),
                                           strengths=(1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1))
            intercept = y.mean(0)
        w = coef.T                                      # (outputs, dim)
        # the BatchNorm's shift β with w·β = intercept (the head has no bias): the least-norm solution,
        # exact while outputs ≤ dim and w has full rank
        beta = np.linalg.lstsq(w, intercept, rcond=None)[0]
        if not np.allclose(w @ beta, intercept, atol=1e-4):
            raise InputError(f"The {self.target} head cannot carry its intercept ({w.shape[0]} outputs on a "
                             f"{w.shape[1]}-D embedding).", "Use --recipe adam.")
        with torch.no_grad():
            model.bn.running_mean.copy_(torch.from_numpy(mean))
            model.bn.running_var.copy_(torch.from_numpy(var))
            model.bn.weight.fill_(1.0)
            model.bn.bias.copy_(torch.from_numpy(beta))
            model.fc.weight.copy_(torch.from_numpy(w))

    def export_metrics(self, model, recipe: Recipe) -> dict:
        return {"ridge": float(self.strength)} if recipe.optimizer == "lstsq" and hasattr(self, "strength") else {}

    def export(self, model, recipe: Recipe):
        return model.state_dict(), self.config(recipe)


def _logistic(z: np.ndarray, y: np.ndarray, zv: np.ndarray, yv: np.ndarray, pos_weight
              ) -> tuple[np.ndarray, np.ndarray, float]:
    """Per label, logistic regression on standardised embeddings with the positives weighted by
    ``pos_weight`` (the weighted BCE of the Adam recipe) and an L2 penalty whose strength (per
    sample, as ``ridge``'s) gives the lowest weighted BCE on the val split.  Returns (coefficients
    ``(dim, labels)``, intercepts ``(labels,)``, the strength)."""
    from sklearn.linear_model import LogisticRegression

    pw = np.ones(y.shape[1]) if pos_weight is None else np.asarray(pos_weight, np.float64)
    strengths = (1e-4, 1e-3, 1e-2, 1e-1)
    best = None
    for lam in strengths:
        coef, icpt, val_loss = np.zeros((z.shape[1], y.shape[1])), np.zeros(y.shape[1]), 0.0
        for j in range(y.shape[1]):
            t = y[:, j] > 0.5
            # one class only in training: nothing to learn, and a head without bias cannot hold a constant
            # logit (a zero row of the linear layer); it stays at logit 0, "don't know"
            if 0 < t.sum() < len(t):
                # sklearn's objective: C · Σ wᵢ·logloss + ½‖w‖² ⇔ mean loss + (λ/2)‖w‖² with C = 1 / (λ n)
                fit = LogisticRegression(C=1.0 / (lam * len(z)), class_weight={False: 1.0, True: float(pw[j])},
                                         max_iter=5000).fit(z, t)
                coef[:, j], icpt[j] = fit.coef_[0], fit.intercept_[0]
            logit = zv @ coef[:, j] + icpt[j]
            tv = yv[:, j] > 0.5
            val_loss += float(np.mean(pw[j] * tv * np.logaddexp(0, -logit) + (~tv) * np.logaddexp(0, logit)))
        if best is None or val_loss < best[0]:
            best = (val_loss, coef, icpt, lam)
    return best[1], best[2], best[3]


def table_tag(encoder: str) -> str:
    """A folder name for an encoder of the table: a registry name or ``random:SEED`` as it is, a weights
    file by its stem and a hash of its path (a path would put the head's run outside ``out``, and runs
    of one recipe export files of the same name)."""
    if encoder.endswith((".safetensors", ".json")):
        digest = hashlib.sha1(str(Path(encoder).resolve()).encode()).hexdigest()[:8]
        return f"{re.sub(r'[^A-Za-z0-9._-]+', '', Path(encoder).stem)}-{digest}"
    return re.sub(r"[^A-Za-z0-9._-]+", "", encoder) or "encoder"


def encoder_label(encoder: str) -> str:
    """How the table prints an encoder: a run's exported weights (``RUN/weights/NAME.safetensors``) by
    the run's folder, another file by its stem, a registry name as it is."""
    if not encoder.endswith((".safetensors", ".json")):
        return encoder
    path = Path(encoder)
    return path.parent.parent.name if path.parent.name == "weights" and path.parent.parent.name else path.stem


def stills_size(data: Path, split: str) -> int:
    """The pixel size of the stills as rendered (their landmarks are in those pixels)."""
    from x2studio.face.dataset import load_manifest

    return int(load_manifest(data).get("size") or 256)



TABLE_ENCODERS = ("fabnet-lite", "hierarchical-lite", "autoencoder-lite", "rotation-lite", "random:0", "x2face-lite")
TABLE_TARGETS = ("lm68", "lm5", "pose", "expression")


def attribute_table(data: str | Path, out: str | Path, encoders=TABLE_ENCODERS, targets=TABLE_TARGETS,
                    steps: int | None = None, device: str = "cpu", job=None, batch_size: int | None = None,
                    recipe: str = "lite") -> list[dict]:
    """The thesis' read-out tables on our data: for each encoder and target, a head fitted on the
    ``train`` split with ``recipe`` (``lite``: the loss' exact minimum; ``adam``: the thesis' Adam
    steps, ``steps`` of them if given) and measured on ``test``.  Each head is a run folder under
    ``out`` named by encoder, target and recipe; a finished one is reused, so an interrupted table
    resumes."""
    from dataclasses import replace

    from ..loop import evaluate_weights, train

    data, out = Path(data), Path(out)
    rows = []
    n, k = len(encoders) * len(targets), 0
    for enc in encoders:
        row: dict = {"encoder": enc}
        for target in targets:
            if job is not None:
                job.check()
                job.progress(k, n, f"{enc}: {target}")
            k += 1
            task = AttributesTask()
            if recipe not in task.recipes:
                raise InputError(f"The attribute heads have no recipe '{recipe}'.", f"Recipes: {', '.join(task.recipes)}.")
            rec = replace(task.recipes[recipe], options={"encoder": enc, "target": target})
            if steps and rec.optimizer != "lstsq":
                rec = replace(rec, steps=steps)
            if batch_size:
                rec = replace(rec, batch_size=batch_size, eval_batches=rec.eval_batches * 8)
            tag = f"{table_tag(enc)}-{target}-{recipe}"
            weights = out / tag / "weights" / f"table-{tag}.safetensors"
            if not weights.exists():
                train(task, rec, data, out / tag, device=device, weights_name=f"table-{tag}",
                      resume=(out / tag / "run.json").exists() and rec.optimizer != "lstsq")
            row[target] = evaluate_weights(task, str(weights), data, split="test", device=device,
                                           options={"encoder": enc, "target": target})["metrics"]
        rows.append(row)
    return rows
