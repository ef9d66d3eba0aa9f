"""Notes ↔ MIDI (pretty_midi) and MusicXML (music21).

``NoteEvent`` is the one note record the whole application uses (transcription output, piano roll,
synthesis input, export).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pretty_midi

from ..core.atomic import atomic_path
from ..core.errors import InputError, MediaError, OutputError
from .video import check_input

__all__ = ["NoteEvent", "ControlEvent", "Score", "load_midi", "save_midi", "notes_to_pretty_midi", "save_csv", "load_csv",
           "save_musicxml", "load_musicxml", "validate_notes", "estimate_tempo", "GRIDS"]

log = logging.getLogger(__name__)

PIANO, VIOLIN = 0, 40  # General MIDI programs


@dataclass(frozen=True, order=True)
class NoteEvent:
    """One note.

    Attributes:
        onset: start time in seconds (≥ 0).
        offset: end time in seconds (> onset).
        pitch: MIDI note number 0–127 (60 = middle C).
        velocity: 1–127.
        program: General MIDI program 0–127 (0 = piano, 40 = violin).
    """

    onset: float
    offset: float
    pitch: int
    velocity: int = 80
    program: int = PIANO

    @property
    def duration(self) -> float:
        return self.offset - self.onset


@dataclass(frozen=True)
class ControlEvent:
    """A MIDI control change (e.g. 64 = sustain pedal) on a program's channel."""

    time: float
    number: int
    value: int
    program: int = PIANO


@dataclass(frozen=True)
class Score:
    """Notes and control changes read from a file."""

    notes: tuple[NoteEvent, ...]
    controls: tuple[ControlEvent, ...] = ()

    @property
    def end_time(self) -> float:
        return max((n.offset for n in self.notes), default=0.0)


def validate_notes(notes: Iterable[NoteEvent]) -> list[NoteEvent]:
    """Sorted notes; raises :class:`InputError` on an impossible note."""
    out = sorted(notes)
    for n in out:
        if not (0 <= n.pitch <= 127 and 0 <= n.program <= 127 and 1 <= n.velocity <= 127):
            raise InputError(f"Invalid note {n}: pitch, program and velocity must be MIDI values.")
        if n.onset < 0 or n.offset <= n.onset:
            raise InputError(f"Invalid note {n}: it must start at 0 s or later and end after it starts.")
    return out


def notes_to_pretty_midi(notes: Sequence[NoteEvent], controls: Sequence[ControlEvent] = (),
                         tempo_bpm: float = 120.0) -> pretty_midi.PrettyMIDI:
    # 960 ticks per quarter: ≈ 0.5 ms at 120 bpm, so onsets survive the file to well under a frame
    pm = pretty_midi.PrettyMIDI(resolution=960, initial_tempo=tempo_bpm)
    instruments: dict[int, pretty_midi.Instrument] = {}
    for n in validate_notes(notes):
        inst = instruments.setdefault(n.program, pretty_midi.Instrument(program=n.program))
        inst.notes.append(pretty_midi.Note(velocity=int(n.velocity), pitch=int(n.pitch), start=float(n.onset), end=float(n.offset)))
    for c in controls:
        inst = instruments.setdefault(c.program, pretty_midi.Instrument(program=c.program))
        inst.control_changes.append(pretty_midi.ControlChange(int(c.number), int(c.value), float(c.time)))
    pm.instruments.extend(instruments[p] for p in sorted(instruments))
    return pm


def save_midi(path: str | os.PathLike[str], notes: Sequence[NoteEvent], controls: Sequence[ControlEvent] = (),
              tempo_bpm: float = 120.0) -> Path:
    """Write notes as a Standard MIDI File, atomically."""
    target = Path(path).expanduser()
    pm = notes_to_pretty_midi(notes, controls, tempo_bpm)
    with atomic_path(target) as tmp:
        try:
            pm.write(str(tmp))
        except (OSError, ValueError) as exc:
            raise OutputError(f"Could not write '{target}' ({exc}).") from exc
    return target


def load_midi(path: str | os.PathLike[str], require_notes: bool = True) -> Score:
    """Read a MIDI file (drum tracks skipped).  Raises :class:`MediaError` if unreadable or note-less."""
    p = check_input(path)
    try:
        pm = pretty_midi.PrettyMIDI(str(p))
    except Exception as exc:  # noqa: BLE001 - mido/pretty_midi raise many types for malformed files
        raise MediaError(f"'{p.name}' is not a MIDI file X2 Studio can read ({type(exc).__name__}: {exc}).",
                         "Choose a Standard MIDI File (.mid).") from exc
    notes: list[NoteEvent] = []
    controls: list[ControlEvent] = []
    for inst in pm.instruments:
        if inst.is_drum:
            continue
        for n in inst.notes:
            if n.end > n.start:
                notes.append(NoteEvent(float(n.start), float(n.end), int(n.pitch), max(1, int(n.velocity)), int(inst.program)))
        controls.extend(ControlEvent(float(c.time), int(c.number), int(c.value), int(inst.program)) for c in inst.control_changes)
    if require_notes and not notes:
        raise MediaError(f"'{p.name}' contains no notes.", "Choose a MIDI file with at least one (non-drum) note.")
    return Score(tuple(sorted(notes)), tuple(sorted(controls, key=lambda c: c.time)))


# MusicXML quantisation grids: name → music21's quarterLengthDivisors (divisions of a quarter note)
GRIDS = {"4": (1,), "8": (2,), "16": (4,), "32": (8,), "8t": (2, 3), "16t": (4, 3)}


def estimate_tempo(notes: Sequence[NoteEvent], low: float = 60.0, high: float = 140.0) -> float:
    """The performance's tempo in beats per minute from its onsets (pretty_midi's inter-onset-interval
    clustering), folded by octaves into ``[low, high)`` (the pulse found is often the eighth note: a
    score at half that tempo reads as quarters); 120 when there are too few notes to tell."""
    notes = validate_notes(notes)
    if len({round(n.onset, 3) for n in notes}) < 4:
        return 120.0
    try:
        bpm = float(notes_to_pretty_midi(notes).estimate_tempo())
    except (ValueError, IndexError, ZeroDivisionError):
        return 120.0
    if not np.isfinite(bpm) or bpm <= 0:
        return 120.0
    while bpm < low:
        bpm *= 2
    while bpm >= high:
        bpm /= 2
    return bpm


def save_musicxml(path: str | os.PathLike[str], notes: Sequence[NoteEvent], tempo_bpm: float | None = None,
                  title: str = "X2 Studio transcription", grid: str = "16t") -> Path:
    """Write notes as MusicXML (via music21): the notes' seconds are read as beats at ``tempo_bpm``
    (None: estimated from the onsets, :func:`estimate_tempo`) and quantised to ``grid`` (``GRIDS``:
    ``16`` sixteenths, ``16t`` sixteenths and triplets, ``8``…)."""
    import music21  # slow import (~1 s): only when needed

    target = Path(path).expanduser()
    notes = validate_notes(notes)
    if not notes:
        raise InputError("There are no notes to write.")
    if grid not in GRIDS:
        raise InputError(f"Unknown quantisation grid '{grid}'.", f"Grids: {', '.join(GRIDS)}.")
    if tempo_bpm is None:
        tempo_bpm = estimate_tempo(notes)
    if not (20.0 <= float(tempo_bpm) <= 400.0):
        raise InputError(f"A tempo of {tempo_bpm:g} bpm is out of range.", "Give 20-400 beats per minute.")
    pm = notes_to_pretty_midi(notes, tempo_bpm=float(tempo_bpm))
    # music21 reads MIDI with its own quantisation; go through a temporary MIDI file in memory.
    import io

    buf = io.BytesIO()
    pm.write(buf)
    score = music21.converter.parse(buf.getvalue(), format="midi", quantizePost=True,
                                    quarterLengthDivisors=GRIDS[grid])
    score.insert(0, music21.metadata.Metadata(title=title))
    with atomic_path(target, suffix=".musicxml") as tmp:
        try:
            score.write("musicxml", fp=str(tmp))
        except Exception as exc:  # noqa: BLE001 - music21 raises its own and OS errors
            raise OutputError(f"Could not write '{target}' ({exc}).") from exc
    return target


def load_musicxml(path: str | os.PathLike[str]) -> Score:
    """Read MusicXML (or any format music21 parses) into notes, via a MIDI rendering."""
    import io

    import music21

    p = check_input(path)
    try:
        score = music21.converter.parse(str(p))
        midi_file = music21.midi.translate.streamToMidiFile(score)
        data = midi_file.writestr()
        # music21 writes 10080 ticks per quarter, past pretty_midi's default guard on long scores.
        pretty_midi.pretty_midi.MAX_TICK = max(pretty_midi.pretty_midi.MAX_TICK, 1e9)
        pm = pretty_midi.PrettyMIDI(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - music21 raises many types for malformed scores
        raise MediaError(f"'{p.name}' is not a score X2 Studio can read ({type(exc).__name__}: {exc}).") from exc
    notes = [NoteEvent(float(n.start), float(n.end), int(n.pitch), max(1, int(n.velocity)), int(i.program))
             for i in pm.instruments if not i.is_drum for n in i.notes if n.end > n.start]
    if not notes:
        raise MediaError(f"'{p.name}' contains no notes.")
    return Score(tuple(sorted(notes)))


_CSV_HEADER = ("onset_s", "offset_s", "pitch", "note", "velocity", "program")


def save_csv(path: str | os.PathLike[str], notes: Sequence[NoteEvent]) -> Path:
    """Write notes as CSV (onset_s, offset_s, pitch, note name, velocity, program), atomically."""
    import csv
    import io

    from ..core.keyboard import pitch_name

    target = Path(path).expanduser()
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(_CSV_HEADER)
    for n in validate_notes(notes):
        w.writerow((f"{n.onset:.4f}", f"{n.offset:.4f}", n.pitch, pitch_name(n.pitch), n.velocity, n.program))
    with atomic_path(target, suffix=".csv") as tmp:
        try:
            Path(tmp).write_text(buf.getvalue(), encoding="utf-8")
        except OSError as exc:
            raise OutputError(f"Could not write '{target}' ({exc}).") from exc
    return target


def load_csv(path: str | os.PathLike[str]) -> list[NoteEvent]:
    """Read notes written by :func:`save_csv` (extra columns ignored)."""
    import csv

    p = check_input(path)
    try:
        with open(p, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        notes = [NoteEvent(float(r["onset_s"]), float(r["offset_s"]), int(r["pitch"]), int(r.get("velocity") or 80),
                           int(r.get("program") or 0)) for r in rows]
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise MediaError(f"'{p.name}' is not a notes CSV X2 Studio can read ({exc}).",
                         f"The first row must name the columns {', '.join(_CSV_HEADER[:3])}.") from exc
    return validate_notes(notes)
