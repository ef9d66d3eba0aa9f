"""Who a synthetic person is: their shape and appearance (:class:`Identity`, drawn deterministically
for a seed and an index by :func:`sample_identity`) and what their face does (:class:`Expression`).
:mod:`.head` builds the 3-D head from them."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

__all__ = ["Identity", "Expression", "sample_identity", "EXPRESSION_NAMES"]

EXPRESSION_NAMES = ("jaw_open", "lip_round", "smile", "brow_raise", "blink")


@dataclass(frozen=True)
class Expression:
    """Expression parameters, each in [0, 1] (``lip_round`` and ``smile`` also in [0, 1])."""

    jaw_open: float = 0.0
    lip_round: float = 0.0
    smile: float = 0.0
    brow_raise: float = 0.0
    blink: float = 0.0

    def as_array(self) -> np.ndarray:
        return np.array([getattr(self, n) for n in EXPRESSION_NAMES], np.float32)


@dataclass(frozen=True)
class Identity:
    """Shape and appearance parameters of one synthetic person (see :func:`sample_identity`)."""

    index: int
    sex: float                      # 0 = female-typical proportions … 1 = male-typical
    age: float                      # 0 = young … 1 = old
    width: float                    # head half-width (cm)
    height: float                   # eye-to-vertex height (cm)
    depth: float                    # head half-depth (cm)
    face_length: float              # eye-to-chin (cm)
    jaw_width: float                # 0.6 (narrow, pointed) … 0.95 (square)
    chin: float                     # chin protrusion (cm)
    cheekbones: float               # cheekbone prominence (cm)
    nose_length: float              # bridge-to-tip drop as a fraction of the default
    nose_width: float               # radians (half-width of the nostril wings)
    nose_height: float              # tip protrusion (cm)
    eye_spacing: float              # radians from the midline to each eye centre
    eye_width: float                # radians (half-width of the eye opening)
    eye_open: float                 # opening height as a fraction of eye width
    mouth_width: float              # radians (half-width, corner to centre)
    lip_fullness: float             # cm
    brow_height: float              # radians above the eye centre
    brow_thickness: float           # radians
    skin_tone: tuple[float, float, float]
    hair_color: tuple[float, float, float]
    eye_color: tuple[float, float, float]
    lip_color: tuple[float, float, float]
    hair_style: int                 # 0 bald, 1 short, 2 medium, 3 receding
    hairline: float                 # radians above the eyes where the front hair starts
    hair_volume: float              # cm
    beard: int                      # 0 none, 1 stubble, 2 moustache, 3 goatee, 4 full
    glasses: int                    # 0 none, 1 thin frame, 2 thick frame
    glasses_color: tuple[float, float, float]
    moles: tuple[tuple[float, float, float], ...] = field(default_factory=tuple)  # (theta, phi, size)
    texture_seed: int = 0

    def to_dict(self) -> dict:
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = [list(m) for m in v] if f.name == "moles" else (list(v) if isinstance(v, tuple) else v)
        return out


# Skin tones from light to dark (linear-ish sRGB in [0, 1]), hair and eye palettes.
_SKIN = np.array([[0.96, 0.80, 0.69], [0.92, 0.74, 0.62], [0.87, 0.67, 0.53], [0.80, 0.60, 0.46],
                  [0.72, 0.51, 0.37], [0.60, 0.41, 0.29], [0.47, 0.31, 0.21], [0.36, 0.23, 0.16]])
_HAIR = np.array([[0.06, 0.05, 0.05], [0.15, 0.10, 0.07], [0.30, 0.19, 0.11], [0.52, 0.36, 0.20],
                  [0.80, 0.66, 0.42], [0.55, 0.22, 0.09], [0.55, 0.54, 0.52], [0.85, 0.84, 0.82]])
_EYES = np.array([[0.25, 0.15, 0.08], [0.38, 0.24, 0.12], [0.30, 0.45, 0.60], [0.35, 0.50, 0.35],
                  [0.45, 0.55, 0.65], [0.15, 0.10, 0.06]])


def _pick(rng: np.random.Generator, palette: np.ndarray, jitter: float) -> tuple[float, float, float]:
    i = rng.integers(len(palette))
    c = palette[i] * (1 + rng.normal(0, jitter, 3))
    return tuple(float(x) for x in np.clip(c, 0, 1))


def sample_identity(seed: int, index: int) -> Identity:
    """The ``index``-th person of the population drawn with ``seed`` (deterministic)."""
    rng = np.random.default_rng([int(seed), int(index), 0x1D])
    sex = float(rng.uniform())
    age = float(rng.uniform())
    m = sex  # masculine-typical proportions scale a few parameters
    skin = _pick(rng, _SKIN, 0.04)
    if age > 0.8 and rng.uniform() < 0.6:
        hair = _pick(rng, _HAIR[6:], 0.05)
    else:
        hair = _pick(rng, _HAIR[:6], 0.08)
    lip = tuple(float(x) for x in np.clip(np.array(skin) * np.array([0.80, 0.50, 0.52]) *
                                          rng.uniform(0.85, 1.05), 0, 1))
    hair_style = int(rng.choice(4, p=_hair_probs(m, age)))
    beard = int(rng.choice(5, p=[0.45, 0.2, 0.1, 0.1, 0.15])) if m > 0.5 else 0
    glasses = int(rng.choice(3, p=[0.7, 0.18, 0.12]))
    n_moles = int(rng.integers(0, 4))
    moles = tuple((float(rng.uniform(-0.7, 0.7)), float(rng.uniform(-0.7, 0.5)),
                   float(rng.uniform(0.006, 0.014))) for _ in range(n_moles))
    return Identity(
        index=int(index), sex=sex, age=age,
        width=float(rng.normal(7.4 + 0.4 * m, 0.25)),
        height=float(rng.normal(11.0 + 0.3 * m, 0.4)),
        depth=float(rng.normal(9.4 + 0.3 * m, 0.3)),
        face_length=float(rng.normal(11.2 + 0.6 * m, 0.45)),
        jaw_width=float(np.clip(rng.normal(0.74 + 0.1 * m, 0.06), 0.6, 0.95)),
        chin=float(rng.normal(0.5, 0.2)),
        cheekbones=float(rng.normal(0.45, 0.12)),
        nose_length=float(rng.normal(1.0, 0.08)),
        nose_width=float(rng.normal(0.15 + 0.015 * m, 0.015)),
        nose_height=float(rng.normal(1.55 + 0.15 * m, 0.2)),
        eye_spacing=float(rng.normal(0.42, 0.02)),
        eye_width=float(rng.normal(0.195, 0.01)),
        eye_open=float(rng.normal(0.44 - 0.04 * m, 0.04)),
        mouth_width=float(rng.normal(0.36, 0.025)),
        lip_fullness=float(rng.normal(0.35 - 0.08 * m, 0.07)),
        brow_height=float(rng.normal(0.19, 0.015)),
        brow_thickness=float(rng.normal(0.040 + 0.012 * m, 0.006)),
        skin_tone=skin, hair_color=hair, eye_color=_pick(rng, _EYES, 0.08), lip_color=lip,
        hair_style=hair_style, hairline=float(rng.normal(0.60, 0.05)),
        hair_volume=float(rng.uniform(0.3, 1.2 + 1.2 * (1 - m))),
        beard=beard, glasses=glasses,
        glasses_color=_pick(rng, np.array([[0.05, 0.05, 0.05], [0.3, 0.18, 0.1], [0.6, 0.6, 0.62]]), 0.05),
        moles=moles, texture_seed=int(rng.integers(2**31)))


def _hair_probs(m: float, age: float) -> list[float]:
    bald = 0.02 + 0.25 * m * age
    receding = 0.03 + 0.25 * m * age
    rest = 1 - bald - receding
    return [bald, rest * (0.35 + 0.4 * m), rest * (0.65 - 0.4 * m), receding]
