"""The geometry of an 88-key piano keyboard seen from above (millimetres, standard dimensions).

x runs from the left edge of A0 (0 mm) to the right edge of C8 (52 white keys × 23.5 mm); y runs
from the back of the keys (0 mm, by the fallboard) to their front edge (150 mm).  White keys are
23.5 × 150 mm; black keys 13.7 × 95 mm.  Black keys sit where the octave's twelve semitones divide
its width equally (the back of a real keyboard, where all twelve keys are equally wide), so C♯ sits
left of the C/D boundary and F♯/A♯ right of theirs, as on a real piano.

Used by the synthetic renderer, the transcription pipeline (key columns in the 145×800 crop) and
the Piano panel (highlighting keys).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

__all__ = ["LOWEST", "HIGHEST", "N_KEYS", "WHITE_W", "WHITE_L", "BLACK_W", "BLACK_L", "WIDTH", "is_black",
           "key_rect", "key_center", "Key", "keys", "pitch_name"]

LOWEST, HIGHEST = 21, 108        # A0, C8
N_KEYS = HIGHEST - LOWEST + 1    # 88
WHITE_W, WHITE_L = 23.5, 150.0
BLACK_W, BLACK_L = 13.7, 95.0
OCTAVE = 7 * WHITE_W             # 164.5 mm
_WHITE_INDEX = {0: 0, 2: 1, 4: 2, 5: 3, 7: 4, 9: 5, 11: 6}
_NAMES = ("C", "C♯", "D", "E♭", "E", "F", "F♯", "G", "A♭", "A", "B♭", "B")
WIDTH = 52 * WHITE_W             # 1222 mm


def is_black(pitch: int) -> bool:
    return pitch % 12 not in _WHITE_INDEX


def _octave_x(pitch: int) -> float:
    # x of the C at or below `pitch`, relative to A0's left edge (A0 is white index 5 of MIDI octave 1)
    return (pitch // 12 - 1) * OCTAVE - 5 * WHITE_W


def key_rect(pitch: int) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) in mm of the key's top surface (a white key's full rectangle; the parts hidden
    by black keys are included)."""
    if not LOWEST <= pitch <= HIGHEST:
        raise ValueError(f"MIDI pitch {pitch} is not on an 88-key piano (21–108)")
    base = _octave_x(pitch)
    s = pitch % 12
    if s in _WHITE_INDEX:
        x0 = base + _WHITE_INDEX[s] * WHITE_W
        return (x0, 0.0, x0 + WHITE_W, WHITE_L)
    c = base + (s + 0.5) * OCTAVE / 12
    return (c - BLACK_W / 2, 0.0, c + BLACK_W / 2, BLACK_L)


def key_center(pitch: int) -> float:
    x0, _, x1, _ = key_rect(pitch)
    return 0.5 * (x0 + x1)


def pitch_name(pitch: int) -> str:
    return f"{_NAMES[pitch % 12]}{pitch // 12 - 1}"


@dataclass(frozen=True)
class Key:
    pitch: int
    black: bool
    rect: tuple[float, float, float, float]


@lru_cache(maxsize=1)
def keys() -> tuple[Key, ...]:
    """The 88 keys, low to high."""
    return tuple(Key(p, is_black(p), key_rect(p)) for p in range(LOWEST, HIGHEST + 1))
