"""Find and fix the offset between a video's picture and its sound (thesis ch. 7; PAPERS.md §6).

An audio-visual synchronisation network (:mod:`x2studio.models.avsync`) embeds each video frame's
5-frame visual window (``v``) and the 0.2 s of audio centred on each frame (``a``).  For a candidate
offset ``o`` (frames; positive: the sound is late), the distance is the mean of ‖v_k − a_{k+o}‖ over
the frames where both exist; the offset is where that curve is lowest::

    D(o) = mean_k ‖v_k − a_{k+o}‖,     ô = argmin_o D(o),     confidence = median D − min D

(SyncNet's confidence).  Over a long video the same is done in sliding windows: a trend in the
windows' offsets is drift (a recorder whose clock runs at another rate).  An optimum at the edge of
the search range means the offset is beyond it: that is reported, never guessed.

The ``face`` kind uses the largest face's mouth region (face tracks, :data:`MOUTH_BOX`); the
``piano`` kind the rectified keyboard (its corners remembered for the video, beside it, given, or
found in the picture), as the piano transcriber sees it.

- :func:`estimate_offset` — the curve, the offset, the confidence and the windows (drift).
- :func:`fix_offset` — a copy of the video with the sound moved by the offset (the picture is
  copied, not re-encoded), atomically.
- :func:`onset_baseline` — the non-learned baseline: cross-correlation of the picture's motion
  energy (mouth or keyboard) with the sound's onset envelope.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..core.atomic import check_video_output
from ..core.errors import InputError, MediaError
from ..core.jobs import Job
from ..face.detect import make_detector
from ..face.tracks import crop, find_tracks
from ..media.audio import AudioClip, delay, frame_count, frame_windows, load_audio, resample, to_mono
from ..media.video import VideoReader, probe, replace_audio
from ..models.avsync import mouth_regions
from ..models.registry import model_from_card
from ..weights.registry import WeightsRegistry
from .speech import SILENCE_PEAK

__all__ = ["SyncModel", "SyncResult", "SyncRequest", "SyncCheck", "check_sync", "estimate_offset", "fix_offset", "offset_curve", "onset_baseline", "piano_keyboards",
           "DEFAULT_SYNC_WEIGHTS", "MAX_OFFSET_S"]

log = logging.getLogger(__name__)

DEFAULT_SYNC_WEIGHTS = {"face": "avsync-face-lite", "piano": "avsync-piano-lite"}
MAX_OFFSET_S = 2.0
CROP_SIZE = 128          # face crops the face model was trained on (its mouth region is resized anyway)
MIN_OVERLAP = 15         # frames that must pair up at an offset for its distance to count
# below this (median − lowest distance), no offset stands out: seen 0.26…0.9 on held-out talking
# clips in sync or shifted within the range, about 0.07 when the true offset lies outside it
MIN_CONFIDENCE = 0.15


class SyncModel:
    """AV-sync weights: ``visual(mouths)`` → ``(n, dim)``, ``audio(clip, fps, n)`` → ``(n, dim)``."""

    def __init__(self, weights: str = "avsync-face-lite", device: str = "cpu",
                 registry: WeightsRegistry | None = None) -> None:
        from ..weights.registry import resolve_entry

        entry = resolve_entry(weights, registry)
        self.model = model_from_card(entry, device, allowed=("avsync",))
        self.name, self.kind = entry.name, str(self.model.kind)
        self.device = torch.device(device)

    def visual(self, mouths: np.ndarray, valid: np.ndarray, batch: int = 128) -> np.ndarray:
        """Per frame ``k`` the embedding of frames ``k−2 … k+2`` (``mouths`` ``(n, H, W)`` in [0, 1]);
        NaN where a frame of the window has no face (``valid`` False) or the window leaves the video."""
        m = self.model
        n, half = len(mouths), m.frames // 2
        out = np.full((n, m.dim), np.nan, np.float32)
        ok = np.array([k >= half and k + half < n and bool(valid[k - half:k + half + 1].all()) for k in range(n)])
        idx = np.flatnonzero(ok)
        with torch.inference_mode():
            for s in range(0, len(idx), batch):
                ks = idx[s:s + batch]
                x = np.stack([mouths[k - half:k + half + 1] for k in ks]).astype(np.float32)
                out[ks] = m.visual(torch.from_numpy(x).to(self.device)).float().cpu().numpy()
        return out

    def audio(self, clip: AudioClip, fps: float, batch: int = 256) -> np.ndarray:
        m = self.model
        mono = resample(to_mono(clip.samples), clip.sample_rate, int(m.sample_rate))
        w = frame_windows(mono, int(m.sample_rate), fps, float(m.window_s))
        out = []
        with torch.inference_mode():
            for s in range(0, len(w), batch):
                out.append(m.audio(torch.from_numpy(np.ascontiguousarray(w[s:s + batch])).to(self.device)).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, m.dim), np.float32)


def offset_curve(v: np.ndarray, a: np.ndarray, max_offset: int) -> tuple[np.ndarray, np.ndarray]:
    """``(offsets, D)``: mean ‖v_k − a_{k+o}‖ for o in −max_offset … max_offset (NaN where fewer
    than :data:`MIN_OVERLAP` frames pair up).  Rows of ``v`` that are NaN are left out."""
    offsets = np.arange(-max_offset, max_offset + 1)
    d = np.full(len(offsets), np.nan)
    good = np.flatnonzero(np.isfinite(v).all(1))
    for i, o in enumerate(offsets):
        k = good[(good + o >= 0) & (good + o < len(a))]
        if len(k) >= MIN_OVERLAP:
            d[i] = float(np.linalg.norm(v[k] - a[k + o], axis=1).mean())
    return offsets, d


@dataclass
class Window:
    start_s: float
    offset_s: float | None
    confidence: float


@dataclass
class SyncResult:
    """The whole video's estimate, its distance curve and the sliding windows."""

    fps: float
    offset_frames: int | None            # None: beyond the search range (or no usable overlap)
    confidence: float
    offsets: np.ndarray                  # frames
    distances: np.ndarray
    windows: list[Window] = field(default_factory=list)
    drift_ms_per_min: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def offset_s(self) -> float | None:
        return None if self.offset_frames is None else self.offset_frames / self.fps

    def lines(self) -> list[str]:
        if self.offset_frames is None:
            head = "offset: not found within ±{:.1f} s".format(self.offsets[-1] / self.fps)
        elif self.offset_frames == 0:
            head = f"in sync (offset 0 frames; confidence {self.confidence:.2f})"
        else:
            late = "late" if self.offset_frames > 0 else "early"
            head = (f"the sound is {abs(self.offset_s) * 1000:.0f} ms {late} ({self.offset_frames:+d} frames at "
                    f"{self.fps:g} fps; confidence {self.confidence:.2f})")
        out = [head]
        if self.drift_ms_per_min is not None:
            out.append(f"drift: {self.drift_ms_per_min:+.0f} ms per minute over {len(self.windows)} windows")
        return out + self.notes

    def to_dict(self) -> dict:
        return {"fps": self.fps, "offset_frames": self.offset_frames, "offset_s": self.offset_s,
                "confidence": self.confidence, "offsets": self.offsets.tolist(),
                "distances": [None if not np.isfinite(x) else float(x) for x in self.distances],
                "windows": [asdict(w) for w in self.windows], "drift_ms_per_min": self.drift_ms_per_min,
                "notes": self.notes}


def pick_offset(offsets: np.ndarray, d: np.ndarray, min_confidence: float = MIN_CONFIDENCE) -> tuple[int | None, float]:
    """The offset with the lowest distance and its confidence; None when the lowest is at the edge
    of the range (the true offset lies beyond) or not clearly below the rest."""
    if not np.isfinite(d).any():
        return None, 0.0
    i = int(np.nanargmin(d))
    conf = float(np.nanmedian(d) - d[i])
    finite = np.flatnonzero(np.isfinite(d))
    if i in (finite[0], finite[-1]) or conf < min_confidence:
        return None, conf
    return int(offsets[i]), conf


DETECT_EVERY = 8         # frames between face detections (boxes between are interpolated and smoothed)


def face_mouths(path: str | Path, detector: str = "auto", job: Job | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """Face crops ``(n, S, S, 3)`` of the largest face in every frame, a validity mask (frames with
    the face) and the frame rate.  Detection is what costs (Haar: about 60 ms a frame here), and the
    mouth region is generous, so faces are detected every :data:`DETECT_EVERY`-th frame only."""
    tracks, fps, _ = find_tracks(path, make_detector(detector), job=job, stride=DETECT_EVERY)
    if not tracks:
        raise InputError(f"No face was found in '{Path(path).name}'.", "Sync by face needs a visible, talking face.")
    t = tracks[0]
    boxes = {int(f): b for f, b in zip(t.frames, t.crop_boxes)}
    crops, valid = [], []
    with VideoReader(path) as rd:
        for fr in rd.frames():
            box = boxes.get(fr.index)
            valid.append(box is not None)
            crops.append(crop(fr.image, box, CROP_SIZE) if box is not None else np.zeros((CROP_SIZE, CROP_SIZE, 3), np.uint8))
    return np.stack(crops), np.array(valid), float(fps)


def mouths_of(crops: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    x = torch.from_numpy(np.asarray(crops, np.float32) / 255.0).permute(0, 3, 1, 2)
    return mouth_regions(x, size).numpy()


def piano_keyboards(path: str | Path, size: tuple[int, int], corners: np.ndarray | None = None,
                    job: Job | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """The rectified keyboard ``(n, H, W)`` in [0, 1] of every frame (``size`` (H, W)), all valid, and
    the frame rate; ``corners`` default to the video's known keyboard, else the one found in it."""
    from .piano import Rectifier, keyboard_of

    if corners is None:
        corners = keyboard_of(path)
    if corners is None:
        from .keyboard import detect_in_video

        if job is not None:
            job.progress(0, None, "looking for the keyboard")
        corners = detect_in_video(path)
    if corners is None:
        raise InputError(f"No keyboard was found in '{Path(path).name}'.",
                         "Mark its corners in the Piano panel, or pass --crop Y0,Y1,X0,X1.")
    out = []
    with VideoReader(path) as rd:
        rect = Rectifier(np.asarray(corners), (int(size[1]), int(size[0])), (rd.width, rd.height))
        fps, total = float(rd.fps), rd.frame_count or None
        for fr in rd.frames():
            out.append(rect(fr.image))
            if job is not None and fr.index % 50 == 0:
                job.progress(fr.index, total, "reading the keyboard")
    if not out:
        raise MediaError(f"'{Path(path).name}' has no video frames.")
    regions = (np.stack(out) / np.float16(255.0)).astype(np.float16)     # half: an hour of video stays in memory
    return regions, np.ones(len(regions), bool), fps


def estimate_offset(video: str | Path, kind: str = "face", weights: str | None = None, device: str = "cpu",
                    max_offset_s: float = MAX_OFFSET_S, window_s: float = 10.0, detector: str = "auto",
                    job: Job | None = None, audio: AudioClip | None = None,
                    corners: np.ndarray | None = None) -> SyncResult:
    """The offset between ``video``'s picture and sound (or ``audio`` instead of its own sound);
    ``kind`` ``face`` (the largest face's mouth) or ``piano`` (the keyboard at ``corners``)."""
    if kind not in DEFAULT_SYNC_WEIGHTS:
        raise InputError(f"Sync of kind '{kind}' is not available.", f"Kinds: {', '.join(DEFAULT_SYNC_WEIGHTS)}.")
    _check_ranges(max_offset_s, window_s)
    model = SyncModel(weights or DEFAULT_SYNC_WEIGHTS[kind], device)
    if model.kind != kind:
        raise InputError(f"The weights '{model.name}' sync {model.kind} videos, not {kind} videos.",
                         f"Use the bundled '{DEFAULT_SYNC_WEIGHTS[kind]}' or other weights of kind '{kind}'.")
    if audio is None:
        try:
            audio = load_audio(video)
        except MediaError as exc:
            raise InputError(exc.message, "Syncing needs a video with sound.") from exc
    if audio.peak < SILENCE_PEAK:
        raise InputError(f"The sound of '{Path(video).name}' is silent: there is nothing to sync.")
    job = job or Job()
    info = probe(video)
    if info.video is None:
        raise InputError(f"'{Path(video).name}' has no picture to sync the sound with.")
    if (info.video.frames or 0) and info.video.frames < MIN_OVERLAP + model.model.frames:
        raise InputError(f"'{Path(video).name}' has {info.video.frames} frames; syncing needs about a second of "
                         "video or more.")
    if kind == "piano":
        mouths, valid, fps = piano_keyboards(video, tuple(model.model.mouth_size), corners, job)
    else:
        crops, valid, fps = face_mouths(video, detector, job)
        mouths = mouths_of(crops, tuple(model.model.mouth_size))
    n = len(mouths)
    job.progress(n, n, "embedding the picture and the sound")
    v = model.visual(mouths, valid)
    a = model.audio(audio, fps)
    if len(a) < MIN_OVERLAP:
        raise InputError(f"The sound of '{Path(video).name}' is shorter than a second.")
    max_off = int(round(max_offset_s * fps))
    offsets, d = offset_curve(v, a, max_off)
    best, conf = pick_offset(offsets, d)
    res = SyncResult(fps, best, conf, offsets, d)
    if best is None:
        res.notes.append(f"no offset within ±{max_offset_s:g} s stands out (confidence {conf:.2f}): the offset may be "
                         "beyond the search range (try a larger --max-offset), or the "
                         + ("keys seen are not the ones heard" if kind == "piano" else "face does not speak the sound"))
    win, hop = int(round(window_s * fps)), int(round(window_s * fps / 2))
    if n >= 2 * win:
        for s in range(0, n - win + 1, hop):
            vw = np.full_like(v, np.nan)
            vw[s:s + win] = v[s:s + win]
            o, c = pick_offset(*offset_curve(vw, a, max_off))
            res.windows.append(Window(s / fps, None if o is None else o / fps, c))
        good = [(w.start_s, w.offset_s) for w in res.windows if w.offset_s is not None]
        if len(good) >= 3:
            t, o = np.array(good).T
            slope = float(np.polyfit(t, o, 1)[0])
            res.drift_ms_per_min = slope * 60_000
            if abs(slope * (t[-1] - t[0])) > 1.5 / fps:
                res.notes.append("the offset changes over the video (drift): one shift cannot fix it all")
    return res


def _check_ranges(max_offset_s: float, window_s: float) -> None:
    if not (math.isfinite(max_offset_s) and 0.2 <= max_offset_s <= 10.0):
        raise InputError(f"A search range of ±{max_offset_s} s is outside 0.2…10 s.")
    if not (math.isfinite(window_s) and 1.0 <= window_s <= 600.0):
        raise InputError(f"Windows of {window_s} s are not possible.", "Use 1 to 600 s (the default is 10).")


@dataclass(frozen=True, eq=False)
class SyncRequest:
    """Check (and with ``output``, fix) the sync of ``video``'s picture and sound: ``kind`` face
    (the largest face's mouth) or piano (the keyboard at ``corners``, TL TR BR BL pixels)."""

    video: Path
    kind: str = "face"
    output: Path | None = None
    weights: str | None = None
    device: str | None = None
    max_offset_s: float = MAX_OFFSET_S
    window_s: float = 10.0
    detector: str = "auto"
    corners: np.ndarray | None = None
    audio: AudioClip | None = None          # instead of the video's own sound (a fix applied already)

    def __post_init__(self) -> None:
        if not Path(self.video).is_file():
            raise InputError(f"The file '{self.video}' does not exist.")
        if self.kind not in DEFAULT_SYNC_WEIGHTS:
            raise InputError(f"Sync of kind '{self.kind}' is not available.", f"Kinds: {', '.join(DEFAULT_SYNC_WEIGHTS)}.")
        if self.corners is not None and self.kind != "piano":
            raise InputError("A keyboard's position goes with the piano kind.")
        _check_ranges(self.max_offset_s, self.window_s)
        if self.output is not None:
            check_video_output(self.output, protect=(self.video,), what="the fixed video")


@dataclass(frozen=True, eq=False)
class SyncCheck:
    result: SyncResult
    fixed: Path | None = None

    def lines(self) -> list[str]:
        out = self.result.lines()
        if self.fixed is not None:
            out.append(f"wrote {self.fixed} (the sound moved {self.result.offset_s * 1000:+.0f} ms; the picture copied "
                       "as it was)")
        return out


def check_sync(request: SyncRequest, job: Job | None = None) -> SyncCheck:
    """The offset (and drift) of ``request.video``; with ``output``, a copy with the sound moved into sync."""
    from ..core.device import resolve_device

    res = estimate_offset(request.video, request.kind, request.weights,
                          str(request.device or resolve_device().torch_device), request.max_offset_s,
                          request.window_s, request.detector, job, request.audio, request.corners)
    if request.output is None:
        return SyncCheck(res)
    if res.offset_frames is None:
        raise InputError("The offset was not found, so nothing was fixed.", "See the notes above; try --max-offset.")
    return SyncCheck(res, fix_offset(request.video, res.offset_s, request.output, request.audio))


def fix_offset(video: str | Path, offset_s: float, out: str | Path, audio: AudioClip | None = None) -> Path:
    """A copy of ``video`` with its sound moved ``offset_s`` earlier (a positive offset: the sound
    was late); the sound keeps its length (silence fills the other end).  Atomic."""
    out = check_video_output(out, protect=(video,), what="the fixed video")
    clip = audio if audio is not None else load_audio(video)
    return replace_audio(video, delay(clip.samples, -int(round(offset_s * clip.sample_rate))), clip.sample_rate, out)


def onset_baseline(mouths: np.ndarray, valid: np.ndarray, clip: AudioClip, fps: float,
                   max_offset: int) -> tuple[int | None, np.ndarray]:
    """The non-learned baseline: normalised cross-correlation of the mouth region's frame-to-frame
    change with the rise of the sound's loudness per frame; returns (offset or None, correlation)."""
    motion = np.zeros(len(mouths))
    motion[1:] = np.abs(np.diff(np.asarray(mouths, np.float32), axis=0)).mean((1, 2))
    motion[~valid] = 0
    motion[1:][~valid[:-1]] = 0
    mono = to_mono(clip.samples)
    n_a = frame_count(len(mono) / clip.sample_rate, fps)
    w = frame_windows(mono, clip.sample_rate, fps, 1.0 / fps)[:n_a]
    loud = np.log(np.sqrt((w ** 2).mean(1)) + 1e-4)
    onset = np.maximum(np.diff(loud, prepend=loud[:1]), 0)
    offsets = np.arange(-max_offset, max_offset + 1)
    corr = np.full(len(offsets), np.nan)
    for i, o in enumerate(offsets):
        k = np.arange(len(motion))
        k = k[(k + o >= 0) & (k + o < len(onset))]
        if len(k) >= MIN_OVERLAP:
            x, y = motion[k] - motion[k].mean(), onset[k + o] - onset[k + o].mean()
            den = np.sqrt((x * x).sum() * (y * y).sum())
            corr[i] = float((x * y).sum() / den) if den > 0 else 0.0
    if not np.isfinite(corr).any():
        return None, corr
    i = int(np.nanargmax(corr))
    finite = np.flatnonzero(np.isfinite(corr))
    return (None if i in (finite[0], finite[-1]) else int(offsets[i])), corr
