"""Render a top view of two hands playing an 88-key keyboard, frame by frame, from a
:class:`~training.synth.piano_music.Performance`.

How (and why this way): the scene is flat — a keyboard seen from above with hands over it — so it is
drawn in 2-D in keyboard millimetres with OpenCV (anti-aliased polygons, lines, ellipses), then
projected into the camera frame with a homography (camera position, small rotation, perspective),
lit, blurred and noised.  A 3-D rasteriser would add nothing a top view shows.  Per video the
keyboard is drawn once with all keys up and once per key down; a frame is the up image with the
pressed keys' down pixels pasted in, then the hands (palm, five two-segment fingers, thumb, forearm)
and their soft shadow drawn over — so hands hide keys, including pressed ones, as in real footage.

Ground truth: key ``p`` is drawn down in frame ``k`` exactly when a note on ``p`` has
``onset ≤ k / fps < offset`` (frame k is shown at k / fps, the convention of
:func:`x2studio.media.audio.frame_windows`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from x2studio.core.keyboard import BLACK_L, HIGHEST, LOWEST, WHITE_L, WIDTH, key_center, key_rect, keys

from .piano_music import SLOT as _SLOT
from .piano_music import Performance

__all__ = ["PianoStyle", "PianoCamera", "sample_style", "sample_camera", "PianoRenderer", "pressed_keys", "key_roll"]

_SHIFT = 4                       # cv2 fixed-point bits for sub-pixel drawing
_X0, _X1 = -40.0, WIDTH + 40.0   # canvas extent in keyboard mm
_Y0, _Y1 = -70.0, WHITE_L + 240.0


@dataclass
class PianoStyle:
    white: tuple[float, float, float]      # RGB 0–255
    black: tuple[float, float, float]
    body: tuple[float, float, float]
    floor: tuple[float, float, float]
    skin: tuple[float, float, float]
    sleeve: tuple[float, float, float]
    hand_scale: float                      # 0.9–1.1
    light_dir: float                       # radians, direction of the key light (shadows fall away)
    shadow: float                          # 0–0.5 darkening under hands
    down_dark: float                       # how much a pressed white key darkens (0.12–0.25)


@dataclass
class PianoCamera:
    size: tuple[int, int]                  # (width, height) of the video
    corners: np.ndarray                    # (4, 2) keyboard corners in the frame: TL, TR, BR, BL (px)
    blur: float                            # Gaussian sigma (px), 0 = none
    noise: float                           # noise sd (0–255 scale)
    gain: np.ndarray                       # (H, W, 1) lighting field
    tint: np.ndarray                       # (3,) colour temperature
    crf: int


def sample_style(rng: np.random.Generator) -> PianoStyle:
    ivory = np.array([245, 242, 232]) * rng.uniform(0.85, 1.0) + rng.normal(0, 4, 3)
    black = [(22, 22, 24), (35, 28, 25), (12, 12, 14), (50, 50, 55)][int(rng.integers(0, 4))]
    bodies = [(20, 20, 22), (70, 42, 25), (110, 70, 40), (225, 225, 220), (40, 30, 28), (150, 150, 155)]
    skin_tones = [(240, 200, 175), (225, 180, 150), (200, 150, 115), (160, 110, 80), (110, 75, 55), (250, 215, 195)]
    sleeves = [(30, 40, 90), (200, 200, 200), (20, 20, 20), (120, 30, 40), (60, 90, 60), (140, 120, 100)]
    floor = tuple(float(v) for v in np.clip(rng.uniform(40, 170) + rng.normal(0, 18, 3), 20, 230))
    return PianoStyle(
        white=tuple(float(v) for v in np.clip(ivory, 150, 255)),
        black=tuple(float(v) for v in black),
        body=tuple(float(v) for v in bodies[int(rng.integers(0, len(bodies)))]),
        floor=floor,
        skin=tuple(float(v) for v in np.clip(np.array(skin_tones[int(rng.integers(0, len(skin_tones)))]) + rng.normal(0, 8, 3), 40, 255)),
        sleeve=tuple(float(v) for v in sleeves[int(rng.integers(0, len(sleeves)))]),
        hand_scale=float(rng.uniform(0.9, 1.1)),
        light_dir=float(rng.uniform(0, 2 * np.pi)),
        shadow=float(rng.uniform(0.15, 0.45)),
        down_dark=float(rng.uniform(0.12, 0.25)),
    )


def sample_camera(rng: np.random.Generator, size: tuple[int, int] = (960, 540)) -> PianoCamera:
    """A static camera above the keyboard: the keyboard spans 80–96 % of the width, rotated by up to
    ±3°, with up to 8 % keystone (the far edge shorter) and a depth squash of the camera's tilt."""
    w, h = size
    kw = w * rng.uniform(0.80, 0.96)
    depth = kw * WHITE_L / WIDTH * rng.uniform(0.95, 1.35)
    cx, cy = w / 2 + rng.uniform(-0.02, 0.02) * w, h * rng.uniform(0.32, 0.55)
    keystone = rng.uniform(0.0, 0.08)
    top = kw * (1 - keystone) / 2
    pts = np.array([[-top, -depth / 2], [top, -depth / 2], [kw / 2, depth / 2], [-kw / 2, depth / 2]])
    a = np.deg2rad(rng.uniform(-3, 3))
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    corners = pts @ rot.T + [cx, cy]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    g = 1.0 + rng.uniform(-0.25, 0.25) * (xx / w - 0.5) + rng.uniform(-0.2, 0.2) * (yy / h - 0.5)
    lx, ly = rng.uniform(0, w), rng.uniform(0, h)
    g += rng.uniform(0, 0.25) * np.exp(-(((xx - lx) / w) ** 2 + ((yy - ly) / h) ** 2) * 4)
    g *= rng.uniform(0.7, 1.15)
    tint = np.array([1.0, 1.0, 1.0]) + rng.normal(0, 0.04, 3)
    return PianoCamera(size=(int(w), int(h)), corners=corners.astype(np.float64),
                       blur=float(rng.choice([0.0, 0.0, rng.uniform(0.4, 1.4)])),
                       noise=float(rng.uniform(0.5, 4.0)), gain=g[..., None].astype(np.float32),
                       tint=tint.astype(np.float32), crf=int(rng.integers(20, 31)))


def pressed_keys(perf: Performance, t: float) -> set[int]:
    """Pitches held down at time ``t`` (s)."""
    return {h.note.pitch for h in perf.notes if h.note.onset <= t < h.note.offset}


def _smoothstep(a: np.ndarray) -> np.ndarray:
    a = np.clip(a, 0.0, 1.0)
    return a * a * (3 - 2 * a)


class PianoRenderer:
    """Frames of one performance under one style and camera.

    Args:
        perf: what is played.
        style: colours and hands.
        camera: projection and image degradations.
        fps: frame rate.
        px_per_mm: canvas resolution before projection (0.8 ≈ 1.1 canvas pixels per video pixel).
        seed: per-frame noise.
    """

    def __init__(self, perf: Performance, style: PianoStyle, camera: PianoCamera, fps: float,
                 px_per_mm: float = 0.8, seed: int = 0) -> None:
        self.perf, self.style, self.camera, self.fps = perf, style, camera, float(fps)
        self.s = float(px_per_mm)
        self.cw = int(round((_X1 - _X0) * self.s))
        self.ch = int(round((_Y1 - _Y0) * self.s))
        self.rng = np.random.default_rng(seed)
        self.n_frames = int(np.floor(perf.duration * self.fps + 1e-9))
        self._base = self._draw_keyboard(None)
        self._down: dict[int, tuple[tuple[slice, slice], np.ndarray, np.ndarray]] = {}
        for k in keys():
            img = self._draw_keyboard(k.pitch)
            x0, y0, x1, y1 = k.rect
            c0, r0 = self._px(x0 - 3, y0 - 1)
            c1, r1 = self._px(x1 + 3, y1 + 3)
            sl = (slice(max(r0, 0), min(r1, self.ch)), slice(max(c0, 0), min(c1, self.cw)))
            diff = np.any(img[sl] != self._base[sl], axis=2)
            self._down[k.pitch] = (sl, diff, img[sl][diff])
        # canvas px -> keyboard mm -> frame px
        src = np.array([[0, 0], [WIDTH, 0], [WIDTH, WHITE_L], [0, WHITE_L]], np.float32)
        h_mm = cv2.getPerspectiveTransform(src, camera.corners.astype(np.float32))
        to_mm = np.array([[1 / self.s, 0, _X0], [0, 1 / self.s, _Y0], [0, 0, 1]])
        self._H = h_mm @ to_mm
        w, h = camera.size
        self._background = self._make_background(w, h)
        self._noise = [self.rng.normal(0, camera.noise, (h, w, 1)).astype(np.float32) for _ in range(6)]
        self._hand_plan = [self._plan_hand(hand) for hand in (0, 1)]
        sx = np.cos(style.light_dir) * 9.0 * self.s
        sy = np.sin(style.light_dir) * 9.0 * self.s
        self._shadow_shift = np.float32([[1, 0, sx], [0, 1, sy]])

    # ------------------------------------------------------------------ keyboard drawing
    def _px(self, x: float, y: float) -> tuple[int, int]:
        return int(round((x - _X0) * self.s)), int(round((y - _Y0) * self.s))

    def _poly(self, img: np.ndarray, pts_mm, color) -> None:
        pts = np.array([[(x - _X0) * self.s * (1 << _SHIFT), (y - _Y0) * self.s * (1 << _SHIFT)] for x, y in pts_mm], np.int32)
        cv2.fillPoly(img, [pts], tuple(float(c) for c in color), lineType=cv2.LINE_AA, shift=_SHIFT)

    def _draw_keyboard(self, down: int | None) -> np.ndarray:
        st = self.style
        img = np.empty((self.ch, self.cw, 3), np.uint8)
        img[:] = np.array(st.floor, np.uint8)
        body = np.array(st.body)
        self._poly(img, [(_X0, _Y0), (_X1, _Y0), (_X1, 0), (_X0, 0)], body)                     # fallboard/case
        self._poly(img, [(_X0, 0), (0, 0), (0, WHITE_L + 14), (_X0, WHITE_L + 14)], body * 0.9)  # cheek blocks
        self._poly(img, [(WIDTH, 0), (_X1, 0), (_X1, WHITE_L + 14), (WIDTH, WHITE_L + 14)], body * 0.9)
        self._poly(img, [(0, WHITE_L), (WIDTH, WHITE_L), (WIDTH, WHITE_L + 14), (0, WHITE_L + 14)], body * 0.75)  # key slip
        self._poly(img, [(_X0, -8), (_X1, -8), (_X1, 0), (_X0, 0)], body * 0.6)                 # felt strip
        white = np.array(st.white)
        gap = white * 0.45
        for k in keys():
            if k.black:
                continue
            x0, y0, x1, y1 = k.rect
            col = white
            if k.pitch == down:
                self._poly(img, [(x0, y0), (x1, y0), (x1, y1), (x0, y1)], gap)
                d = st.down_dark
                self._poly(img, [(x0 + 0.9, y0), (x1 - 0.9, y0), (x1 - 0.9, y1 - 3), (x0 + 0.9, y1 - 3)], col * (1 - d))
                self._poly(img, [(x0 + 0.9, y1 - 12), (x1 - 0.9, y1 - 12), (x1 - 0.9, y1 - 3), (x0 + 0.9, y1 - 3)], col * (1 - 1.4 * d))
            else:
                self._poly(img, [(x0 + 0.4, y0), (x1 - 0.4, y0), (x1 - 0.4, y1), (x0 + 0.4, y1)], col)
                self._poly(img, [(x0 + 0.4, y1 - 2.5), (x1 - 0.4, y1 - 2.5), (x1 - 0.4, y1), (x0 + 0.4, y1)], col * 0.85)
            self._poly(img, [(x0 - 0.3, y0), (x0 + 0.3, y0), (x0 + 0.3, y1), (x0 - 0.3, y1)], gap)
        black = np.array(st.black)
        for k in keys():
            if not k.black:
                continue
            x0, y0, x1, y1 = k.rect
            if k.pitch == down:
                # pressed: sunk between its neighbours; the top looks shorter and loses its sheen
                self._poly(img, [(x0 - 0.6, y0), (x1 + 0.6, y0), (x1 + 0.6, y1 + 1.5), (x0 - 0.6, y1 + 1.5)], black * 0.5)
                self._poly(img, [(x0 + 0.8, y0), (x1 - 0.8, y0), (x1 - 0.8, y1 - 8), (x0 + 0.8, y1 - 8)], np.minimum(black + 28, 255))
            else:
                self._poly(img, [(x0 - 0.6, y0), (x1 + 0.6, y0), (x1 + 0.6, y1 + 1.5), (x0 - 0.6, y1 + 1.5)], black * 0.5)
                self._poly(img, [(x0, y0), (x1, y0), (x1, y1), (x0, y1)], black)
                self._poly(img, [(x0 + 2.5, y1 - 22), (x1 - 2.5, y1 - 22), (x1 - 3.5, y1 - 3), (x0 + 3.5, y1 - 3)],
                           np.minimum(black + 45, 255))
        return img

    def _make_background(self, w: int, h: int) -> np.ndarray:
        """The room around the piano: a smooth random colour field."""
        grey = self.rng.uniform(40, 190, (3, 5, 1))
        small = (grey + self.rng.normal(0, 15, (3, 5, 3))).astype(np.float32)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 255).astype(np.uint8)

    # ------------------------------------------------------------------ hands
    def _plan_hand(self, hand: int) -> dict:
        """Per-frame x of the hand's finger window (mm of slot 0) and its notes by finger."""
        mine = [n for n in self.perf.notes if n.hand == hand]
        t = np.arange(self.n_frames) / self.fps
        if not mine:
            rest = WIDTH * (0.3 if hand == 0 else 0.6)
            return {"lo": np.full(self.n_frames, rest), "notes": [], "visible": False}
        groups: dict[float, list] = {}
        for n in mine:
            groups.setdefault(round(n.note.onset, 4), []).append(n)
        times, los = [], []
        for g_t in sorted(groups):
            g = groups[g_t]
            q = [n.finger if hand == 1 else 4 - n.finger for n in g]
            los.append(float(np.mean([key_center(n.note.pitch) - qq * _SLOT for n, qq in zip(g, q)])))
            times.append(g_t)
        times_a, los_a = np.array(times), np.array(los)
        # before its first note a hand waits outside (left hand further left, right hand further
        # right), so it is never drawn where the other hand is already playing, and moves in
        rest = los_a[0] + (-140.0 if hand == 0 else 140.0)
        lo = np.full(self.n_frames, rest)
        come = max(0.0, times_a[0] - 0.4)
        m = (t >= come) & (t < times_a[0])
        lo[m] = rest + (los_a[0] - rest) * _smoothstep((t[m] - come) / max(times_a[0] - come, 1e-6))
        for i in range(len(times_a)):
            t_i = times_a[i]
            nxt = times_a[i + 1] if i + 1 < len(times_a) else np.inf
            sel = (t >= t_i) & (t < nxt)
            lo[sel] = los_a[i]
            if i + 1 < len(times_a):
                move = min(0.25, 0.8 * (nxt - t_i))
                start = nxt - move
                m = (t >= start) & (t < nxt)
                lo[m] = los_a[i] + (los_a[i + 1] - los_a[i]) * _smoothstep((t[m] - start) / move)
        return {"lo": lo, "notes": mine, "visible": True}

    def _hand_shapes(self, hand: int, k: int) -> list[tuple[str, np.ndarray, float]]:
        """The hand in frame ``k`` as drawing primitives in mm: ('seg', [[x0,y0],[x1,y1]], width) and
        ('ell', [[cx,cy],[ax,ay]], angle)."""
        plan = self._hand_plan[hand]
        t = k / self.fps
        sc = self.style.hand_scale
        lo = float(plan["lo"][k])
        shapes: list[tuple[str, np.ndarray, float]] = []
        centre_x = lo + 2 * _SLOT
        body_x = WIDTH / 2 + (-170 if hand == 0 else 170)
        # forearm and palm
        wrist = np.array([centre_x + (-14 if hand == 1 else 14), WHITE_L + 55 * sc])
        elbow = np.array([0.5 * (centre_x + body_x), _Y1 + 60])
        shapes.append(("arm", np.array([wrist, elbow]), 62 * sc))
        shapes.append(("seg", np.array([wrist, wrist + (elbow - wrist) * 0.25]), 58 * sc))
        shapes.append(("ell", np.array([[centre_x, WHITE_L + 12 * sc], [50 * sc, 40 * sc]]), 0.0))
        # fingers
        active = {}
        for n in plan["notes"]:
            if n.note.onset - 0.08 <= t < n.note.offset:
                active[n.finger] = n
        widths = [19, 16, 16.5, 15.5, 13]
        lengths = [52, 68, 76, 72, 58]
        for f in range(5):
            q = f if hand == 1 else 4 - f
            slot_x = lo + q * _SLOT
            if f == 0:
                base = np.array([slot_x + (-8 if hand == 1 else 8) * sc, WHITE_L + 22 * sc])
            else:
                base = np.array([slot_x, WHITE_L - 14 * sc])
            n = active.get(f)
            if n is not None:
                tip_x = key_center(n.note.pitch)
                pressed = n.note.onset <= t
                black = key_rect(n.note.pitch)[3] < WHITE_L
                tip_y = (BLACK_L - 22 if black else WHITE_L - 62) + (0 if pressed else 5)
            else:
                tip_x = slot_x
                tip_y = base[1] - lengths[f] * sc * 0.62
            tip = np.array([tip_x, tip_y])
            mid = base + (tip - base) * 0.55 + np.array([0, 4])
            w = widths[f] * sc
            shapes.append(("seg", np.array([base, mid]), w))
            shapes.append(("seg", np.array([mid, tip]), w * 0.92))
            shapes.append(("nail", np.array([tip + (mid - tip) * 0.12, [w * 0.28, w * 0.36]]), 0.0))
        return shapes

    def _draw_shapes(self, img: np.ndarray, shapes, skin, sleeve, outline: bool) -> None:
        one = 1 << _SHIFT
        s = self.s

        def p(v):
            return (int(round((v[0] - _X0) * s * one)), int(round((v[1] - _Y0) * s * one)))

        def thick(wmm):
            return max(1, int(round(wmm * s)))

        for kind, geo, val in shapes:
            if kind in ("seg", "arm"):
                col = sleeve if kind == "arm" else skin
                w = val + (2.5 if outline else 0.0)
                c = col if not outline else tuple(c * 0.6 for c in col)
                cv2.line(img, p(geo[0]), p(geo[1]), c, thick(w), cv2.LINE_AA, _SHIFT)
                for end in geo:
                    cv2.circle(img, p(end), int(round(w * s * one / 2)), c, -1, cv2.LINE_AA, _SHIFT)
            elif kind == "ell":
                extra = 1.25 if outline else 0.0
                axes = (int(round((geo[1][0] + extra) * s * one)), int(round((geo[1][1] + extra) * s * one)))
                c = skin if not outline else tuple(c * 0.6 for c in skin)
                cv2.ellipse(img, p(geo[0]), axes, val, 0, 360, c, -1, cv2.LINE_AA, _SHIFT)
            elif kind == "nail" and not outline:
                axes = (int(round(geo[1][0] * s * one)), int(round(geo[1][1] * s * one)))
                c = tuple(min(255.0, c * 1.08 + 12) for c in skin)
                cv2.ellipse(img, p(geo[0]), axes, 0, 0, 360, c, -1, cv2.LINE_AA, _SHIFT)

    # ------------------------------------------------------------------ frames
    def canvas(self, k: int, hands: bool = True) -> np.ndarray:
        """Frame ``k`` in keyboard space (before the camera); ``hands=False`` leaves the hands out."""
        t = k / self.fps
        img = self._base.copy()
        for p in sorted(pressed_keys(self.perf, t), key=lambda p: (key_rect(p)[3] < WHITE_L, p)):
            sl, mask, pix = self._down[p]
            img[sl][mask] = pix
        shapes = [self._hand_shapes(h, k) for h in (0, 1) if hands and self._hand_plan[h]["visible"]]
        if shapes:
            mask = np.zeros(img.shape[:2], np.uint8)
            for sh in shapes:
                self._draw_shapes(mask, sh, (255,), (255,), outline=False)
            mask = cv2.warpAffine(mask, self._shadow_shift, (self.cw, self.ch))
            mask = cv2.blur(mask, (11, 11))
            shade = (1.0 - self.style.shadow * mask.astype(np.float32) / 255.0)[..., None]
            img = (img.astype(np.float32) * shade).astype(np.uint8)
            for sh in shapes:
                self._draw_shapes(img, sh, self.style.skin, self.style.sleeve, outline=True)
                self._draw_shapes(img, sh, self.style.skin, self.style.sleeve, outline=False)
        return img

    def frame(self, k: int) -> np.ndarray:
        """Frame ``k`` as the camera saw it: (H, W, 3) uint8 RGB."""
        cam = self.camera
        w, h = cam.size
        out = self._background.copy()
        cv2.warpPerspective(self.canvas(k), self._H, (w, h), dst=out, flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_TRANSPARENT)
        f = out.astype(np.float32) * cam.gain * cam.tint
        if cam.blur > 0:
            f = cv2.GaussianBlur(f, (0, 0), cam.blur)
        f += self._noise[k % len(self._noise)]
        return np.clip(f, 0, 255).astype(np.uint8)

    def crop_box(self) -> tuple[int, int, int, int]:
        """The keyboard's bounding box in the frame as (min y, max y, min x, max x), PianoYT's order."""
        c = self.camera.corners
        w, h = self.camera.size
        return (int(max(0, np.floor(c[:, 1].min()))), int(min(h, np.ceil(c[:, 1].max()))),
                int(max(0, np.floor(c[:, 0].min()))), int(min(w, np.ceil(c[:, 0].max()))))


def key_roll(perf: Performance, n_frames: int, fps: float) -> np.ndarray:
    """(n_frames, 88) bool: key ``LOWEST + j`` is down in frame k."""
    roll = np.zeros((n_frames, HIGHEST - LOWEST + 1), bool)
    t = np.arange(n_frames) / fps
    for h in perf.notes:
        roll[(t >= h.note.onset) & (t < h.note.offset), h.note.pitch - LOWEST] = True
    return roll
