"""Head-pose control of X2Face through its driving vector (thesis §3.4.1; PAPERS.md §1 "Pose control").

- :class:`PoseFromVector` — f_v→p: one linear layer with bias from the 128-D driving vector to
  (yaw, pitch, roll) in degrees, trained with an L1 loss on labelled stills.
- :class:`VectorFromPose` — f_p→v: a linear layer with bias followed by BatchNorm, from a pose to a
  driving vector, trained on face tracks whose poses come from f_v→p (no labels needed).
- :func:`pose_delta` — the change of driving vector that moves a face from one pose to another.

Pose convention (as the face data): yaw, pitch, roll in degrees; 0, 0, 0 faces the camera.
Angles enter and leave the layers divided by :data:`DEGREES` so that the layers work on numbers of
order one.  No IO here.
"""

from __future__ import annotations

import torch
from torch import nn

from ..core.poses import AXES

__all__ = ["PoseFromVector", "VectorFromPose", "pose_delta", "closed_loop_gain", "DEGREES", "AXES"]

DEGREES = 30.0


class PoseFromVector(nn.Module):
    """f_v→p: driving vectors ``(B, dim)`` → poses ``(B, 3)`` in degrees."""

    def __init__(self, dim: int = 128) -> None:
        super().__init__()
        self.fc = nn.Linear(dim, 3)
        self.dim = dim

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return self.fc(v) * DEGREES


class VectorFromPose(nn.Module):
    """f_p→v: poses ``(B, 3)`` in degrees → driving vectors ``(B, dim)`` (linear + BatchNorm).

    ``gain`` (one per angle, 1 while training) is the closed-loop calibration of
    :func:`closed_loop_gain`: regressed on real frames, a pose change moves the driving vector along
    the average direction, and the generator turns the face by only a fraction of the command; the
    gain, measured after training, scales the command so that the generated face's pose (as f_v→p
    reads it) follows the sliders."""

    def __init__(self, dim: int = 128) -> None:
        super().__init__()
        self.fc = nn.Linear(3, dim)
        self.bn = nn.BatchNorm1d(dim)
        self.register_buffer("gain", torch.ones(3))
        self.dim = dim

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        return self.bn(self.fc(p * self.gain / DEGREES))


def pose_delta(p2v: VectorFromPose, p_to: torch.Tensor, p_from: torch.Tensor) -> torch.Tensor:
    """f_p→v(p_to) − f_p→v(p_from): the driving-vector change for a pose change (eval mode).

    The thesis writes eq. (1) as f_p→v(p_drv − p_src).  f_p→v is affine, so that literal form also
    adds f_p→v(0) (the vector of an average frontal face) to the source's vector; the difference of
    the two images is the pose change alone, which is what the equation means: with equal poses
    the source is reproduced exactly.
    """
    return p2v(p_to) - p2v(p_from)


@torch.no_grad()
def closed_loop_gain(x2face: nn.Module, v2p: PoseFromVector, p2v: VectorFromPose, crops: torch.Tensor,
                     step: tuple[float, float, float] = (20.0, 15.0, 15.0), rounds: int = 3,
                     max_gain: float = 4.0) -> torch.Tensor:
    """Per angle, the gain that makes a commanded pose change come out of X2Face at full size.

    ``crops`` ``(N, 3, S, S)`` in [0, 1] (any faces: no labels are used).  Each face is driven by
    itself with its pose moved by ± ``step`` on one axis; f_v→p reads the pose of the generated
    faces; the slope achieved/commanded updates the gain (``gain /= slope``), ``rounds`` times,
    as the response is not linear; gains stay within [1, ``max_gain``] (beyond, faces tear).
    Sets and returns ``p2v.gain``."""
    x2face.eval(), v2p.eval(), p2v.eval()
    emb = x2face.embed(crops)
    v = x2face.driving.vector(crops)
    p = v2p(v)
    gain = torch.ones(3, device=crops.device)
    for _ in range(rounds):
        p2v.gain.copy_(gain)
        slopes = []
        for k in range(3):
            d = torch.zeros(3, device=crops.device)
            d[k] = step[k]
            read = [v2p(x2face.driving.vector(x2face.generate(emb, v + pose_delta(p2v, p + s * d, p))))[:, k]
                    for s in (1.0, -1.0)]
            slopes.append(float((read[0] - read[1]).mean() / (2 * step[k])))
        gain = (gain / torch.tensor(slopes, device=crops.device).clamp_min(1e-3)).clamp(1.0, max_gain)
    p2v.gain.copy_(gain)
    return gain
