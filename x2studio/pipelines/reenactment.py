"""Reenact a video: a source face driven by a driving video, written as an MP4 (X2Face, thesis ch. 3).

The one use-case behind ``x2studio reenact``, the Reenact panel's export and its preview: the
driving face is tracked once over the whole video (:func:`track_driving`), and each driving frame
becomes a generated face by :func:`drive_frame` — so the frame the panel previews is the frame the
export writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.atomic import check_video_output
from ..core.errors import InputError, X2Error
from ..core.jobs import Job, progress_of
from ..face.tracks import crop, find_tracks
from ..media.audio import load_audio
from ..media.video import VideoReader, VideoWriter
from .reenact import DETECT_STRIDE, FUSIONS, Reenactor

__all__ = ["ReenactRequest", "ReenactReport", "DrivingTrack", "track_driving", "drive_frame", "reenact",
           "reenact_video"]

@dataclass(frozen=True)
class ReenactRequest:
    """Source faces (images, videos, ``clip.mp4@120`` frames) driven by ``driving``, written to ``output``."""

    sources: tuple[Path, ...]
    driving: Path
    output: Path
    weights: str = "x2face-lite"
    device: str | None = None
    detector: str = "auto"
    fusion: str = "matched"
    relative: bool = False
    paste: bool = True
    source_frames: int = 3

    def __post_init__(self) -> None:
        from .reenact import split_frame_spec

        if not self.sources:
            raise InputError("Give at least one source image or video.")
        for p in [split_frame_spec(s)[0] for s in self.sources] + [Path(self.driving)]:
            if not p.exists():
                raise InputError(f"The file '{p}' does not exist.")
        check_video_output(self.output, protect=(*self.sources, self.driving))
        if self.fusion not in FUSIONS:
            raise InputError(f"Unknown fusion '{self.fusion}'.", f"Use one of: {', '.join(FUSIONS)}.")
        if not 1 <= self.source_frames <= 32:
            raise InputError(f"{self.source_frames} frames per source video is out of range.", "Use 1 to 32.")


@dataclass
class ReenactReport:
    frames: int = 0
    generated: int = 0
    held: int = 0               # driving frames with no face found: the last generated frame was kept
    audio: bool = False
    out: Path | None = None
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"wrote {self.out}: {self.frames} frames ({self.generated} generated, {self.held} held"
               f" where no driving face was found), {'with' if self.audio else 'without'} audio"]
        return out + self.notes


@dataclass(frozen=True, eq=False)
class DrivingTrack:
    """The driving face's crop box in each frame of a driving video: detected every
    ``DETECT_STRIDE``-th frame, linked, interpolated and smoothed between (:func:`find_tracks`), the
    track's ends held a stride further.  ``faces``: how many faces were tracked (the largest drives)."""

    fps: float
    boxes: dict
    first: int
    faces: int

    def box(self, index: int) -> np.ndarray | None:
        return self.boxes.get(int(index))


def track_driving(driving: str | Path, detector, job: Job | None = None) -> DrivingTrack:
    """Track the largest face through ``driving`` (detection, not the model, is what costs most per
    frame: a face is looked for in every 3rd frame)."""
    tracks, fps, _ = find_tracks(driving, detector, job=job, stride=DETECT_STRIDE)
    if not tracks:
        raise InputError(f"No face was found in the driving video '{Path(driving).name}'.")
    track = tracks[0]
    boxes = {int(f): b for f, b in zip(track.frames, track.crop_boxes)}
    first, last = int(track.frames[0]), int(track.frames[-1])
    for k in range(1, DETECT_STRIDE):      # the frames just past the track's ends keep its end boxes
        boxes.setdefault(last + k, track.crop_boxes[-1])
        boxes.setdefault(first - k, track.crop_boxes[0])
    return DrivingTrack(float(fps), boxes, first, len(tracks))


def drive_frame(reenactor: Reenactor, image: np.ndarray, box: np.ndarray, relative: bool = False) -> np.ndarray:
    """One driving frame and its face's crop box → the generated face crop (S×S RGB)."""
    return reenactor.drive_crop(crop(image, box, reenactor.size), relative)


def reenact(request: ReenactRequest, job: Job | None = None) -> ReenactReport:
    """Load the model and the sources of ``request``, then :func:`reenact_video`."""
    from ..core.device import resolve_device

    r = Reenactor(request.weights, device=str(request.device or resolve_device().torch_device),
                  detector=request.detector, fusion=request.fusion)
    r.set_sources(r.load_sources(list(request.sources), frames_per_video=request.source_frames, job=job))
    return reenact_video(r, request.driving, request.output, relative=request.relative, paste=request.paste, job=job)


def reenact_video(reenactor: Reenactor, driving: str | Path, out: str | Path, *, relative: bool = False,
                  paste: bool = True, job: Job | None = None) -> ReenactReport:
    """Drive the reenactor's sources with a whole video and write ``out`` (MP4, atomically)."""
    driving, out = Path(driving), Path(out)
    if reenactor.embedded is None:
        raise InputError("Choose the source faces first.")
    check_video_output(out, protect=(driving,))
    track = track_driving(driving, reenactor.detector, job)
    report = ReenactReport(out=out)
    if track.faces > 1:
        report.notes.append(f"{track.faces} faces in the driving video: the largest drives.")
    try:
        audio = load_audio(driving)
        report.audio = True
    except X2Error:
        audio = None
        report.notes.append("the driving video has no (readable) audio: the output is silent")
    size = reenactor.sources[0].frame.shape[1::-1] if paste else (reenactor.size, reenactor.size)
    size = (size[0] - size[0] % 2, size[1] - size[1] % 2)       # H.264 wants even sizes
    reenactor.restart()
    with VideoReader(driving) as rd:
        writer = VideoWriter(out, track.fps, size, audio_rate=audio.sample_rate if audio else None,
                             audio_channels=min(audio.channels, 2) if audio else 1)
        try:
            _write_frames(reenactor, rd, track, writer, size, relative, paste, report, job)
            if audio is not None:
                n = int(round(report.frames / track.fps * audio.sample_rate))
                samples = audio.samples[:n, :2]
                writer.write_audio(np.pad(samples, ((0, n - len(samples)), (0, 0))))
            writer.close()
        except BaseException:
            writer.abort()
            raise
    return report


def _write_frames(reenactor: Reenactor, rd: VideoReader, track: DrivingTrack, writer: VideoWriter, size: tuple,
                  relative: bool, paste: bool, report: ReenactReport, job: Job | None) -> None:
    last = None
    total = rd.frame_count or None
    for fr in rd.frames():
        box = track.box(fr.index)
        if box is not None:
            last = drive_frame(reenactor, fr.image, box, relative)
            report.generated += 1
        else:      # no face in this frame: the last generated one is held (the source itself before the first)
            last = reenactor.sources[0].crop if last is None else last
            report.held += 1
        img = reenactor.composite(last) if paste else last
        writer.write(np.ascontiguousarray(img[:size[1], :size[0]]))
        report.frames += 1
        progress_of(job, fr.index + 1, total, f"reenacting {rd.path.name}")
