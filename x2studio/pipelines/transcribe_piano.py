"""Transcribe a piano video: the one use-case behind ``x2studio transcribe piano`` and the
Piano panel.

A :class:`PianoRequest` (the video, the mode: from the picture, the sound or both fused, the
keyboard's corners, weights, threshold) goes in, validated when it is made; a :class:`PianoResult`
comes out: the notes, the probabilities behind them (to re-threshold without a network pass), and
for the fused mode which source alone also finds each note.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import InputError
from ..core.jobs import Job, progress_of
from ..media.midi import NoteEvent
from .piano import Transcription

__all__ = ["PianoRequest", "PianoResult", "transcribe_piano", "PIANO_MODES"]

PIANO_MODES = ("visual", "audio", "fused")
_FROM = {"visual": "", "audio": " heard in the sound", "fused": " from the picture and the sound", "live": " live"}


@dataclass(frozen=True, eq=False)
class PianoRequest:
    """``corners``: the keyboard's TL, TR, BR, BL in video pixels (None: remembered for the video,
    else found).  ``weights``: the visual model (fused: default the fusion's own).  ``audio_shift_s``:
    the sound is used this many seconds earlier (a sync fix)."""

    video: Path
    mode: str = "visual"
    corners: np.ndarray | None = None
    threshold: float | None = None
    weights: str | None = None
    fusion_weights: str | None = None
    device: str | None = None
    audio_shift_s: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "video", Path(self.video).expanduser())
        if self.mode not in PIANO_MODES:
            raise InputError(f"Unknown mode '{self.mode}'.", f"Use one of: {', '.join(PIANO_MODES)}.")
        if not self.video.is_file():
            raise InputError(f"The file '{self.video}' does not exist.", "Check the path.")
        if self.threshold is not None and not 0.0 < self.threshold < 1.0:
            raise InputError(f"The onset threshold {self.threshold} is out of range.", "Use a value between 0 and 1.")
        if not math.isfinite(self.audio_shift_s):
            raise InputError("The sound's shift must be a number of seconds.")
        if self.corners is not None:
            c = np.asarray(self.corners, np.float64)
            if c.shape != (4, 2) or not np.isfinite(c).all():
                raise InputError("The keyboard needs four corners (x, y) in pixels.")
            object.__setattr__(self, "corners", c)


@dataclass(frozen=True, eq=False)
class PianoResult:
    """What a piano transcription found.  ``transcription`` holds the per-frame probabilities of the
    picture (and fusion) modes; the sound-only mode has notes alone."""

    video: Path
    mode: str
    notes: tuple[NoteEvent, ...]
    transcription: Transcription | None = None
    heard_by: str = "Basic Pitch"
    remark: str = ""                      # said first (e.g. why the sound was used)

    @property
    def threshold(self) -> float | None:
        return None if self.transcription is None else self.transcription.threshold

    @property
    def weights(self) -> str | None:
        return None if self.transcription is None else self.transcription.weights

    @property
    def live(self) -> bool:
        """A live take (``x2studio live piano``, the panel's Live mode)."""
        return self.transcription is not None and self.transcription.live is not None

    def frame_times(self) -> np.ndarray:
        """Each frame's time in seconds (empty for the sound-only mode)."""
        tr = self.transcription
        if tr is None:
            return np.zeros(0)
        return tr.times if tr.times is not None else np.arange(tr.frames) / tr.fps

    def renotes(self, threshold: float) -> tuple[NoteEvent, ...]:
        """The notes at another onset threshold (the sound-only mode's notes do not change)."""
        return self.notes if self.transcription is None else tuple(self.transcription.renotes(threshold))

    def marks(self, notes: tuple[NoteEvent, ...] | None = None) -> list[str] | None:
        """Fused: which source alone also finds each note (:func:`~.piano_fusion.note_sources`)."""
        tr = self.transcription
        if tr is None or tr.mode != "fused":
            return None
        from .piano_fusion import note_sources

        return note_sources(self.notes if notes is None else notes, tr.picture_notes, tr.sound_notes)

    def source_counts(self, notes: tuple[NoteEvent, ...] | None = None) -> dict[str, int]:
        marks = self.marks(notes)
        return {} if marks is None else {k: marks.count(k) for k in ("both", "picture", "sound", "fused")}

    def lines(self, notes: tuple[NoteEvent, ...] | None = None, threshold: float | None = None,
              counts: dict[str, int] | None = None) -> list[str]:
        """The summary a user reads (the CLI prints it; the panel shows it): ``notes`` and
        ``threshold`` as the user has them now (default: the result's own)."""
        from .piano_fusion import SOURCE_NAMES

        notes = self.notes if notes is None else notes
        tr = self.transcription
        if tr is None:
            return [self.remark] * bool(self.remark) + [f"{len(notes)} notes{_FROM['audio']} of {self.video.name} "
                                                         f"({self.heard_by})."]
        thr = tr.threshold if threshold is None else threshold
        rules = "; a key struck again must come up first" if tr.rules.on else ""
        out = [f"{len(notes)} notes{_FROM[tr.mode]} from {tr.frames} frames at {tr.fps:g} fps "
               f"({tr.weights}, threshold {thr:.2f}{rules}).", f"Durations {tr.duration_rule}."]
        counts = self.source_counts(notes) if counts is None else counts
        if counts:
            out.append(", ".join(f"{n} {SOURCE_NAMES[k]}" for k, n in counts.items() if n) + ".")
        return out

    def take_line(self) -> str:
        """A live take's frames, drops and latency, before its summary."""
        tr = self.transcription
        live = tr.live
        lat = "" if live.latency_s is None else f"; median latency {1000 * live.latency_s:.0f} ms"
        return f"Live take of {self.frame_times()[-1]:.1f} s ({tr.frames} frames read, {live.dropped} dropped{lat}):"

    def summary(self) -> dict:
        """The JSON summary of ``transcribe piano --json``."""
        tr = self.transcription
        return {"notes": len(self.notes), "mode": self.mode, "frames": None if tr is None else tr.frames,
                "fps": None if tr is None else tr.fps, "sources": self.source_counts(),
                "threshold": self.threshold, "weights": self.weights,
                "durations": None if tr is None else tr.duration_rule}


def transcribe_piano(request: PianoRequest, job: Job | None = None) -> PianoResult:
    """Transcribe ``request.video`` (seconds to minutes: pass a ``job`` for progress and cancel).  A
    recording with no picture is transcribed from its sound, whatever the mode."""
    if request.mode == "audio":
        return _by_ear(request, job)
    if _has_no_picture(request.video):
        remark = f"'{request.video.name}' has no picture: its notes come from its sound."
        return dataclasses.replace(_by_ear(request, job), remark=remark)
    from ..core.device import resolve_device

    device = str(request.device or resolve_device().torch_device)
    sound = _sound(request) if request.audio_shift_s else None
    if request.mode == "fused":
        from .piano_fusion import DEFAULT_FUSION, FusedTranscriber

        tr = FusedTranscriber(request.fusion_weights or DEFAULT_FUSION, device, visual=request.weights)
        res = tr.transcribe_video(request.video, request.corners, audio=sound, threshold=request.threshold, job=job)
    else:
        from .piano import DEFAULT_WEIGHTS, PianoTranscriber

        tr = PianoTranscriber(request.weights or DEFAULT_WEIGHTS, device)
        res = tr.transcribe_video(request.video, request.corners, threshold=request.threshold, job=job)
    return PianoResult(request.video, request.mode, tuple(res.notes), res)


def _has_no_picture(path: Path) -> bool:
    from ..media.video import probe

    return probe(path).video is None


def _sound(request: PianoRequest):
    from ..media.audio import shifted_sound

    return shifted_sound(request.video, request.audio_shift_s)


def _by_ear(request: PianoRequest, job: Job | None) -> PianoResult:
    from ..media.video import probe
    from .piano_audio import AudioTranscriber

    if probe(request.video).audio is None:
        if _has_no_picture(request.video):
            raise InputError(f"'{request.video.name}' has neither a picture nor a sound to transcribe.",
                             "Open a video of a keyboard filmed from above, or a recording.")
        raise InputError(f"'{request.video.name}' has no sound, so it cannot be transcribed by ear.",
                         "Transcribe from the picture: --mode visual.")
    progress_of(job, 0, None, "listening")
    audio = _sound(request) if request.audio_shift_s else request.video
    return PianoResult(request.video, "audio", tuple(AudioTranscriber().transcribe(audio)))
