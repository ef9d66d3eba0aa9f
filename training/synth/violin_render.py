"""Render a violinist's fingerboard, strings, left hand and bow, frame by frame, from a
:class:`~training.synth.violin_music.Performance`.

How (and why this way): what tells the pitch — which string the bow crosses and vibrates, and where
a fingertip stops it — lies in the plane of the strings, seen from the player's side; so the scene
is drawn in 2-D in violin millimetres (x along the strings from the nut, y across them, G string on
top) with OpenCV (anti-aliased polygons, lines, ellipses) and projected into the frame by a
homography (the camera: fixed for the 'single' and 'all' subsets; rotated, scaled and seen in
perspective for 'varied', the VnYT analog, which also varies backgrounds, lighting, the player's
skin and sleeve, the violin's varnish and puts objects in front).  A 3-D rasteriser would add
nothing this view shows.

Per video the violin (body, f-holes, fingerboard, scroll, bridge, tailpiece, strings at rest) is
drawn once; a frame adds the sounding string's vibration (a blurred lens between the stopping
finger and the bridge, as wide as the bow is loud), the left hand (palm beside the fingerboard,
four two-segment fingers: the stopping finger's tip on its string at the note's exact place,
rocking with the vibrato; the others lifted, with a shadow), and the bow crossing the string it
plays near the bridge, moving along its length (down-bow, up-bow) and tilted per string.

Ground truth: frame ``k`` (shown at ``k / fps``) sounds :meth:`Performance.pitch_at` ``(k / fps)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .violin_music import SCALE_LENGTH, Performance, ViolinNote, stop_distance, vibrato_curve

__all__ = ["ViolinStyle", "ViolinCamera", "sample_style", "sample_camera", "fixed_style", "fixed_camera",
           "ViolinRenderer", "string_y", "frame_truth"]

_SHIFT = 4
_X0, _X1 = -80.0, 440.0             # canvas extent, mm (scroll … tailpiece)
_Y0, _Y1 = -120.0, 120.0
FINGERBOARD_END = 270.0
NECK_JOINT = 130.0
BOW_LENGTH = 650.0


def string_y(string: int, x: float) -> float:
    """The string's y (mm) at ``x``: 16.5 mm apart in all at the nut, 34 mm at the bridge, G on top."""
    half = 8.25 + (17.0 - 8.25) * np.clip(x / SCALE_LENGTH, 0, 1.2)
    return float(-half + 2 * half * string / 3.0)


@dataclass
class ViolinStyle:
    wood: tuple[float, float, float]       # varnish, RGB
    ebony: tuple[float, float, float]
    string_colors: tuple[tuple[float, float, float], ...]
    skin: tuple[float, float, float]
    sleeve: tuple[float, float, float]
    hair: tuple[float, float, float]       # bow hair
    stick: tuple[float, float, float]
    hand_scale: float
    shadow: float


@dataclass
class ViolinCamera:
    size: tuple[int, int]                  # (width, height)
    H: np.ndarray                          # 3×3: violin mm → frame px
    blur: float
    noise: float
    gain: np.ndarray                       # (H, W, 1)
    tint: np.ndarray                       # (3,)
    background: int                        # seed of the background
    occluders: list                        # [(kind, params, colour)] in frame px
    crf: int


def _rgb(v) -> tuple[float, float, float]:
    return tuple(float(x) for x in np.clip(v, 0, 255))


def fixed_style() -> ViolinStyle:
    """The 'single' and 'all' subsets' one player and one violin."""
    return ViolinStyle(wood=(150, 70, 30), ebony=(25, 22, 22),
                       string_colors=((200, 170, 120), (205, 205, 210), (210, 210, 215), (225, 225, 230)),
                       skin=(225, 180, 150), sleeve=(40, 50, 90), hair=(235, 230, 215), stick=(90, 45, 25),
                       hand_scale=1.0, shadow=0.3)


def sample_style(rng: np.random.Generator) -> ViolinStyle:
    woods = [(150, 70, 30), (180, 100, 40), (110, 50, 25), (200, 130, 60), (90, 40, 25), (170, 90, 50)]
    skins = [(240, 200, 175), (225, 180, 150), (200, 150, 115), (160, 110, 80), (110, 75, 55), (250, 215, 195)]
    sleeves = [(30, 40, 90), (200, 200, 200), (20, 20, 20), (120, 30, 40), (60, 90, 60), (140, 120, 100), (230, 230, 240)]
    metal = rng.uniform(170, 235)
    return ViolinStyle(
        wood=_rgb(np.array(woods[int(rng.integers(0, len(woods)))]) + rng.normal(0, 10, 3)),
        ebony=_rgb(rng.uniform(12, 45) + rng.normal(0, 3, 3)),
        string_colors=tuple(_rgb(np.array([metal, metal, metal + 5]) + rng.normal(0, 12, 3)) for _ in range(4)),
        skin=_rgb(np.array(skins[int(rng.integers(0, len(skins)))]) + rng.normal(0, 8, 3)),
        sleeve=_rgb(np.array(sleeves[int(rng.integers(0, len(sleeves)))]) + rng.normal(0, 10, 3)),
        hair=_rgb(rng.uniform(200, 245) + rng.normal(0, 5, 3)),
        stick=_rgb(np.array([90, 45, 25]) * rng.uniform(0.4, 1.4)),
        hand_scale=float(rng.uniform(0.88, 1.12)), shadow=float(rng.uniform(0.15, 0.45)))


def _lighting(rng: np.random.Generator, w: int, h: int, spread: float) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    g = 1.0 + rng.uniform(-spread, spread) * (xx / w - 0.5) + rng.uniform(-spread, spread) * (yy / h - 0.5)
    lx, ly = rng.uniform(0, w), rng.uniform(0, h)
    g += rng.uniform(0, spread) * np.exp(-(((xx - lx) / w) ** 2 + ((yy - ly) / h) ** 2) * 4)
    return g[..., None].astype(np.float32)


def _base_h(size: tuple[int, int], x_lo: float = -45.0, x_hi: float = 405.0) -> np.ndarray:
    """mm → px with the strings horizontal, x_lo … x_hi across the frame, y = 0 in the middle."""
    w, h = size
    s = w / (x_hi - x_lo)
    return np.array([[s, 0, -x_lo * s], [0, s, h / 2], [0, 0, 1]], np.float64)


def fixed_camera(size: tuple[int, int] = (400, 200), seed: int = 0) -> ViolinCamera:
    w, h = size
    rng = np.random.default_rng([seed, 0xC4])
    return ViolinCamera(size=(int(w), int(h)), H=_base_h(size), blur=0.0, noise=1.5,
                        gain=np.ones((h, w, 1), np.float32) * np.float32(1.0), tint=np.ones(3, np.float32),
                        background=int(rng.integers(0, 2**31)), occluders=[], crf=23)


def sample_camera(rng: np.random.Generator, size: tuple[int, int] = (400, 200)) -> ViolinCamera:
    """The varied subset's camera: rotation ±20°, scale 0.75–1.3, a perspective that foreshortens the
    scroll end or the bridge end, a shift; lighting, tint, blur, noise; objects in front 40 % of the time."""
    w, h = size
    base = _base_h(size)
    a = np.deg2rad(rng.uniform(-20, 20))
    sc = rng.uniform(0.75, 1.3)
    c = np.array([w / 2, h / 2])
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) * sc
    shift = rng.uniform(-0.12, 0.12, 2) * [w, h]
    affine = np.eye(3)
    affine[:2, :2] = rot
    affine[:2, 2] = c - rot @ c + shift
    # perspective: the far end of the violin (either) shrinks by up to 35 %
    k = rng.uniform(-0.35, 0.35) / w
    persp = np.array([[1, 0, 0], [0, 1, 0], [k, 0, 1 - k * w / 2]], np.float64)
    # keep the middle of the frame where it was: conjugate by a translation of the centre
    t = np.array([[1, 0, -w / 2], [0, 1, -h / 2], [0, 0, 1]], np.float64)
    ti = np.linalg.inv(t)
    p2 = ti @ np.array([[1, 0, 0], [0, 1, 0], [k, 0, 1]], np.float64) @ t
    del persp
    H = affine @ p2 @ base
    occ = []
    if rng.random() < 0.4:
        for _ in range(int(rng.integers(1, 3))):
            col = _rgb(rng.uniform(20, 230, 3))
            if rng.random() < 0.5:     # a blob (a head, a music stand's edge, another player's arm)
                occ.append(("ell", (float(rng.uniform(0, w)), float(rng.uniform(0, h)), float(rng.uniform(0.08, 0.2) * w),
                                    float(rng.uniform(0.1, 0.3) * h), float(rng.uniform(0, 180))), col))
            else:                       # a bar entering from an edge
                edge = int(rng.integers(0, 4))
                d = rng.uniform(0.08, 0.22)
                box = [(0, 0, d * w, h), (w * (1 - d), 0, w, h), (0, 0, w, d * h), (0, h * (1 - d), w, h)][edge]
                occ.append(("rect", tuple(float(v) for v in box), col))
    return ViolinCamera(size=(int(w), int(h)), H=H, blur=float(rng.choice([0.0, 0.0, rng.uniform(0.4, 1.3)])),
                        noise=float(rng.uniform(0.5, 4.0)), gain=_lighting(rng, w, h, 0.3) * np.float32(rng.uniform(0.7, 1.15)),
                        tint=(np.ones(3) + rng.normal(0, 0.05, 3)).astype(np.float32),
                        background=int(rng.integers(0, 2**31)), occluders=occ, crf=int(rng.integers(20, 31)))


def _background(seed: int, w: int, h: int, plain: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if plain:
        img = np.empty((h, w, 3), np.float32)
        img[:] = (70, 72, 80)
        return img
    kind = int(rng.integers(0, 3))
    small = rng.uniform(20, 230, (int(rng.integers(2, 6)), int(rng.integers(3, 8)), 3)).astype(np.float32)
    img = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    if kind == 1:      # stripes (curtains, wood panels)
        period = rng.uniform(8, 40)
        ang = rng.uniform(0, np.pi)
        yy, xx = np.mgrid[0:h, 0:w]
        img *= (1 + 0.2 * np.sin((xx * np.cos(ang) + yy * np.sin(ang)) / period * 2 * np.pi))[..., None]
    elif kind == 2:    # a textured wall
        tex = cv2.GaussianBlur(rng.normal(0, 25, (h, w)).astype(np.float32), (0, 0), rng.uniform(1, 4))
        img += tex[..., None]
    return np.clip(img, 0, 255)


def frame_truth(perf: Performance, n_frames: int, fps: float) -> dict[str, np.ndarray]:
    """Per frame: the sounding pitch (fractional MIDI, 0 = silence), the note's MIDI number (0 = none)
    and the string (−1 = none)."""
    t = np.arange(n_frames) / float(fps)
    pitch = perf.pitch_at(t)
    midi = np.zeros(n_frames, np.int16)
    string = np.full(n_frames, -1, np.int8)
    for n in perf.notes:
        m = (t >= n.note.onset) & (t < n.note.offset)
        midi[m] = n.note.pitch
        string[m] = n.string
    return {"pitch": pitch.astype(np.float32), "midi": midi, "string": string}


class ViolinRenderer:
    """Frames of one performance under one style and camera."""

    def __init__(self, perf: Performance, style: ViolinStyle, camera: ViolinCamera, fps: float,
                 px_per_mm: float | None = None, plain_background: bool = False, seed: int = 0) -> None:
        self.perf, self.style, self.camera, self.fps = perf, style, camera, float(fps)
        w, h = camera.size
        # canvas resolution: ~1.3 canvas pixels per frame pixel at the camera's scale
        scale = float(np.sqrt(abs(np.linalg.det(camera.H[:2, :2]))))
        self.s = float(px_per_mm or max(0.6, min(4.0, 1.3 * scale)))
        self.cw = int(round((_X1 - _X0) * self.s))
        self.ch = int(round((_Y1 - _Y0) * self.s))
        self.rng = np.random.default_rng(seed)
        self.n_frames = int(np.floor(perf.duration * self.fps + 1e-9))
        to_mm = np.array([[1 / self.s, 0, _X0], [0, 1 / self.s, _Y0], [0, 0, 1]])
        self._H = camera.H @ to_mm
        self._base, self._alpha = self._draw_violin()
        self._bg = _background(camera.background, w, h, plain_background)
        self._noise = [self.rng.normal(0, camera.noise, (h, w, 1)).astype(np.float32) for _ in range(6)]
        self._sounding = sorted(perf.notes, key=lambda n: n.note.onset)
        self._onsets = np.array([n.note.onset for n in self._sounding])
        self._bow_plan()

    # ------------------------------------------------------------------ drawing helpers
    def _p(self, x: float, y: float) -> tuple[int, int]:
        one = self.s * (1 << _SHIFT)
        return int(round((x - _X0) * one)), int(round((y - _Y0) * one))

    @staticmethod
    def _targets(img, color):
        """``img`` is an image, or (image, alpha): the alpha gets 255 wherever the image is drawn on."""
        if isinstance(img, tuple):
            return [(img[0], tuple(float(c) for c in color)), (img[1], (255,))]
        return [(img, tuple(float(c) for c in color))]

    def _poly(self, img, pts, color) -> None:
        pts = np.array([self._p(x, y) for x, y in pts], np.int32)
        for target, col in self._targets(img, color):
            cv2.fillPoly(target, [pts], col, lineType=cv2.LINE_AA, shift=_SHIFT)

    def _line(self, img, a, b, width_mm: float, color) -> None:
        t = max(1, int(round(width_mm * self.s)))
        for target, col in self._targets(img, color):
            cv2.line(target, self._p(*a), self._p(*b), col, t, cv2.LINE_AA, _SHIFT)

    def _ellipse(self, img, c, axes_mm, angle, color) -> None:
        one = self.s * (1 << _SHIFT)
        axes = (max(1, int(round(axes_mm[0] * one))), max(1, int(round(axes_mm[1] * one))))
        for target, col in self._targets(img, color):
            cv2.ellipse(target, self._p(*c), axes, float(angle), 0, 360, col, -1, cv2.LINE_AA, _SHIFT)

    def _capsule(self, img, a, b, width_mm: float, color) -> None:
        self._line(img, a, b, width_mm, color)
        for e in (a, b):
            self._ellipse(img, e, (width_mm / 2, width_mm / 2), 0, color)

    # ------------------------------------------------------------------ the violin (static)
    def _draw_violin(self) -> tuple[np.ndarray, np.ndarray]:
        st = self.style
        img = np.zeros((self.ch, self.cw, 3), np.uint8)
        alpha = np.zeros((self.ch, self.cw), np.uint8)
        wood = np.array(st.wood)
        # body outline from the neck joint on: upper bouts, C-bouts, lower bouts (half-widths, mm)
        xs = np.linspace(NECK_JOINT - 5, NECK_JOINT + 355, 60)
        u = (xs - xs[0]) / (xs[-1] - xs[0])
        half = 85 + 20 * np.sin(np.pi * np.clip(u / 0.38, 0, 1)) - 32 * np.exp(-((u - 0.45) / 0.09) ** 2) \
            + 18 * np.sin(np.pi * np.clip((u - 0.5) / 0.5, 0, 1))
        half *= np.sqrt(np.clip(np.minimum(u, 1 - u) / 0.06, 0, 1))
        top = [(x, -hh) for x, hh in zip(xs, half)]
        bottom = [(x, hh) for x, hh in zip(xs[::-1], half[::-1])]
        self._poly((img, alpha), top + bottom, wood * 0.55)
        self._poly(img, [(x, -hh + 3) for x, hh in zip(xs, half)] + [(x, hh - 3) for x, hh in zip(xs[::-1], half[::-1])], wood)
        # varnish highlight and f-holes
        self._ellipse(img, (NECK_JOINT + 250, -30), (60, 25), 0, tuple(np.minimum(wood * 1.25, 255)))
        for sgn in (-1, 1):
            pts = [(SCALE_LENGTH - 35 + 70 * v, sgn * (24 + 6 * np.sin(np.pi * v * 2))) for v in np.linspace(0, 1, 12)]
            for a, b in zip(pts[:-1], pts[1:]):
                self._line(img, a, b, 2.2, (20, 12, 8))
        # tailpiece and chinrest
        self._poly(img, [(SCALE_LENGTH + 55, -20), (NECK_JOINT + 345, -12), (NECK_JOINT + 345, 12), (SCALE_LENGTH + 55, 20)], tuple(st.ebony))
        self._ellipse(img, (NECK_JOINT + 340, 40), (22, 32), 0, tuple(np.array(st.ebony) * 1.3 + 10))
        # neck, scroll and pegbox
        self._poly((img, alpha), [(-8, -13), (NECK_JOINT, -15), (NECK_JOINT, 15), (-8, 13)], wood * 0.8)
        self._poly((img, alpha), [(-75, -12), (-8, -11), (-8, 11), (-75, 12)], wood * 0.8)
        self._ellipse((img, alpha), (-68, 0), (14, 16), 0, wood * 0.8)
        self._ellipse(img, (-68, 0), (9, 11), 0, tuple(wood * 0.5))
        for k in range(4):      # pegs
            px = -58 + 13 * k
            sgn = -1 if k % 2 else 1
            self._capsule((img, alpha), (px, sgn * 10), (px + 3, sgn * 32), 6, st.ebony)
        # fingerboard (ebony), nut, bridge
        fb = [(0, -12), (FINGERBOARD_END, -21), (FINGERBOARD_END, 21), (0, 12)]
        self._poly(img, fb, tuple(st.ebony))
        self._poly(img, [(-4, -12.5), (0, -12.5), (0, 12.5), (-4, 12.5)], (225, 215, 190))
        self._poly(img, [(SCALE_LENGTH - 1.5, -21), (SCALE_LENGTH + 2.5, -21), (SCALE_LENGTH + 2.5, 21), (SCALE_LENGTH - 1.5, 21)],
                   (220, 190, 140))
        for s in range(4):       # strings, pegbox to tailpiece
            col = self.style.string_colors[s]
            w = (0.95, 0.8, 0.7, 0.55)[s]
            self._line(img, (-30, string_y(s, 0) * 0.6), (0, string_y(s, 0)), w, col)
            self._line(img, (0, string_y(s, 0)), (SCALE_LENGTH, string_y(s, SCALE_LENGTH)), w, col)
            self._line(img, (SCALE_LENGTH, string_y(s, SCALE_LENGTH)), (SCALE_LENGTH + 55, string_y(s, SCALE_LENGTH) * 0.5), w, col)
        return img, alpha

    # ------------------------------------------------------------------ motion plans
    def _note_at(self, t: float) -> ViolinNote | None:
        i = int(np.searchsorted(self._onsets, t, side="right")) - 1
        if i >= 0 and t < self._sounding[i].note.offset:
            return self._sounding[i]
        return None

    def _last_note(self, t: float) -> ViolinNote | None:
        i = int(np.searchsorted(self._onsets, t, side="right")) - 1
        if i >= 0:
            return self._sounding[i]
        return self._sounding[0] if self._sounding else None

    def _bow_plan(self) -> None:
        """Bow position along its length (contact point, mm from the frog) per frame: each note moves
        the bow by an amount that grows with its length and loudness, in its bow direction."""
        t = np.arange(self.n_frames) / self.fps
        pos = np.empty(self.n_frames)
        cur = 300.0
        k = 0
        for n in self._sounding:
            while k < self.n_frames and t[k] < n.note.onset:
                pos[k] = cur
                k += 1
            dur = n.note.offset - n.note.onset
            travel = min(520.0, 120 + 400 * dur * n.note.velocity / 110)
            if n.bow > 0:
                travel = min(travel, 600 - cur)
            else:
                travel = min(travel, cur - 40)
            start = cur
            while k < self.n_frames and t[k] < n.note.offset:
                a = (t[k] - n.note.onset) / max(dur, 1e-6)
                pos[k] = start + n.bow * travel * a
                k += 1
            cur = start + n.bow * travel
        pos[k:] = cur
        self._bow = pos

    # ------------------------------------------------------------------ per frame
    def canvas(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Frame ``k`` in violin space (before the camera) and where it covers the background."""
        t = k / self.fps
        img = self._base.copy()
        alpha = self._alpha.copy()
        st = self.style
        note = self._note_at(t)
        last = self._last_note(t)
        # the sounding string vibrates between the stopping point and the bridge
        if note is not None:
            x0 = stop_distance(note.semitones + vibrato_curve(note, np.array([t]))[0]) if note.semitones else 0.0
            amp = 0.6 + 1.8 * note.note.velocity / 127
            over = img.copy()
            xs = np.linspace(x0, SCALE_LENGTH, 24)
            env = np.sin(np.pi * (xs - x0) / max(SCALE_LENGTH - x0, 1))
            ys = np.array([string_y(note.string, x) for x in xs])
            pts = [(x, y - amp * e) for x, y, e in zip(xs, ys, env)] + \
                  [(x, y + amp * e) for x, y, e in zip(xs[::-1], ys[::-1], env[::-1])]
            self._poly(over, pts, st.string_colors[note.string])
            img = cv2.addWeighted(over, 0.55, img, 0.45, 0)
        self._hand((img, alpha), t, note, last)
        self._draw_bow((img, alpha), k, note, last)
        return img, alpha

    def _hand(self, img, t: float, note: ViolinNote | None, last: ViolinNote | None) -> None:
        st, sc = self.style, self.style.hand_scale
        ref = note or last
        if ref is None:
            return
        pos = ref.position
        # where each finger's tip is: on its string at the note (the stopping finger), lifted elsewhere
        tips, lifted = [], []
        for f in range(1, 5):
            n = pos + round((f - 1) * 6 / 3)
            # a lifted finger hovers curled back over the E-string edge of the fingerboard
            x = stop_distance(min(n, 20)) - 4.0
            y = string_y(3, x) + 10.0
            down = False
            if note is not None and note.finger == f:
                x = stop_distance(note.semitones + vibrato_curve(note, np.array([t]))[0])
                y = string_y(note.string, x)
                down = True
            tips.append((x, y))
            lifted.append(not down)
        knuckle_y = 28 * sc + 16
        palm_x = 0.5 * (tips[0][0] + tips[3][0])
        picture = img[0]
        shadow = picture.copy()
        # shadows of lifted fingers fall beside them (light from the top-left)
        for (x, y), up in zip(tips, lifted):
            if up:
                self._ellipse(shadow, (x + 5, y + 6), (4.5 * sc, 3.5 * sc), 0, (0, 0, 0))
        cv2.addWeighted(shadow, st.shadow, picture, 1 - st.shadow, 0, dst=picture)
        skin = st.skin
        dark = tuple(c * 0.7 for c in skin)
        # forearm and palm below the fingerboard (the E-string side)
        self._capsule(img, (palm_x - 25, knuckle_y + 28), (palm_x - 95, 130), 48 * sc, st.sleeve)
        self._ellipse(img, (palm_x - 10, knuckle_y + 16), (38 * sc, 22 * sc), -15, dark)
        self._ellipse(img, (palm_x - 10, knuckle_y + 16), (36 * sc, 20 * sc), -15, skin)
        # thumb along the G-string edge of the neck
        self._capsule(img, (tips[0][0] - 30, -18), (tips[0][0] - 8, -20), 13 * sc, dark)
        widths = (15, 15.5, 14.5, 12.5)
        for f, ((x, y), up) in enumerate(zip(tips, lifted)):
            kx = palm_x - 18 + 12 * f * sc
            knuckle = (kx, knuckle_y)
            mid = (0.5 * (kx + x) + 4, 0.5 * (knuckle_y + y) + 6)
            w = widths[f] * sc * (1.08 if up else 1.0)
            self._capsule(img, knuckle, mid, w + 1.5, dark)
            self._capsule(img, mid, (x, y), w * 0.9 + 1.5, dark)
            self._capsule(img, knuckle, mid, w, skin)
            self._capsule(img, mid, (x, y), w * 0.9, tuple(min(255.0, c * (1.06 if up else 0.97)) for c in skin))

    def _draw_bow(self, img, k: int, note: ViolinNote | None, last: ViolinNote | None) -> None:
        st = self.style
        ref = note or last
        string = ref.string if ref is not None else 2
        contact_x = SCALE_LENGTH - 28 - (8 * ref.note.velocity / 127 if ref is not None else 0)
        lift = 0.0 if note is not None else 9.0
        angle = np.deg2rad((-26, -9, 9, 26)[string])
        d = np.array([np.sin(angle), np.cos(angle)])          # along the bow, frog side towards +y
        c = np.array([contact_x + lift, string_y(string, contact_x)])
        u = float(self._bow[k])                               # contact point's distance from the frog
        frog = c + d * u
        tip = c - d * (BOW_LENGTH - u)
        off = np.array([d[1], -d[0]]) * 4.0                   # the stick lies beside the hair
        self._line(img, tuple(frog), tuple(tip), 3.2, tuple(c_ * 0.85 for c_ in st.hair))
        self._line(img, tuple(frog), tuple(tip), 2.4, st.hair)
        self._line(img, tuple(frog + off), tuple(tip + off * 0.6), 3.6, st.stick)
        # the frog and the right hand holding it, when in view
        self._capsule(img, tuple(frog - d * 10 + off), tuple(frog + d * 30 + off), 11, (25, 20, 20))
        self._ellipse(img, tuple(frog + d * 20 + off * 4), (26 * st.hand_scale, 18 * st.hand_scale), float(np.rad2deg(angle)), st.skin)

    def frame(self, k: int) -> np.ndarray:
        """Frame ``k`` as the camera saw it: (H, W, 3) uint8 RGB."""
        cam = self.camera
        w, h = cam.size
        canvas, alpha = self.canvas(k)
        if self.s > 1.6:     # the canvas is finer than the frame: smooth before sampling it
            sig = 0.4 * self.s
            canvas, alpha = cv2.GaussianBlur(canvas, (0, 0), sig), cv2.GaussianBlur(alpha, (0, 0), sig)
        warped = cv2.warpPerspective(canvas, self._H, (w, h), flags=cv2.INTER_LINEAR)
        a = cv2.warpPerspective(alpha, self._H, (w, h), flags=cv2.INTER_LINEAR).astype(np.float32)[..., None] / 255
        f = self._bg * (1 - a) + warped.astype(np.float32) * a
        for kind, geo, col in cam.occluders:
            if kind == "ell":
                cv2.ellipse(f, (int(geo[0]), int(geo[1])), (int(geo[2]), int(geo[3])), geo[4], 0, 360, col, -1, cv2.LINE_AA)
            else:
                cv2.rectangle(f, (int(geo[0]), int(geo[1])), (int(geo[2]), int(geo[3])), col, -1)
        f = f * cam.gain * cam.tint
        if cam.blur > 0:
            f = cv2.GaussianBlur(f, (0, 0), cam.blur)
        f += self._noise[k % len(self._noise)]
        return np.clip(f, 0, 255).astype(np.uint8)
