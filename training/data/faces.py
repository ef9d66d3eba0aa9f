"""Frames of a face-track dataset (:mod:`x2studio.face.dataset`) for training.

Frames are decoded once per (track, image size, frame step) with PyAV and cached as ``uint8``
``.npy`` files in a cache folder, then memory-mapped: after the first epoch the loader reads
pages, not video, so a GPU is kept busy by a couple of worker processes.  Splits come from the
dataset's manifest (identity- or video-disjoint).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import cv2
import numpy as np

from x2studio.core.atomic import atomic_path
from x2studio.core.errors import InputError
from x2studio.face.dataset import load_manifest
from x2studio.media.video import VideoReader

__all__ = ["FaceFrames", "manifest_hash"]

log = logging.getLogger(__name__)


def manifest_hash(root: str | Path) -> str:
    """sha256 of the dataset's manifest (recorded in model cards)."""
    return hashlib.sha256((Path(root) / "manifest.json").read_bytes()).hexdigest()


class FaceFrames:
    """Every ``frame_step``-th frame of the tracks of ``split``, resized to ``image_size``².

    ``frames[i]`` → ``(image_size, image_size, 3) uint8`` (RGB); ``track_of[i]`` its track index.
    """

    def __init__(self, root: str | Path, split: str, image_size: int, cache_dir: str | Path,
                 frame_step: int = 1, max_tracks: int | None = None, job=None) -> None:
        self.root = Path(root)
        manifest = load_manifest(self.root)
        tracks = [t for t in manifest["tracks"] if t["split"] == split]
        if max_tracks is not None:
            tracks = tracks[:max_tracks]
        if not tracks:
            raise InputError(f"The dataset '{root}' has no '{split}' tracks.",
                             "Generate more tracks (each split needs at least one identity) or use another folder.")
        # keyed by the manifest's hash: two datasets (or one that grew) never share cached frames
        cache = Path(cache_dir) / f"frames_{manifest_hash(self.root)[:12]}_{image_size}_s{frame_step}"
        cache.mkdir(parents=True, exist_ok=True)
        self.paths: list[Path] = []
        counts = []
        for k, t in enumerate(tracks):
            if job is not None:
                job.progress(k, len(tracks), f"caching frames of {t['id']}")
            path = cache / f"{t['id']}.npy"
            if not path.exists():
                frames = self._decode(self.root / t["video"], image_size, frame_step)
                with atomic_path(path) as tmp:
                    with open(tmp, "wb") as fh:
                        np.save(fh, frames)
            self.paths.append(path)
            counts.append(len(np.load(path, mmap_mode="r")))
        self.arrays = self._open()
        self.offsets = np.concatenate([[0], np.cumsum(counts)])
        self.track_ids = [t["id"] for t in tracks]
        self.image_size = image_size

    def _open(self) -> list[np.ndarray]:
        return [np.load(p, mmap_mode="r") for p in self.paths]

    def __getstate__(self) -> dict:
        """Pickled for a worker process by file name: the memory maps are opened again there."""
        return {k: v for k, v in self.__dict__.items() if k != "arrays"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.arrays = self._open()

    @staticmethod
    def _decode(video: Path, size: int, step: int) -> np.ndarray:
        out = []
        with VideoReader(video) as r:
            for fr in r.frames():
                if fr.index % step == 0:
                    img = fr.image
                    if img.shape[0] != size or img.shape[1] != size:
                        img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
                    out.append(img)
        if not out:
            raise InputError(f"'{video}' has no frames.")
        return np.stack(out)

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def locate(self, i: int) -> tuple[int, int]:
        t = int(np.searchsorted(self.offsets, i, side="right") - 1)
        return t, int(i - self.offsets[t])

    def __getitem__(self, i: int) -> np.ndarray:
        t, k = self.locate(i)
        return np.asarray(self.arrays[t][k])
