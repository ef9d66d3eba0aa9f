"""Turn the face in a photo to a head pose: the use-case behind ``x2studio pose`` and the Pose
panel's exports.  A :class:`PoseRequest` (the photo, the pose or the axis to sweep, the output) is
checked when it is made — angles within the range the pose mappings were trained on, the output's
kind, its folder, never over the photo — and :func:`pose_photo` writes the image or the sweep."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ..core.choices import IMAGE_SUFFIXES
from ..core.errors import InputError
from ..core.jobs import Job, progress_of
from ..core.poses import AXES, LIMITS

__all__ = ["check_photo", "PoseRequest", "PoseResult", "pose_photo", "STILL_SUFFIXES", "SWEEP_SUFFIXES", "check_angle"]

STILL_SUFFIXES = (".png", ".jpg", ".jpeg")
SWEEP_SUFFIXES = (".mp4", ".gif")


def check_photo(source: Path) -> None:
    """``source`` is an existing image file (the photo whose face is driven)."""
    src = Path(source)
    if not src.is_file():
        raise InputError(f"The file '{src}' does not exist.")
    if src.suffix.lower() not in IMAGE_SUFFIXES:
        raise InputError(f"'{src.name}' is not an image.", f"Give a photo ({', '.join(sorted(IMAGE_SUFFIXES))}).")


def check_angle(axis: str, value: float | None) -> None:
    """``value`` degrees of ``axis`` within :data:`~x2studio.core.poses.LIMITS` (None: the source's own)."""
    if value is None:
        return
    lo, hi = LIMITS[axis]
    if not (math.isfinite(value) and lo <= value <= hi):
        raise InputError(f"A {axis} of {value:g} degrees is outside {lo:g}…{hi:g}.",
                         "The pose mappings were trained on that range; a face turned further is not a face.")


@dataclass(frozen=True, eq=False)
class PoseRequest:
    """``source``: a photo with a face.  A still (``output`` .png/.jpg) at ``pose`` (yaw, pitch, roll;
    None per axis: the source's own), or with ``sweep`` an animation (.mp4/.gif) along that axis
    from ``lo`` to ``hi`` and back, starting at ``pose``."""

    source: Path
    output: Path
    pose: tuple[float | None, float | None, float | None] = (None, None, None)
    sweep: str | None = None
    lo: float | None = None
    hi: float | None = None
    seconds: float = 4.0
    paste: bool = True
    weights: str = "x2face-lite"
    device: str | None = None
    detector: str = "auto"
    paint: object | None = None          # a PaintLayer drawn on the embedded face (the Paint/Pose panels)

    def __post_init__(self) -> None:
        from ..core.atomic import check_writable

        src, out = Path(self.source), Path(self.output)
        check_photo(src)
        want = SWEEP_SUFFIXES if self.sweep else STILL_SUFFIXES
        if out.suffix.lower() not in want:
            raise InputError(f"'{out.name}': {'a sweep' if self.sweep else 'a pose'} is written as "
                             f"{' or '.join(w[1:].upper() for w in want)}.")
        check_writable(out)
        if out.exists() and out.resolve() == src.resolve():
            raise InputError(f"Writing '{out.name}' would replace the photo.", "Choose another output name.")
        for axis, value in zip(AXES, self.pose):
            check_angle(axis, value)
        if self.sweep is not None:
            if self.sweep not in AXES:
                raise InputError(f"Unknown axis '{self.sweep}'.", f"Sweep one of {', '.join(AXES)}.")
            check_angle(self.sweep, self.lo)
            check_angle(self.sweep, self.hi)
        if not (math.isfinite(self.seconds) and 0.5 <= self.seconds <= 120):
            raise InputError(f"A sweep of {self.seconds:g} s is not possible.", "A sweep lasts 0.5 to 120 s.")


@dataclass(frozen=True)
class PoseResult:
    output: Path
    source_pose: tuple[float, float, float]
    pose: tuple[float, float, float] | None = None      # the still's
    sweep: str | None = None

    def lines(self) -> list[str]:
        y, p, r = self.source_pose
        out = [f"source pose: yaw {y:+.1f}, pitch {p:+.1f}, roll {r:+.1f} degrees"]
        if self.sweep:
            return out + [f"wrote {self.output}: {self.sweep} sweep"]
        y, p, r = self.pose
        return out + [f"wrote {self.output}: yaw {y:+.1f}, pitch {p:+.1f}, roll {r:+.1f}"]


def pose_photo(request: PoseRequest, job: Job | None = None) -> PoseResult:
    """Load X2Face and its pose mappings, find the face, write the still or the sweep."""
    from ..core.device import resolve_device
    from ..media.image import write_image
    from .pose import PoseController, export_sweep
    from .reenact import Reenactor

    progress_of(job, 0, None, "finding the face")
    r = Reenactor(request.weights, device=str(request.device or resolve_device().torch_device),
                  detector=request.detector)
    r.set_sources(r.load_sources([request.source]))
    if request.paint is not None:
        r.set_paint(request.paint)
    ctl = PoseController(r)
    own = tuple(float(v) for v in ctl.source_pose())
    pose = tuple(own[k] if v is None else float(v) for k, v in enumerate(request.pose))
    if request.sweep:
        export_sweep(ctl, request.sweep, request.output, lo=request.lo, hi=request.hi, seconds=request.seconds,
                     paste=request.paste, start=pose, job=job)
        return PoseResult(Path(request.output), own, sweep=request.sweep)
    crop = ctl.render(list(pose))
    write_image(request.output, r.composite(crop) if request.paste else crop)
    return PoseResult(Path(request.output), own, pose=pose)
