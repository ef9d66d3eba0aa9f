"""Head-pose tasks (thesis §3.4.1): X2Face's pose mappings, and a supervised reference.

- ``x2face-v2p`` — f_v→p, driving vector → (yaw, pitch, roll), L1 loss, on the labelled stills of a
  rendered dataset (``--data`` a folder made with ``--stills``); recipe ``lite`` solves for the loss'
  exact minimum, ``adam`` takes steps.  Its evaluation on held-out stills is the thesis' Table 2
  analog: MAE in degrees per angle and their mean.
- ``x2face-p2v`` — f_p→v, pose → driving vector (linear + BatchNorm), on face tracks (``--data`` any
  face-track folder, real footage included: the poses come from f_v→p, no labels are needed).
- ``headpose`` — a CNN (VGG-11 layout) trained on the same stills with pose labels: the supervised
  reference of Table 2 (the thesis quotes KEPLER), and the pose estimator that is not part of
  X2Face for the closed-loop check of the pose sliders.
- ``expression`` — the same CNN on the stills' expression labels: the reader of mouth opening in
  speech-driven faces (:mod:`x2studio.pipelines.speech`), also not part of X2Face.

The mappings belong to one X2Face model (option ``x2face``, default the bundled ``x2face-lite``;
recorded in the card's recipe): its driving encoder turns every image into a vector once, and the
vectors are cached (keyed by the weights' and the dataset's hashes), so an epoch costs nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from x2studio.core.atomic import atomic_path
from x2studio.models.posemap import AXES, DEGREES, PoseFromVector, VectorFromPose
from x2studio.models.vgg import ExpressionVGG11, PoseVGG11

from ..data.faces import FaceFrames, manifest_hash
from ..data.stills import StillImages
from ..loop import Recipe, resolve_weights

__all__ = ["PoseFromVectorTask", "VectorFromPoseTask", "HeadPoseTask", "ExpressionTask", "driving_vectors", "pose_errors"]

log = logging.getLogger(__name__)
DEFAULT_X2FACE = "x2face-lite"


def pose_errors(pred: torch.Tensor, pose: torch.Tensor) -> dict[str, float]:
    """Mean absolute error in degrees per angle and their mean (Table 2's columns)."""
    err = (pred - pose).abs().mean(0)
    out = {f"mae_{a}": float(e) for a, e in zip(AXES, err)}
    out["mae"] = float(err.mean())
    return out


def driving_vectors(entry, images, cache: Path, tag: str, device: str = "cpu", batch: int = 64,
                    job=None) -> np.ndarray:
    """Driving vectors ``(N, dim) float32`` of ``images`` (``(N, S, S, 3) uint8``, S the model's size)
    under the X2Face weights ``entry``; cached in ``cache`` under ``tag`` and the weights' hash."""
    from x2studio.models.registry import model_from_card

    path = Path(cache) / f"vectors_{entry.card.sha256[:12]}_{tag}.npy"
    if path.exists():
        out = np.load(path)
        if len(out) == len(images):
            return out
    model = model_from_card(entry, device, allowed=("x2face",))
    chunks = []
    with torch.inference_mode():
        for k in range(0, len(images), batch):
            if job is not None:
                job.progress(k, len(images), "driving vectors")
            x = torch.from_numpy(np.array(images[k:k + batch])).to(device)
            x = x.permute(0, 3, 1, 2).float().div_(255.0)
            chunks.append(model.driving.vector(x).float().cpu().numpy())
    out = np.concatenate(chunks).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, out)
    return out


def _x2face_card(recipe: Recipe):
    return resolve_weights(str(recipe.options.get("x2face", DEFAULT_X2FACE)))


class TensorPairs:
    """Items ``(a[i], b[i])`` as float tensors."""

    def __init__(self, a: np.ndarray, b: np.ndarray) -> None:
        self.a, self.b = torch.from_numpy(np.asarray(a, np.float32)), torch.from_numpy(np.asarray(b, np.float32))

    def __len__(self) -> int:
        return len(self.a)

    def __getitem__(self, i: int):
        return self.a[i], self.b[i]


class PoseFromVectorTask:
    name = "x2face-v2p"
    architecture = "x2face-v2p"

    def __init__(self) -> None:
        self.recipes = {
            "tiny": Recipe("tiny", steps=20, batch_size=8, eval_every=10, eval_batches=2, ckpt_every=10, keep=2,
                           optimizer="adam", lr=1e-2),
            # the bundled mappings (how they were fitted, and what the alternatives measured):
            # docs/measurements.md#posemap-lite
            "lite": Recipe("lite", steps=0, batch_size=128, optimizer="lstsq", lr=0.0, eval_batches=1000,
                           options={"x2face": DEFAULT_X2FACE}),
            # the same loss by Adam steps (the thesis' procedure; the bundled mapping until 2026-12-06)
            "adam": Recipe("adam", steps=4000, batch_size=128, optimizer="adam", lr=3e-3, eval_every=500,
                           eval_batches=4, ckpt_every=1000, plateau_patience=2,
                           options={"x2face": DEFAULT_X2FACE}),
        }
        self.alpha = None
        self.dim = 128

    def config(self, recipe: Recipe) -> dict:
        return {"dim": self.dim}

    def build_model(self, recipe: Recipe) -> torch.nn.Module:
        return self.model_from_config(self.config(recipe))

    def model_from_config(self, config: dict) -> torch.nn.Module:
        return PoseFromVector(**config)

    def dataset(self, data: Path, split: str, recipe: Recipe, cache: Path, job=None):
        entry = _x2face_card(recipe)
        self.dim = int(entry.card.config.get("dim", 128))
        stills = StillImages(data, split, int(entry.card.config["image_size"]), cache)
        v = driving_vectors(entry, stills.images, cache,
                            f"stills_{manifest_hash(data)[:12]}_{split}", job=job)
        return TensorPairs(v, stills.labels["pose"])

    def loss(self, model, batch):
        v, pose = batch
        pred = model(v)
        return F.l1_loss(pred, pose), pose_errors(pred.detach(), pose)

    def solve(self, model: PoseFromVector, train_ds: TensorPairs, val_ds: TensorPairs, recipe: Recipe) -> None:
        """Set ``model`` to the minimiser of the mean absolute error on ``train_ds``: one median
        regression per angle (scikit-learn's ``QuantileRegressor``, HiGHS' linear programming), on
        standardised vectors with an L1 penalty on the coefficients whose strength (0 to 1, per sample;
        the larger ones keep a few stills from being fitted exactly) gives the lowest MAE on ``val_ds``.
        The standardisation is folded into the layer.  Adam steps on the same loss stop short of this
        minimum (the vectors' units are correlated)."""
        from sklearn.linear_model import QuantileRegressor

        v, y = train_ds.a.double().numpy(), train_ds.b.double().numpy()
        vv, yv = val_ds.a.double().numpy(), val_ds.b.double().numpy()
        mean, scale = v.mean(0), v.std(0)
        scale[scale < 1e-8] = 1.0            # a unit that never varies gets no weight either way
        z, zv = (v - mean) / scale, (vv - mean) / scale
        best = None
        for alpha in (0.0, 1e-4, 1e-3, 1e-2, 1e-1, 1.0):
            fits = [QuantileRegressor(quantile=0.5, alpha=alpha, solver="highs").fit(z, y[:, j])
                    for j in range(y.shape[1])]
            coef = np.stack([f.coef_ for f in fits])
            icpt = np.array([f.intercept_ for f in fits])
            err = float(np.abs(zv @ coef.T + icpt - yv).mean())
            if best is None or err < best[0]:
                best = (err, alpha, coef, icpt)
        _, self.alpha, coef, icpt = best
        w = coef / scale                      # pose = v·wᵀ + b, in degrees
        b = icpt - w @ mean
        with torch.no_grad():
            model.fc.weight.copy_(torch.from_numpy(w / DEGREES))
            model.fc.bias.copy_(torch.from_numpy(b / DEGREES))

    def export_metrics(self, model, recipe: Recipe) -> dict:
        return {"l1_penalty": float(self.alpha)} if recipe.optimizer == "lstsq" and self.alpha is not None else {}

    def export(self, model, recipe: Recipe):
        return model.state_dict(), {"dim": model.dim}


class VectorFromPoseTask:
    name = "x2face-p2v"
    architecture = "x2face-p2v"

    def __init__(self) -> None:
        self.recipes = {
            "tiny": Recipe("tiny", steps=20, batch_size=8, eval_every=10, eval_batches=2, ckpt_every=10, keep=2,
                           optimizer="adam", lr=1e-2, frame_step=2),
            "lite": Recipe("lite", steps=3000, batch_size=256, optimizer="adam", lr=3e-3, eval_every=500,
                           eval_batches=4, ckpt_every=1000, frame_step=2, plateau_patience=2,
                           options={"x2face": DEFAULT_X2FACE, "v2p": "x2face-lite-v2p"}),
        }
        self.dim = 128
        self._calibration = None

    def config(self, recipe: Recipe) -> dict:
        return {"dim": self.dim}

    def build_model(self, recipe: Recipe) -> torch.nn.Module:
        return self.model_from_config(self.config(recipe))

    def model_from_config(self, config: dict) -> torch.nn.Module:
        return VectorFromPose(**config)

    def dataset(self, data: Path, split: str, recipe: Recipe, cache: Path, job=None):
        from x2studio.core.errors import InputError
        from x2studio.models.registry import model_from_card

        entry = _x2face_card(recipe)
        self.dim = int(entry.card.config.get("dim", 128))
        v2p_name = str(recipe.options.get("v2p", ""))
        if not v2p_name:
            raise InputError("f_p→v is learnt through f_v→p.", "Train 'x2face-v2p' first and pass --option v2p=NAME.")
        v2p = model_from_card(resolve_weights(v2p_name), allowed=("x2face-v2p",))
        frames = FaceFrames(data, split, int(entry.card.config["image_size"]), cache, recipe.frame_step, job=job)
        images = np.concatenate([np.asarray(a) for a in frames.arrays])
        if split != "train":    # faces for the closed-loop calibration at export
            self._calibration = (entry, v2p, images[np.linspace(0, len(images) - 1, min(32, len(images))).astype(int)])
        v = driving_vectors(entry, images, cache,
                            f"tracks_{manifest_hash(data)[:12]}_{split}_s{recipe.frame_step}", job=job)
        with torch.inference_mode():
            pose = v2p(torch.from_numpy(v)).numpy()
        return TensorPairs(pose, v)

    def loss(self, model, batch):
        pose, v = batch
        pred = model(pose)
        mse = F.mse_loss(pred, v)
        r2 = 1.0 - float(((pred.detach() - v) ** 2).sum() / ((v - v.mean(0)) ** 2).sum().clamp_min(1e-8))
        return mse, {"r2": r2}

    def export(self, model, recipe: Recipe):
        """The trained mapping, with its closed-loop gain measured on validation faces."""
        from x2studio.models.posemap import closed_loop_gain
        from x2studio.models.registry import model_from_card

        if self._calibration is not None:
            entry, v2p, images = self._calibration
            dev = next(model.parameters()).device
            x2face = model_from_card(entry, str(dev), allowed=("x2face",))
            crops = torch.from_numpy(np.array(images)).to(dev).permute(0, 3, 1, 2).float().div_(255.0)
            gain = closed_loop_gain(x2face, v2p.to(dev), model, crops)
            log.info("closed-loop gain (yaw, pitch, roll): %s", [round(float(g), 2) for g in gain])
        return model.state_dict(), {"dim": model.dim}


class _FlippedStills:
    """Stills and their mirror images: ``2 N`` items ``(uint8 CHW, label)``; a mirrored label is
    multiplied by ``mirror`` (pose: yaw and roll change sign; expression: unchanged)."""

    def __init__(self, stills: StillImages, flip: bool, key: str = "pose",
                 mirror: tuple[float, ...] = (-1.0, 1.0, -1.0)) -> None:
        self.stills, self.flip = stills, flip
        self.labels = torch.from_numpy(np.asarray(stills.labels[key], np.float32))
        self.mirror = torch.tensor(mirror)

    def __len__(self) -> int:
        return len(self.stills) * (2 if self.flip else 1)

    def __getitem__(self, i: int):
        n = len(self.stills)
        img = np.asarray(self.stills.images[i % n])
        label = self.labels[i % n]
        if i >= n:
            img = img[:, ::-1]
            label = label * self.mirror
        return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))), label


class HeadPoseTask:
    name = "headpose"
    architecture = "vgg11-headpose"

    def __init__(self) -> None:
        self.recipes = {
            "tiny": Recipe("tiny", steps=12, batch_size=8, image_size=32, eval_every=6, eval_batches=2, ckpt_every=6,
                           keep=2, model={"base": 4, "fc": 32}),
            "lite": Recipe("lite", steps=4000, batch_size=32, image_size=64, optimizer="adam", lr=3e-4,
                           eval_every=500, eval_batches=8, ckpt_every=500, export_dtype="float16",
                           model={"base": 16, "fc": 256}),
        }

    def config(self, recipe: Recipe) -> dict:
        return {"image_size": recipe.image_size, **recipe.model}

    def build_model(self, recipe: Recipe) -> torch.nn.Module:
        return self.model_from_config(self.config(recipe))

    def model_from_config(self, config: dict) -> torch.nn.Module:
        return PoseVGG11(**config)

    def dataset(self, data: Path, split: str, recipe: Recipe, cache: Path, job=None):
        return _FlippedStills(StillImages(data, split, recipe.image_size, cache), flip=split == "train")

    def on_device(self, batch):
        x, pose = batch
        return x.float().div_(255.0), pose

    def loss(self, model, batch):
        x, pose = batch
        pred = model(x)
        return F.l1_loss(pred, pose), pose_errors(pred.detach(), pose)

    def export(self, model, recipe: Recipe):
        return model.state_dict(), self.config(recipe)


class ExpressionTask(HeadPoseTask):
    """``expression`` — the same CNN regressing the five expression parameters of the stills (L1):
    the mouth-opening reader of the speech-driven faces (not part of X2Face)."""

    name = "expression"
    architecture = "vgg11-expression"

    def model_from_config(self, config: dict) -> torch.nn.Module:
        return ExpressionVGG11(**config)

    def dataset(self, data: Path, split: str, recipe: Recipe, cache: Path, job=None):
        return _FlippedStills(StillImages(data, split, recipe.image_size, cache), flip=split == "train",
                              key="expression", mirror=(1.0,) * len(ExpressionVGG11.NAMES))

    def loss(self, model, batch):
        x, expr = batch
        pred = model(x)
        err = (pred.detach() - expr).abs().mean(0)
        return F.l1_loss(pred, expr), {f"mae_{n}": float(e) for n, e in zip(ExpressionVGG11.NAMES, err)}


def pose_check(data: Path, split: str = "test", x2face: str = DEFAULT_X2FACE, estimator: str = "headpose-lite",
               sources: int = 8, cache: Path | None = None, device: str = "cpu") -> dict:
    """The closed-loop check of the pose sliders on held-out stills: near-frontal stills of ``split``
    (|yaw| ≤ 20°, |pitch| ≤ 10°) are each commanded over :data:`x2studio.pipelines.pose.CHECK_GRID`
    (one axis at a time, the others at the source's own pose); the generated faces' poses are read
    with f_v→p and with the ``headpose`` CNN (not part of X2Face).  Returns, per axis and commanded
    angle, the mean and spread of both read-outs, and per axis the slope achieved/commanded."""
    from x2studio.core import paths
    from x2studio.core.errors import InputError
    from x2studio.pipelines.pose import HeadPoseEstimator, PoseController, closed_loop
    from x2studio.pipelines.reenact import Reenactor, Source

    r = Reenactor(x2face, device=device, detector="haar")
    stills = StillImages(data, split, r.size, Path(cache) if cache else paths.cache_dir() / "training")
    pose = stills.labels["pose"]
    pick = [i for i in range(len(pose)) if abs(pose[i, 0]) <= 20 and abs(pose[i, 1]) <= 10][:sources]
    if not pick:
        raise InputError(f"The '{split}' stills have no near-frontal face to start from.", "Generate more stills.")
    est = HeadPoseEstimator(estimator, device=device)
    reports = []
    for i in pick:
        img = np.asarray(stills.images[i])
        r.set_sources([Source(img, np.array([0.0, 0.0, r.size, r.size], np.float32), img, f"still {i}")])
        reports.append(closed_loop(PoseController(r), est))
    rows: dict[tuple[str, float], list[tuple[float, float]]] = {}
    for rep in reports:
        for row in rep.rows:
            rows.setdefault((row.axis, row.commanded), []).append((row.by_v2p, row.by_estimator))
    table = []
    for (axis, commanded), vals in rows.items():
        a = np.array(vals)
        table.append({"axis": axis, "commanded": commanded, "v2p_mean": float(a[:, 0].mean()),
                      "v2p_sd": float(a[:, 0].std()), "estimator_mean": float(a[:, 1].mean()),
                      "estimator_sd": float(a[:, 1].std())})
    slopes = {a: [float(np.mean([rep.slopes()[a][k] for rep in reports])) for k in (0, 1)] for a in AXES}
    true_src = pose[pick]
    src_err_v2p = np.abs(np.stack([rep.source_pose for rep in reports]) - true_src).mean(0)
    src_err_est = np.abs(np.stack([rep.source_by_estimator for rep in reports]) - true_src).mean(0)
    return {"sources": len(pick), "x2face": x2face, "estimator": estimator, "rows": table,
            "slope_v2p": {a: s[0] for a, s in slopes.items()}, "slope_estimator": {a: s[1] for a, s in slopes.items()},
            "source_mae_v2p": src_err_v2p.tolist(), "source_mae_estimator": src_err_est.tolist()}
