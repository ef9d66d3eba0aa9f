"""What a user does with transcribed notes: export them (MIDI, MusicXML, CSV) and hear them (a
preview clip of the synthesized notes, optionally over the recording's own sound).

The CLI and the panels both call :func:`export_notes` and :func:`preview_sound`, so a file written
from either is the same file.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence
import numpy as np

from ..core.errors import InputError
from ..core.jobs import Job, progress_of
from ..media.audio import AudioClip
from ..media.midi import GRIDS, NoteEvent

__all__ = ["ExportRequest", "ExportResult", "export_notes", "PreviewRequest", "preview_sound", "EXPORT_SUFFIXES",
           "TEMPO_RANGE", "PREVIEW_RATE", "ORIGINAL_GAIN"]

EXPORT_SUFFIXES = {"midi": ".mid", "musicxml": ".musicxml", "csv": ".csv"}
TEMPO_RANGE = (20.0, 400.0)      # bpm a score can be written at
PREVIEW_RATE = 44100
ORIGINAL_GAIN = 0.7              # the recording under the synthesized notes: audible, not masking them


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


@dataclass(frozen=True)
class ExportRequest:
    """Where and how to write notes.  Checked as a whole when it is made, so that a long
    transcription is not run for outputs that cannot be written: at least one output, each in a
    writable folder, no two outputs the same file, no output over an input (``protect``: the video
    or recording the notes come from), a tempo a score can have."""

    midi: Path | None = None
    musicxml: Path | None = None
    csv: Path | None = None
    tempo_bpm: float | None = None     # MusicXML; None: estimated from the onsets
    grid: str = "16t"                  # MusicXML quantisation (media.midi.GRIDS)
    protect: tuple[Path, ...] = ()
    also: tuple[Path, ...] = ()        # other files the same command writes (the violin's pitch track)

    def __post_init__(self) -> None:
        if not self.outputs():
            raise InputError("Nothing to write.", "Give a MIDI, MusicXML and/or CSV file to write.")
        outs = self.outputs() + [("also", Path(p)) for p in self.also]
        for i, (_, a) in enumerate(outs):
            for _, b in outs[i + 1:]:
                if _same_file(a, b):
                    raise InputError(f"'{a.name}' is given as two outputs.", "Give each output its own file name.")
            for src in self.protect:
                if _same_file(a, Path(src)):
                    raise InputError(f"Writing '{a.name}' would replace the file the notes came from.",
                                     "Choose another output name.")
        if self.tempo_bpm is not None and not (math.isfinite(self.tempo_bpm)
                                               and TEMPO_RANGE[0] <= self.tempo_bpm <= TEMPO_RANGE[1]):
            raise InputError(f"A tempo of {self.tempo_bpm:g} bpm is out of range.",
                             f"Use {TEMPO_RANGE[0]:g}–{TEMPO_RANGE[1]:g} bpm, or leave it out to estimate it.")
        if self.grid not in GRIDS:
            raise InputError(f"Unknown quantisation grid '{self.grid}'.", f"Grids: {', '.join(GRIDS)}.")
        from ..core.atomic import check_writable

        for _, path in outs:
            check_writable(path)

    def outputs(self) -> list[tuple[str, Path]]:
        """``(kind, path)`` of each output asked for, in the order they are written."""
        pairs = (("midi", self.midi), ("musicxml", self.musicxml), ("csv", self.csv))
        return [(kind, Path(p).expanduser()) for kind, p in pairs if p is not None]


@dataclass(frozen=True)
class ExportResult:
    written: tuple[Path, ...]
    tempo_bpm: float | None = None     # the score's tempo (MusicXML written)
    tempo_estimated: bool = False

    def lines(self) -> list[str]:
        tempo = ""
        if self.tempo_bpm is not None:
            how = "estimated from the onsets" if self.tempo_estimated else "as given"
            tempo = f" at ♩ = {self.tempo_bpm:.0f} ({how})"
        return [f"wrote {p}" + (tempo if p.suffix.lower() in (".musicxml", ".xml", ".mxl") else "")
                for p in self.written]


def export_notes(request: ExportRequest, notes: Sequence[NoteEvent], job: Job | None = None) -> ExportResult:
    """Write ``notes`` to every output of ``request``, each atomically."""
    from ..media.midi import estimate_tempo, save_csv, save_midi, save_musicxml

    outs = request.outputs()
    notes = list(notes)
    if request.musicxml is not None and not notes:
        raise InputError("There are no notes to write as MusicXML.")
    tempo, estimated = request.tempo_bpm, False
    if request.musicxml is not None and tempo is None:
        tempo, estimated = estimate_tempo(notes), True
    written = []
    for k, (kind, path) in enumerate(outs):
        progress_of(job, k, len(outs), f"writing {path.name}")
        if kind == "midi":
            written.append(save_midi(path, notes))
        elif kind == "musicxml":
            written.append(save_musicxml(path, notes, tempo_bpm=tempo, grid=request.grid))
        else:
            written.append(save_csv(path, notes))
    return ExportResult(tuple(written), tempo if request.musicxml is not None else None, estimated)


@dataclass(frozen=True)
class PreviewRequest:
    """What to hear: the notes synthesized over ``duration_s``, with the recording's own sound
    (``original``) under them when given."""

    notes: tuple[NoteEvent, ...]
    duration_s: float
    original: AudioClip | None = None
    soundfont: str | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.duration_s) and self.duration_s > 0):
            raise InputError(f"A preview of {self.duration_s} s is not possible.")


def preview_sound(request: PreviewRequest) -> AudioClip:
    """The preview as one stereo clip at :data:`PREVIEW_RATE` (seconds of work for a long piece:
    run it as a job)."""
    from ..media.synth import render_notes

    n = int(round(request.duration_s * PREVIEW_RATE))
    out = np.zeros((n, 2), np.float32)
    if request.notes:
        synth = render_notes(list(request.notes), sample_rate=PREVIEW_RATE, soundfont=request.soundfont).samples
        out[:min(n, len(synth))] += synth[:n]
    if request.original is not None:
        out += ORIGINAL_GAIN * _stereo(request.original, n)
    return AudioClip(np.clip(out, -1, 1), PREVIEW_RATE)


def _stereo(clip: AudioClip, n: int) -> np.ndarray:
    """``clip`` at :data:`PREVIEW_RATE` as ``(n, 2)``: cut or padded with silence."""
    from ..media.audio import resample

    s = clip.samples if clip.sample_rate == PREVIEW_RATE else resample(clip.samples, clip.sample_rate, PREVIEW_RATE)
    s = s if s.ndim == 2 else s[:, None]
    s = np.repeat(s[:, :1], 2, 1) if s.shape[1] == 1 else s[:, :2]
    out = np.zeros((n, 2), np.float32)
    out[:min(n, len(s))] = s[:n]
    return out
