"""Drive a source face with a head pose (yaw, pitch, roll) instead of a driving face (thesis §3.4.1).

The source is driven by itself, with its driving vector moved by the pose change::

    v = v_src + f_p→v(p) − f_p→v(p_src),    p_src = f_v→p(v_src)

(see :func:`x2studio.models.posemap.pose_delta` for why the difference of two f_p→v images).  The
mappings belong to one X2Face model: the weights ``NAME-v2p`` and ``NAME-p2v`` go with X2Face
weights ``NAME`` (the bundled ``x2face-lite`` has them).

- :class:`PoseController` — ``source_pose()``, ``render(pose)`` (a generated crop), ``estimate(crop)``
  (f_v→p on any face crop).
- :func:`sweep_poses` / :func:`export_sweep` — an animation along one axis (there and back, as the
  thesis' Fig. 6), written as MP4 or GIF, atomically.
- :func:`closed_loop` — command poses, measure the generated faces' poses with f_v→p and with an
  estimator that is not part of X2Face (the ``headpose`` CNN), and report both.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from ..core.atomic import atomic_path
from ..core.errors import InputError
from ..core.jobs import Job
from ..media.video import VideoWriter
from ..core.poses import AXES, LIMITS
from ..models.posemap import DEGREES, pose_delta
from ..models.registry import model_from_card
from ..weights.registry import WeightsRegistry
from .reenact import Reenactor

__all__ = ["PoseController", "LIMITS", "sweep_poses", "export_sweep", "closed_loop", "LoopRow", "HeadPoseEstimator"]

log = logging.getLogger(__name__)

SWEEP_SUFFIXES = (".mp4", ".gif")


def load_mapping(registry: WeightsRegistry, x2face: str, kind: str, name: str | None = None):
    """The mapping ``kind`` (v2p, p2v, a2v) that belongs to the X2Face weights ``x2face``: by default
    the weights named ``<x2face>-<kind>``; refused when its card names other X2Face weights."""
    name = name or f"{x2face}-{kind}"
    what = "audio mapping" if kind == "a2v" else "pose mapping"
    if name not in registry.names():
        how = (f"Fit one: x2studio train audio-map --data TRACKS --weights {x2face} --name {name}" if kind == "a2v"
               else f"Train it: python -m training train x2face-{kind} --option x2face={x2face} … --name {name}")
        raise InputError(f"The X2Face weights '{x2face}' have no {what} '{name}'.",
                         f"{how} (or use the bundled x2face-lite).")
    entry = registry.get(name)
    trained_for = str(entry.card.recipe.get("options", {}).get("x2face", ""))
    if trained_for and Path(trained_for).stem != x2face and trained_for != x2face:
        raise InputError(f"The {what} '{name}' was made for the X2Face weights '{trained_for}', not '{x2face}'.",
                         "Make it again for these weights.")
    return model_from_card(entry, allowed=(f"x2face-{kind}",))


def clamp_pose(pose: Sequence[float]) -> np.ndarray:
    p = np.asarray(pose, np.float64).reshape(-1)
    if p.shape != (3,) or not np.all(np.isfinite(p)):
        raise InputError(f"A pose is three finite angles (yaw, pitch, roll), not {list(pose)}.")
    return np.array([np.clip(v, *LIMITS[a]) for v, a in zip(p, AXES)])


class PoseController:
    """Pose control of a :class:`Reenactor`'s sources (set them first)."""

    def __init__(self, reenactor: Reenactor, registry: WeightsRegistry | None = None) -> None:
        registry = registry or WeightsRegistry()
        self.reenactor = reenactor
        dev = reenactor.device
        self.v2p = load_mapping(registry, reenactor.weights, "v2p").to(dev)
        self.p2v = load_mapping(registry, reenactor.weights, "p2v").to(dev)
        self._p_src: torch.Tensor | None = None
        with torch.inference_mode():
            # J (dim × 3): f_p→v's change per degree of each angle; M: f_v→p's read-out of J
            self._J = pose_delta(self.p2v, torch.eye(3, device=dev), torch.zeros(3, 3, device=dev)).T
            self._M_inv = torch.linalg.inv(self.v2p.fc.weight @ self._J * DEGREES)

    def strip_pose(self, v_base: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """``d`` (changes of ``v_base``, ``(B, dim)``) less the head-pose change f_v→p reads in them,
        taken out along f_p→v's directions: f_v→p(v_base + result) = f_v→p(v_base) exactly.

        (Subtracting f_p→v of the pose change would take out the wrong amount: f_p→v carries the
        sliders' closed-loop gain, calibrated on generated faces, and f_v→p∘f_p→v is not the identity.)"""
        with torch.inference_mode():
            dp = self.v2p(v_base + d) - self.v2p(v_base)
            return d - (dp @ self._M_inv.T) @ self._J.T

    def _ready(self) -> Reenactor:
        r = self.reenactor
        if r.embedded is None or r.v_source is None:
            raise InputError("Choose a source face first.")
        return r

    def source_pose(self) -> np.ndarray:
        """f_v→p of the (first) source: its yaw, pitch, roll in degrees."""
        r = self._ready()
        with torch.inference_mode():
            self._p_src = self.v2p(r.v_source)
        return self._p_src[0].cpu().numpy().astype(np.float64)

    def vector(self, pose: Sequence[float]) -> torch.Tensor:
        """The driving vector that gives the source the pose ``pose`` (degrees; clamped to LIMITS)."""
        r = self._ready()
        p = torch.tensor(clamp_pose(pose), dtype=torch.float32, device=r.device)[None]
        with torch.inference_mode():
            if self._p_src is None:
                self.source_pose()
            return r.v_source + pose_delta(self.p2v, p, self._p_src)

    def render(self, pose: Sequence[float]) -> np.ndarray:
        """The source face at ``pose``: a generated crop (S×S RGB)."""
        r = self._ready()
        v = self.vector(pose)
        with torch.inference_mode():
            return r.to_image(r.generate(v)[0])

    def render_many(self, poses: Sequence[Sequence[float]], batch: int = 16) -> list[np.ndarray]:
        r = self._ready()
        out = []
        for k in range(0, len(poses), batch):
            v = torch.cat([self.vector(p) for p in poses[k:k + batch]])
            with torch.inference_mode():
                gen = r.generate(v)
            out += [r.to_image(g) for g in gen]
        return out

    def estimate(self, crop: np.ndarray) -> np.ndarray:
        """f_v→p of any face crop's driving vector: (yaw, pitch, roll) in degrees."""
        r = self.reenactor
        with torch.inference_mode():
            return self.v2p(r.model.driving.vector(r.to_tensor([fit_crop(crop, r.size)])))[0].cpu().numpy().astype(np.float64)


def fit_crop(crop: np.ndarray, size: int) -> np.ndarray:
    import cv2

    return crop if crop.shape[:2] == (size, size) else cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)


def sweep_poses(start: Sequence[float], axis: str, lo: float | None = None, hi: float | None = None,
                frames: int = 50) -> list[np.ndarray]:
    """Poses from ``start`` along ``axis`` out to ``lo``, across to ``hi`` and back to ``start``."""
    if axis not in AXES:
        raise InputError(f"Unknown pose axis '{axis}'.", f"Use one of: {', '.join(AXES)}.")
    if frames < 4:
        raise InputError("A sweep needs at least 4 frames.")
    k = AXES.index(axis)
    lo = LIMITS[axis][0] * 0.75 if lo is None else float(lo)
    hi = LIMITS[axis][1] * 0.75 if hi is None else float(hi)
    if not lo < hi:
        raise InputError(f"The sweep range {lo:g}…{hi:g} is empty.", "Give a lower value below the upper one.")
    base = clamp_pose(start)
    t = np.linspace(0.0, 1.0, frames, endpoint=False)
    # start → lo → hi → start along a smooth (cosine) path
    c = base[k]
    vals = np.interp(t, [0, 0.25, 0.75, 1.0], [c, lo, hi, c])
    out = []
    for v in vals:
        p = base.copy()
        p[k] = v
        out.append(clamp_pose(p))
    return out


def export_sweep(controller: PoseController, axis: str, out: str | Path, *, lo: float | None = None,
                 hi: float | None = None, seconds: float = 4.0, fps: float = 25.0, paste: bool = True,
                 start: Sequence[float] | None = None, job: Job | None = None) -> Path:
    """Write the sweep animation (MP4 or GIF, by ``out``'s suffix), atomically."""
    out = Path(out)
    if out.suffix.lower() not in SWEEP_SUFFIXES:
        raise InputError(f"'{out.name}': a sweep is written as MP4 or GIF.", "Use a name ending in .mp4 or .gif.")
    if not out.parent.is_dir():
        raise InputError(f"The folder '{out.parent}' does not exist.")
    if not 0.5 <= seconds <= 120 or not 1 <= fps <= 60:
        raise InputError("A sweep lasts 0.5 to 120 s at 1 to 60 frames per second.")
    job = job or Job()
    r = controller._ready()
    start = controller.source_pose() if start is None else start
    poses = sweep_poses(start, axis, lo, hi, max(4, int(round(seconds * fps))))
    frames: list[np.ndarray] = []
    for k in range(0, len(poses), 16):
        job.progress(k, len(poses), f"sweeping {axis}")
        for crop in controller.render_many(poses[k:k + 16]):
            frames.append(r.composite(crop) if paste else crop)
    job.progress(len(poses), len(poses), "writing")
    h, w = frames[0].shape[:2]
    if out.suffix.lower() == ".gif":
        from PIL import Image

        images = [Image.fromarray(f) for f in frames]
        with atomic_path(out) as tmp:
            images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], loop=0,
                           duration=int(round(1000 / fps)))
    else:
        size = (w - w % 2, h - h % 2)
        with VideoWriter(out, fps, size) as vw:
            for f in frames:
                vw.write(np.ascontiguousarray(f[:size[1], :size[0]]))
    return out


class HeadPoseEstimator:
    """The supervised head-pose CNN (``headpose`` weights): face crop → (yaw, pitch, roll)."""

    def __init__(self, weights: str = "headpose-lite", device: str = "cpu", registry: WeightsRegistry | None = None) -> None:
        entry = (registry or WeightsRegistry()).get(weights)
        self.model = model_from_card(entry, device, allowed=("vgg11-headpose",))
        self.size = int(self.model.image_size)
        self.device = torch.device(device)

    def __call__(self, crop: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(fit_crop(crop, self.size).astype(np.float32) / 255.0).permute(2, 0, 1)[None].to(self.device)
        with torch.inference_mode():
            return self.model(x)[0].cpu().numpy().astype(np.float64)


@dataclass
class LoopRow:
    axis: str
    commanded: float              # the commanded angle on ``axis`` (the others held at the source's)
    by_v2p: float                 # achieved, as f_v→p reads the generated face
    by_estimator: float           # achieved, as the independent estimator reads it


@dataclass
class LoopReport:
    source_pose: np.ndarray
    source_by_estimator: np.ndarray
    rows: list[LoopRow] = field(default_factory=list)

    def slopes(self) -> dict[str, tuple[float, float]]:
        """Per axis, the least-squares slope of achieved against commanded change (1 = perfect
        control), by f_v→p and by the estimator."""
        out = {}
        for a in AXES:
            rows = [r for r in self.rows if r.axis == a]
            if len(rows) < 2:
                continue
            c = np.array([r.commanded for r in rows])
            k = AXES.index(a)
            dv = np.array([r.by_v2p for r in rows]) - self.source_pose[k]
            de = np.array([r.by_estimator for r in rows]) - self.source_by_estimator[k]
            dc = c - self.source_pose[k]
            out[a] = (float(dc @ dv / (dc @ dc)), float(dc @ de / (dc @ dc)))
        return out

    def table(self) -> str:
        lines = [f"source pose (f_v→p): yaw {self.source_pose[0]:+.1f}, pitch {self.source_pose[1]:+.1f}, "
                 f"roll {self.source_pose[2]:+.1f}; by the estimator: yaw {self.source_by_estimator[0]:+.1f}, "
                 f"pitch {self.source_by_estimator[1]:+.1f}, roll {self.source_by_estimator[2]:+.1f}",
                 f"{'axis':<6}{'commanded':>10}{'f_v→p':>9}{'estimator':>11}"]
        for r in self.rows:
            lines.append(f"{r.axis:<6}{r.commanded:>+10.1f}{r.by_v2p:>+9.1f}{r.by_estimator:>+11.1f}")
        for a, (sv, se) in self.slopes().items():
            lines.append(f"{a}: achieved/commanded change {sv:.2f} (f_v→p), {se:.2f} (estimator)")
        return "\n".join(lines)


CHECK_GRID = {"yaw": (-30, -20, -10, 0, 10, 20, 30), "pitch": (-20, -10, 0, 10, 20), "roll": (-20, -10, 0, 10, 20)}


def closed_loop(controller: PoseController, estimator: Callable[[np.ndarray], np.ndarray],
                grid: dict[str, Sequence[float]] = CHECK_GRID) -> LoopReport:
    """Command each angle of ``grid`` on one axis at a time (the other two held at the source's own),
    generate, and read the pose back with f_v→p and with ``estimator``."""
    r = controller._ready()
    base = controller.source_pose()
    report = LoopReport(base, estimator(r.sources[0].crop))
    for axis, values in grid.items():
        k = AXES.index(axis)
        poses = []
        for v in values:
            p = base.copy()
            p[k] = v
            poses.append(p)
        for v, crop in zip(values, controller.render_many(poses)):
            report.rows.append(LoopRow(axis, float(v), float(controller.estimate(crop)[k]), float(estimator(crop)[k])))
    return report
