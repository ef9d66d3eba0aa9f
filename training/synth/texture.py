"""Procedural skin textures for :mod:`training.synth.head` (equirectangular, ``(512, 1024, 3) uint8``).

Everything is painted in the head's parameter space (theta, phi), where the landmarks live, so
lips, brows, nostrils, hair line, beard, glasses and moles land where the geometry has them.
OpenCV draws the strokes and polygons; numpy does the noise.
"""

from __future__ import annotations

import cv2
import numpy as np

from .head import PHI_MOUTH, HeadMesh, Identity, landmark_params

__all__ = ["TEX_H", "TEX_W", "paint_texture", "bake_occlusion", "hair_mask", "to_pixels"]

TEX_H, TEX_W = 512, 1024


def to_pixels(theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Parameter space → texture pixel coordinates ``(N, 2)`` (x, y)."""
    x = (np.asarray(theta) + np.pi) / (2 * np.pi) * TEX_W - 0.5
    y = (np.pi / 2 - np.asarray(phi)) / np.pi * TEX_H - 0.5
    return np.stack([x, y], -1)


def _grid() -> tuple[np.ndarray, np.ndarray]:
    x = (np.arange(TEX_W) + 0.5) / TEX_W * 2 * np.pi - np.pi
    y = np.pi / 2 - (np.arange(TEX_H) + 0.5) / TEX_H * np.pi
    return np.meshgrid(x, y)


def _smooth(e0, e1, x):
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _noise(rng: np.random.Generator, cells: tuple[int, int], shape=(TEX_H, TEX_W)) -> np.ndarray:
    small = rng.standard_normal(cells).astype(np.float32)
    return cv2.resize(small, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)


def hair_mask(ident: Identity, theta: np.ndarray, phi: np.ndarray, soft: float = 0.0) -> np.ndarray:
    """Hair coverage in [0, 1] at parameter points (scalp hair only; beards are texture).

    ``soft`` widens the edge inwards (radians): the geometry's hair volume uses a soft edge so
    the hair line is a slope, not a cliff."""
    if ident.hair_style == 0:
        return np.zeros_like(theta, dtype=np.float64)
    at = np.abs(theta)
    hl = ident.hairline + 0.10 * (at / 0.8) ** 2
    if ident.hair_style == 3:  # receding: temples go far back
        hl = ident.hairline + 0.15 + 0.35 * np.exp(-0.5 * ((at - 0.45) / 0.2) ** 2)
    back = -0.45 if ident.hair_style == 1 else -0.75
    s = _smooth(0.8, 1.9, at)
    line = hl * (1 - s) + back * s
    # sideburns in front of the ears
    side = np.exp(-0.5 * ((at - 1.33) / 0.08) ** 2)
    line = np.minimum(line, line * (1 - side) + (-0.18) * side)
    edge = 0.025 if ident.hair_style != 3 else 0.04
    return _smooth(line - edge, line + edge + soft, phi)


def _beard_mask(ident: Identity, T: np.ndarray, P: np.ndarray) -> np.ndarray:
    b = ident.beard
    if b == 0:
        return np.zeros_like(T)
    at = np.abs(T)
    mw = ident.mouth_width
    moustache = (_smooth(-0.44 * ident.nose_length - 0.01, -0.47 * ident.nose_length, P) *
                 _smooth(PHI_MOUTH + 0.03, PHI_MOUTH + 0.06, P) * _smooth(mw * 1.25, mw * 0.9, at))
    lips = (np.abs(P - PHI_MOUTH) < 0.07) & (at < mw * 1.02)
    goatee = _smooth(PHI_MOUTH - 0.07, PHI_MOUTH - 0.11, P) * _smooth(0.35, 0.25, at) * _smooth(-1.12, -1.02, P)
    jaw = _smooth(-0.1, -0.35, P) * _smooth(1.45, 1.3, at) * _smooth(-1.15, -1.02, P)
    cheek_line = _smooth(-0.40 + 0.15 * at, -0.48 + 0.15 * at, P)
    full = np.maximum(jaw * cheek_line, moustache)
    if b == 1 or b == 4:
        m = full
    elif b == 2:
        m = moustache
    else:
        m = np.maximum(moustache, goatee)
    return np.where(lips, 0.0, m)


def paint_texture(ident: Identity) -> np.ndarray:
    """The skin texture of ``ident`` (deterministic for its ``texture_seed``)."""
    rng = np.random.default_rng(ident.texture_seed)
    T, P = _grid()
    skin = np.array(ident.skin_tone, np.float32)
    out = np.clip(_skin(ident, rng, T, P, skin) * 255, 0, 255).astype(np.uint8)
    lm, _ = landmark_params(ident)
    pix = to_pixels(lm[:, 0], lm[:, 1])
    out = _nose_and_lips(out, ident, pix, skin)
    out = _hair(out, ident, rng, T, P)
    _brows(out, ident, rng, pix)
    _moles(out, ident, skin)
    if ident.glasses:
        _glasses(out, ident)
    return out


def _skin(ident: Identity, rng: np.random.Generator, T: np.ndarray, P: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """Blotches, redness, pores, darker skin round the eyes and the shading folds (float RGB 0-1)."""
    img = np.empty((TEX_H, TEX_W, 3), np.float32)
    img[:] = skin
    # blotches, redness and pores
    low = _noise(rng, (12, 24)) * 0.035 + _noise(rng, (40, 80)) * 0.02
    img *= (1 + low)[..., None]
    red = (np.exp(-0.5 * (((np.abs(T) - 0.55) / 0.16) ** 2 + ((P + 0.25) / 0.12) ** 2)) * rng.uniform(0.03, 0.09)
           + np.exp(-0.5 * ((T / 0.08) ** 2 + ((P + 0.36) / 0.07) ** 2)) * 0.05)
    img[..., 1] *= 1 - red
    img[..., 2] *= 1 - red * 0.8
    pores = rng.standard_normal((TEX_H, TEX_W)).astype(np.float32)
    img *= (1 + 0.018 * cv2.GaussianBlur(pores, (3, 3), 0.7))[..., None]
    # darker skin around the eyes; shading folds
    es, ew = ident.eye_spacing, ident.eye_width
    under = np.exp(-0.5 * (((np.abs(T) - es) / (ew * 1.1)) ** 2 + ((P + 0.10) / 0.05) ** 2))
    socket = np.exp(-0.5 * (((np.abs(T) - es * 0.95) / (ew * 1.3)) ** 2 + ((P - 0.06) / 0.07) ** 2))
    img *= (1 - 0.14 * under - 0.22 * socket)[..., None]
    age = ident.age
    fold = np.exp(-0.5 * ((np.abs(T) - (ident.mouth_width + 0.07 - 0.25 * (P - PHI_MOUTH))) / 0.015) ** 2)
    fold *= _smooth(-0.36, -0.44, P) * _smooth(PHI_MOUTH - 0.12, PHI_MOUTH - 0.02, P)
    img *= (1 - (0.05 + 0.12 * age) * fold)[..., None]
    if age > 0.5:  # forehead lines
        for k in range(3):
            ph = ident.brow_height + 0.12 + 0.06 * k
            line = np.exp(-0.5 * ((P - ph - 0.01 * np.sin(T * 7 + k)) / 0.006) ** 2) * _smooth(0.55, 0.3, np.abs(T))
            img *= (1 - 0.12 * (age - 0.5) * line)[..., None]
    return img


def _nose_and_lips(out: np.ndarray, ident: Identity, pix: np.ndarray, skin: np.ndarray) -> np.ndarray:
    # nose: darker sides and nostrils
    nw, nl = ident.nose_width, ident.nose_length
    for sgn in (-1, 1):
        c = to_pixels(np.array([sgn * nw * 0.42]), np.array([-0.43 * nl]))[0]
        cv2.ellipse(out, (int(c[0] * 16), int(c[1] * 16)), (int(nw * 0.25 * TEX_W / 6.283 * 16), int(3.5 * 16)),
                    sgn * 15, 0, 360, tuple(int(v) for v in (skin * 255 * 0.28)), -1, cv2.LINE_AA, 4)
    # lips
    lip = np.array(ident.lip_color) * 255
    layer = out.copy()
    outer = np.round(pix[48:60] * 16).astype(np.int32)
    cv2.fillPoly(layer, [outer], tuple(float(v) for v in lip), cv2.LINE_AA, 4)
    out = cv2.addWeighted(cv2.GaussianBlur(layer, (5, 5), 1.2), 0.85, out, 0.15, 0)
    inner = np.round(pix[[60, 61, 62, 63, 64]] * 16).astype(np.int32)
    cv2.polylines(out, [inner], False, tuple(float(v) for v in lip * 0.3), 3, cv2.LINE_AA, 4)
    return out


def _hair(out: np.ndarray, ident: Identity, rng: np.random.Generator, T: np.ndarray, P: np.ndarray) -> np.ndarray:
    # beard and scalp hair
    hc = np.array(ident.hair_color, np.float32) * 255
    strands = _streaks(rng)
    bm = _beard_mask(ident, T, P)
    if ident.beard == 1:
        stub = (rng.uniform(size=(TEX_H, TEX_W)) < 0.35).astype(np.float32)
        bm = bm * stub * 0.55
    else:
        bm = bm * np.clip(0.75 + 0.35 * strands, 0, 1)
    hm = hair_mask(ident, T, P) * np.clip(0.85 + 0.3 * strands, 0, 1)
    cover = np.clip(np.maximum(bm, hm), 0, 1)[..., None]
    hair_img = hc * (1 + 0.35 * strands[..., None])
    out = (out * (1 - cover) + np.clip(hair_img, 0, 255) * cover).astype(np.uint8)
    return out


def _brows(out: np.ndarray, ident: Identity, rng: np.random.Generator, pix: np.ndarray) -> None:
    hc = np.array(ident.hair_color, np.float32) * 255
    # eyebrows: many short hair strokes along the brow curve
    # brows are darker than the scalp hair, and stay dark-ish on fair and grey people
    brow = np.minimum(hc * 0.7, np.array([120.0, 95.0, 80.0]) * (0.6 + 0.4 * hc.mean() / 255))
    bc = tuple(float(v) for v in np.clip(brow, 0, 255))
    thick = ident.brow_thickness / np.pi * TEX_H
    for rng_side in (range(17, 22), range(22, 27)):
        pts = pix[list(rng_side)]
        dense = _resample(pts, 60)
        for k, (x, y) in enumerate(dense):
            frac = k / (len(dense) - 1)
            taper = 0.55 + 0.45 * np.sin(np.pi * min(1.0, 0.2 + frac))
            for _ in range(5):
                oy = rng.normal(0, thick * 0.35 * taper)
                ang = np.deg2rad(rng.normal(-25 if rng_side.start == 17 else 25, 12))
                ln = rng.uniform(2.5, 5)
                x0, y0 = x + rng.normal(0, 1), y + oy
                x1, y1 = x0 + np.cos(ang) * ln * (1 if rng_side.start == 17 else -1), y0 - abs(np.sin(ang)) * ln
                cv2.line(out, (int(x0 * 16), int(y0 * 16)), (int(x1 * 16), int(y1 * 16)), bc, 1, cv2.LINE_AA, 4)


def _moles(out: np.ndarray, ident: Identity, skin: np.ndarray) -> None:
    # moles
    for th, ph, sz in ident.moles:
        c = to_pixels(np.array([th]), np.array([ph]))[0]
        cv2.circle(out, (int(c[0] * 16), int(c[1] * 16)), int(max(1.0, sz / np.pi * TEX_H) * 16),
                   tuple(float(v) for v in skin * 255 * 0.45), -1, cv2.LINE_AA, 4)


def _glasses(out: np.ndarray, ident: Identity) -> None:
    es, ew = ident.eye_spacing, ident.eye_width
    # rims round the eyes, a bridge and temples towards the ears
    gc = tuple(float(v) * 255 for v in ident.glasses_color)
    w = 2 if ident.glasses == 1 else 4
    for sgn in (-1, 1):
        c = to_pixels(np.array([sgn * es]), np.array([0.01]))[0]
        ax = (int((ew * 1.9) / (2 * np.pi) * TEX_W * 16), int(0.13 / np.pi * TEX_H * 16))
        cv2.ellipse(out, (int(c[0] * 16), int(c[1] * 16)), ax, 0, 0, 360, gc, w, cv2.LINE_AA, 4)
        t0 = to_pixels(np.array([sgn * (es + ew * 1.9)]), np.array([0.04]))[0]
        t1 = to_pixels(np.array([sgn * 1.45]), np.array([0.0]))[0]
        cv2.line(out, (int(t0[0] * 16), int(t0[1] * 16)), (int(t1[0] * 16), int(t1[1] * 16)), gc, w, cv2.LINE_AA, 4)
    b0 = to_pixels(np.array([-es + ew * 1.9, es - ew * 1.9]), np.array([0.04, 0.04]))
    cv2.line(out, (int(b0[0, 0] * 16), int(b0[0, 1] * 16)), (int(b0[1, 0] * 16), int(b0[1, 1] * 16)),
             gc, w, cv2.LINE_AA, 4)


def _streaks(rng: np.random.Generator) -> np.ndarray:
    """Hair-strand noise: white noise smeared along the (mostly vertical) strand direction."""
    n = rng.standard_normal((TEX_H, TEX_W)).astype(np.float32)
    n = cv2.GaussianBlur(n, (1, 0), sigmaX=0.6, sigmaY=5.0)
    return n / (n.std() + 1e-6) * 0.5


def _resample(pts: np.ndarray, n: int) -> np.ndarray:
    d = np.r_[0, np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))]
    s = np.linspace(0, d[-1], n)
    return np.stack([np.interp(s, d, pts[:, 0]), np.interp(s, d, pts[:, 1])], -1)


def bake_occlusion(texture: np.ndarray, mesh: HeadMesh, strength: float = 0.9) -> np.ndarray:
    """Darken ``texture`` in the hollows of ``mesh`` (see :meth:`HeadMesh.cavity`).

    The renderer has no shadows; without this the face is lit evenly and its features lose the
    contrast (dark eye sockets, shaded nose sides, mouth line) that face detectors look for."""
    cav = mesh.cavity()
    occ = np.clip(1.0 - strength * np.clip(cav, 0, None) - 0.06 * np.clip(cav, None, 0), 0.5, 1.05)
    T, P = _grid()
    # texel (theta, phi) → fractional grid index on the non-uniform axes (phi axis decreases)
    ci = np.interp(T, mesh.theta_axis, np.arange(len(mesh.theta_axis))).astype(np.float32)
    ri = np.interp(-P, -mesh.phi_axis, np.arange(len(mesh.phi_axis))).astype(np.float32)
    occ_tex = cv2.remap(occ.astype(np.float32), ci, ri, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return np.clip(texture * occ_tex[..., None], 0, 255).astype(np.uint8)
