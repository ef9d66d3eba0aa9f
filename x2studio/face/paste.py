"""Paste-back: composite a generated face crop into the original full frame.

The crop (``S×S``, cut from the frame at the square ``box``) is warped back into the frame, its
colours matched to the frame's on a ring around the seam (mean and spread per channel in Lab,
so a generator's colour cast or exposure shift does not show at the border), and blended with a
feathered mask so no edge is visible: by default a rounded square over nearly the whole crop
(:func:`crop_mask`; the generator redraws the whole crop), or the face ellipse (:func:`face_mask`).
"""

from __future__ import annotations

import cv2
import numpy as np

from ..core.errors import InputError
from .tracks import CROP_MARGIN

__all__ = ["face_mask", "crop_mask", "paste_back"]


def face_mask(size: int, feather: float = 0.12, margin: float = CROP_MARGIN) -> np.ndarray:
    """A soft elliptical face mask ``(size, size) float32`` in [0, 1] for a crop of ``margin`` × the
    landmark box (the ellipse covers the landmark box and the forehead above it)."""
    rx, ry, cy = 0.576 / margin, 0.704 / margin, 0.5 + 0.032 / margin
    yy, xx = (np.mgrid[0:size, 0:size] + 0.5) / size
    d = np.sqrt(((xx - 0.5) / rx) ** 2 + ((yy - cy) / ry) ** 2)
    f = max(feather * 1.6 / margin, 1e-3) / min(rx, ry)     # the feather keeps its size on the face
    t = np.clip((1.0 + f / 2 - d) / f, 0.0, 1.0)
    return (t * t * (3 - 2 * t)).astype(np.float32)


def crop_mask(size: int, feather: float = 0.1, extent: float = 0.47) -> np.ndarray:
    """A soft rounded-square mask ``(size, size) float32`` covering nearly the whole crop: the
    default for X2Face's output, which regenerates the whole crop (head, hair and background), so a
    head that turns or tilts is pasted whole instead of ghosting over the source's own face."""
    yy, xx = (np.mgrid[0:size, 0:size] + 0.5) / size - 0.5
    d = ((np.abs(xx) / extent) ** 4 + (np.abs(yy) / extent) ** 4) ** 0.25
    f = max(feather, 1e-3) / extent
    t = np.clip((1.0 - d) / f, 0.0, 1.0)
    return (t * t * (3 - 2 * t)).astype(np.float32)


def paste_back(frame: np.ndarray, face: np.ndarray, box, *, mask: np.ndarray | None = None,
               color_match: bool = True, feather: float = 0.1) -> np.ndarray:
    """Return a copy of ``frame (H, W, 3) uint8`` with ``face (S, S, 3) uint8`` composited into the
    square ``box`` (x0, y0, x1, y1, frame pixels; may extend past the frame)."""
    if frame.ndim != 3 or frame.shape[2] != 3 or face.ndim != 3 or face.shape[2] != 3:
        raise InputError("Paste-back needs two RGB images.")
    s = face.shape[0]
    if face.shape[1] != s:
        raise InputError(f"The face crop must be square (got {face.shape[1]}x{s}).")
    x0, y0, x1, y1 = [float(v) for v in box]
    side = x1 - x0
    if side <= 1 or y1 - y0 <= 1:
        raise InputError("The paste-back box is empty.")
    h, w = frame.shape[:2]
    k = side / s
    # crop pixel centre (i + 0.5) maps to frame x0 + (i + 0.5) * k; frame coords at centres (-0.5)
    m = np.array([[k, 0, x0 + 0.5 * k - 0.5], [0, (y1 - y0) / s, y0 + 0.5 * (y1 - y0) / s - 0.5]], np.float32)
    m_inv = cv2.invertAffineTransform(m)
    fx0, fy0 = max(int(np.floor(x0)), 0), max(int(np.floor(y0)), 0)
    fx1, fy1 = min(int(np.ceil(x1)) + 1, w), min(int(np.ceil(y1)) + 1, h)
    if fx1 <= fx0 or fy1 <= fy0:
        return frame.copy()
    # warp into the frame region only
    shift = np.array([[1, 0, fx0], [0, 1, fy0]], np.float32)
    mi = m_inv.copy()
    mi[:, 2] = m_inv[:, :2] @ shift[:, 2] + m_inv[:, 2]
    rw, rh = fx1 - fx0, fy1 - fy0
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    warped = cv2.warpAffine(face, mi, (rw, rh), flags=flags, borderMode=cv2.BORDER_REPLICATE)
    mk = crop_mask(s, feather) if mask is None else np.asarray(mask, np.float32)
    if mk.shape != (s, s):
        raise InputError(f"The mask must be {s}x{s} like the face crop.")
    mw = cv2.warpAffine(mk, mi, (rw, rh), flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    region = frame[fy0:fy1, fx0:fx1]
    if color_match:
        warped = _match_colors(warped, region, mw)
    a = mw[..., None]
    out = frame.copy()
    out[fy0:fy1, fx0:fx1] = np.clip(warped.astype(np.float32) * a + region.astype(np.float32) * (1 - a) + 0.5,
                                    0, 255).astype(np.uint8)
    return out


def _match_colors(src: np.ndarray, dst: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Shift ``src``'s Lab mean/spread to ``dst``'s on the seam ring (0.15 < mask < 0.85 band,
    widened to the mask's inner edge when the band is thin)."""
    ring = (mask > 0.05) & (mask < 0.95)
    if ring.sum() < 20:
        return src
    a = cv2.cvtColor(src, cv2.COLOR_RGB2LAB).astype(np.float32)
    b = cv2.cvtColor(dst, cv2.COLOR_RGB2LAB).astype(np.float32)
    ma, sa = a[ring].mean(0), a[ring].std(0) + 1e-3
    mb, sb = b[ring].mean(0), b[ring].std(0) + 1e-3
    gain = np.clip(sb / sa, 0.5, 2.0)
    out = (a - ma) * gain + mb
    return cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)
