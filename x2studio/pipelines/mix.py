"""One driving vector from several drivers at once: head pose from the sliders, mouth from speech,
expression from a driving video, each with a weight.

Every driver contributes a change of the source's own driving vector::

    v = v_src + w_pose · [f_p→v(p) − f_p→v(p_src)]                 pose (degrees), as the Pose panel
              + w_speech · d_speech(k)                              as the Audio panel (pose-free)
              + w_video · strip_pose(v_drv(k) − v_drv(0))           the driving face's change since
                                                                    its first frame, pose taken out

so with every weight 0 (or no driver) the source is reproduced, and a driver with weight 1 acts as it
does alone.  The driving video's head pose is taken out unless ``video_pose`` is set (then it
drives the pose too, and the pose sliders add to it).

- :class:`Mix` — the weights and the commanded pose.
- :class:`DriverMixer` — ``vectors`` / ``render`` of frame ``k`` (speech frame ``k``, driving crop).
- :func:`mix_video` — a whole mixed video (MP4), atomically, with the speech (or else the driving
  video's sound).
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..core.choices import MP4_SUFFIXES
from ..core.errors import InputError, X2Error
from ..core.jobs import Job
from ..face.tracks import crop, find_tracks
from ..media.audio import AudioClip, load_audio
from ..media.video import VideoReader, VideoWriter
from ..models.posemap import pose_delta
from ..weights.registry import WeightsRegistry
from .pose import PoseController, clamp_pose
from .reenact import DETECT_STRIDE, Reenactor
from .speech import SpeechDriver, read_speech

__all__ = ["Mix", "DriverMixer", "mix_video", "MixReport", "WEIGHT_RANGE", "driving_vectors", "MAX_PREVIEW_FRAMES"]

log = logging.getLogger(__name__)

WEIGHT_RANGE = (0.0, 3.0)
MAX_PREVIEW_FRAMES = 3000      # driving-video frames held for live previews (2 minutes at 25 fps)


@dataclass(frozen=True)
class Mix:
    """What drives, and how much.  ``pose`` None: the source's own pose."""

    pose: tuple[float, float, float] | None = None
    pose_weight: float = 1.0
    speech_weight: float = 1.0
    video_weight: float = 1.0
    video_pose: bool = False

    def checked(self) -> "Mix":
        lo, hi = WEIGHT_RANGE
        for name in ("pose_weight", "speech_weight", "video_weight"):
            w = getattr(self, name)
            if not np.isfinite(w) or not lo <= w <= hi:
                raise InputError(f"The {name.replace('_', ' ')} {w} is outside {lo:g}…{hi:g}.")
        if self.pose is not None:
            clamp_pose(self.pose)        # three finite angles
        return self


class DriverMixer:
    """Mixed driving of a :class:`Reenactor`'s sources (set them first).  Speech is optional: without
    an audio mapping for the weights, mixing pose and a driving video still works."""

    def __init__(self, reenactor: Reenactor, registry: WeightsRegistry | None = None, speech: bool = True) -> None:
        registry = registry or WeightsRegistry()
        self.reenactor = reenactor
        self.poses = PoseController(reenactor, registry)
        self.speech = SpeechDriver(reenactor, registry=registry) if speech else None
        self.v_first: torch.Tensor | None = None         # the driving video's first face

    def _ready(self) -> Reenactor:
        return self.poses._ready()

    def restart(self) -> None:
        """The next driving crop becomes the video's reference frame again."""
        self.v_first = None

    def video_vectors(self, crops: Sequence[np.ndarray]) -> torch.Tensor:
        r = self._ready()
        from .pose import fit_crop

        with torch.inference_mode():
            return r.model.driving.vector(r.to_tensor([fit_crop(c, r.size) for c in crops]))

    def vectors(self, mix: Mix, count: int = 1, speech_frames: Sequence[int] | None = None,
                video: torch.Tensor | None = None) -> torch.Tensor:
        """``(count, dim)`` mixed driving vectors; ``speech_frames`` (frame indices of the loaded
        speech) and ``video`` (driving vectors of the driving crops) give one per output frame."""
        r = self._ready()
        mix = mix.checked()
        v = r.v_source.expand(count, -1).clone()
        if mix.pose is not None and mix.pose_weight:
            p = torch.tensor(clamp_pose(mix.pose), dtype=torch.float32, device=r.device)[None]
            with torch.inference_mode():
                p_src = self.poses.v2p(r.v_source)
                v = v + mix.pose_weight * pose_delta(self.poses.p2v, p, p_src)
        if speech_frames is not None and mix.speech_weight:
            if self.speech is None or self.speech.feats is None:
                raise InputError("Load some speech first.")
            idx = np.clip(np.asarray(speech_frames, np.int64), 0, self.speech.frames - 1)
            v = v + mix.speech_weight * self.speech.deltas(self.speech.feats[torch.as_tensor(idx)])
        if video is not None and mix.video_weight:
            if self.v_first is None:
                self.v_first = video[:1]
            d = video - self.v_first
            if not mix.video_pose:
                d = self.poses.strip_pose(r.v_source.expand_as(d), d)
            v = v + mix.video_weight * d
        return v

    def render(self, mix: Mix, speech_frames: Sequence[int] | None = None,
               video_crops: Sequence[np.ndarray] | None = None, count: int | None = None) -> list[np.ndarray]:
        """Generated crops (S×S RGB), one per output frame."""
        r = self._ready()
        video = self.video_vectors(video_crops) if video_crops else None
        n = count or (len(speech_frames) if speech_frames is not None else len(video) if video is not None else 1)
        v = self.vectors(mix, n, speech_frames, video)
        with torch.inference_mode():
            gen = r.generate(v)
        return [r.to_image(g) for g in gen]


def driving_vectors(mixer: DriverMixer, path: str | Path, max_frames: int = MAX_PREVIEW_FRAMES,
                    job: Job | None = None) -> tuple[torch.Tensor, float, np.ndarray]:
    """The driving vector of every frame of a driving video (its largest face; frames without a
    face hold the last one), for live previews: ``(vectors (N, dim), fps, first face crop)``.
    At most ``max_frames`` frames (longer videos are refused: export streams any length)."""
    r = mixer._ready()
    path = Path(path)
    tracks, fps, _ = find_tracks(path, r.detector, job=job, stride=DETECT_STRIDE)
    if not tracks:
        raise InputError(f"No face was found in the driving video '{path.name}'.")
    t = tracks[0]
    boxes = {int(f): b for f, b in zip(t.frames, t.crop_boxes)}
    crops: list[np.ndarray] = []
    last = None
    with VideoReader(path) as rd:
        if (rd.frame_count or 0) > max_frames:
            raise InputError(f"'{path.name}' has {rd.frame_count} frames; live mixing holds at most {max_frames}.",
                             "Trim the video, or export the mix (any length) with 'x2studio mix'.")
        for fr in rd.frames():
            box = boxes.get(fr.index)
            if box is not None:
                last = crop(fr.image, box, r.size)
            crops.append(last)
    first = next(c for c in crops if c is not None)
    crops = [first if c is None else c for c in crops]
    vecs = torch.cat([mixer.video_vectors(crops[k:k + 64]) for k in range(0, len(crops), 64)])
    return vecs, float(fps), first


@dataclass
class MixReport:
    out: Path
    frames: int = 0
    drivers: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [f"wrote {self.out} ({self.frames} frames; drivers: {', '.join(self.drivers)})", *self.notes]


def _driving_face(r: Reenactor, driving: Path, job: Job) -> tuple[dict, float, int, AudioClip | None]:
    """The driving video's face track (crop box by frame), frame rate, frame count and sound."""
    tracks, fps, _ = find_tracks(driving, r.detector, job=job, stride=DETECT_STRIDE)
    if not tracks:
        raise InputError(f"No face was found in the driving video '{driving.name}'.")
    t = tracks[0]
    with VideoReader(driving) as rd:
        n_video = rd.frame_count or (int(t.frames[-1]) + 1)
    try:
        sound = load_audio(driving)
    except X2Error:
        sound = None
    return {int(f): b for f, b in zip(t.frames, t.crop_boxes)}, fps, n_video, sound


def mix_video(mixer: DriverMixer, out: str | Path, mix: Mix, *, audio: str | Path | AudioClip | None = None,
              driving: str | Path | None = None, fps: float = 25.0, paste: bool = True,
              job: Job | None = None) -> MixReport:
    """A video of the source driven by ``mix``: as long as the speech (``audio``), else as the
    driving video; with both, as the shorter.  Frame rate: the driving video's, else ``fps``."""
    out = Path(out)
    mix = mix.checked()
    if out.suffix.lower() not in MP4_SUFFIXES:
        raise InputError(f"'{out.name}': the mixed video is written as MP4.", "Use a name ending in .mp4.")
    if not out.parent.is_dir():
        raise InputError(f"The folder '{out.parent}' does not exist.")
    if audio is None and driving is None:
        raise InputError("Mixing needs speech or a driving video to set the length of the video.",
                         "Give --audio and/or --driving (for a pose alone, use 'x2studio pose').")
    r = mixer._ready()
    job = job or Job()
    report = MixReport(out=out)
    if mix.pose is not None:
        report.drivers.append(f"pose ×{mix.pose_weight:g}")
    boxes: dict[int, np.ndarray] = {}
    drv_audio = n_video = None
    if driving is not None:
        driving = Path(driving)
        boxes, fps, n_video, drv_audio = _driving_face(r, driving, job)
        report.drivers.append(f"driving video ×{mix.video_weight:g}" + (" (with its pose)" if mix.video_pose else ""))
    clip = None
    if audio is not None:
        if mixer.speech is None:
            raise InputError("These X2Face weights have no audio mapping; speech cannot drive them.")
        clip, name = read_speech(audio)
        mixer.speech.load(clip, fps, name)
        report.drivers.append(f"speech ×{mix.speech_weight:g}")
    n = min(x for x in (mixer.speech.frames if clip is not None else None, n_video) if x is not None)
    sound = clip if clip is not None else drv_audio
    size = r.sources[0].frame.shape[1::-1] if paste else (r.size, r.size)
    size = (size[0] - size[0] % 2, size[1] - size[1] % 2)
    writer = VideoWriter(out, fps, size, audio_rate=sound.sample_rate if sound else None,
                         audio_channels=min(sound.channels, 2) if sound else 1)
    mixer.restart()
    last_crop = None
    try:
        with ExitStack() as stack:
            frames = stack.enter_context(VideoReader(driving)).frames() if driving is not None else None
            for k0 in range(0, n, 16):
                ks = list(range(k0, min(n, k0 + 16)))
                crops = None
                if frames is not None:
                    crops = []
                    for k in ks:
                        fr = next(frames, None)
                        box = boxes.get(k)
                        if fr is not None and box is not None:
                            last_crop = crop(fr.image, box, r.size)
                        crops.append(last_crop if last_crop is not None else r.sources[0].crop)
                for g in mixer.render(mix, ks if clip is not None else None, crops, count=len(ks)):
                    img = r.composite(g) if paste else g
                    writer.write(np.ascontiguousarray(img[:size[1], :size[0]]))
                job.progress(ks[-1] + 1, n, "mixing")
        if sound is not None:
            samples = np.clip(sound.samples[:, :2], -1, 1)
            keep = int(round(n / fps * sound.sample_rate))
            samples = samples[:keep] if len(samples) >= keep else np.pad(samples, ((0, keep - len(samples)), (0, 0)))
            writer.write_audio(samples)
        writer.close()
    except BaseException:
        writer.abort()
        raise
    report.frames = n
    if sound is None:
        report.notes.append("no sound: the driving video has none")
    return report
