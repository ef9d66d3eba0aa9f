"""Music for the synthetic piano videos: real pieces from music21's corpus and generated exercises,
reduced to what two hands can play on 88 keys.

A *piece* has an id (a corpus path, or an exercise's kind and parameters); the dataset splits by
piece id (:func:`piece_split`), so no excerpt of a held-out piece is ever seen in training.

:func:`sample_performance` turns a piece into a :class:`Performance`: timed notes (seconds, with
tempo and velocity variation), each assigned to a hand and a finger, which the renderer animates.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from x2studio.core.keyboard import HIGHEST, LOWEST, key_center
from x2studio.media.midi import NoteEvent

__all__ = ["LOWEST", "HIGHEST", "Performance", "HandNote", "corpus_pieces", "piece_split", "sample_performance",
           "exercise_kinds", "reduce_to_hands", "SPLITS"]

log = logging.getLogger(__name__)

MAX_SPAN = 14                      # semitones one hand covers at once (a ninth)
MIN_GAP = 0.065                    # s between a key's release and its next strike (> one frame at 25 fps)
SPLITS = ("train", "val", "test")

# The corpus' polyphonic music (keyboard works, chorales, madrigals, masses, quartets); folk-tune
# collections are single melodies and left out.
_CORPUS_COMPOSERS = ("bach", "palestrina", "monteverdi", "beethoven", "mozart", "haydn", "schumann_robert",
                     "schumann_clara", "josquin", "chopin", "joplin", "handel", "schubert", "cpebach", "beach",
                     "corelli", "weber", "verdi", "luca", "lusitano", "ciconia", "trecento", "johnson_j_r",
                     "liliuokalani")


@dataclass(frozen=True)
class HandNote:
    """A note with the hand (0 = left, 1 = right) and finger (0 = thumb … 4 = little finger) playing it."""

    note: NoteEvent
    hand: int
    finger: int


@dataclass
class Performance:
    """Timed two-hand notes of one excerpt."""

    piece: str
    notes: list[HandNote]
    duration: float
    tempo_bpm: float
    info: dict = field(default_factory=dict)

    @property
    def events(self) -> list[NoteEvent]:
        return sorted(h.note for h in self.notes)


def piece_split(piece: str, val_pct: int = 10, test_pct: int = 10) -> str:
    """train / val / test for a piece id: a stable hash, the same on every machine and run."""
    h = int(hashlib.sha1(piece.encode()).hexdigest()[:8], 16) % 100
    return "test" if h < test_pct else "val" if h < test_pct + val_pct else "train"


@lru_cache(maxsize=1)
def corpus_pieces() -> tuple[str, ...]:
    """Corpus paths (relative, '/'-separated, e.g. 'bach/bwv66.6.mxl') of the polyphonic works."""
    from music21 import corpus

    out = []
    for p in corpus.getPaths():
        parts = p.parts
        if "corpus" not in parts:
            continue
        rel = parts[parts.index("corpus") + 1:]
        # .rntxt files are harmonic analyses (Roman numerals), not the music itself
        if rel and rel[0] in _CORPUS_COMPOSERS and not rel[-1].endswith(".rntxt"):
            out.append("/".join(rel))
    return tuple(sorted(out))


@lru_cache(maxsize=64)
def _corpus_notes(rel: str) -> tuple[tuple[float, float, int], ...]:
    """(onset, duration, pitch) in quarter notes for a corpus work, ties merged, grace notes dropped."""
    from music21 import corpus

    score = corpus.parse(rel)
    try:
        score = score.stripTies()
    except Exception:  # noqa: BLE001 - music21 fails on a few odd scores; untied notes still play
        pass
    out = []
    for el in score.flatten().notes:
        dur = float(el.duration.quarterLength)
        if dur <= 0:
            continue
        for p in el.pitches:
            out.append((float(el.offset), dur, int(p.midi)))
    return tuple(sorted(set(out)))


# ---------------------------------------------------------------------------------------- exercises

_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)     # natural; harmonic adds the raised 7th below
_HARMONIC = (0, 2, 3, 5, 7, 8, 11)


def exercise_kinds() -> tuple[str, ...]:
    return ("scale", "arpeggio", "chords", "hanon", "fast", "alberti")


def _degrees(tonic: int, mode: tuple[int, ...], lo: int, hi: int) -> list[int]:
    return [p for p in range(lo, hi + 1) if (p - tonic) % 12 in mode]


def _scale(tonic: int, mode: list, mode_name: str, rh_base: int, octaves: int, rng: np.random.Generator) -> tuple:
    """A scale up and down, hands an octave apart or in contrary motion."""
    notes: list[tuple[float, float, int]] = []
    step = [0.5, 0.25][int(rng.integers(0, 2))]
    contrary = bool(rng.integers(0, 2))
    up = _degrees(tonic, mode, rh_base, rh_base + 12 * octaves)
    line = up + up[-2::-1]
    for i, p in enumerate(line):
        notes.append((i * step, step, p))
        lh = p - 12 if not contrary else (rh_base - 12) - (p - rh_base)
        notes.append((i * step, step, lh))
    pid = f"ex/scale/{tonic}/{mode_name}/{octaves}/{int(contrary)}"
    return pid, notes


def _arpeggio(tonic: int, mode: list, mode_name: str, rh_base: int, octaves: int, rng: np.random.Generator) -> tuple:
    """The tonic triad's arpeggio up and down, hands an octave apart."""
    notes: list[tuple[float, float, int]] = []
    step = 0.25 if rng.random() < 0.5 else 1 / 3
    triad = [0, 4, 7] if mode is _MAJOR else [0, 3, 7]
    up = [p for p in range(rh_base, rh_base + 12 * octaves + 1) if (p - rh_base) % 12 in triad]
    line = up + up[-2::-1]
    for i, p in enumerate(line):
        notes.append((i * step, step, p))
        notes.append((i * step, step, p - 12))
    pid = f"ex/arpeggio/{tonic}/{mode_name}/{octaves}"
    return pid, notes


def _chords(tonic: int, mode: list, mode_name: str, rh_base: int, octaves: int, rng: np.random.Generator) -> tuple:
    """A cadence pattern in block chords, left hand bass octaves, 1–2 beats each."""
    notes: list[tuple[float, float, int]] = []
    prog = [[0, 3, 4, 0], [0, 5, 3, 4, 0], [0, 4, 5, 3, 0, 4, 0], [0, 1, 4, 0]][int(rng.integers(0, 4))]
    t = 0.0
    scale = _degrees(tonic, mode, 36, 96)
    root_idx = scale.index(next(p for p in scale if p >= 60 + tonic - (12 if tonic > 5 else 0)))
    for _rep in range(2):
        for deg in prog:
            dur = float(rng.choice([1.0, 2.0]))
            r = root_idx + deg
            chord = [scale[r], scale[r + 2], scale[r + 4]]
            if rng.random() < 0.5:
                chord.append(scale[r + 7])
            for p in chord:
                notes.append((t, dur, p))
            bass = scale[r] - 12
            notes.append((t, dur, bass))
            if rng.random() < 0.5:
                notes.append((t, dur, bass - 12))
            t += dur
    pid = f"ex/chords/{tonic}/{mode_name}/{'-'.join(map(str, prog))}"
    return pid, notes


def _hanon(tonic: int, mode: list, mode_name: str, rh_base: int, octaves: int, rng: np.random.Generator) -> tuple:
    """Hanon no. 1: 1-3-4-5-6-5-4-3 from each degree, up and back, hands an octave apart."""
    notes: list[tuple[float, float, int]] = []
    scale = _degrees(tonic, _MAJOR, 24, 108)
    start = scale.index(next(p for p in scale if p >= rh_base - 7))
    octaves = min(octaves, 2)
    pattern = [0, 2, 3, 4, 5, 4, 3, 2]
    t = 0.0
    degrees = list(range(0, 7 * octaves)) + list(range(7 * octaves, -1, -1))
    for d in degrees:
        for k in pattern:
            p = scale[start + d + k]
            notes.append((t, 0.25, p))
            notes.append((t, 0.25, p - 12))
            t += 0.25
    pid = f"ex/hanon/{tonic}/{octaves}"
    return pid, notes


def _fast(tonic: int, mode: list, mode_name: str, rh_base: int, octaves: int, rng: np.random.Generator) -> tuple:
    """Runs, trills and repeated notes in sixteenths over a left-hand pedal of fifths."""
    notes: list[tuple[float, float, int]] = []
    t = 0.0
    scale = _degrees(tonic, mode, 48, 96)
    pos = scale.index(next(p for p in scale if p >= rh_base))
    for _ in range(int(rng.integers(6, 12))):
        figure = int(rng.integers(0, 3))
        if figure == 0:      # run of 8
            d = 1 if rng.random() < 0.5 else -1
            for k in range(8):
                pos = int(np.clip(pos + d, 3, len(scale) - 4))
                notes.append((t, 0.25, scale[pos]))
                t += 0.25
        elif figure == 1:    # trill
            for k in range(8):
                notes.append((t, 0.25, scale[pos + (k % 2)]))
                t += 0.25
        else:                # repeated notes / broken thirds
            for k in range(8):
                notes.append((t, 0.25, scale[pos + 2 * (k % 2)]))
                t += 0.25
        notes.append((t - 2.0, 2.0, 36 + tonic))
        notes.append((t - 2.0, 2.0, 43 + tonic))
    pid = f"ex/fast/{tonic}/{mode_name}/{int(rng.integers(0, 1000))}"
    return pid, notes


def _alberti(tonic: int, mode: list, mode_name: str, rh_base: int, octaves: int, rng: np.random.Generator) -> tuple:
    """Alberti bass under a stepwise melody."""
    notes: list[tuple[float, float, int]] = []
    scale = _degrees(tonic, mode, 36, 96)
    t = 0.0
    mel = scale.index(next(p for p in scale if p >= 67 + tonic - (12 if tonic > 5 else 0)))
    for bar in range(int(rng.integers(4, 9))):
        r = scale.index(next(p for p in scale if p >= 48 + tonic - (12 if tonic > 5 else 0))) + [0, 3, 4, 0][bar % 4]
        lo, mid, hi = scale[r], scale[r + 2], scale[r + 4]
        for k, p in enumerate([lo, hi, mid, hi] * 2):
            notes.append((t + k * 0.5, 0.5, p))
        for k in range(4):
            mel = int(np.clip(mel + int(rng.integers(-2, 3)), r + 7, r + 14))
            notes.append((t + k, 1.0, scale[mel]))
        t += 4.0
    pid = f"ex/alberti/{tonic}/{mode_name}/{int(rng.integers(0, 1000))}"
    return pid, notes


_EXERCISES = {"scale": _scale, "arpeggio": _arpeggio, "chords": _chords, "hanon": _hanon, "fast": _fast, "alberti": _alberti}


def _exercise(kind: str, rng: np.random.Generator) -> tuple[str, list[tuple[float, float, int]]]:
    """A generated exercise as (piece id, [(onset, duration, pitch) in quarter notes])."""
    if kind not in _EXERCISES:
        raise ValueError(f"unknown exercise {kind!r}")
    tonic = int(rng.integers(0, 12))
    mode = [_MAJOR, _MINOR, _HARMONIC][int(rng.integers(0, 3))]
    mode_name = {_MAJOR: "maj", _MINOR: "min", _HARMONIC: "harm"}[mode]
    rh_base = 60 + tonic if tonic < 6 else 48 + tonic
    octaves = int(rng.integers(1, 4))
    return _EXERCISES[kind](tonic, mode, mode_name, rh_base, octaves, rng)


# ------------------------------------------------------------------------------ two-hand reduction

def _fit_range(notes: list[tuple[float, float, int]]) -> list[tuple[float, float, int]]:
    """Octave-shift notes into A0…C8."""
    out = []
    for on, d, p in notes:
        while p < LOWEST:
            p += 12
        while p > HIGHEST:
            p -= 12
        out.append((on, d, p))
    return out


def reduce_to_hands(timed: list[tuple[float, float, int, int]], max_notes: int = 5,
                    max_span: int = MAX_SPAN) -> list[tuple[float, float, int, int, int]]:
    """Assign (onset s, offset s, pitch, velocity) notes to two hands so that each hand holds at most
    ``max_notes`` keys within ``max_span`` semitones at any time, and no key is struck while held.

    Returns (onset, offset, pitch, velocity, hand), sorted.  Notes that do not fit are dropped, held
    notes that block a new one are released at its onset (as a player lifts a finger to reach).
    """
    timed = sorted(timed)
    if not timed:
        return []
    # the split point follows the music: midway between the lowest and highest pitch around each onset
    onsets = np.array([n[0] for n in timed])
    pitches = np.array([n[2] for n in timed])
    split = np.empty(len(timed))
    for i, t in enumerate(onsets):
        sel = np.abs(onsets - t) <= 1.0
        split[i] = 0.5 * (pitches[sel].min() + pitches[sel].max())
    held: list[list[list[float]]] = [[], []]          # per hand: [onset, offset, pitch, velocity]
    out: list[list[float]] = []
    last_of: dict[int, list[float]] = {}              # pitch -> its latest note
    for (on, off, p, v), s in zip(timed, split):
        hand = 1 if p >= s else 0
        if p == s and len(held[1]) > len(held[0]):
            hand = 0
        prev = last_of.get(p)
        if prev is not None and prev[0] == on:
            continue                                  # the same key twice at once (doubled voices)
        if prev is not None and prev[1] > on - MIN_GAP:
            # the key is still down (either hand): release it a gap before it is struck again
            prev[1] = on - MIN_GAP if on - MIN_GAP - prev[0] >= 0.05 else -1.0
        sounding = [n for n in held[hand] if n[1] > on]
        # release what the hand cannot keep holding while it reaches the new key
        sounding.sort(key=lambda n: n[0])
        while sounding and (len(sounding) >= max_notes or
                            max(p, max(n[2] for n in sounding)) - min(p, min(n[2] for n in sounding)) > max_span):
            far = max(sounding, key=lambda n: abs(n[2] - p))
            far[1] = on if on - far[0] >= 0.05 else -1.0
            sounding.remove(far)
        new = [on, off, p, v, hand]
        held[hand] = sounding + [new]
        out.append(new)
        last_of[p] = new
    return sorted((a, b, int(c), int(d), int(h)) for a, b, c, d, h in out if b > a + 0.03)


SLOT = 22.0         # mm between neighbouring fingertips of a relaxed hand
_GAP_HANDS = 12.0   # mm kept between the two hands' outer fingers


def _candidates(k: int, span: float) -> list[tuple[int, ...]]:
    """Finger slots (0 = the lowest slot) for a group of ``k`` notes, low to high."""
    from itertools import combinations

    if k >= 5:
        return [(0, 1, 2, 3, 4)]
    cands = list(combinations(range(5), k))
    if span < 2.5 * SLOT and k > 1:   # a close chord: neighbouring fingers or one gap
        cands = [c for c in cands if c[-1] - c[0] <= k]
    return cands


def _assign_fingers(notes: list[tuple[float, float, int, int, int]]) -> list[HandNote]:
    """Fingers for both hands' notes, in time order, choosing for each onset group the slots that
    move the hand least, keep the fingers near their keys, do not re-use a finger still holding a
    key, and keep the two hands apart (the right hand's window stays right of the left hand's)."""
    groups: dict[tuple[float, int], list] = {}
    for n in notes:
        groups.setdefault((round(n[0], 4), n[4]), []).append(n)
    lo: list[float | None] = [None, None]       # x (mm) of each hand's lowest slot
    held: list[list[tuple[float, int, float]]] = [[], []]   # (offset, slot, x) per hand
    out: list[HandNote] = []
    for (t, hand) in sorted(groups):
        grp = sorted(groups[(t, hand)], key=lambda n: n[2])
        xs = np.array([key_center(n[2]) for n in grp])
        held[hand] = [h for h in held[hand] if h[0] > t]
        busy = {h[1] for h in held[hand]}
        other = lo[1 - hand]
        best, best_cost = None, np.inf
        for cand in _candidates(len(grp), float(xs[-1] - xs[0])):
            q = np.array(cand, float)
            base = float(np.mean(xs - q * SLOT))
            stretch = np.abs(xs - (base + q * SLOT))
            cost = float(np.sum(np.maximum(stretch - 0.4 * SLOT, 0.0)) * 3)
            if lo[hand] is not None:
                cost += abs(base - lo[hand]) * 0.5
                # still free to stay: a single note inside the current window costs nothing more
            cost += 40.0 * len(busy & set(cand))
            for _, hq, hx in held[hand]:
                cost += max(abs(hx - (base + hq * SLOT)) - 1.2 * SLOT, 0.0) * 4
            if other is not None:
                if hand == 1:
                    overlap = (other + 4 * SLOT + _GAP_HANDS) - base
                else:
                    overlap = (base + 4 * SLOT + _GAP_HANDS) - other
                cost += max(overlap, 0.0) * 10
            if cost < best_cost:
                best, best_cost = (cand, base), cost
        cand, base = best
        lo[hand] = base
        for n, q, x in zip(grp, cand, xs):
            held[hand].append((float(n[1]), int(q), float(x)))
            finger = q if hand == 1 else 4 - q       # right thumb is the lowest slot, left thumb the highest
            out.append(HandNote(NoteEvent(float(n[0]), float(n[1]), int(n[2]), int(n[3])), hand, int(finger)))
    return sorted(out, key=lambda h: (h.note.onset, h.note.pitch))


# ------------------------------------------------------------------------------------ performances

def _velocities(rng: np.random.Generator, onsets_q: np.ndarray) -> np.ndarray:
    """Dynamics: a slow random curve, accents on the beat, per-note jitter (MIDI 25–115)."""
    base = rng.uniform(55, 90)
    phase = rng.uniform(0, 2 * np.pi, 2)
    curve = base + 18 * np.sin(onsets_q / rng.uniform(6, 20) + phase[0]) + 8 * np.sin(onsets_q / 3.1 + phase[1])
    accent = np.where(np.isclose(onsets_q % 1.0, 0.0), rng.uniform(0, 10), 0.0)
    return np.clip(curve + accent + rng.normal(0, 6, len(onsets_q)), 25, 115).round().astype(int)


def _time_map(rng: np.random.Generator, bpm: float, length_q: float):
    """Quarter notes → seconds with rubato: tempo drifts ±8 % around ``bpm``."""
    grid = np.arange(0.0, length_q + 2.0, 0.25)
    drift = np.cumsum(rng.normal(0, 0.01, len(grid)))
    drift = np.clip(drift - drift.mean(), -0.08, 0.08)
    sec_per_q = 60.0 / (bpm * (1.0 + drift))
    t = np.concatenate([[0.0], np.cumsum(sec_per_q[:-1] * 0.25)])
    return lambda q: np.interp(q, grid, t)


def sample_performance(rng: np.random.Generator, seconds: float, split: str | None = None,
                       corpus_share: float = 0.6) -> Performance:
    """A random excerpt of about ``seconds`` (a corpus work or an exercise, from ``split`` when given)
    played with tempo and velocity variation, reduced to two hands with fingering."""
    for _attempt in range(50):
        if rng.random() < corpus_share:
            pieces = [p for p in corpus_pieces() if split is None or piece_split(p) == split]
            # composers weighted by the square root of their share, so Palestrina's 1,318 masses
            # do not drown the keyboard works, quartets and chorales
            by = {}
            for p in pieces:
                by.setdefault(p.split("/", 1)[0], []).append(p)
            names = sorted(by)
            w = np.sqrt([len(by[c]) for c in names])
            group = by[names[int(rng.choice(len(names), p=w / w.sum()))]]
            rel = group[int(rng.integers(0, len(group)))]
            try:
                raw = list(_corpus_notes(rel))
            except Exception as exc:  # noqa: BLE001 - a corpus file music21 cannot read: pick another
                log.debug("skipping %s: %s", rel, exc)
                continue
            pid, source = rel, "corpus"
        else:
            kind = exercise_kinds()[int(rng.integers(0, len(exercise_kinds())))]
            pid, raw = _exercise(kind, rng)
            if split is not None and piece_split(pid) != split:
                continue
            source = "exercise"
        raw = _fit_range(raw)
        if len(raw) < 8:
            continue
        length_q = max(o + d for o, d, _ in raw)
        density = len({o for o, _, _ in raw}) / max(length_q, 1e-6)       # onsets per quarter
        # tempo so that onsets come at 1.5–7 per second (a real player's range), within 40–176 bpm
        target = rng.uniform(1.5, 7.0 if source == "exercise" else 5.0)
        bpm = float(np.clip(60.0 * target / max(density, 1e-3), 40, 176))
        to_s = _time_map(rng, bpm, length_q)
        ons = np.array([o for o, _, _ in raw])
        # an excerpt: start at a random onset so that about `seconds` of music follows
        total_s = float(to_s(length_q))
        start_q = 0.0
        if total_s > seconds:
            later = ons[to_s(ons) <= total_s - seconds]
            start_q = float(later[int(rng.integers(0, len(later)))]) if len(later) else 0.0
        lead = rng.uniform(0.3, 1.0)    # silence before the first note (hands move in)
        t0 = float(to_s(start_q)) - lead
        vel = _velocities(rng, ons)
        timed = []
        for (o, d, p), v in zip(raw, vel):
            on = float(to_s(o)) - t0
            off = float(to_s(o + d)) - t0
            if on < lead - 1e-6 or on >= seconds - 0.3:
                continue
            off = min(off - 0.02 * (off - on), seconds - 0.05)   # a touch of détaché between notes
            if off - on >= 0.05:
                timed.append((on, off, p, int(v)))
        hands = reduce_to_hands(timed)
        if len(hands) < 6:
            continue
        notes = _assign_fingers(hands)
        return Performance(pid, notes, float(seconds), bpm, {"source": source, "start_quarter": start_q})
    raise RuntimeError("could not sample a playable excerpt in 50 attempts")
