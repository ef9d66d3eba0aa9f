"""One person in front of a camera: head, ears, neck, teeth, shoulders, background and lighting,
rendered with ground truth (pose, expression, 68 landmarks with visibility, face box).

Pose convention (degrees, head relative to the camera; camera looks down −z, y up, x right):
``R = Rz(roll) · Rx(−pitch) · Ry(yaw)`` applied to the head frame, about a pivot at the top of
the neck.  **Positive yaw turns the nose towards the image's right** (the subject's own left),
**positive pitch lifts the nose (looking up)**, **positive roll tilts the head counter-clockwise
as seen in the image** (the top of the head moves to the image's left).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .head import FACE_MODEL, Expression, HeadMesh, Identity, vertex_normals
from .render import Camera, Light, Renderer
from .texture import bake_occlusion, hair_mask, paint_texture

__all__ = ["FaceScene", "FrameTruth", "rotation", "make_background", "PIVOT"]

PIVOT = np.array([0.0, -3.5, -2.0], np.float32)      # head-frame rotation centre (top of the neck)
FACE_CENTRE = np.array([0.0, -3.0, 4.0], np.float32)  # head-frame point that ``head_pos`` places


def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Head-to-camera rotation for angles in degrees (see the module's convention)."""
    y, p, r = np.deg2rad([yaw, pitch, roll])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(-p), -np.sin(-p)], [0, np.sin(-p), np.cos(-p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return (rz @ rx @ ry).astype(np.float32)


@dataclass
class FrameTruth:
    """Ground truth of one rendered frame (pixel coordinates: integer values at pixel centres)."""

    pose: np.ndarray          # (3,) yaw, pitch, roll in degrees
    expression: np.ndarray    # (5,) see head.EXPRESSION_NAMES
    landmarks: np.ndarray     # (68, 2) x, y pixels, iBUG/300-W order
    visible: np.ndarray       # (68,) bool: not hidden by the head itself, inside the frame
    box: np.ndarray           # (4,) x0, y0, x1, y1: the tight box of the 68 landmarks
    depth: np.ndarray | None = None


def _ellipsoid(n_u: int, n_v: int, radii, centre, v_range=(-np.pi / 2, np.pi / 2)):
    u = np.linspace(-np.pi, np.pi, n_u, endpoint=False)
    v = np.linspace(v_range[1], v_range[0], n_v)
    U, V = np.meshgrid(u, v)
    d = np.stack([np.sin(U) * np.cos(V), np.sin(V), np.cos(U) * np.cos(V)], -1).reshape(-1, 3)
    pts = d * np.asarray(radii) + np.asarray(centre)
    nrm = d / np.asarray(radii)
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
    idx = np.arange(n_u * n_v).reshape(n_v, n_u)
    a, b = idx[:-1], idx[1:]
    a1, b1 = np.roll(a, -1, 1), np.roll(b, -1, 1)
    tris = np.concatenate([np.stack([a, b, b1], -1).reshape(-1, 3), np.stack([a, b1, a1], -1).reshape(-1, 3)])
    return pts.astype(np.float32), nrm.astype(np.float32), tris.astype(np.int32)


def _ear(side: int, ident: Identity):
    """A cupped ear shell on one side of the head (head frame)."""
    n_a, n_r = 28, 7
    a = np.linspace(0, 2 * np.pi, n_a, endpoint=False)
    r = np.linspace(0.0, 1.0, n_r)
    A, Rr = np.meshgrid(a, r)
    tilt = np.deg2rad(20)
    e_v = np.array([0.0, 1.0, 0.0])
    e_h = np.array([side * np.sin(tilt), 0.0, -np.cos(tilt)])
    e_n = np.array([side * np.cos(tilt), 0.0, np.sin(tilt)])
    hw, hh = 1.7, 3.1
    c = np.array([side * (ident.width * 0.93), -1.6, -1.2])
    cup = -0.35 + 0.9 * Rr ** 2.5 + 0.25 * (np.cos(A) > 0) * Rr ** 2
    pts = (c + (Rr * np.cos(A) * hw * (1 + 0.25 * (np.cos(A) > 0)))[..., None] * e_h
           + (Rr * np.sin(A) * hh)[..., None] * e_v + cup[..., None] * e_n).reshape(-1, 3)
    idx = np.arange(n_a * n_r).reshape(n_r, n_a)
    p, q = idx[:-1], idx[1:]
    p1, q1 = np.roll(p, -1, 1), np.roll(q, -1, 1)
    tris = np.concatenate([np.stack([p, q, q1], -1).reshape(-1, 3), np.stack([p, q1, p1], -1).reshape(-1, 3)])
    if side < 0:
        tris = tris[:, ::-1]
    return pts.astype(np.float32), tris.astype(np.int32)


def make_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A static, out-of-focus interview-style background ``(size, size, 3) uint8``."""
    s = size * 2
    style = int(rng.integers(4))
    base = rng.uniform(0.15, 0.85, 3)
    top, bottom = base * rng.uniform(0.8, 1.15, 3), base * rng.uniform(0.55, 0.95, 3)
    t = np.linspace(0, 1, s)[:, None, None]
    img = (top * (1 - t) + bottom * t) * np.ones((1, s, 1))
    img = (np.clip(img, 0, 1) * 255).astype(np.uint8)
    if style == 0:     # a room: shelves, frames, a window
        for _ in range(int(rng.integers(3, 8))):
            x0, y0 = rng.integers(0, s, 2)
            w, h = rng.integers(s // 10, s // 2, 2)
            col = tuple(int(v) for v in rng.uniform(20, 240, 3))
            cv2.rectangle(img, (int(x0), int(y0)), (int(x0 + w), int(y0 + h)), col, -1)
    elif style == 1:   # bokeh lights
        for _ in range(int(rng.integers(8, 25))):
            c = tuple(int(v) for v in rng.integers(0, s, 2))
            col = tuple(int(v) for v in rng.uniform(60, 255, 3))
            cv2.circle(img, c, int(rng.integers(s // 30, s // 10)), col, -1, cv2.LINE_AA)
    elif style == 2:   # office: lines and panels
        for _ in range(int(rng.integers(4, 10))):
            col = tuple(int(v) for v in rng.uniform(30, 230, 3))
            if rng.uniform() < 0.5:
                x = int(rng.integers(0, s))
                cv2.rectangle(img, (x, 0), (x + int(rng.integers(4, s // 8)), s), col, -1)
            else:
                y = int(rng.integers(0, s))
                cv2.rectangle(img, (0, y), (s, y + int(rng.integers(4, s // 8))), col, -1)
    else:              # a curtain
        n = rng.standard_normal((1, 24)).astype(np.float32)
        folds = cv2.resize(n, (s, s), interpolation=cv2.INTER_CUBIC)
        img = np.clip(img * (1 + 0.18 * folds[..., None]), 0, 255).astype(np.uint8)
    blur = float(rng.uniform(2, 8)) * s / 256
    img = cv2.GaussianBlur(img, (0, 0), blur)
    noise = rng.normal(0, 2.0, img.shape)
    img = np.clip(img + noise, 0, 255).astype(np.uint8)
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


class FaceScene:
    """A renderable person: ``render(pose, expression, ...)`` → image and :class:`FrameTruth`."""

    def __init__(self, renderer: Renderer, ident: Identity, rng: np.random.Generator,
                 light: Light | None = None, background: np.ndarray | None = None,
                 shirt_color=None, face_model: int = FACE_MODEL) -> None:
        self.r = renderer
        self.ident = ident
        self.mesh = HeadMesh(ident, hair_mask_fn=lambda t, p: hair_mask(ident, t, p, soft=0.3),
                             grid=HeadMesh.grid_for(renderer.size), face_model=face_model)
        self.texture = bake_occlusion(paint_texture(ident), self.mesh)
        m = self.mesh
        nh = m.n_vertices
        # ears and neck (head frame, rigid except the neck's skinning), teeth, shoulders
        ears = [_ear(s, ident) for s in (-1, 1)]
        neck_pts, neck_nrm, neck_tris = _ellipsoid(32, 14, (ident.width * 0.58, 12.0, 4.4),
                                                   (0.0, -15.0, -3.6), v_range=(-np.pi / 2 + 0.2, np.pi / 2 - 0.2))
        self.neck_w = np.clip((neck_pts[:, 1] + 24.0) / 16.0, 0.0, 1.0)[:, None]
        cols = m.slit_cols
        tcols = cols[np.abs(m.theta_axis[cols]) < ident.mouth_width * 0.8]
        self.teeth_cols = tcols
        nt = len(tcols)
        strip = np.arange(2 * nt).reshape(2, nt)
        a, b = strip[0, :-1], strip[1, :-1]
        teeth_tris = np.concatenate([np.stack([a, b, b + 1], -1), np.stack([a, b + 1, a + 1], -1)])
        parts_tris = [m.triangles]
        off = nh
        self.ear_pts = []
        for pts, tris in ears:
            parts_tris.append(tris + off)
            self.ear_pts.append(pts)
            off += len(pts)
        self.ear_pts = np.concatenate(self.ear_pts)
        self.ear_nrm = self.ear_pts - np.array([0, -1.6, -1.2], np.float32)
        self.ear_nrm /= np.linalg.norm(self.ear_nrm, axis=1, keepdims=True)
        parts_tris.append(neck_tris + off)
        off += len(neck_pts)
        self.neck_pts, self.neck_nrm = neck_pts, neck_nrm
        self.teeth_off = off
        parts_tris.append(teeth_tris + off)
        parts_tris.append(teeth_tris + off + 2 * nt)
        off += 4 * nt
        torso_pts, torso_nrm, torso_tris = _ellipsoid(36, 14, (ident.width * 2.5, 10.0, 10.0),
                                                      (0.0, -23.5, -4.0), v_range=(-0.2, np.pi / 2))
        self.torso_pts, self.torso_nrm = torso_pts, torso_nrm
        parts_tris.append(torso_tris + off)
        off += len(torso_pts)
        self.n_vertices = off
        self.triangles = np.concatenate(parts_tris).astype(np.int32)
        data = np.zeros((off, 9), np.float32)
        data[:nh, 6:8] = m.uv
        data[nh:self.teeth_off, 8] = 1.0
        data[self.teeth_off:self.teeth_off + 4 * nt, 8] = 3.0
        data[self.teeth_off + 4 * nt:, 8] = 2.0
        self._data = data
        self.light = light or Light()
        self.background = background
        self.shirt = shirt_color if shirt_color is not None else tuple(rng.uniform(0.1, 0.8, 3))
        self._bound = False

    def bind(self) -> None:
        """Upload this person's mesh and textures (call before rendering after another scene)."""
        r = self.r
        r.set_mesh_topology(self.triangles, self.n_vertices)
        r.set_skin_texture(self.texture)
        if self.background is not None:
            r.set_background(self.background)
        i = self.ident
        skin = np.array(i.skin_tone) * 0.97
        r.set_uniforms(skin_col=skin, shirt_col=self.shirt, iris_col=i.eye_color,
                       eye_r=(-i.eye_spacing, 0.0, i.eye_width, i.eye_open),
                       eye_l=(i.eye_spacing, 0.0, i.eye_width, i.eye_open))
        self._bound = True

    def render(self, pose, expr: Expression, camera: Camera, head_pos, gaze=(0.0, 0.0),
               want_depth: bool = False, bg_window=(0.5, 0.5, 1.0)) -> tuple[np.ndarray, FrameTruth]:
        """Render the person with ``pose`` (yaw, pitch, roll degrees) with the face centre at
        ``head_pos`` (camera space, cm); ``bg_window`` is the part of the background seen
        (:meth:`Renderer.render`)."""
        if not self._bound:
            self.bind()
        m = self.mesh
        R = rotation(*pose)
        # ``head_pos`` says where the face centre goes (as a face tracker keeps it centred)
        pos = np.asarray(head_pos, np.float32) - (FACE_CENTRE - PIVOT) @ R.T
        v = m.deform(expr)
        n = vertex_normals(v, m.triangles)
        data = self._data
        nh = m.n_vertices
        data[:nh, 0:3] = (v - PIVOT) @ R.T + pos
        data[:nh, 3:6] = n @ R.T
        k = nh
        ne = len(self.ear_pts)
        data[k:k + ne, 0:3] = (self.ear_pts - PIVOT) @ R.T + pos
        data[k:k + ne, 3:6] = self.ear_nrm @ R.T
        k += ne
        nn = len(self.neck_pts)
        w = self.neck_w
        rigid = (self.neck_pts - PIVOT) @ R.T + pos
        still = self.neck_pts - PIVOT + pos
        data[k:k + nn, 0:3] = w * rigid + (1 - w) * still
        nr = w * (self.neck_nrm @ R.T) + (1 - w) * self.neck_nrm
        data[k:k + nn, 3:6] = nr / np.linalg.norm(nr, axis=1, keepdims=True)
        k += nn
        # teeth: just behind the lips, upper set with the skull, lower set with the jaw
        row = m.mouth_row
        up = v[m.idx[row, self.teeth_cols]] + np.array([0, -0.05, -0.55], np.float32)
        lo = v[m.lower_idx[row, self.teeth_cols]] + np.array([0, 0.05, -0.6], np.float32)
        nt = len(self.teeth_cols)
        teeth = np.concatenate([up, up + np.array([0, -0.6, -0.1], np.float32),
                                lo + np.array([0, 0.45, -0.1], np.float32), lo])
        data[k:k + 4 * nt, 0:3] = (teeth - PIVOT) @ R.T + pos
        data[k:k + 4 * nt, 3:6] = np.array([0, 0, 1], np.float32) @ R.T
        k += 4 * nt
        data[k:, 0:3] = self.torso_pts - PIVOT + pos
        data[k:, 3:6] = self.torso_nrm
        self.r.set_uniforms(gaze=gaze, blink=expr.blink)
        rgb, depth = self.r.render(camera, self.light, data, bg_window)
        binding = m.landmark_binding(expr)
        lm3 = (m.landmarks_3d(v, expr, binding) - PIVOT) @ R.T + pos
        lm, zc = camera.project(lm3)
        s = camera.size
        inside = (lm[:, 0] >= 0) & (lm[:, 1] >= 0) & (lm[:, 0] <= s - 1) & (lm[:, 1] <= s - 1)
        xi = np.clip(np.round(lm[:, 0]).astype(int), 0, s - 1)
        yi = np.clip(np.round(lm[:, 1]).astype(int), 0, s - 1)
        # a point is visible when nothing nearer was drawn around it (3×3, tolerance 0.6 cm)
        # visible: the depth buffer has nothing nearer at the point's pixel (0.5 cm tolerance) and
        # the surface there faces the camera (a point on a grazing slope is called hidden)
        depth_ok = depth[yi, xi] >= zc - 0.5
        idx, wts = binding
        ln = (n[idx] * wts[..., None]).sum(1) @ R.T
        facing = np.einsum("ij,ij->i", ln, -lm3) / (np.linalg.norm(ln, axis=1) * np.linalg.norm(lm3, axis=1) + 1e-9)
        visible = inside & depth_ok & (facing > 0.2)
        box = np.array([lm[:, 0].min(), lm[:, 1].min(), lm[:, 0].max(), lm[:, 1].max()], np.float32)
        truth = FrameTruth(pose=np.asarray(pose, np.float32), expression=expr.as_array(),
                           landmarks=lm.astype(np.float32), visible=visible, box=box,
                           depth=depth if want_depth else None)
        return rgb, truth
