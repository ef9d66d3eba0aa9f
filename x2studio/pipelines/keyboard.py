"""Find a piano keyboard in a top-view frame: its four corners (A0's back-left … C8's front-right).

No library finds keyboards, so this is written here, from the keyboard's own geometry:

1. **Black keys** are dark, elongated blobs of similar size side by side: threshold the frame
   against its local mean (adaptive threshold) and keep connected components of a black key's
   shape; the largest family of them lying on one straight line is the keyboard's black keys.
2. **Which key is which**: along that line, neighbouring black keys are 2 or 3 "back-of-keyboard
   semitone" units apart (C♯–D♯ 2, D♯–F♯ 3, F♯–G♯ 2, G♯–A♯ 2, A♯–C♯ 3); gaps left by keys hidden
   under the hands are sums of these.  The gaps in units, matched against the 88-key pattern, say
   which pitch each detected blob is.
3. **Homography**: each blob's back and front ends correspond to known points of the keyboard model
   (:mod:`x2studio.core.keyboard`); a RANSAC homography maps the model's corners into the frame.

Works with the camera rotated and tilted (the homography), and with hands covering keys (gaps).
Returns ``None`` when no keyboard is found (the caller then asks the user for the corners).
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from ..core.keyboard import BLACK_L, HIGHEST, LOWEST, OCTAVE, WHITE_L, WIDTH, is_black, key_center

__all__ = ["detect_keyboard", "detect_in_video"]

log = logging.getLogger(__name__)

_UNIT = OCTAVE / 12                     # mm between neighbouring semitones at the back of the keys
_BLACK = [p for p in range(LOWEST, HIGHEST + 1) if is_black(p)]
# each black key's position in units from A#0
_BLACK_UNITS = np.array([round((key_center(p) - key_center(_BLACK[0])) / _UNIT) for p in _BLACK], int)


def _blobs(gray: np.ndarray) -> np.ndarray:
    """Candidate black keys: rows of (cx, cy, length, width, angle_rad, top_x, top_y, bottom_x, bottom_y)."""
    h, w = gray.shape
    block = max(15, (w // 24) | 1)
    mask = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, block, 12)
    # the dark case the black keys start from would join them into one blob: remove everything
    # wider than a few black keys (a horizontal opening keeps only such wide structures)
    wide = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((1, max(9, int(w * 0.025))), np.uint8))
    mask = cv2.subtract(mask, cv2.dilate(wide, np.ones((3, 3), np.uint8)))
    # the thin dark lines between white keys would join each black key to the keyboard's front edge:
    # a horizontal opening a little wider than those lines removes them and keeps the black keys
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, max(3, int(w * 0.0045))), np.uint8))
    n, labels, stats, cents = cv2.connectedComponentsWithStats(mask, 8)
    out = []
    min_area = (w / 200) ** 2 * 2
    max_area = (w / 40) * (w / 10)
    for i in range(1, n):
        area = stats[i, cv2.CC_STAT_AREA]
        if not min_area <= area <= max_area:
            continue
        ys, xs = np.nonzero(labels[stats[i, 1]:stats[i, 1] + stats[i, 3], stats[i, 0]:stats[i, 0] + stats[i, 2]] == i)
        pts = np.stack([xs + stats[i, 0], ys + stats[i, 1]], 1).astype(np.float32)
        (cx, cy), (a, b), ang = cv2.minAreaRect(pts)
        length, width = max(a, b), min(a, b)
        if width < 1.5 or not 2.5 <= length / width <= 14:
            continue
        if area < 0.6 * a * b:              # not a filled bar
            continue
        # the long axis, pointing down the image (from the back of the keys to the front)
        theta = np.deg2rad(ang if a >= b else ang + 90)
        d = np.array([np.cos(theta), np.sin(theta)])
        if d[1] < 0:
            d = -d
        if abs(d[1]) < 0.7:                  # black keys run roughly vertically in a top view
            continue
        top = np.array([cx, cy]) - d * length / 2
        bot = np.array([cx, cy]) + d * length / 2
        out.append((cx, cy, length, width, np.arctan2(d[1], d[0]), top[0], top[1], bot[0], bot[1]))
    return np.array(out, np.float64).reshape(-1, 9)


def _row_of_keys(b: np.ndarray) -> np.ndarray | None:
    """The largest set of similar blobs on one line (RANSAC over pairs of centres)."""
    if len(b) < 8:
        return None
    rng = np.random.default_rng(0)
    best = None
    c = b[:, :2]
    for _ in range(300):
        i, j = rng.choice(len(b), 2, replace=False)
        v = c[j] - c[i]
        nv = np.hypot(*v)
        if nv < 1e-6 or abs(v[1]) / nv > 0.3:       # the row runs roughly horizontally
            continue
        normal = np.array([-v[1], v[0]]) / nv
        dist = np.abs((c - c[i]) @ normal)
        tol = 0.25 * np.median(b[:, 2])
        ok = (dist < tol) & (np.abs(b[:, 2] / np.median(b[dist < tol, 2]) - 1) < 0.35)
        if best is None or ok.sum() > best.sum():
            best = ok
    if best is None or best.sum() < 8:
        return None
    return b[best]


def _assign(row: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Pitches of the blobs of one row: (blobs sorted along the row, their index into _BLACK)."""
    axis = row[-1, :2] - row[0, :2]
    if axis[0] < 0:                 # low notes on the left of the picture (the player's view)
        axis = -axis
    order = np.argsort(row[:, :2] @ axis)
    row = row[order]
    pos = row[:, :2] @ (axis / np.linalg.norm(axis))
    gaps = np.diff(pos)
    if len(gaps) < 4 or (gaps <= 0).any():
        return None
    # unit length: most gaps are 2 units; refine by least squares on the rounded units
    unit = np.median(gaps) / 2.0
    for _ in range(3):
        units = np.maximum(np.round(gaps / unit), 1)
        unit = float(np.sum(gaps * units) / np.sum(units * units))
    units = np.round(gaps / unit).astype(int)
    if (np.abs(gaps / unit - units) > 0.3).mean() > 0.2:
        return None
    seq = np.concatenate([[0], np.cumsum(units)])
    lookup = {int(u): k for k, u in enumerate(_BLACK_UNITS)}
    best, best_hits = None, 0
    # stray blobs beyond the keyboard's ends (a dark object beside it) may stretch the row: every
    # placement that keeps some blobs on keys is tried, and the one that explains most of them wins
    for offset in range(-int(seq[-1]), int(_BLACK_UNITS[-1]) + 1):
        idx = [lookup.get(int(u + offset)) for u in seq]
        hits = sum(i is not None for i in idx)
        if hits > best_hits:
            best, best_hits = idx, hits
    if best is None or best_hits < 0.9 * len(seq):
        return None
    keep = np.array([i is not None for i in best])
    return row[keep], np.array([i for i in best if i is not None])


def detect_keyboard(rgb: np.ndarray) -> np.ndarray | None:
    """The keyboard's corners (TL, TR, BR, BL; video pixels) in an RGB frame, or ``None``."""
    gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb
    blobs = _blobs(gray)
    row = _row_of_keys(blobs)
    if row is None:
        return None
    assigned = _assign(row)
    if assigned is None:
        return None
    row, idx = assigned
    model, image = [], []
    for blob, k in zip(row, idx):
        x = key_center(_BLACK[k])
        model += [(x, 0.0), (x, BLACK_L)]
        image += [(blob[5], blob[6]), (blob[7], blob[8])]
    model_a, image_a = np.array(model, np.float32), np.array(image, np.float32)
    hmat, inliers = cv2.findHomography(model_a, image_a, cv2.RANSAC, max(2.0, 0.004 * gray.shape[1]))
    if hmat is None or inliers is None or inliers.sum() < 12:
        return None
    corners = cv2.perspectiveTransform(np.array([[[0, 0], [WIDTH, 0], [WIDTH, WHITE_L], [0, WHITE_L]]], np.float32),
                                       hmat)[0]
    h, w = gray.shape
    if (corners[:, 0] < -0.1 * w).any() or (corners[:, 0] > 1.1 * w).any() or (corners[:, 1] < -0.1 * h).any() \
            or (corners[:, 1] > 1.1 * h).any():
        return None
    return corners.astype(np.float64)


def detect_in_video(path, frames: int = 5) -> np.ndarray | None:
    """Corners found in several frames spread over a video (the median of those found), or ``None``."""
    from ..media.video import VideoReader

    found = []
    with VideoReader(path) as rd:
        n = max(1, rd.frame_count)
        for k in np.linspace(0, n - 1, frames).astype(int):
            try:
                c = detect_keyboard(rd.read(int(k)).image)
            except Exception as exc:  # noqa: BLE001 - a bad frame is skipped; the others vote
                log.debug("frame %d: %s", k, exc)
                continue
            if c is not None:
                found.append(c)
    if not found:
        return None
    return np.median(np.stack(found), 0)
