"""Music and fingering for the synthetic violin videos.

Geometry (all in millimetres along the string from the nut): a string of scale length ``L`` sounds
``open + n`` semitones when stopped at ``L · (1 − 2^(−n/12))`` from the nut (the equal-tempered fret
rule, which a violinist's ear follows), so the fingers' spacing shrinks up the fingerboard.
:func:`stop_distance` and :func:`midi_at` are inverse to each other.

Melodies: the fiddle tunes of music21's corpus (Ryan's Mammoth Collection, 1,059 monophonic reels,
jigs, hornpipes and airs; parsed in tens of milliseconds each) and generated exercises (scales,
arpeggios, random walks), transposed into the violin's range (MIDI 55–88) or, for the single-string
subset, onto the A string.  The dataset splits by piece (:func:`piece_split`), so a held-out tune is
never seen in training.

:func:`sample_performance` times a melody (tempo, rubato, rests, bow lifts), picks the string and
finger of each note (first position when it can, shifting as a player does), and gives each note
vibrato, an intonation error (a few cents) and a dynamic — the audio and the picture both follow it.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from x2studio.media.midi import NoteEvent

__all__ = ["STRINGS", "STRING_NAMES", "SCALE_LENGTH", "LOWEST", "HIGHEST", "MAX_STOP", "stop_distance", "midi_at",
           "ViolinNote", "Performance", "fiddle_tunes", "piece_split", "sample_performance", "choose_fingering",
           "SUBSETS", "VIOLIN"]

log = logging.getLogger(__name__)

STRINGS = (55, 62, 69, 76)          # G3, D4, A4, E5 (open strings, MIDI)
STRING_NAMES = ("G", "D", "A", "E")
SCALE_LENGTH = 328.0                # mm, nut to bridge
MAX_STOP = 12                       # semitones above the open string a finger reaches here (an octave)
LOWEST, HIGHEST = STRINGS[0], STRINGS[-1] + MAX_STOP     # 55 … 88: the thesis' full range
SINGLE_STRING = 2                   # the single-string subset plays on the A string (69 … 81+)
SUBSETS = ("single", "all", "varied")
VIOLIN = 40                         # General MIDI program: violin


def stop_distance(semitones: float, scale_length: float = SCALE_LENGTH) -> float:
    """Where (mm from the nut) a finger stops a string to raise it by ``semitones``."""
    return float(scale_length * (1.0 - 2.0 ** (-float(semitones) / 12.0)))


def midi_at(string: int, distance_mm: float, scale_length: float = SCALE_LENGTH) -> float:
    """The pitch (fractional MIDI) string ``string`` (0 = G … 3 = E) sounds stopped at ``distance_mm``."""
    if not 0 <= int(string) < len(STRINGS):
        raise ValueError(f"no string {string}: a violin has strings 0 (G) to 3 (E)")
    if not 0.0 <= distance_mm < scale_length:
        raise ValueError(f"{distance_mm} mm is off the string (0 … {scale_length} mm)")
    return STRINGS[int(string)] - 12.0 * np.log2(1.0 - distance_mm / scale_length)


@dataclass(frozen=True)
class ViolinNote:
    """A played note: its MIDI event, where it is stopped and how it sounds."""

    note: NoteEvent
    string: int           # 0 = G … 3 = E
    semitones: int        # above the open string (0 = open)
    finger: int           # 0 = open string, 1 … 4 = index … little finger
    position: int         # the hand's position: semitones of the first finger's place above the nut
    cents: float          # intonation error of this note (the player's, ± a few cents)
    vibrato: tuple[float, float, float]   # (depth in semitones, rate Hz, onset delay s)
    bow: int              # +1 down-bow, −1 up-bow


@dataclass
class Performance:
    piece: str
    notes: list[ViolinNote]
    duration: float
    tempo_bpm: float
    info: dict = field(default_factory=dict)

    @property
    def events(self) -> list[NoteEvent]:
        return [n.note for n in self.notes]

    def pitch_at(self, t: np.ndarray) -> np.ndarray:
        """The sounding pitch (fractional MIDI, vibrato and intonation included) at times ``t``; 0 where
        no note sounds."""
        t = np.asarray(t, np.float64)
        out = np.zeros(t.shape)
        for n in self.notes:
            m = (t >= n.note.onset) & (t < n.note.offset)
            if m.any():
                out[m] = n.note.pitch + n.cents / 100.0 + vibrato_curve(n, t[m])
        return out


def vibrato_curve(n: ViolinNote, t: np.ndarray) -> np.ndarray:
    """Semitones of vibrato at times ``t`` during note ``n``: a sine that fades in after a delay."""
    depth, rate, delay = n.vibrato
    age = np.asarray(t) - n.note.onset
    env = np.clip((age - delay) / 0.25, 0.0, 1.0)
    return depth * env * np.sin(2 * np.pi * rate * np.maximum(age - delay, 0.0))


def piece_split(piece: str, val_pct: int = 10, test_pct: int = 10) -> str:
    """train / val / test for a piece id: a stable hash, the same on every machine."""
    h = int(hashlib.sha1(("violin:" + piece).encode()).hexdigest()[:8], 16) % 100
    return "test" if h < test_pct else "val" if h < test_pct + val_pct else "train"


@lru_cache(maxsize=1)
def fiddle_tunes() -> tuple[str, ...]:
    """Corpus paths ('ryansMammoth/<tune>.abc') of the monophonic fiddle tunes."""
    from music21 import corpus

    out = []
    for p in corpus.getPaths():
        parts = p.parts
        if "corpus" in parts:
            rel = parts[parts.index("corpus") + 1:]
            if rel and rel[0] == "ryansMammoth":
                out.append("/".join(rel))
    return tuple(sorted(out))


@lru_cache(maxsize=128)
def _tune_notes(rel: str) -> tuple[tuple[float, float, int], ...]:
    """(onset, duration, pitch) in quarter notes of a tune's melody (the top note of any chord)."""
    from music21 import corpus

    score = corpus.parse(rel)
    try:
        score = score.stripTies()
    except Exception:  # noqa: BLE001 - music21 fails on a few odd files; untied notes still play
        pass
    out = {}
    for el in score.flatten().notes:
        dur = float(el.duration.quarterLength)
        if dur <= 0:
            continue
        out[float(el.offset)] = (float(el.offset), dur, int(max(p.midi for p in el.pitches)))
    notes = [out[k] for k in sorted(out)]
    # monophonic: a note ends where the next begins at the latest
    return tuple((o, min(d, notes[i + 1][0] - o) if i + 1 < len(notes) else d, p) for i, (o, d, p) in enumerate(notes))


_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)


def _exercise(rng: np.random.Generator, lo: int, hi: int) -> tuple[str, list[tuple[float, float, int]]]:
    kind = ("scale", "arpeggio", "walk")[int(rng.integers(0, 3))]
    tonic = int(rng.integers(0, 12))
    mode = _MAJOR if rng.random() < 0.6 else _MINOR
    pitches = [p for p in range(lo, hi + 1) if (p - tonic) % 12 in mode]
    step = float(rng.choice([0.5, 1.0, 0.25]))
    if kind == "scale":
        a = int(rng.integers(0, max(1, len(pitches) - 8)))
        b = int(min(len(pitches), a + rng.integers(8, 16)))
        line = pitches[a:b] + pitches[a:b - 1][::-1]
    elif kind == "arpeggio":
        chord = [p for p in pitches if (p - tonic) % 12 in (0, mode[2], 7)]
        a = int(rng.integers(0, max(1, len(chord) - 4)))
        line = chord[a:a + 6] + chord[a:a + 5][::-1]
    else:
        i = int(rng.integers(0, len(pitches)))
        line = []
        for _ in range(int(rng.integers(24, 48))):
            i = int(np.clip(i + rng.choice([-3, -2, -1, -1, 1, 1, 2, 3]), 0, len(pitches) - 1))
            line.append(pitches[i])
    notes = [(k * step, step, p) for k, p in enumerate(line)]
    return f"ex/{kind}/{tonic}/{len(mode)}/{int(rng.integers(0, 100000))}", notes


def _fit(notes: list[tuple[float, float, int]], lo: int, hi: int, rng: np.random.Generator) -> list | None:
    """Transpose by octaves (and a random shift within the range's slack) into lo … hi; None if the
    melody spans more than the range."""
    ps = [p for _, _, p in notes]
    span = max(ps) - min(ps)
    if span > hi - lo:
        return None
    shift_lo, shift_hi = lo - min(ps), hi - max(ps)
    # prefer whole octaves (the tune as written), else any semitone shift
    octs = [s for s in range(shift_lo, shift_hi + 1) if s % 12 == 0]
    shift = int(rng.choice(octs)) if octs and rng.random() < 0.7 else int(rng.integers(shift_lo, shift_hi + 1))
    return [(o, d, p + shift) for o, d, p in notes]


def choose_fingering(pitches: list[int], single: int | None = None) -> list[tuple[int, int, int, int]]:
    """(string, semitones above it, finger, position) for each pitch of a melody, as a player in the
    lower positions would: the lowest position that reaches the note, on the string nearest the
    current one, open strings where the note is an open string's; ``single`` keeps every note on
    that string (shifting the hand along it)."""
    out = []
    position = 1
    string = single if single is not None else 2
    for p in pitches:
        if single is not None:
            strings = [single]
        else:
            strings = [s for s, o in enumerate(STRINGS) if 0 <= p - o <= MAX_STOP]
        if not strings:
            raise ValueError(f"MIDI {p} cannot be played on {'that string' if single is not None else 'a violin'} here")
        # within the hand's reach (first finger at `position`, little finger 6 semitones above) first,
        # then the string nearest the current one, then the lowest stop
        def cost(s: int) -> tuple:
            n = p - STRINGS[s]
            reach = n == 0 or position <= n <= position + 6
            return (not reach, abs(s - string), n)

        s = min(strings, key=cost)
        n = p - STRINGS[s]
        if n == 0:
            finger = 0
        else:
            if not position <= n <= position + 6:          # shift: the note becomes the 1st or 4th finger
                position = max(1, n - 6) if n > position else n
            finger = int(np.clip(1 + round((n - position) * 3 / 6), 1, 4))
        out.append((s, n, finger, position))
        string = s
    return out


def sample_performance(rng: np.random.Generator, seconds: float, subset: str = "all", split: str | None = None,
                       tune_share: float = 0.7) -> Performance:
    """A random excerpt of about ``seconds`` of a melody played on the violin (``subset`` 'single'
    keeps it on the A string)."""
    if subset not in SUBSETS:
        raise ValueError(f"unknown subset {subset!r}")
    single = SINGLE_STRING if subset == "single" else None
    lo, hi = (STRINGS[SINGLE_STRING], STRINGS[SINGLE_STRING] + MAX_STOP) if single is not None else (LOWEST, HIGHEST)
    for _attempt in range(60):
        if rng.random() < tune_share:
            tunes = [t for t in fiddle_tunes() if split is None or piece_split(t) == split]
            if not tunes:
                continue
            rel = tunes[int(rng.integers(0, len(tunes)))]
            try:
                raw = list(_tune_notes(rel))
            except Exception as exc:  # noqa: BLE001 - a file music21 cannot read: pick another
                log.debug("skipping %s: %s", rel, exc)
                continue
            pid, source = rel, "corpus"
        else:
            pid, raw = _exercise(rng, lo, hi)
            if split is not None and piece_split(pid) != split:
                continue
            source = "exercise"
        if len(raw) < 8:
            continue
        # an excerpt first (so that a tune wider than the range can still lend a playable stretch)
        bpm = float(rng.uniform(60, 150))
        spq = 60.0 / bpm
        ons = np.array([o for o, _, _ in raw])
        total_q = ons[-1] + raw[-1][1]
        need_q = seconds / spq
        start_q = 0.0
        if total_q > need_q:
            cands = ons[ons <= total_q - need_q]
            start_q = float(cands[int(rng.integers(0, len(cands)))]) if len(cands) else 0.0
        part = [(o - start_q, d, p) for o, d, p in raw if start_q <= o < start_q + need_q]
        part = _fit(part, lo, hi, rng) if len(part) >= 6 else None
        if part is None:
            continue
        try:
            fingering = choose_fingering([p for _, _, p in part], single)
        except ValueError:
            continue
        lead = float(rng.uniform(0.3, 0.8))
        drift = np.cumsum(rng.normal(0, 0.01, len(part)))
        drift = np.clip(drift - drift.mean(), -0.06, 0.06)
        notes: list[ViolinNote] = []
        bow = 1
        base_cents = rng.normal(0, 4)
        depth = rng.uniform(0.05, 0.3)
        rate = rng.uniform(4.5, 7.0)
        vel = rng.uniform(60, 100)
        t_q = 0.0
        for (o, d, p), (s, n, f, pos), dr in zip(part, fingering, drift):
            on = lead + o * spq * (1 + dr)
            off = lead + (o + d) * spq * (1 + dr)
            if on >= seconds - 0.25:
                break
            # bow changes and lifts: a short gap, sometimes a longer lift (the string stops)
            gap = 0.02 if rng.random() < 0.8 else float(rng.uniform(0.1, 0.3))
            off = min(off - gap, seconds - 0.05)
            if off - on < 0.08:
                continue
            vel = float(np.clip(vel + rng.normal(0, 6), 45, 120))
            vib = (float(depth * rng.uniform(0.6, 1.2)) if off - on > 0.3 else 0.0, float(rate + rng.normal(0, 0.3)),
                   float(rng.uniform(0.1, 0.3)))
            notes.append(ViolinNote(NoteEvent(float(on), float(off), int(p), int(round(vel)), VIOLIN), int(s), int(n),
                                    int(f), int(pos), float(np.clip(base_cents + rng.normal(0, 6), -20, 20)), vib, bow))
            bow = -bow
            t_q = o + d
        if len(notes) < 6:
            continue
        return Performance(pid, notes, float(seconds), bpm,
                           {"source": source, "start_quarter": start_q, "subset": subset, "end_quarter": t_q})
    raise RuntimeError("could not sample a playable violin excerpt in 60 attempts")
