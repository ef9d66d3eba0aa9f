"""Audio-visual windows for the synchronisation network (:mod:`x2studio.models.avsync`): face
tracks (the mouth region) and piano videos (the rectified keyboard).

Per video, once: the grayscale picture region of every frame (``(n, H, W) uint8``) and the audio
track as mono float32 at the model's rate, cached as ``.npy`` (memory-mapped after).  An item is
the 5-frame visual window of frame ``k``, the audio window centred on ``k / fps`` (the match) and
one audio window that does not overlap it (the non-match): from the same video (half of the
items, the hard negatives that teach synchrony) or from another video.  Draws come from the item
index, so a resumed run sees the same items.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from x2studio.core.atomic import atomic_path
from x2studio.core.errors import InputError, MediaError
from x2studio.face.dataset import load_manifest
from x2studio.media.audio import frame_windows, load_audio
from x2studio.models.avsync import mouth_regions

from .faces import FaceFrames, manifest_hash

__all__ = ["AVClips", "FaceAVClips", "PianoAVClips"]

log = logging.getLogger(__name__)


def _save(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, array)


def _cached_audio(path: Path, video: Path, sample_rate: int, name: str) -> np.ndarray | None:
    """The video's sound, mono at ``sample_rate``, cached at ``path``; None (logged) if it has none."""
    if not path.exists():
        try:
            a = load_audio(video, sample_rate, mono=True).samples[:, 0]
        except MediaError as exc:
            log.warning("%s: no usable audio (%s); skipped", name, exc)
            return None
        _save(path, a.astype(np.float32))
    return np.load(path, mmap_mode="r")


class AVClips:
    """Items ``(frames uint8 (F, H, W), audio_match (S,), audio_other (S,))`` of the videos given to
    :meth:`_finish` (subclasses gather them: per video its regions, its audio and its fps)."""

    def _finish(self, root: Path, split: str, regions: list, audio: list, fps: list, sample_rate: int,
                window_s: float, frames: int, augment: bool) -> None:
        self.mouths, self.audio, self.fps = regions, audio, fps
        self.frames, self.sample_rate, self.window_s = frames, sample_rate, window_s
        half = frames // 2
        # usable centre frames: a full visual window, and audio that reaches the frame's time
        self.items = []
        for t, (m, a, f) in enumerate(zip(self.mouths, self.audio, self.fps)):
            n = min(len(m), int(len(a) / sample_rate * f))
            for k in range(half, n - half):
                self.items.append((t, k, n))
        if not self.items:
            raise InputError(f"The '{split}' videos of '{root}' have no clip of {frames} frames with audio.",
                             "Use videos with sound, at least a second long.")
        self.items = np.asarray(self.items, np.int64)
        self.augment = augment

    def __len__(self) -> int:
        return len(self.items)

    def window(self, t: int, k: int) -> np.ndarray:
        return frame_windows(self.audio[t], self.sample_rate, self.fps[t], self.window_s, np.array([k]))[0]

    def __getitem__(self, i: int):
        t, k, n = (int(x) for x in self.items[i])
        rng = np.random.default_rng(i)
        half = self.frames // 2
        vis = np.asarray(self.mouths[t][k - half:k + half + 1])
        sep = self.frames          # non-matching windows are at least one window apart
        if n > 2 * sep + 1 and (rng.random() < 0.5 or len(self.audio) == 1):
            choices = np.r_[0:max(0, k - sep + 1), min(n, k + sep):n]
            t2, k2 = t, int(rng.choice(choices))
        else:
            j = int(rng.integers(len(self.items)))
            t2, k2 = int(self.items[j, 0]), int(self.items[j, 1])
            if t2 == t and abs(k2 - k) < sep:
                k2 = (k + n // 2) % n
        a1, a2 = self.window(t, k), self.window(t2, k2)
        if self.augment:   # recording level varies
            a1 = np.clip(a1 * rng.uniform(0.25, 2.0), -1, 1)
            a2 = np.clip(a2 * rng.uniform(0.25, 2.0), -1, 1)
        return torch.from_numpy(np.array(vis)), torch.from_numpy(a1), torch.from_numpy(a2)


class FaceAVClips(AVClips):
    """The mouth regions of a face-track folder's tracks."""

    def __init__(self, root: str | Path, split: str, image_size: int, mouth_size: tuple[int, int],
                 sample_rate: int, window_s: float, frames: int, cache_dir: str | Path, job=None,
                 augment: bool = False) -> None:
        root = Path(root)
        manifest = load_manifest(root)
        tracks = {t["id"]: t for t in manifest["tracks"] if t["split"] == split}
        crops = FaceFrames(root, split, image_size, cache_dir, 1, job=job)
        cache = Path(cache_dir) / f"av_{manifest_hash(root)[:12]}_{image_size}_{mouth_size[0]}x{mouth_size[1]}_{sample_rate}"
        cache.mkdir(parents=True, exist_ok=True)
        mouths, audio, fps = [], [], []
        skipped = []
        for k, tid in enumerate(crops.track_ids):
            if job is not None:
                job.progress(k, len(crops.track_ids), f"audio and mouths of {tid}")
            t = tracks[tid]
            mpath = cache / f"{tid}_mouth.npy"
            if not mpath.exists():
                with torch.no_grad():
                    x = torch.from_numpy(np.array(crops.arrays[k])).permute(0, 3, 1, 2).float().div_(255.0)
                    m = mouth_regions(x, mouth_size).mul_(255.0).round_().clamp_(0, 255).to(torch.uint8).numpy()
                _save(mpath, m)
            a = _cached_audio(cache / f"{tid}_audio.npy", root / t["video"], sample_rate, tid) if t.get("audio", True) else None
            if a is None:
                skipped.append(tid)
                continue
            mouths.append(np.load(mpath, mmap_mode="r"))
            audio.append(a)
            fps.append(float(t.get("fps") or manifest.get("fps") or 25.0))
        if skipped:
            log.warning("%d of %d '%s' tracks have no audio and are not used", len(skipped), len(crops.track_ids), split)
        self._finish(root, split, mouths, audio, fps, sample_rate, window_s, frames, augment)


class PianoAVClips(AVClips):
    """The rectified keyboards (``size`` (H, W), grayscale) of a piano dataset's videos, with their
    sound: the piano instance of the sync network (the thesis' ch. 7)."""

    def __init__(self, root: str | Path, split: str, size: tuple[int, int], sample_rate: int, window_s: float,
                 frames: int, cache_dir: str | Path, job=None, augment: bool = False) -> None:
        from .piano import load_manifest as load_piano_manifest, video_crops

        root = Path(root)
        manifest = load_piano_manifest(root)
        videos = [v for v in manifest["videos"] if v["split"] == split]
        cache = Path(cache_dir)
        regions, audio, fps = [], [], []
        for k, v in enumerate(videos):
            if job is not None:
                job.progress(k, len(videos), f"audio and keyboard of {v['id']}")
            # video_crops takes (width, height), like the piano transcriber
            crops = video_crops(root, v, (int(size[1]), int(size[0])), cache)
            a = _cached_audio(cache / f"piano_{v['id']}_audio_{sample_rate}.npy", root / v["video"], sample_rate, v["id"])
            if a is None:
                continue
            regions.append(crops)
            audio.append(a)
            fps.append(float(v.get("fps") or manifest.get("fps") or 25.0))
        self._finish(root, split, regions, audio, fps, sample_rate, window_s, frames, augment)
