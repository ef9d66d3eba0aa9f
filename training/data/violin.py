"""Violin datasets for visual pitch estimation: frames (1 or 5) or a spectrogram window per video
frame, with a pitch class.

A dataset folder has a ``manifest.json`` of kind ``violin`` (``x2studio data synth violin`` makes
one).  Labels per frame come from ``labels/<id>.json``'s true pitch (``labels="truth"``) or from the
audio pitch tracker's pseudo labels ``pseudo/<id>.npz`` (``labels="pseudo"``, the thesis' way; made
by :func:`make_pseudo_labels`).

Each video is decoded once into caches (memory-mapped ``.npy``): the frames resized to the model's
input, and the log-magnitude spectrogram (10-ms steps) the teacher reads; frame ``k`` (shown at
``k / fps``) gets the spectrogram window centred on ``k / fps``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import torch

from x2studio.core.atomic import atomic_path
from x2studio.core.errors import InputError
from x2studio.models.violin import SPEC_HOP, SPEC_RATE, class_of_midi, log_spectrogram

__all__ = ["load_manifest", "video_frames", "video_spectrogram", "frame_labels", "spec_windows", "ViolinItems",
           "make_pseudo_labels", "PSEUDO_TRACKER"]

log = logging.getLogger(__name__)

# measured on the varied subset's 10 test videos (2026-12-02), RPA / RPA tol against the true pitch:
# yin 77.2 / 90.0, pYIN 78.8 / 90.5, torchcrepe tiny 77.8 / 91.2, aubio yinfft 51.4 / 71.8; yin is
# within 1.6 points of the best and the fastest, and needs no extra package
PSEUDO_TRACKER = "yin"


def load_manifest(root: str | Path) -> dict:
    from ..synth.violin import load_violin_manifest

    return load_violin_manifest(root)


def _cached(path: Path, make) -> np.ndarray:
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        arr = make()
        with atomic_path(path, suffix=".npy") as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, arr)
    return np.load(path, mmap_mode="r")


def video_frames(root: Path, entry: dict, size: tuple[int, int], cache: Path) -> np.ndarray:
    """(T, H, W, 3) uint8 frames of one video resized to ``size`` (width, height), cached."""
    import cv2

    from x2studio.media.video import VideoReader

    key = hashlib.sha1(json.dumps([entry["video"], list(size)]).encode()).hexdigest()[:10]

    def make():
        with VideoReader(root / entry["video"]) as rd:
            return np.stack([cv2.resize(f.image, tuple(size), interpolation=cv2.INTER_AREA) for f in rd.frames()])

    return _cached(cache / f"violin_{entry['id']}_{size[0]}x{size[1]}_{key}.npy", make)


def video_spectrogram(root: Path, entry: dict, bins: int, cache: Path) -> np.ndarray:
    """(steps, bins) float16 log spectrogram of one video's sound (10-ms steps), cached."""
    from x2studio.media.audio import load_audio

    def make():
        clip = load_audio(root / entry["video"], sample_rate=SPEC_RATE, mono=True)
        x = clip.samples.reshape(-1)
        peak = float(np.abs(x).max()) if len(x) else 0.0
        x = x / peak * 0.9 if peak > 1e-4 else x
        return log_spectrogram(torch.from_numpy(np.ascontiguousarray(x)), bins).numpy().astype(np.float16)

    return _cached(cache / f"violin_{entry['id']}_spec{bins}.npy", make)


def spec_windows(spec: np.ndarray, n_frames: int, fps: float, steps: int) -> np.ndarray:
    """Index of the first spectrogram step of each frame's window (``steps`` long, centred on k / fps)."""
    centre = np.round(np.arange(n_frames) / fps * SPEC_RATE / SPEC_HOP).astype(int)
    return np.clip(centre - steps // 2, 0, max(0, len(spec) - steps))


def frame_labels(root: Path, entry: dict, labels: str, n_frames: int) -> np.ndarray:
    """(T,) int64 pitch classes (0 = no note) of one video from its true pitch or pseudo labels."""
    if labels == "truth":
        path = root / "labels" / f"{entry['id']}.json"
        if not path.is_file():
            raise InputError(f"Video '{entry['id']}' has no true pitch ({path}).", "Train on pseudo labels instead.")
        pitch = np.asarray(json.loads(path.read_text())["truth"]["pitch"], np.float32)
        voiced = pitch > 0
    elif labels == "pseudo":
        path = root / "pseudo" / f"{entry['id']}.npz"
        if not path.is_file():
            raise InputError(f"Video '{entry['id']}' has no pseudo labels ({path}).",
                             "Make them first: 'x2studio train violin-labels --data DIR'.")
        with np.load(path) as z:
            pitch, voiced = z["midi"].astype(np.float32), z["voiced"].astype(bool)
    else:
        raise InputError(f"Unknown labels '{labels}'.", "Use 'truth' or 'pseudo'.")
    out = np.zeros(n_frames, np.int64)
    m = min(n_frames, len(pitch))
    out[:m] = class_of_midi(pitch[:m], voiced[:m]).numpy()
    return out


class ViolinItems(torch.utils.data.Dataset):
    """Items per video frame: ``(input, spectrogram window or empty, class)``.

    ``modality`` "audio" → input is the spectrogram window (steps, bins); "visual" → the frames
    ((3, H, W) for 1 frame, (5, 3, H, W) for 5) in [0, 1]; ``with_spec`` adds the spectrogram window
    for the teacher (distillation).  ``augment`` (visual): a random turn, zoom and shift of the picture,
    brightness/contrast jitter and noise; ``turn`` (degrees), ``zoom`` and ``shift`` (fractions of the
    frame) bound the random similarity it applies.
    """

    def __init__(self, root: str | Path, split: str, cache: str | Path, modality: str = "visual", frames: int = 1,
                 size: tuple[int, int] = (200, 100), bins: int = 256, steps: int = 16, labels: str = "pseudo",
                 with_spec: bool = False, augment: bool = False, seed: int = 0, job=None,
                 turn: float = 6.0, zoom: float = 0.12, shift: float = 0.06) -> None:
        self.root = Path(root)
        manifest = load_manifest(self.root)
        self.entries = [e for e in manifest["videos"] if e.get("split") == split]
        if not self.entries:
            raise InputError(f"'{root}' has no '{split}' videos.", "Render more minutes so every split has videos.")
        self.modality, self.frames, self.size = modality, int(frames), (int(size[0]), int(size[1]))
        self.steps, self.with_spec, self.augment = int(steps), bool(with_spec), bool(augment)
        self.turn, self.zoom, self.shift = float(turn), float(zoom), float(shift)
        self.video, self.spec, self.start, self.cls = [], [], [], []
        index = []
        for i, e in enumerate(self.entries):
            if job is not None:
                job.progress(i, len(self.entries), f"preparing {split} video {i + 1}/{len(self.entries)}")
            n = int(e["frames"])
            if modality == "visual":
                fr = video_frames(self.root, e, self.size, Path(cache))
                n = min(n, len(fr))
                self.video.append(fr)
            else:
                self.video.append(None)
            if modality == "audio" or with_spec:
                sp = video_spectrogram(self.root, e, bins, Path(cache))
                self.spec.append(sp)
                self.start.append(spec_windows(sp, n, float(e["fps"]), self.steps))
            else:
                self.spec.append(None)
                self.start.append(None)
            self.cls.append(frame_labels(self.root, e, labels, n))
            index += [(i, k) for k in range(n)]
        self.index = np.array(index, np.int64)
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.index)

    def class_counts(self) -> np.ndarray:
        from x2studio.models.violin import N_CLASSES

        return np.bincount(np.concatenate(self.cls), minlength=N_CLASSES)

    def _spec(self, v: int, k: int) -> torch.Tensor:
        s0 = int(self.start[v][k])
        w = np.asarray(self.spec[v][s0:s0 + self.steps], np.float32)
        if len(w) < self.steps:
            w = np.pad(w, ((0, self.steps - len(w)), (0, 0)))
        return torch.from_numpy(w)

    def __getitem__(self, i: int):
        v, k = (int(x) for x in self.index[i])
        y = torch.tensor(int(self.cls[v][k]))
        spec = self._spec(v, k) if (self.modality == "audio" or self.with_spec) else torch.zeros(0)
        if self.modality == "audio":
            return spec, torch.zeros(0), y
        fr = self.video[v]
        half = self.frames // 2
        idx = np.clip(np.arange(k - half, k + half + 1), 0, len(fr) - 1)
        x = np.asarray(fr[idx], np.float32) / 255.0                    # (t, H, W, 3)
        if self.augment:
            x = self._augment(x)
        x = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        return (x[0] if self.frames == 1 else x), spec, y

    def _augment(self, x: np.ndarray) -> np.ndarray:
        import cv2

        rng = np.random.default_rng(self.rng.integers(0, 2**63) ^ (np.random.randint(0, 2**31)))
        t, h, w, _ = x.shape
        # a similarity (turn, zoom, shift): the pitch is where the fingertip stops the string between
        # the nut and the bridge, a ratio that turning, zooming and shifting the picture keep, so these
        # are new camera views with the same label (the varied subset has one view per video)
        a = np.deg2rad(rng.uniform(-self.turn, self.turn))
        z = rng.uniform(1.0 - self.zoom, 1.0 + self.zoom)
        dx, dy = rng.uniform(-self.shift, self.shift) * w, rng.uniform(-self.shift, self.shift) * h
        c, s = z * np.cos(a), z * np.sin(a)
        m = np.float32([[c, -s, (1 - c) * w / 2 + s * h / 2 + dx], [s, c, (1 - c) * h / 2 - s * w / 2 + dy]])
        x = np.stack([cv2.warpAffine(f, m, (w, h), borderMode=cv2.BORDER_REPLICATE) for f in x])
        x = (x - 0.5) * rng.uniform(0.8, 1.2) + 0.5 + rng.uniform(-0.08, 0.08)
        x = x * (1 + rng.normal(0, 0.04, 3)).astype(np.float32)
        if rng.random() < 0.4:
            x = x + rng.normal(0, 0.02, x.shape)
        return np.clip(x, 0, 1).astype(np.float32)


def labels_current(path: Path, lookahead_s: float) -> bool:
    """Whether pseudo labels exist at ``path`` and were read with this lookahead."""
    if not path.is_file():
        return False
    try:
        with np.load(path) as z:
            return "lookahead" in z.files and abs(float(z["lookahead"]) - lookahead_s) < 1e-4
    except (OSError, ValueError):
        return False           # unreadable: made again


def make_pseudo_labels(data: str | Path, tracker: str = PSEUDO_TRACKER, job=None, overwrite: bool = False,
                       compare: tuple[str, ...] = (), compare_split: str = "test", lookahead_s: float | None = None) -> dict:
    """The thesis' labels: the pitch of each video's sound by an offline tracker, per video frame,
    in ``pseudo/<id>.npz`` (midi, voiced, confidence).  Reports each tracker's RPA (within half a
    semitone, on frames where a note truly sounds) and voicing against the true pitch per split;
    ``compare`` measures further trackers (on the ``compare_split`` videos) without writing their labels.
    ``lookahead_s`` (default :data:`~x2studio.pipelines.violin_audio.ATTACK_S`): each frame reads the
    sound this much later; labels made with another lookahead are made again."""
    from x2studio.media.audio import load_audio
    from x2studio.pipelines.violin_audio import ATTACK_S, pitch_trackers, track_pitch

    look = ATTACK_S if lookahead_s is None else float(lookahead_s)

    data = Path(data)
    manifest = load_manifest(data)
    here = pitch_trackers()
    trackers = [tracker] + [t for t in compare if t != tracker]
    missing = [t for t in trackers if not here.get(t)]
    if tracker in missing:
        raise InputError(f"The pitch tracker '{tracker}' is not installed here.",
                         f"Use one of: {', '.join(t for t, ok in here.items() if ok)}.")
    out_dir = data / "pseudo"
    out_dir.mkdir(parents=True, exist_ok=True)
    stats: dict[str, dict[str, list[float]]] = {}
    skipped = []
    videos = manifest["videos"]
    for i, e in enumerate(videos):
        if job is not None:
            job.progress(i, len(videos), f"listening to {e['id']}")
        target = out_dir / f"{e['id']}.npz"
        truth_path = data / "labels" / f"{e['id']}.json"
        truth = (np.asarray(json.loads(truth_path.read_text())["truth"]["pitch"], np.float32)
                 if truth_path.is_file() else None)
        try:
            clip = None
            for t in trackers:
                if t in missing or (t != tracker and e.get("split") != compare_split):
                    continue
                if t == tracker and not overwrite and labels_current(target, look):
                    with np.load(target) as z:
                        midi, voiced = z["midi"], z["voiced"]
                else:
                    clip = clip or load_audio(data / e["video"])
                    pt = track_pitch(clip.samples, clip.sample_rate, int(e["frames"]), float(e["fps"]), t,
                                     lookahead_s=look)
                    midi, voiced = pt.midi, pt.voiced
                    if t == tracker:
                        with atomic_path(target, suffix=".npz") as tmp:
                            with open(tmp, "wb") as fh:
                                np.savez(fh, midi=pt.midi, voiced=pt.voiced, confidence=pt.confidence,
                                         lookahead=np.float32(look))
                if truth is not None:
                    s = stats.setdefault(t, {}).setdefault(e.get("split", "?"), [0, 0, 0, 0, 0])
                    n = min(len(truth), len(midi))
                    tv, ev = truth[:n] > 0, voiced[:n]
                    ok = tv & ev & (np.abs(midi[:n] - truth[:n]) < 0.5)
                    s[0] += int(ok.sum())
                    s[1] += int(tv.sum())
                    s[2] += int((ev == tv).sum())
                    s[3] += n
                    # ±1 frame tolerance: right at k, k − 1 or k + 1
                    near = ok.copy()
                    est = np.where(ev, midi[:n], -99)
                    for d in (-1, 1):
                        near |= tv & (np.abs(np.roll(est, d) - truth[:n]) < 0.5)
                    s[4] += int(near.sum())
        except InputError as exc:       # silent or unreadable sound: no pseudo labels for this video
            skipped.append(f"{e['id']}: {exc}")
    report = {t: {split: {"rpa": v[0] / max(v[1], 1), "rpa_tol": v[4] / max(v[1], 1), "voicing": v[2] / max(v[3], 1),
                          "frames": v[1]} for split, v in per.items()} for t, per in stats.items()}
    return {"videos": len(videos) - len(skipped), "skipped": skipped, "tracker": tracker, "lookahead_s": look,
            "trackers": report,
            "not_installed": missing, "folder": str(out_dir)}
