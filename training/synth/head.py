"""A parametric 3-D head: identity shape, expression deformation and the 68 iBUG landmarks.

The head is a closed surface parameterised by azimuth ``theta`` (0 = straight at the camera,
positive towards the head's +x, i.e. the image's right for a frontal face) and elevation ``phi``
(0 ≈ eye level, positive up).  One grid in (theta, phi) gives the mesh, the texture coordinates
(equirectangular: ``u = (theta + pi) / 2pi``, ``v = (pi/2 - phi) / pi``) and the landmark
positions, so a feature painted on the texture at a landmark's (theta, phi), the bump the
geometry puts there and the landmark itself are the same point by construction.

Units are centimetres in the head frame: x to the head's left (image right when frontal), y up,
z out of the face.  The mouth is a real slit: the grid row at ``PHI_MOUTH`` is doubled between the
mouth corners, the upper copy moves with the skull and the lower copy with the jaw, and the inside
of the head (back faces) is drawn as the mouth cavity by the renderer.

Shapes: ``vertices (V, 3) float32``, ``triangles (T, 3) int32``, ``uv (V, 2) float32``.
"""

from __future__ import annotations

import cv2
import numpy as np

from .identity import EXPRESSION_NAMES, Expression, Identity, sample_identity

__all__ = ["Identity", "Expression", "HeadMesh", "sample_identity", "EXPRESSION_NAMES",
           "PHI_MOUTH", "landmark_params", "FACE_MODEL", "FACE_MODELS"]

PHI_MOUTH = -0.60          # the mouth line's elevation (radians, parameter space)

# Versions of the head's shape; why each changed: docs/measurements.md#head-face-models
FACE_MODELS = (1, 2)
FACE_MODEL = 2
_TILT_DEG = 10.0
_TILT_CENTRE = (-2.0, 0.0)       # (y, z) in the head frame, cm
_FLAT = 0.5                      # forward bulge of the eye band at the sides, x the head's half-depth
_DEPTH = 0.85                    # the ellipsoid's half-depth, x the identity's
_MUZZLE = 0.5                    # forward bulge of the mouth region (cm; 0.9 in version 1)
# ----------------------------------------------------------------------------- landmarks
def landmark_params(ident: Identity, blink: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The 68 iBUG landmarks in parameter space: ``(theta, phi) (68, 2)`` and a side flag.

    ``side`` is +1 for points bound to the upper copy of the mouth row (upper inner lip),
    -1 for the lower copy (lower inner lip), 0 elsewhere.  Point 0 is on the subject's right
    (image left, negative theta), as in 300-W.
    """
    p = np.zeros((68, 2), np.float64)
    side = np.zeros(68, np.int8)
    # jaw contour 0..16: from the right ear round the chin to the left ear
    t = np.linspace(-1, 1, 17)
    p[:17, 0] = 1.22 * np.sin(t * np.pi / 2)
    p[:17, 1] = -0.05 + (-0.85 + 0.05) * np.cos(t * np.pi / 2) ** 1.3
    # brows 17..21 (right, outer→inner) and 22..26 (left, inner→outer)
    es, ew, bh = ident.eye_spacing, ident.eye_width, ident.brow_height
    brow_dx = np.array([-1.30, -0.85, -0.30, 0.25, 0.75]) * ew * 1.1  # outer → inner, right brow
    brow_dy = np.array([0.00, 0.045, 0.06, 0.05, 0.03])
    for k in range(5):
        p[17 + k] = (-es + brow_dx[k], bh + brow_dy[k])
        p[26 - k] = (es - brow_dx[k], bh + brow_dy[k])
    # nose bridge 27..30, nostril base 31..35
    nl = ident.nose_length
    p[27:31, 0] = 0.0
    p[27:31, 1] = np.array([0.03, -0.11, -0.24, -0.37]) * nl
    nw = ident.nose_width
    p[31:36, 0] = np.array([-1.0, -0.5, 0.0, 0.5, 1.0]) * nw * 0.85
    p[31:36, 1] = np.array([-0.425, -0.44, -0.45, -0.44, -0.425]) * nl
    # eyes: 36..41 right (outer corner first), 42..47 left (inner corner first)
    eo = ident.eye_open * ew * (1 - blink)
    cl = -0.12 * ident.eye_open * ew * blink        # where the lids meet when closed
    for sgn, base in ((-1, 36), (1, 42)):
        cx = sgn * es
        outer, inner = cx + sgn * ew, cx - sgn * ew
        xs_top = [cx + sgn * 0.35 * ew, cx - sgn * 0.35 * ew] if base == 36 else [cx - sgn * 0.35 * ew, cx + sgn * 0.35 * ew]
        up = eo * 0.9 + cl
        lo = -ident.eye_open * ew * 0.55 * (1 - blink) + cl
        if base == 36:   # outer, top-outer, top-inner, inner, bottom-inner, bottom-outer
            p[36] = (outer, 0.0)
            p[37] = (xs_top[0], up)
            p[38] = (xs_top[1], up)
            p[39] = (inner, 0.0)
            p[40] = (xs_top[1], lo)
            p[41] = (xs_top[0], lo)
        else:            # inner, top-inner, top-outer, outer, bottom-outer, bottom-inner
            p[42] = (inner, 0.0)
            p[43] = (xs_top[0], up)
            p[44] = (xs_top[1], up)
            p[45] = (outer, 0.0)
            p[46] = (xs_top[1], lo)
            p[47] = (xs_top[0], lo)
    # mouth: outer 48..59, inner 60..67 (the inner ones sit on the slit row)
    mw = ident.mouth_width
    lf = 0.05 + 0.06 * ident.lip_fullness
    pm = PHI_MOUTH
    p[48] = (-mw, pm)
    p[49:54, 0] = np.array([-0.62, -0.25, 0.0, 0.25, 0.62]) * mw
    p[49:54, 1] = pm + np.array([0.62, 0.92, 0.78, 0.92, 0.62]) * lf
    p[54] = (mw, pm)
    p[55:60, 0] = np.array([0.62, 0.28, 0.0, -0.28, -0.62]) * mw
    p[55:60, 1] = pm - np.array([0.75, 1.05, 1.10, 1.05, 0.75]) * lf * 1.1
    p[60] = (-mw * 0.9, pm)
    p[61:64, 0] = np.array([-0.4, 0.0, 0.4]) * mw
    p[61:64, 1] = pm
    side[61:64] = 1
    p[64] = (mw * 0.9, pm)
    p[65:68, 0] = np.array([0.4, 0.0, -0.4]) * mw
    p[65:68, 1] = pm
    side[65:68] = -1
    return p, side


# ----------------------------------------------------------------------------- mesh
def _grid_axes(n_theta: int, n_phi: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-uniform parameter axes, denser on the face; ``PHI_MOUTH`` is an exact row."""
    u = np.linspace(-1, 1, n_theta, endpoint=False)
    theta = np.pi * u * (0.45 + 0.55 * u * u)
    v = np.linspace(1, -1, n_phi)
    phi = (np.pi / 2) * v * (0.5 + 0.5 * v * v)
    phi[np.argmin(np.abs(phi - PHI_MOUTH))] = PHI_MOUTH
    return theta, phi


def _g(t, p, t0, p0, st, sp):
    return np.exp(-0.5 * (((t - t0) / st) ** 2 + ((p - p0) / sp) ** 2))


def _smoothstep(e0, e1, x):
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


class HeadMesh:
    """The mesh of one identity, with its rest shape and expression deformations.

    ``deform(expr)`` returns posed-free (head frame) vertices for an expression; the landmark
    positions for the same expression come from :meth:`landmarks_3d`.
    """

    N_THETA = 176
    N_PHI = 120

    @staticmethod
    def grid_for(size: int) -> tuple[int, int]:
        """Mesh resolution (n_theta, n_phi) for images of ``size`` pixels: the full grid above 160 px;
        below, a coarser one (the face is under ~90 px wide, and the software rasteriser's time
        is mostly per triangle, so this is what makes 128-px rendering fast)."""
        return (176, 120) if size > 160 else (96, 66)

    def __init__(self, ident: Identity, hair_mask_fn=None, grid: tuple[int, int] | None = None,
                 face_model: int = FACE_MODEL) -> None:
        if face_model not in FACE_MODELS:
            raise ValueError(f"unknown face model {face_model!r} (known: {', '.join(map(str, FACE_MODELS))})")
        self.ident = ident
        self.face_model = int(face_model)
        if grid is not None:
            self.N_THETA, self.N_PHI = grid
        theta, phi = _grid_axes(self.N_THETA, self.N_PHI)
        self.theta_axis, self.phi_axis = theta, phi
        T, P = np.meshgrid(theta, phi)               # (n_phi, n_theta)
        self.T, self.P = T, P
        nt, npf = self.N_THETA, self.N_PHI
        idx = np.arange(npf * nt).reshape(npf, nt)
        # the mouth slit: duplicate the mouth row between the corners
        self.mouth_row = int(np.argmin(np.abs(phi - PHI_MOUTH)))
        cols = np.where(np.abs(theta) < ident.mouth_width * 0.93)[0]
        self.slit_cols = cols
        n_base = npf * nt
        dup = np.arange(n_base, n_base + len(cols))
        lower_idx = idx.copy()
        lower_idx[self.mouth_row, cols] = dup
        self.idx, self.lower_idx = idx, lower_idx
        # triangles: cell (r, c) → (r, c), (r+1, c), (r+1, c+1), (r, c+1); theta wraps
        r = np.arange(npf - 1)[:, None]
        c = np.arange(nt)[None, :]
        c1 = (c + 1) % nt
        top = np.where(r == self.mouth_row, lower_idx[r, c], idx[r, c])
        top1 = np.where(r == self.mouth_row, lower_idx[r, c1], idx[r, c1])
        bot, bot1 = idx[r + 1, c], idx[r + 1, c1]
        tris = np.concatenate([np.stack([top, bot, bot1], -1).reshape(-1, 3),
                               np.stack([top, bot1, top1], -1).reshape(-1, 3)])
        self.triangles = tris.astype(np.int32)
        tt = np.concatenate([T.ravel(), T[self.mouth_row, cols]])
        pp = np.concatenate([P.ravel(), P[self.mouth_row, cols]])
        self.theta, self.phi = tt, pp
        self.n_vertices = len(tt)
        self.uv = np.stack([(tt + np.pi) / (2 * np.pi), (np.pi / 2 - pp) / np.pi], -1).astype(np.float32)
        # is the vertex part of the jaw (moves when the mouth opens)?
        self.jaw_w = self._jaw_weight(tt, pp)
        self.jaw_w[dup] = 1.0 * self._jaw_side(tt[dup])
        self.jaw_w[idx[self.mouth_row, cols]] = 0.0
        self.rest = self._rest_shape(tt, pp, hair_mask_fn)
        self._basis = self._expression_basis(tt, pp)
        self.jaw_pivot = np.array([0.0, -1.5, -2.5])
        if self.face_model >= 2:
            # the whole head, its expression directions and the jaw's hinge tilt together, so the
            # expressions and the landmarks (bound to the mesh) stay where they were on the face
            self.rest = self._tilt(self.rest)
            self._basis = {k: self._tilt(b, direction=True) for k, b in self._basis.items()}
            self.jaw_pivot = self._tilt(self.jaw_pivot[None])[0].astype(np.float64)

    @staticmethod
    def _tilt(v: np.ndarray, direction: bool = False) -> np.ndarray:
        """Rotate head-frame points (or directions) chin-forward by ``_TILT_DEG`` about the x axis
        through ``_TILT_CENTRE``."""
        a = np.deg2rad(_TILT_DEG)
        c0 = np.zeros(3) if direction else np.array([0.0, *_TILT_CENTRE])
        q = v - c0
        y = q[:, 1] * np.cos(a) + q[:, 2] * np.sin(a)
        z = -q[:, 1] * np.sin(a) + q[:, 2] * np.cos(a)
        return (np.stack([q[:, 0], y, z], -1) + c0).astype(np.float32)

    # -- shape -----------------------------------------------------------------------------
    def _rest_shape(self, t: np.ndarray, p: np.ndarray, hair_mask_fn) -> np.ndarray:
        d = self.ident
        front = np.clip(np.cos(t), 0, None)
        # ellipsoid with a longer, flatter lower face
        below = p < 0
        ry = np.where(below, d.face_length, d.height)
        sp, cp = np.sin(p), np.cos(p)
        cpe = np.sign(cp) * np.abs(cp) ** np.where(below, 0.62, 0.9)
        x = d.width * np.sin(t) * cpe
        y = ry * sp
        z = d.depth * (_DEPTH if self.face_model >= 2 else 1.0) * np.cos(t) * cpe
        # jaw narrows towards the chin; the back of the lower head becomes the neck
        jaw = _smoothstep(-0.1, -1.1, p)
        x = x * (1 - (1 - d.jaw_width) * jaw)
        back = np.clip(-np.cos(t), 0, None)
        z = z * (1 - 0.35 * jaw * back)
        # flatten the face a little (faces are flatter than ellipsoids at the cheeks)
        z = z - 0.6 * np.abs(np.sin(t)) ** 2 * front * (p < 0.5)
        # features: forward displacement on the face
        es, ew, nl = d.eye_spacing, d.eye_width, d.nose_length
        f = np.zeros_like(t)
        nose_tip, bridge = -0.38 * nl, 0.03
        along = _smoothstep(bridge, nose_tip, p) * (p > nose_tip - 0.08)
        ridge = np.exp(-0.5 * (t / (0.05 + 0.45 * d.nose_width * _smoothstep(bridge, nose_tip, p))) ** 2)
        f += d.nose_height * 0.85 * along * ridge * (1 - _smoothstep(nose_tip, nose_tip - 0.06, p))
        f += d.nose_height * 0.35 * _g(t, p, 0, nose_tip + 0.01, 0.08, 0.06)
        f += 0.6 * _g(np.abs(t), p, d.nose_width * 0.8, nose_tip - 0.03, 0.06, 0.05)     # wings
        f -= 1.1 * _g(np.abs(t), p, es, 0.0, ew * 1.05, 0.09)                          # sockets
        f += 0.55 * _g(np.abs(t), p, es, 0.0, ew * 0.75, ew * 0.5)                     # eyeballs
        f += 0.45 * _g(np.abs(t), p, es * 0.8, d.brow_height + 0.03, 0.28, 0.05)       # brow ridge
        f += d.cheekbones * _g(np.abs(t), p, 0.58, -0.2, 0.18, 0.12)
        f += (_MUZZLE if self.face_model >= 2 else 0.9) * _g(t, p, 0, PHI_MOUTH - 0.02, 0.42, 0.22)  # muzzle
        lf = d.lip_fullness
        f += lf * _g(t, p, 0, PHI_MOUTH + 0.05, d.mouth_width * 0.85, 0.035)            # upper lip
        f += lf * 1.1 * _g(t, p, 0, PHI_MOUTH - 0.06, d.mouth_width * 0.75, 0.04)       # lower lip
        f -= 0.35 * _g(t, p, 0, PHI_MOUTH - 0.17, 0.25, 0.05)                          # under the lip
        f += d.chin * _g(t, p, 0, PHI_MOUTH - 0.36, 0.2, 0.1)                           # chin
        if self.face_model >= 2:       # a flatter front across the eyes and brows (see FACE_MODEL)
            z = z + _FLAT * d.depth * front ** 2 * np.sin(t) ** 2 * np.exp(-0.5 * ((p - 0.1) / 0.35) ** 2)
        z = z + f * front ** 0.5
        # ears are separate geometry; hair adds volume on the scalp
        if hair_mask_fn is not None:
            h = hair_mask_fn(t, p) * d.hair_volume
            r = np.sqrt(x * x + y * y + z * z) + 1e-6
            x, y, z = x + h * x / r, y + h * y / r, z + h * z / r
        return np.stack([x, y, z], -1).astype(np.float32)

    def _jaw_weight(self, t: np.ndarray, p: np.ndarray) -> np.ndarray:
        """1 on the jaw below the mouth, fading towards the ears and up to the mouth line."""
        w = _smoothstep(PHI_MOUTH + 0.02, PHI_MOUTH - 0.25, p)
        side = self._jaw_side(t)
        # the mouth corners' row is shared: below it the skin moves with the jaw
        near = (p < PHI_MOUTH) & (p > PHI_MOUTH - 0.25)
        w = np.where(near, np.maximum(w, _smoothstep(PHI_MOUTH + 0.001, PHI_MOUTH - 0.05, p) *
                                     np.exp(-0.5 * (t / (self.ident.mouth_width * 1.3)) ** 4)), w)
        return (w * side).astype(np.float32)

    @staticmethod
    def _jaw_side(t: np.ndarray) -> np.ndarray:
        return 1 - _smoothstep(0.9, 1.5, np.abs(t))

    def _expression_basis(self, t: np.ndarray, p: np.ndarray) -> dict[str, np.ndarray]:
        d = self.ident
        front = np.clip(np.cos(t), 0, None)[:, None]
        mw = d.mouth_width
        B = {}
        # smile: mouth corners up, out and back; cheeks up
        corner = _g(np.abs(t), p, mw, PHI_MOUTH, 0.12, 0.09)
        B["smile"] = np.stack([np.sign(t) * 0.45 * corner, 0.55 * corner + 0.25 * _g(np.abs(t), p, 0.5, -0.3, 0.18, 0.12),
                               -0.35 * corner], -1) * front
        # lip rounding: corners in, lips forward
        lips = _g(t, p, 0, PHI_MOUTH, mw * 0.9, 0.08)
        B["lip_round"] = np.stack([-np.sign(t) * 0.55 * _g(np.abs(t), p, mw, PHI_MOUTH, 0.14, 0.1),
                                   0 * t, 0.6 * lips], -1) * front
        # brow raise
        brow = _g(np.abs(t), p, d.eye_spacing, d.brow_height + 0.03, 0.22, 0.08)
        B["brow_raise"] = np.stack([0 * t, 0.55 * brow, 0.05 * brow], -1) * front
        return {k: v.astype(np.float32) for k, v in B.items()}

    # -- deformation ------------------------------------------------------------------------
    def cavity(self, scales=(4.0, 10.0)) -> np.ndarray:
        """How far each grid vertex of the rest shape lies below its neighbourhood, relative to the
        head's overall roundness (cm, ``(n_phi, n_theta)``; positive in hollows): a cheap stand-in
        for ambient occlusion, baked into the skin texture so that eye sockets, the sides of the nose
        and the mouth line are darker, as they are under real, soft light."""
        npf, nt = self.N_PHI, self.N_THETA
        g = self.rest[:npf * nt].reshape(npf, nt, 3)
        nrm = vertex_normals(self.rest, self.triangles)[:npf * nt].reshape(npf, nt, 3)
        pad = int(3 * max(scales)) + 1
        wrapped = np.concatenate([g[:, -pad:], g, g[:, :pad]], axis=1)   # theta wraps round
        depth = np.zeros((npf, nt), np.float32)
        for sd in scales:
            mean = cv2.GaussianBlur(wrapped, (0, 0), sd, borderType=cv2.BORDER_REFLECT)[:, pad:-pad]
            depth += np.einsum("ijk,ijk->ij", mean - g, nrm)
        depth /= len(scales)
        pad = int(9 * max(scales)) + 1
        wrapped = np.concatenate([depth[:, -pad:], depth, depth[:, :pad]], axis=1)
        return depth - cv2.GaussianBlur(wrapped, (0, 0), 3 * max(scales), borderType=cv2.BORDER_REFLECT)[:, pad:-pad]

    def deform(self, e: Expression) -> np.ndarray:
        v = self.rest.copy()
        for name, b in self._basis.items():
            a = getattr(e, name)
            if a:
                v += a * b
        if e.jaw_open:
            # rotate the jaw about a horizontal axis behind the mouth (up to ~22 degrees)
            ang = (np.deg2rad(22.0) * e.jaw_open) * self.jaw_w
            c, s = np.cos(ang), np.sin(ang)
            q = v - self.jaw_pivot
            y = c * q[:, 1] - s * q[:, 2]
            z = s * q[:, 1] + c * q[:, 2]
            v[:, 1] = y + self.jaw_pivot[1]
            v[:, 2] = z + self.jaw_pivot[2]
        return v

    def bind(self, params: np.ndarray, side: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bilinear binding of parameter-space points to mesh vertices: ``(idx (N,4), w (N,4))``."""
        th, ph = params[:, 0], params[:, 1]
        ta, pa = self.theta_axis, self.phi_axis
        nt = len(ta)
        # theta (wrapping): ta is increasing
        ci = np.searchsorted(ta, th, side="right") - 1
        ci = np.clip(ci, 0, nt - 1)
        ci1 = (ci + 1) % nt
        t0 = ta[ci]
        t1 = np.where(ci1 == 0, ta[0] + 2 * np.pi, ta[ci1])
        a = (th - t0) / (t1 - t0)
        # phi axis is decreasing
        ri = np.searchsorted(-pa, -ph, side="right") - 1
        ri = np.clip(ri, 0, len(pa) - 2)
        on_row = np.isclose(ph, pa[ri]) | np.isclose(ph, pa[ri + 1])
        b = (pa[ri] - ph) / (pa[ri] - pa[ri + 1])
        top, top1 = self.idx[ri, ci], self.idx[ri, ci1]
        low_top, low_top1 = self.lower_idx[ri, ci], self.lower_idx[ri, ci1]
        bot, bot1 = self.idx[ri + 1, ci], self.idx[ri + 1, ci1]
        # the cell just below the slit uses the lower copy; points on the slit row choose by side
        below_slit = ri == self.mouth_row
        top = np.where(below_slit, low_top, top)
        top1 = np.where(below_slit, low_top1, top1)
        on_slit = on_row & (side != 0)
        m = on_slit & (side < 0)
        r_m = self.mouth_row
        top = np.where(on_slit, np.where(m, self.lower_idx[r_m, ci], self.idx[r_m, ci]), top)
        top1 = np.where(on_slit, np.where(m, self.lower_idx[r_m, ci1], self.idx[r_m, ci1]), top1)
        b = np.where(on_slit, 0.0, b)
        idx = np.stack([top, top1, bot, bot1], -1)
        w = np.stack([(1 - a) * (1 - b), a * (1 - b), (1 - a) * b, a * b], -1)
        return idx, w.astype(np.float32)

    def landmark_binding(self, e: Expression) -> tuple[np.ndarray, np.ndarray]:
        """``(idx (68, 4), w (68, 4))``: the landmarks' vertices and weights for expression ``e``
        (only the eyelid points depend on it)."""
        return self.bind(*landmark_params(self.ident, blink=e.blink))

    def landmarks_3d(self, verts: np.ndarray, e: Expression,
                     binding: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """The 68 landmarks (head frame, cm) on the deformed surface ``verts``."""
        idx, w = binding if binding is not None else self.landmark_binding(e)
        return (verts[idx] * w[..., None]).sum(1)


def vertex_normals(v: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals ``(V, 3)``."""
    a, b, c = v[tris[:, 0]], v[tris[:, 1]], v[tris[:, 2]]
    fn = np.cross(b - a, c - a)
    n = np.zeros_like(v)
    # bincount is much faster than np.add.at
    for ax in range(3):
        n[:, ax] = (np.bincount(tris[:, 0], fn[:, ax], len(v)) + np.bincount(tris[:, 1], fn[:, ax], len(v))
                    + np.bincount(tris[:, 2], fn[:, ax], len(v)))
    n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-9
    return n
