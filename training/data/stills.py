"""Labelled still images of a rendered face dataset (``stills/<split>/`` of
:mod:`x2studio.face.dataset`): images resized to the model's size, with pose, expression and
landmark labels.  Decoded once and cached as a ``uint8`` ``.npy`` file (memory-mapped after)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from x2studio.core.atomic import atomic_path
from x2studio.core.errors import InputError
from x2studio.face.dataset import load_labels, load_manifest

from .faces import manifest_hash

__all__ = ["StillImages"]


class StillImages:
    """``images (N, S, S, 3) uint8`` RGB and ``labels`` (``pose (N, 3)`` degrees, …) of one split."""

    def __init__(self, root: str | Path, split: str, image_size: int, cache_dir: str | Path) -> None:
        self.root = Path(root)
        stills = load_manifest(self.root).get("stills") or {}
        if split not in stills:
            raise InputError(f"The dataset '{root}' has no labelled '{split}' stills.",
                             "Generate some: x2studio data synth faces OUT --stills N (with --identities).")
        self.labels = load_labels(self.root / stills[split]["labels"])
        folder = self.root / stills[split]["images"]
        cache = Path(cache_dir) / f"stills_{manifest_hash(self.root)[:12]}_{split}_{image_size}.npy"
        if not cache.exists():
            cache.parent.mkdir(parents=True, exist_ok=True)
            images = np.stack([self._read(folder / f"{int(k):06d}.png", image_size) for k in self.labels["index"]])
            with atomic_path(cache) as tmp:
                with open(tmp, "wb") as fh:
                    np.save(fh, images)
        self.images = np.load(cache, mmap_mode="r")
        if len(self.images) != len(self.labels["pose"]):
            raise InputError(f"The cached stills '{cache}' do not match their labels.", "Delete the cache folder.")
        self.image_size = image_size

    @staticmethod
    def _read(path: Path, size: int) -> np.ndarray:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise InputError(f"The still '{path}' is missing or unreadable.")
        if bgr.shape[:2] != (size, size):
            bgr = cv2.resize(bgr, (size, size), interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def __len__(self) -> int:
        return len(self.images)
