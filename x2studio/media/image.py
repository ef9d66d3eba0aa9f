"""Still images: read any image file as RGB, write PNG/JPEG atomically (OpenCV's codecs)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..core.atomic import atomic_path
from ..core.choices import IMAGE_SUFFIXES
from ..core.errors import InputError, MediaError, OutputError

__all__ = ["read_image", "read_image_rgba", "write_image", "IMAGE_SUFFIXES"]



def _decode(path: Path, flags: int) -> np.ndarray | None:
    """OpenCV's decoding of the file's bytes (None: not an image it reads)."""
    if not path.is_file():
        raise InputError(f"The file '{path}' does not exist.")
    data = np.fromfile(str(path), np.uint8)
    if data.size == 0:
        raise MediaError(f"'{path.name}' is empty (0 bytes).", "Use a PNG or JPEG image.")
    try:
        return cv2.imdecode(data, flags)
    except cv2.error:          # OpenCV asserts on some damaged headers instead of returning None
        return None


def read_image(path: str | Path) -> np.ndarray:
    """``(H, W, 3) uint8`` RGB; a clear error for a missing, empty or undecodable file."""
    path = Path(path)
    bgr = _decode(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise MediaError(f"'{path.name}' is not a readable image.", "Use PNG or JPEG.")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_image_rgba(path: str | Path) -> np.ndarray:
    """``(H, W, 4) uint8`` RGBA (opaque alpha when the file has none)."""
    path = Path(path)
    img = _decode(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise MediaError(f"'{path.name}' is not a readable image.", "Use PNG (with transparency) or JPEG.")
    if img.dtype != np.uint8:
        img = (img / 257).astype(np.uint8) if img.dtype == np.uint16 else np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGRA)
    elif img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2BGRA)
    return cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)


def write_image(path: str | Path, rgb: np.ndarray) -> Path:
    """Write ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA ``uint8`` as the file's suffix says (PNG,
    JPEG…), atomically."""
    path = Path(path)
    code = cv2.COLOR_RGBA2BGRA if rgb.ndim == 3 and rgb.shape[2] == 4 else cv2.COLOR_RGB2BGR
    ok, buf = cv2.imencode(path.suffix.lower() or ".png", cv2.cvtColor(np.ascontiguousarray(rgb), code))
    if not ok:
        raise OutputError(f"Cannot encode an image as '{path.suffix}'.", "Use .png or .jpg.")
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.tobytes())
    return path
