"""Still images: read any image file as RGB, write PNG/JPEG atomically (OpenCV's codecs)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..core.atomic import atomic_path
from ..core.errors import InputError, MediaError, OutputError

__all__ = ["read_image", "write_image", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}


def read_image(path: str | Path) -> np.ndarray:
    """``(H, W, 3) uint8`` RGB; a clear error for a missing, empty or undecodable file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"The file '{path}' does not exist.")
    bgr = cv2.imdecode(np.fromfile(str(path), np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise MediaError(f"'{path.name}' is not a readable image.", "Use PNG or JPEG.")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def write_image(path: str | Path, rgb: np.ndarray) -> Path:
    """Write ``(H, W, 3) uint8`` RGB as the file's suffix says (PNG, JPEG…), atomically."""
    path = Path(path)
    ok, buf = cv2.imencode(path.suffix.lower() or ".png", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
    if not ok:
        raise OutputError(f"Cannot encode an image as '{path.suffix}'.", "Use .png or .jpg.")
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.tobytes())
    return path
