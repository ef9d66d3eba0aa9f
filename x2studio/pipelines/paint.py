"""Painting on the embedded face (thesis §3.6, Fig. 8): the embedded face is a texture in a
pose-free frame, so a mark drawn on it once follows the face through a whole driving video and
hides when the face turns away; the same layer fits any other person's embedded face.

- :class:`PaintLayer` — an RGBA layer (``uint8``, straight alpha) the size of the embedded face:
  brush strokes (size, hardness, colour, opacity), the eraser, stamps (an image with alpha),
  undo/redo (one stroke or stamp = one step), PNG save/load (atomic; a layer of the wrong size is
  refused).
- :func:`composite` — the layer over an embedded face; :meth:`Reenactor.set_paint` drives with it.
- :class:`PaintRequest` → :func:`paint_face` — ``x2studio paint`` and the Paint panel's export: a
  source, a layer and a driving video → MP4.

A stroke is the union (per-pixel maximum) of round brush dabs spaced a quarter of the brush apart,
then laid over the layer once, so that a stroke crossing itself does not darken; the dab profile is
``hardness`` flat core with a smoothstep edge.  (Hand-written: these are a few array operations on a
128² layer, and drawing libraries such as Pillow have no soft brush or alpha-correct erase.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..core.errors import InputError
from ..core.jobs import Job
from ..media.image import read_image_rgba, write_image

__all__ = ["PaintLayer", "composite", "PaintRequest", "paint_face"]

MAX_HISTORY = 100


def _dab_alpha(h: int, w: int, cx: float, cy: float, radius: float, hardness: float) -> tuple[slice, slice, np.ndarray]:
    """Alpha (0..1) of one round dab, on the bounding box it touches."""
    x0, x1 = max(int(np.floor(cx - radius - 1)), 0), min(int(np.ceil(cx + radius + 1)), w)
    y0, y1 = max(int(np.floor(cy - radius - 1)), 0), min(int(np.ceil(cy + radius + 1)), h)
    if x1 <= x0 or y1 <= y0:
        return slice(0, 0), slice(0, 0), np.zeros((0, 0), np.float32)
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32) + 0.5
    d = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2) / max(radius, 0.5)
    core = float(np.clip(hardness, 0.0, 1.0)) * 0.999
    t = np.clip((1.0 - d) / (1.0 - core), 0.0, 1.0)
    return slice(y0, y1), slice(x0, x1), (t * t * (3 - 2 * t)).astype(np.float32)


class PaintLayer:
    """An RGBA paint layer ``(size, size, 4) uint8`` with undo/redo."""

    def __init__(self, size: int) -> None:
        if not 8 <= int(size) <= 4096:
            raise InputError(f"A paint layer of {size} pixels is out of range.")
        self.size = int(size)
        self.rgba = np.zeros((self.size, self.size, 4), np.uint8)
        self._undo: list[np.ndarray] = []
        self._redo: list[np.ndarray] = []

    # ------------------------------------------------------------------ history
    def _push(self) -> None:
        self._undo.append(self.rgba.copy())
        del self._undo[:-MAX_HISTORY]
        self._redo.clear()

    def can_undo(self) -> bool:
        return bool(self._undo)

    def can_redo(self) -> bool:
        return bool(self._redo)

    def undo(self) -> bool:
        if not self._undo:
            return False
        self._redo.append(self.rgba)
        self.rgba = self._undo.pop()
        return True

    def redo(self) -> bool:
        if not self._redo:
            return False
        self._undo.append(self.rgba)
        self.rgba = self._redo.pop()
        return True

    def clear(self) -> None:
        if self.rgba[..., 3].any():
            self._push()
            self.rgba = np.zeros_like(self.rgba)

    # ------------------------------------------------------------------ drawing
    def stroke_alpha(self, points: Sequence[Sequence[float]], size: float, hardness: float = 0.5) -> np.ndarray:
        """Coverage ``(S, S) float32`` in 0..1 of a stroke through ``points`` (layer pixels)."""
        if size <= 0:
            raise InputError("The brush size must be positive.")
        pts = np.asarray(points, np.float64).reshape(-1, 2)
        if len(pts) == 0 or not np.all(np.isfinite(pts)):
            raise InputError("A stroke needs at least one point inside the canvas.")
        radius = size / 2.0
        spacing = max(radius / 2.0, 0.5)
        dense = [pts[0]]
        for a, b in zip(pts[:-1], pts[1:]):
            n = max(int(np.ceil(np.linalg.norm(b - a) / spacing)), 1)
            dense += [a + (b - a) * (k / n) for k in range(1, n + 1)]
        cover = np.zeros((self.size, self.size), np.float32)
        for cx, cy in dense:
            ys, xs, a = _dab_alpha(self.size, self.size, cx, cy, radius, hardness)
            if a.size:
                np.maximum(cover[ys, xs], a, out=cover[ys, xs])
        return cover

    def stroke(self, points: Sequence[Sequence[float]], *, size: float = 6.0, hardness: float = 0.5,
               color: Sequence[int] = (200, 30, 30), opacity: float = 1.0, erase: bool = False) -> None:
        """One brush (or eraser) stroke: one undo step."""
        if not 0.0 < opacity <= 1.0:
            raise InputError("Opacity is between 0 and 1.")
        a = self.stroke_alpha(points, size, hardness) * float(opacity)
        if not a.any():
            return
        self._push()
        if erase:
            self.rgba[..., 3] = np.round(self.rgba[..., 3] * (1.0 - a)).astype(np.uint8)
            return
        self._over(np.broadcast_to(np.asarray(color, np.float32)[:3], (self.size, self.size, 3)), a)

    def stamp(self, image: np.ndarray, center: Sequence[float], width: float, opacity: float = 1.0) -> None:
        """Lay an RGBA (or RGB: opaque) image, scaled to ``width`` layer pixels, centred at ``center``."""
        import cv2

        img = np.asarray(image)
        if img.ndim != 3 or img.shape[2] not in (3, 4) or img.dtype != np.uint8:
            raise InputError("A stamp is an RGB or RGBA image.")
        if img.shape[2] == 3:
            img = np.concatenate([img, np.full(img.shape[:2] + (1,), 255, np.uint8)], -1)
        w = max(int(round(width)), 1)
        h = max(int(round(width * img.shape[0] / img.shape[1])), 1)
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if w < img.shape[1] else cv2.INTER_LINEAR)
        x0, y0 = int(round(center[0] - w / 2)), int(round(center[1] - h / 2))
        lx0, ly0 = max(x0, 0), max(y0, 0)
        lx1, ly1 = min(x0 + w, self.size), min(y0 + h, self.size)
        if lx1 <= lx0 or ly1 <= ly0:
            raise InputError("The stamp lies outside the canvas.")
        part = img[ly0 - y0:ly1 - y0, lx0 - x0:lx1 - x0].astype(np.float32)
        a = np.zeros((self.size, self.size), np.float32)
        rgb = np.zeros((self.size, self.size, 3), np.float32)
        a[ly0:ly1, lx0:lx1] = part[..., 3] / 255.0 * float(opacity)
        rgb[ly0:ly1, lx0:lx1] = part[..., :3]
        self._push()
        self._over(rgb, a)

    def _over(self, rgb: np.ndarray, a: np.ndarray) -> None:
        """Porter-Duff "over" of straight-alpha colour ``rgb`` with coverage ``a`` onto the layer."""
        dst_a = self.rgba[..., 3].astype(np.float32) / 255.0
        out_a = a + dst_a * (1.0 - a)
        safe = np.maximum(out_a, 1e-6)[..., None]
        out_rgb = (rgb * a[..., None] + self.rgba[..., :3].astype(np.float32) * (dst_a * (1.0 - a))[..., None]) / safe
        self.rgba = np.concatenate([np.clip(out_rgb + 0.5, 0, 255), np.clip(out_a * 255.0 + 0.5, 0, 255)[..., None]],
                                   -1).astype(np.uint8)

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> Path:
        path = Path(path)
        if path.suffix.lower() != ".png":
            raise InputError(f"'{path.name}': a paint layer is saved as PNG (it keeps the transparency).")
        return write_image(path, self.rgba)

    @classmethod
    def from_rgba(cls, rgba: np.ndarray | None) -> "PaintLayer | None":
        """A layer holding ``rgba`` (square ``(S, S, 4) uint8``; None gives None)."""
        if rgba is None:
            return None
        rgba = np.asarray(rgba)
        if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba.shape[0] != rgba.shape[1] or rgba.dtype != np.uint8:
            raise InputError("A paint layer is a square RGBA image.")
        layer = cls(rgba.shape[0])
        layer.rgba = rgba
        return layer

    @classmethod
    def load(cls, path: str | Path, size: int | None = None) -> "PaintLayer":
        """A layer from a PNG with alpha; ``size`` (the embedded face's) must match."""
        rgba = read_image_rgba(path)
        if rgba.shape[0] != rgba.shape[1] or (size is not None and rgba.shape[0] != size):
            want = f"{size}x{size}" if size is not None else "square"
            raise InputError(f"The paint layer '{Path(path).name}' is {rgba.shape[1]}x{rgba.shape[0]}, not {want}.",
                             "Paint layers fit the embedded face of the X2Face weights they were drawn for; "
                             "draw it again for these weights, or use the weights it was made with.")
        return cls.from_rgba(rgba)


def composite(embedded: np.ndarray, layer: PaintLayer) -> np.ndarray:
    """The layer over an embedded face (``(S, S, 3) uint8``)."""
    if embedded.shape[:2] != (layer.size, layer.size):
        raise InputError(f"The paint layer is {layer.size}², the embedded face {embedded.shape[0]}².")
    a = layer.rgba[..., 3:].astype(np.float32) / 255.0
    out = layer.rgba[..., :3].astype(np.float32) * a + embedded.astype(np.float32) * (1 - a)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


@dataclass(frozen=True, eq=False)
class PaintRequest:
    """Drive the face of ``source`` with ``driving`` after painting ``layer`` (a PNG the embedded
    face's size, or a :class:`PaintLayer` drawn in the Paint panel) on its embedded face → ``output``."""

    source: Path
    layer: Path | PaintLayer
    driving: Path
    output: Path
    weights: str = "x2face-lite"
    device: str = "cpu"
    detector: str = "auto"
    relative: bool = False
    paste: bool = True

    def __post_init__(self) -> None:
        from ..core.atomic import check_video_output

        files = [self.source, self.driving] + ([] if isinstance(self.layer, PaintLayer) else [self.layer])
        for p in files:
            if not Path(p).is_file():
                raise InputError(f"The file '{p}' does not exist.")
        check_video_output(self.output, protect=tuple(files), what="the painted video")


def paint_face(request: PaintRequest, job: Job | None = None):
    """Write the painted video; returns :class:`~.reenactment.ReenactReport`."""
    from .reenact import Reenactor
    from .reenactment import reenact_video

    r = Reenactor(request.weights, device=request.device, detector=request.detector)
    layer = request.layer if isinstance(request.layer, PaintLayer) else PaintLayer.load(request.layer, r.size)
    r.set_sources(r.load_sources([request.source], job=job))
    r.set_paint(layer)
    return reenact_video(r, request.driving, request.output, relative=request.relative, paste=request.paste,
                         job=job)
