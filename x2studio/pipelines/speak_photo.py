"""Make the face in a photo speak, or drive it with several drivers at once: the use-cases behind
``x2studio speak``, ``x2studio mix`` and the Audio panel's export.  A request is checked when it is
made (the photo, the speech and the driving video exist, the weights and strength are in range,
the output is an MP4 in a writable folder and not over an input); the use-case loads the model,
sets the photo's face as the source and writes the video with :func:`~.speech.speak_video` or
:func:`~.mix.mix_video`."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

from ..core.errors import InputError
from ..core.jobs import Job
from ..media.audio import AudioClip
from .pose_photo import check_photo

__all__ = ["SpeakRequest", "speak", "MixRequest", "mix_photo", "photo_reenactor"]


def _check_input(path, what: str) -> None:
    """A file input (a path; a recording held in memory is an :class:`AudioClip` and needs no check)."""
    if path is not None and not isinstance(path, AudioClip) and not Path(path).is_file():
        raise InputError(f"The {what} file '{path}' does not exist.")


def _file_inputs(*inputs) -> tuple:
    return tuple(p for p in inputs if p is not None and not isinstance(p, AudioClip))


def photo_reenactor(source: Path, weights: str, device: str, detector: str):
    """The X2Face model ``weights`` on ``device`` with the face of the photo ``source`` as its source."""
    from .reenact import Reenactor

    check_photo(source)
    r = Reenactor(weights, device=device, detector=detector)
    r.set_sources(r.load_sources([Path(source)]))
    return r


@dataclass(frozen=True, eq=False)
class SpeakRequest:
    """The face in ``source`` says ``audio`` (a file, or a recording): ``output`` MP4 with the speech."""

    source: Path
    audio: Path | AudioClip
    output: Path
    strength: float = 1.0
    fps: float = 25.0
    mapping: str | None = None            # the f_a→v weights (None: WEIGHTS-a2v)
    paste: bool = True
    weights: str = "x2face-lite"
    device: str = "cpu"
    detector: str = "auto"

    def __post_init__(self) -> None:
        from ..core.atomic import check_video_output

        check_photo(self.source)
        _check_input(self.audio, "audio")
        check_video_output(self.output, protect=_file_inputs(self.source, self.audio), what="the talking video")
        if not (math.isfinite(self.strength) and 0.0 <= self.strength <= 3.0):
            raise InputError(f"A strength of {self.strength:g} is outside 0…3.", "1 moves the mouth as trained.")
        if not (math.isfinite(self.fps) and 1.0 <= self.fps <= 120.0):
            raise InputError(f"{self.fps:g} frames per second is not possible.", "Use 1 to 120 (25 is usual).")


def speak(request: SpeakRequest, job: Job | None = None):
    """Write the talking video; returns :class:`~.speech.SpeakReport`."""
    from .speech import SpeechDriver, speak_video

    r = photo_reenactor(request.source, request.weights, request.device, request.detector)
    driver = SpeechDriver(r, request.mapping)
    return speak_video(driver, request.audio, request.output, strength=request.strength, fps=request.fps,
                       paste=request.paste, job=job)


@dataclass(frozen=True, eq=False)
class MixRequest:
    """The face in ``source`` driven by ``mix`` (its pose, None per axis: the source's own) with the
    speech ``audio`` and/or the face in the ``driving`` video → ``output`` MP4."""

    source: Path
    output: Path
    mix: object                           # a pipelines.mix.Mix
    audio: Path | AudioClip | None = None
    driving: Path | None = None
    paste: bool = True
    weights: str = "x2face-lite"
    device: str = "cpu"
    detector: str = "auto"

    def __post_init__(self) -> None:
        from ..core.atomic import check_video_output

        check_photo(self.source)
        _check_input(self.audio, "audio")
        _check_input(self.driving, "driving video")
        if self.audio is None and self.driving is None:
            raise InputError("Mixing needs speech and/or a driving video (they set the video's length).",
                             "Give --audio and/or --driving (for a pose alone, use 'x2studio pose').")
        check_video_output(self.output, protect=_file_inputs(self.source, self.audio, self.driving),
                           what="the mixed video")
        replace(self.mix, pose=None).checked()          # the weights (the pose is checked once complete)


def mix_photo(request: MixRequest, job: Job | None = None):
    """Write the mixed video; returns :class:`~.mix.MixReport`."""
    from .mix import DriverMixer, mix_video

    r = photo_reenactor(request.source, request.weights, request.device, request.detector)
    mixer = DriverMixer(r, speech=request.audio is not None)
    mix = request.mix
    if mix.pose is not None and any(a is None for a in mix.pose):
        own = mixer.poses.source_pose()
        mix = replace(mix, pose=tuple(float(own[k] if a is None else a) for k, a in enumerate(mix.pose)))
    return mix_video(mixer, request.output, mix, audio=request.audio, driving=request.driving,
                     paste=request.paste, job=job)
