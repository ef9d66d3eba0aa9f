"""Piano datasets for the visual transcription task: 5-frame windows of the rectified keyboard with
per-key labels.

A dataset folder has a ``manifest.json`` of kind ``piano`` (``x2studio data synth piano`` makes
one; a folder of real recordings gets one from the same format): per video its file, split, fps,
keyboard ``corners`` (or PianoYT's ``crop`` box) and the notes — ``midi`` (true MIDI, e.g. a digital
piano's) and/or audio pseudo labels in ``pseudo/<id>.mid`` (the thesis' way; ``labels="pseudo"``).

Each video is decoded once into a cache of keyboard crops (``(T, H, W)`` uint8, ``.npy``, memory
mapped); the cache key holds the crop size and the keyboard position, so changing either rebuilds it.

Labels for the window centred on frame ``k``: ``onset`` — a note starts within ±1 frame of ``k``
(the thesis' target; a note's onset frame is the first frame shown at or after its onset time);
``down`` — the key is held in frame ``k``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import torch

from x2studio.core.atomic import atomic_path
from x2studio.core.errors import InputError, X2Error
from x2studio.core.keyboard import LOWEST, N_KEYS
from x2studio.media.midi import NoteEvent, load_midi
from x2studio.core.choices import VIDEO_SUFFIXES

__all__ = ["PianoWindows", "load_manifest", "label_arrays", "video_crops", "video_notes", "import_videos"]

log = logging.getLogger(__name__)


def load_manifest(root: str | Path) -> dict:
    root = Path(root)
    path = root / "manifest.json"
    if not path.is_file():
        raise InputError(f"'{root}' is not a piano dataset (no manifest.json).",
                         "Make one with 'x2studio data synth piano OUT'.")
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"'{path}' cannot be read ({exc}).") from exc
    if data.get("kind") != "piano":
        raise InputError(f"'{root}' is a {data.get('kind') or 'face-track'} dataset, not a piano dataset.",
                         "Train the piano task on a folder made by 'x2studio data synth piano'.")
    return data


def _corners(entry: dict) -> np.ndarray:
    from x2studio.pipelines.piano import corners_from_crop

    if "corners" in entry:
        return np.asarray(entry["corners"], np.float64).reshape(4, 2)
    if "crop" in entry:
        return corners_from_crop(*entry["crop"])
    raise InputError(f"Video '{entry.get('id')}' has no keyboard position (corners or crop) in the manifest.")


def video_crops(root: Path, entry: dict, size: tuple[int, int], cache: Path) -> np.ndarray:
    """(T, H, W) uint8 keyboard crops of one video, cached."""
    from x2studio.media.video import VideoReader
    from x2studio.pipelines.piano import Rectifier

    corners = _corners(entry)
    key = hashlib.sha1(json.dumps([entry["video"], np.round(corners, 2).tolist(), list(size)]).encode()).hexdigest()[:10]
    path = cache / f"piano_{entry['id']}_{size[0]}x{size[1]}_{key}.npy"
    if not path.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        with VideoReader(root / entry["video"]) as rd:
            rect = Rectifier(corners, size, (rd.width, rd.height))
            crops = np.stack([rect(f.image) for f in rd.frames()])
        with atomic_path(path, suffix=".npy") as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, crops)
    return np.load(path, mmap_mode="r")


def video_notes(root: Path, entry: dict, labels: str = "midi") -> list[NoteEvent]:
    if labels == "midi":
        path = root / entry["midi"] if entry.get("midi") else None
    elif labels == "pseudo":
        path = root / "pseudo" / f"{entry['id']}.mid"
    else:
        raise InputError(f"Unknown labels '{labels}'.", "Use 'midi' (true notes) or 'pseudo' (audio teacher).")
    if path is None or not path.is_file():
        raise InputError(f"Video '{entry['id']}' has no {labels} labels ({path}).",
                         "Make pseudo labels first ('x2studio train piano-labels'), or train on true MIDI.")
    return [n for n in load_midi(path, require_notes=False).notes if LOWEST <= n.pitch < LOWEST + N_KEYS]


def label_arrays(notes: list[NoteEvent], n_frames: int, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """(onset_frame, down) as (T, 88) bool: a note's onset frame is the first frame shown at or after
    its onset; a key is down in frame k when ``onset ≤ k / fps < offset``."""
    onset = np.zeros((n_frames, N_KEYS), bool)
    down = np.zeros((n_frames, N_KEYS), bool)
    t = np.arange(n_frames) / fps
    for n in notes:
        j = n.pitch - LOWEST
        k = int(np.ceil(n.onset * fps - 1e-6))
        if 0 <= k < n_frames:
            onset[k, j] = True
        down[(t >= n.onset) & (t < n.offset), j] = True
    return onset, down


class PianoWindows(torch.utils.data.Dataset):
    """Items: ``(frames (5, H, W) float32 in [0, 1], onset (88,), down (88,))``.

    Args:
        root: dataset folder.
        split: "train", "val" or "test".
        size: (width, height) of the keyboard crop.
        cache: folder for the decoded crops.
        labels: "midi" or "pseudo".
        frames: window length (5).
        augment: the thesis' augmentation — a slightly larger resize then a random crop, brightness
            jitter, Gaussian noise (1 % of the mean) on 40 % of the windows.
    """

    def __init__(self, root: str | Path, split: str, size: tuple[int, int], cache: str | Path, labels: str = "midi",
                 frames: int = 5, augment: bool = False, job=None, seed: int = 0) -> None:
        self.root = Path(root)
        manifest = load_manifest(self.root)
        self.entries = [e for e in manifest["videos"] if e.get("split") == split]
        if not self.entries:
            raise InputError(f"'{root}' has no '{split}' videos.", "Render more minutes so every split has videos.")
        self.size, self.frames, self.augment = (int(size[0]), int(size[1])), int(frames), bool(augment)
        self.crops, self.onset, self.down, self.fps = [], [], [], []
        index = []
        for i, e in enumerate(self.entries):
            if job is not None:
                job.progress(i, len(self.entries), f"preparing {split} video {i + 1}/{len(self.entries)}")
            crops = video_crops(self.root, e, self.size, Path(cache))
            fps = float(e["fps"])
            on, dn = label_arrays(video_notes(self.root, e, labels), len(crops), fps)
            self.crops.append(crops)
            self.onset.append(on)
            self.down.append(dn)
            self.fps.append(fps)
            index += [(i, k) for k in range(len(crops))]
        self.index = np.array(index, np.int64)
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.index)

    def positive_rate(self) -> tuple[np.ndarray, np.ndarray]:
        """Per key, the share of windows whose onset / down label is positive."""
        n = len(self.index)
        on = sum(self._window_onsets(o).sum(0) for o in self.onset) / n
        dn = sum(d.sum(0) for d in self.down) / n
        return on.astype(np.float32), dn.astype(np.float32)

    @staticmethod
    def _window_onsets(on: np.ndarray) -> np.ndarray:
        out = on.copy()
        out[1:] |= on[:-1]
        out[:-1] |= on[1:]
        return out

    def __getitem__(self, i: int):
        v, k = (int(x) for x in self.index[i])
        crops = self.crops[v]
        t = len(crops)
        half = self.frames // 2
        idx = np.clip(np.arange(k - half, k + half + 1), 0, t - 1)
        x = np.asarray(crops[idx], np.float32) / 255.0
        on = self.onset[v][max(0, k - 1): k + 2].any(0)
        dn = self.down[v][k]
        if self.augment:
            x = self._augment(x)
        return (torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(on.astype(np.float32)),
                torch.from_numpy(dn.astype(np.float32)))

    def _augment(self, x: np.ndarray) -> np.ndarray:
        import cv2

        # the dataset's own stream (reproducible with no loader workers) mixed with numpy's global one,
        # which torch seeds differently in each loader worker (else workers would repeat each other)
        rng = np.random.default_rng(self.rng.integers(0, 2**63) ^ (np.random.randint(0, 2**31)))
        _, h, w = x.shape
        # the thesis resizes 145×800 to 150×805 and crops back: the same relative margins here
        hh, ww = int(round(h * 150 / 145)), int(round(w * 805 / 800))
        y0, x0 = int(rng.integers(0, hh - h + 1)), int(rng.integers(0, ww - w + 1))
        x = np.stack([cv2.resize(f, (ww, hh), interpolation=cv2.INTER_LINEAR)[y0:y0 + h, x0:x0 + w] for f in x])
        x = x * rng.uniform(0.75, 1.25) + rng.uniform(-0.08, 0.08)
        if rng.random() < 0.4:
            x = x + rng.normal(0, 0.01 * max(float(x.mean()), 1e-3), x.shape)
        return np.clip(x, 0, 1).astype(np.float32)


def import_videos(inputs: list[str | Path], out: str | Path, crop: str | None = None, job=None) -> dict:
    """Make a piano dataset from your own top-view piano videos (files or folders of them).

    Each video keeps its place if its keyboard is known (``--crop``, remembered by the app, a
    sidecar JSON) or found in the picture; a MIDI file with the video's name beside it (a digital
    piano's recording) becomes its true labels.  Videos are linked (or copied) into ``OUT/videos``;
    splits are by video (a stable hash of its name, 80/10/10).  Then ``train piano-labels`` adds the
    audio teacher's pseudo labels and ``train piano`` trains on them.  Rerunning adds new videos.
    """
    import os
    import shutil

    from x2studio.core.atomic import atomic_write_text
    from x2studio.media.video import probe
    from x2studio.pipelines.keyboard import detect_in_video
    from x2studio.pipelines.piano import keyboard_of, parse_crop

    files: list[Path] = []
    for p in map(Path, inputs):
        if p.is_dir():
            files += sorted(q for q in p.rglob("*") if q.suffix.lower() in VIDEO_SUFFIXES)
        elif p.is_file():
            files.append(p)
        else:
            raise InputError(f"'{p}' does not exist.")
    if not files:
        raise InputError("No videos were given.", "Pass video files or folders that hold them.")
    root = Path(out)
    (root / "videos").mkdir(parents=True, exist_ok=True)
    old = json.loads((root / "manifest.json").read_text()) if (root / "manifest.json").is_file() else None
    if old is not None and old.get("kind") != "piano":
        raise InputError(f"'{root}' holds another kind of dataset.", "Choose a new folder.")
    entries = {e["id"]: e for e in (old or {}).get("videos", [])}
    given = parse_crop(crop) if crop else None
    skipped = []
    for i, src in enumerate(files):
        if job is not None:
            job.progress(i, len(files), f"looking at {src.name}")
        vid = f"{src.stem}-{hashlib.sha1(str(src.resolve()).encode()).hexdigest()[:6]}"
        if vid in entries:
            continue
        try:
            info = probe(src)
        except X2Error as exc:
            skipped.append(f"{src.name}: {exc}")
            continue
        if info.video is None or info.video.frames < 5:
            skipped.append(f"{src.name}: no picture, or fewer than 5 frames")
            continue
        corners = given if given is not None else keyboard_of(src)
        if corners is None:
            corners = detect_in_video(src)
        if corners is None:
            skipped.append(f"{src.name}: no keyboard found (give its position with --crop)")
            continue
        dst = root / "videos" / f"{vid}{src.suffix.lower()}"
        if not dst.exists():
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)
        h = int(hashlib.sha1(vid.encode()).hexdigest()[:8], 16) % 10
        entry = {"id": vid, "split": "test" if h == 0 else "val" if h == 1 else "train", "source": "real",
                 "piece": src.stem, "fps": float(info.video.fps), "frames": int(info.video.frames),
                 "size": [info.video.width, info.video.height], "corners": np.round(corners, 2).tolist(),
                 "video": f"videos/{dst.name}", "original": str(src.resolve()), "audio": info.audio is not None}
        midi = src.with_suffix(".mid")
        if midi.is_file():
            (root / "midi").mkdir(exist_ok=True)
            shutil.copy2(midi, root / "midi" / f"{vid}.mid")
            entry["midi"] = f"midi/{vid}.mid"
        entries[vid] = entry
    videos = sorted(entries.values(), key=lambda e: e["id"])
    manifest = {"kind": "piano", "version": 1, "source": "real", "config": {"importer": "training.data.piano"},
                "splits": {s: sum(e["split"] == s for e in videos) for s in ("train", "val", "test")}, "videos": videos}
    atomic_write_text(root / "manifest.json", json.dumps(manifest, indent=1))
    return {"videos": len(videos), "skipped": skipped, "splits": manifest["splits"], "path": str(root)}
