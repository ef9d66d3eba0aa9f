"""Face tracks from real video: detect every frame, link detections over time, smooth the crop
box, and crop (×CROP_MARGIN, square, 256²) into the face-track dataset format.

Two streaming passes over each video (never the whole video in memory): the first detects and
links, the second crops and writes every track at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from ..core.choices import VIDEO_SUFFIXES
from ..core.errors import InputError, MediaError, X2Error
from ..core.jobs import Job
from ..media.audio import load_audio
from ..media.video import VideoReader, VideoWriter
from .dataset import DatasetWriter, TrackEntry, save_npz, split_identities
from .detect import FaceDetector, iou_matrix, make_detector

# The crop around a face: a square of CROP_MARGIN × the landmark box.  Rendered training frames are
# framed this way (frame side / landmark-box side over the 240 tracks of the bundled models' data:
# median 1.91, 10th-90th percentile 1.68-2.24), so crops of photos and real video give the models
# the framing they learnt on, and face-track datasets cut from real video match the rendered ones.
CROP_MARGIN = 1.9

__all__ = ["CROP_MARGIN", "FaceTrack", "link_detections", "smooth_boxes", "crop_box", "crop", "find_tracks",
           "extract_face_tracks", "ExtractReport", "VIDEO_SUFFIXES"]

log = logging.getLogger(__name__)



@dataclass
class FaceTrack:
    """One face over consecutive frames: ``frames[k]`` has the (landmark-convention) ``boxes[k]``."""

    frames: np.ndarray            # (T,) int source frame indices, consecutive
    boxes: np.ndarray             # (T, 4) float, gaps interpolated
    detected: np.ndarray          # (T,) bool: a detection (not an interpolation)
    crop_boxes: np.ndarray | None = None   # (T, 4) smoothed square crop boxes

    @property
    def mean_size(self) -> float:
        wh = self.boxes[:, 2:] - self.boxes[:, :2]
        return float(np.sqrt(np.clip(wh, 0, None).prod(1)).mean())


def link_detections(per_frame: Sequence[list[np.ndarray]], max_gap: int = 25, min_iou: float = 0.2,
                    min_length: int = 10, min_detected: float = 0.4) -> list[FaceTrack]:
    """Greedy IoU linking of per-frame boxes into tracks; gaps up to ``max_gap`` frames are
    interpolated; tracks shorter than ``min_length`` frames, or detected in less than
    ``min_detected`` of their frames (flickering false positives), are dropped."""
    open_tracks: list[dict] = []
    closed: list[dict] = []
    for f, boxes in enumerate(per_frame):
        boxes = [np.asarray(b, np.float32) for b in boxes]
        still = []
        for t in open_tracks:
            if f - t["frames"][-1] > max_gap:
                closed.append(t)
            else:
                still.append(t)
        open_tracks = still
        used = set()
        if open_tracks and boxes:
            last = np.stack([t["boxes"][-1] for t in open_tracks])
            iou = iou_matrix(last, np.stack(boxes))
            while True:
                i, j = np.unravel_index(np.argmax(iou), iou.shape)
                if iou[i, j] < min_iou:
                    break
                open_tracks[i]["frames"].append(f)
                open_tracks[i]["boxes"].append(boxes[j])
                used.add(j)
                iou[i, :] = -1
                iou[:, j] = -1
        for j, b in enumerate(boxes):
            if j not in used:
                open_tracks.append({"frames": [f], "boxes": [b]})
    closed.extend(open_tracks)
    out = []
    for t in closed:
        fr = np.array(t["frames"])
        if fr[-1] - fr[0] + 1 < min_length or len(fr) < min_detected * (fr[-1] - fr[0] + 1):
            continue
        full = np.arange(fr[0], fr[-1] + 1)
        bx = np.stack(t["boxes"])
        boxes = np.stack([np.interp(full, fr, bx[:, k]) for k in range(4)], -1).astype(np.float32)
        out.append(FaceTrack(frames=full, boxes=boxes, detected=np.isin(full, fr)))
    return sorted(out, key=lambda t: -t.mean_size)


def crop_box(box: np.ndarray, margin: float = CROP_MARGIN) -> np.ndarray:
    """A square around ``box`` (x0,y0,x1,y1; any leading shape) expanded by ``margin``."""
    box = np.asarray(box, np.float32)
    c = (box[..., :2] + box[..., 2:]) / 2
    side = np.maximum(box[..., 2] - box[..., 0], box[..., 3] - box[..., 1]) * margin
    return np.concatenate([c - side[..., None] / 2, c + side[..., None] / 2], -1)


def smooth_boxes(boxes: np.ndarray, sigma_frames: float = 3.0, median_frames: int = 9) -> np.ndarray:
    """Smoothing over time of centre and size (offline, centred; edges reflected): a running median
    first (detectors now and then return a box of the wrong scale for a frame or two), then a
    Gaussian."""
    if len(boxes) < 3 or sigma_frames <= 0:
        return boxes.copy()
    c = (boxes[:, :2] + boxes[:, 2:]) / 2
    s = boxes[:, 2:] - boxes[:, :2]
    m = min(median_frames // 2, (len(boxes) - 1) // 2)
    if m > 0:
        def med(x):
            win = np.lib.stride_tricks.sliding_window_view(np.pad(x, ((m, m), (0, 0)), mode="reflect"),
                                                           2 * m + 1, axis=0)
            return np.median(win, axis=-1)
        c, s = med(c), med(s)
    r = int(3 * sigma_frames)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma_frames) ** 2)
    k /= k.sum()

    def f(x):
        pad = np.pad(x, (r, r), mode="reflect") if len(x) > r else np.pad(x, (r, r), mode="edge")
        return np.convolve(pad, k, mode="valid")

    c = np.stack([f(c[:, 0]), f(c[:, 1])], -1)
    s = np.stack([f(s[:, 0]), f(s[:, 1])], -1)
    return np.concatenate([c - s / 2, c + s / 2], -1).astype(np.float32)


def crop(frame: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """Crop the square ``box`` (may leave the frame: the outside is black) resized to ``size``²."""
    x0, y0, x1, y1 = [float(v) for v in box]
    s = size / max(x1 - x0, 1e-3)
    m = np.array([[s, 0, -x0 * s - 0.5 + 0.5 * s], [0, s, -y0 * s - 0.5 + 0.5 * s]], np.float32)
    if s < 0.45:   # warpAffine has no area filter: pre-shrink to avoid aliasing (to scale 0.5 > 0.45:
        f = 1 / (2 * s)   # the recursion ends whatever the rounding of the shrunk image's size)
        small = cv2.resize(frame, None, fx=1 / f, fy=1 / f, interpolation=cv2.INTER_AREA)
        return crop(small, np.asarray(box) / f, size)
    return cv2.warpAffine(frame, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))


def find_tracks(path: str | Path, detector: FaceDetector, job: Job | None = None, margin: float = CROP_MARGIN,
                min_seconds: float = 0.4, stride: int = 1) -> tuple[list[FaceTrack], float, tuple[int, int]]:
    """Pass 1: detect in every ``stride``-th frame and link (the frames between are interpolated, as
    gaps are).  Returns tracks (largest first), fps, (w, h)."""
    with VideoReader(path) as rd:
        fps = rd.fps if getattr(rd, "fps", None) else 25.0
        total = rd.frame_count or None
        per_frame = []
        for fr in rd.frames():
            per_frame.append([d.box for d in detector.detect(fr.image)] if fr.index % stride == 0 else [])
            if job is not None:
                job.progress(fr.index + 1, total, f"finding faces in {Path(path).name}")
        wh = (rd.width, rd.height)
    tracks = link_detections(per_frame, min_length=max(2, int(round(min_seconds * fps))), min_detected=0.4 / stride)
    for t in tracks:
        t.crop_boxes = crop_box(smooth_boxes(t.boxes), margin)
    return tracks, float(fps), wh


@dataclass
class ExtractReport:
    tracks: int = 0
    videos: int = 0
    skipped: list[str] = field(default_factory=list)
    out: Path | None = None

    def lines(self) -> list[str]:
        out = [f"wrote {self.tracks} face track(s) from {self.videos} video(s) to {self.out}"]
        out += [f"skipped {s}" for s in self.skipped]
        return out


def _expand_inputs(paths: Sequence[str | Path]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        p = p.expanduser()
        if p.is_dir():
            files += sorted(q for q in p.rglob("*") if q.suffix.lower() in VIDEO_SUFFIXES and q.is_file())
        elif p.exists():
            files.append(p)
        else:
            raise InputError(f"'{p}' does not exist.", "Give video files or folders of videos.")
    if not files:
        raise InputError("No videos found in the given paths.", f"Videos end in {', '.join(sorted(VIDEO_SUFFIXES))}.")
    return files


def extract_face_tracks(inputs: Sequence[str | Path], out: str | Path, *, size: int = 256, margin: float = CROP_MARGIN,
                        detector: str | FaceDetector = "auto", max_faces: int = 4, job: Job | None = None,
                        seed: int = 0) -> ExtractReport:
    """Videos (or folders of them) → face-track dataset at ``out`` (splits by source video).

    A video with no face, or one that cannot be read, is skipped with a log line and listed in the
    report; it never stops the others.
    """
    if not 32 <= int(size) <= 1024:
        raise InputError(f"Crop size {size} is out of range.", "Use 32 to 1024 pixels.")
    if not 1.0 <= margin <= 4.0:
        raise InputError(f"Margin {margin} is out of range.", "Use a box expansion between 1 and 4.")
    files = _expand_inputs(inputs)
    det = make_detector(detector) if isinstance(detector, str) else detector
    job = job or Job()
    config = {"source": "video", "inputs": [str(f) for f in files], "size": int(size), "margin": float(margin),
              "detector": det.name, "max_faces": int(max_faces)}
    writer = DatasetWriter(out, size=size, fps=0.0, source="video", config=config)
    names = {f: f"v{i:04d}_{f.stem}" for i, f in enumerate(files)}
    splits = split_identities(list(names.values()), seed)
    report = ExtractReport(out=writer.root)
    try:
        for vi, f in enumerate(files):
            job.check()
            base = names[f]
            if any(e.id.startswith(base + "_") for e in writer.tracks.values()):
                report.videos += 1
                report.tracks += sum(e.id.startswith(base + "_") for e in writer.tracks.values())
                continue
            try:
                tracks, fps, wh = find_tracks(f, det, job, margin=margin)
            except X2Error as exc:
                log.warning("skipping %s: %s", f, exc)
                report.skipped.append(f"{f}: {exc.message}")
                continue
            report.videos += 1
            if not tracks:
                log.warning("no face found in %s", f)
                report.skipped.append(f"{f}: no face found")
                continue
            tracks = tracks[:max_faces]
            try:
                _write_tracks(f, tracks, fps, size, writer, base, splits, job)
            except MediaError as exc:
                log.warning("skipping %s: %s", f, exc)
                report.skipped.append(f"{f}: {exc.message}")
                continue
            report.tracks += len(tracks)
        writer.write_manifest(splits)
    finally:
        det.close()
    return report


def _write_tracks(path: Path, tracks: list[FaceTrack], fps: float, size: int, writer: DatasetWriter,
                  base: str, splits: dict, job: Job) -> None:
    try:
        audio = load_audio(path, sample_rate=16000, mono=True)
    except X2Error:
        audio = None
    ids = [f"{base}_{k:02d}" for k in range(len(tracks))]
    writers = {}
    try:
        for k, t in enumerate(tracks):
            writers[k] = VideoWriter(writer.video_path(ids[k]), fps, (size, size),
                                     audio_rate=audio.sample_rate if audio is not None else None)
        lo = min(int(t.frames[0]) for t in tracks)
        hi = max(int(t.frames[-1]) for t in tracks)
        with VideoReader(path) as rd:
            for fr in rd.frames(lo, hi + 1):
                for k, t in enumerate(tracks):
                    i = fr.index - int(t.frames[0])
                    if 0 <= i < len(t.frames):
                        writers[k].write(crop(fr.image, t.crop_boxes[i], size))
                job.progress(fr.index - lo + 1, hi - lo + 1, f"cropping {path.name}")
        for k, t in enumerate(tracks):
            if audio is not None:
                a0 = int(round(t.frames[0] / fps * audio.sample_rate))
                a1 = int(round((t.frames[-1] + 1) / fps * audio.sample_rate))
                seg = audio.samples[a0:a1, 0]
                seg = np.pad(seg, (0, max(0, a1 - a0 - len(seg))))
                writers[k].write_audio(seg)
            writers[k].close()
    except BaseException:
        for w in writers.values():
            w.abort()
        raise
    for k, t in enumerate(tracks):
        save_npz(writer.labels_path(ids[k]), source_box=t.crop_boxes.astype(np.float32),
                 face_box=t.boxes.astype(np.float32), source_frame=t.frames.astype(np.int32),
                 detected=t.detected)
        writer.add(TrackEntry(id=ids[k], identity=base, split=splits[base], frames=len(t.frames), fps=fps,
                              video=f"tracks/{ids[k]}.mp4", labels=f"tracks/{ids[k]}.npz", audio=audio is not None,
                              extra={"source": str(path), "first_frame": int(t.frames[0])}), splits)
