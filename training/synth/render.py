"""OpenGL rasteriser for the synthetic faces (moderngl on EGL: Mesa's llvmpipe on a CPU machine,
the vendor driver on a GPU one).

Why OpenGL and not a numpy/torch rasteriser: perspective-correct texturing, a real depth buffer,
multisampled edges and per-fragment shading come from the driver for free, and Mesa's llvmpipe
renders a 40k-triangle head at 256² in a few milliseconds on two cores — a vectorised numpy
rasteriser of the same quality measured an order of magnitude slower.  The eyes (iris, pupil,
eyelids, lashes) are drawn in the fragment shader in texture space so that blinks and gaze need
no texture upload.

Conventions: camera at the origin looking down −z, y up.  Images are returned top row first
(``(S, S, 3) uint8 RGB``); pixel coordinates put integer values at pixel centres (OpenCV).
"""

from __future__ import annotations

import sys

import logging
from dataclasses import dataclass

import numpy as np

from x2studio.core.errors import DependencyError

__all__ = ["Renderer", "Camera", "Light", "gl_available"]

log = logging.getLogger(__name__)

NEAR, FAR = 5.0, 500.0

_VS = """
#version 330
in vec3 in_pos; in vec3 in_nrm; in vec2 in_uv; in float in_mat;
uniform mat4 proj;
out vec3 v_pos; out vec3 v_nrm; out vec2 v_uv; flat out int v_mat;
void main() {
    gl_Position = proj * vec4(in_pos, 1.0);
    v_pos = in_pos; v_nrm = in_nrm; v_uv = in_uv; v_mat = int(in_mat + 0.5);
}
"""

_FS = """
#version 330
in vec3 v_pos; in vec3 v_nrm; in vec2 v_uv; flat in int v_mat;
uniform sampler2D skin_tex;
uniform vec3 light_dir; uniform vec3 light_col; uniform vec3 sky; uniform vec3 ground;
uniform vec3 skin_col; uniform vec3 shirt_col; uniform vec3 iris_col;
uniform vec4 eye_r; uniform vec4 eye_l;      // theta, phi, half-width, open fraction
uniform vec2 gaze; uniform float blink; uniform float spec_amt;
out vec4 frag;
const float PI = 3.14159265;

vec3 paint_eye(vec3 base, vec2 tp, vec4 eye, float mirror) {
    vec2 q = (tp - eye.xy) / eye.z;
    q.x *= mirror;                       // +x towards the nose for both eyes
    float x = q.x, y = q.y;
    if (abs(x) > 1.25 || abs(y) > 1.0) return base;
    float open = eye.w * (1.0 - blink);
    float lid_meet = -0.12 * eye.w * blink;
    float bulge = pow(max(1.0 - x * x, 0.0), 0.75);
    float up = open * 0.9 * bulge * (1.0 - 0.15 * x) + lid_meet * bulge;
    float lo = -eye.w * 0.55 * (1.0 - blink) * bulge + lid_meet * bulge;
    vec3 c = base;
    if (abs(x) < 1.0 && y < up && y > lo) {
        vec2 g = vec2(x, y) - vec2(gaze.x * mirror, gaze.y) * 0.35;
        float r = length(g * vec2(1.0, 1.0));
        float ri = 0.42;
        vec3 sclera = vec3(0.93, 0.90, 0.87) * (1.0 - 0.35 * x * x) * mix(0.75, 1.0, smoothstep(up, up - 0.15, y));
        c = sclera;
        if (r < ri) {
            float ring = smoothstep(ri * 0.75, ri, r);
            c = iris_col * (0.85 + 0.3 * sin(atan(g.y, g.x) * 9.0) * 0.15) * (1.0 - 0.5 * ring);
            if (r < 0.17) c = vec3(0.03);
            // the upper lid shades the top of the iris
            c *= mix(0.6, 1.0, smoothstep(up, up - 0.2, y));
        }
        vec2 h = vec2(x, y) - vec2(0.12, 0.15);         // catch-light
        if (length(h) < 0.07) c = vec3(0.98);
        // soft lid edge
        float e = min(up - y, y - lo);
        c = mix(base * 0.55, c, smoothstep(0.0, 0.05, e));
    } else if (abs(x) < 1.15 && y >= up && y < up + 0.10 + 0.05 * (1.0 - x * x)) {
        c = mix(vec3(0.05, 0.04, 0.04), base, smoothstep(up, up + 0.13, y) * 0.7);   // upper lashes
    } else if (abs(x) < 1.0 && y <= lo && y > lo - 0.05) {
        c = mix(base * 0.6, base, smoothstep(lo, lo - 0.05, y));                   // lower lid line
    }
    return c;
}

void main() {
    vec3 n = normalize(v_nrm);
    vec3 albedo;
    float spec_k = spec_amt;
    if (v_mat == 0) {
        if (!gl_FrontFacing) {           // the inside of the head: the mouth cavity
            frag = vec4(vec3(0.16, 0.05, 0.05) * 0.7, 1.0);
            return;
        }
        albedo = texture(skin_tex, v_uv).rgb;
        vec2 tp = vec2(v_uv.x * 2.0 * PI - PI, PI / 2.0 - v_uv.y * PI);
        albedo = paint_eye(albedo, tp, eye_r, 1.0);
        albedo = paint_eye(albedo, tp, eye_l, -1.0);
    } else if (v_mat == 1) {             // ears, neck: skin
        albedo = skin_col;
        if (!gl_FrontFacing) n = -n;
    } else if (v_mat == 2) {             // clothes
        albedo = shirt_col; spec_k = 0.0;
        if (!gl_FrontFacing) n = -n;
    } else {                             // teeth
        albedo = vec3(0.86, 0.83, 0.76);
        if (!gl_FrontFacing) n = -n;
    }
    vec3 L = normalize(light_dir);
    float diff = max(dot(n, L), 0.0);
    vec3 amb = mix(ground, sky, n.y * 0.5 + 0.5);
    vec3 V = normalize(-v_pos);
    vec3 H = normalize(L + V);
    float spec = pow(max(dot(n, H), 0.0), 24.0) * spec_k * diff;
    vec3 col = albedo * (amb + diff * light_col) + spec * light_col;
    frag = vec4(pow(clamp(col, 0.0, 1.0), vec3(1.0 / 1.1)), 1.0);
}
"""

_BG_VS = """
#version 330
in vec2 in_xy; out vec2 v_uv;
void main() { gl_Position = vec4(in_xy, 0.999, 1.0); v_uv = in_xy * 0.5 + 0.5; }
"""
_BG_FS = """
#version 330
in vec2 v_uv; uniform sampler2D bg; uniform vec3 bg_window; out vec4 frag;
// bg_window: (offset x, offset y, span) of the part of the background texture the frame shows
void main() { frag = vec4(texture(bg, vec2(v_uv.x, 1.0 - v_uv.y) * bg_window.z + bg_window.xy).rgb, 1.0); }
"""


@dataclass
class Camera:
    """A pinhole camera: focal length and principal point in pixels of a ``size``² image."""

    size: int
    focal: float
    cx: float | None = None
    cy: float | None = None

    def principal(self) -> tuple[float, float]:
        c = self.size / 2.0
        return (c if self.cx is None else self.cx, c if self.cy is None else self.cy)

    def projection(self) -> np.ndarray:
        s, f = float(self.size), float(self.focal)
        cx, cy = self.principal()
        m = np.zeros((4, 4), np.float32)
        m[0, 0] = 2 * f / s
        m[1, 1] = 2 * f / s
        m[0, 2] = -(2 * cx / s - 1)
        m[1, 2] = (2 * cy / s - 1)
        m[2, 2] = -(FAR + NEAR) / (FAR - NEAR)
        m[2, 3] = -2 * FAR * NEAR / (FAR - NEAR)
        m[3, 2] = -1
        return m

    def project(self, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Camera-space points ``(N, 3)`` → pixel coordinates ``(N, 2)`` (centres at integers)
        and their distance along the view axis ``(N,)`` (cm)."""
        cx, cy = self.principal()
        zc = -pts[:, 2]
        x = self.focal * pts[:, 0] / zc + cx - 0.5
        y = -self.focal * pts[:, 1] / zc + cy - 0.5
        return np.stack([x, y], -1), zc


@dataclass
class Light:
    direction: tuple[float, float, float] = (0.3, 0.5, 0.8)
    color: tuple[float, float, float] = (0.8, 0.79, 0.77)
    sky: tuple[float, float, float] = (0.42, 0.42, 0.45)
    ground: tuple[float, float, float] = (0.22, 0.2, 0.19)
    specular: float = 0.12


_CTX = None


def preload_torch_compiler() -> None:
    """Load torch's compiler stack (and triton's LLVM) before Mesa's: triton's LLVM loaded *after*
    a Mesa llvmpipe context segfaults the process (seen with torch 2.14 + Mesa 25 when an optimiser
    is created after rendering).  Called before the GL context is made when torch is present."""
    import importlib.util

    if importlib.util.find_spec("torch") is not None:
        import torch._dynamo  # noqa: F401


def _context():
    global _CTX
    if _CTX is None:
        if "torch" in sys.modules:
            preload_torch_compiler()
        try:
            import moderngl
        except ImportError as exc:  # pragma: no cover - moderngl is a dependency
            raise DependencyError("moderngl is not installed.", "Run the set-up script again.") from exc
        errors = []
        for kwargs in ({"backend": "egl", "libgl": "libGL.so.1", "libegl": "libEGL.so.1"}, {}):
            try:
                _CTX = moderngl.create_standalone_context(require=330, **kwargs)
                break
            except Exception as exc:  # noqa: BLE001 - try the next backend, report all at the end
                errors.append(f"{kwargs.get('backend', 'default')}: {exc}")
        if _CTX is None:
            raise DependencyError("No OpenGL 3.3 context could be created for the face renderer (" +
                                  "; ".join(errors) + ").",
                                  "Install Mesa's EGL drivers: apt install libegl1 libegl-mesa0 libgl1-mesa-dri.")
        log.debug("GL renderer: %s", _CTX.info.get("GL_RENDERER"))
    return _CTX


def gl_available() -> bool:
    try:
        _context()
        return True
    except DependencyError:
        return False


class Renderer:
    """Renders head meshes into ``size``² RGB images with a depth buffer (for visibility)."""

    def __init__(self, size: int, samples: int = 4) -> None:
        import moderngl

        self.ctx = ctx = _context()
        self.size = int(size)
        self.prog = ctx.program(vertex_shader=_VS, fragment_shader=_FS)
        self.bg_prog = ctx.program(vertex_shader=_BG_VS, fragment_shader=_BG_FS)
        quad = np.array([-1, -1, 1, -1, -1, 1, 1, 1], np.float32)
        self._bg_vbo = ctx.buffer(quad.tobytes())
        self._bg_vao = ctx.vertex_array(self.bg_prog, [(self._bg_vbo, "2f", "in_xy")])
        max_samples = int(ctx.info.get("GL_MAX_SAMPLES", 0) or 0)
        self.samples = min(samples, max_samples) if samples > 1 else 0
        s = (self.size, self.size)
        if self.samples:
            self.ms_fbo = ctx.framebuffer(color_attachments=[ctx.renderbuffer(s, 3, samples=self.samples)],
                                          depth_attachment=ctx.depth_renderbuffer(s, samples=self.samples))
        else:
            self.ms_fbo = None
        self.fbo = ctx.framebuffer(color_attachments=[ctx.renderbuffer(s, 3)],
                                   depth_attachment=ctx.depth_texture(s))
        self._vbo = None
        self._vbo_size = 0
        self._ibo = None
        self._vao = None
        self._skin_tex = None
        self._bg_tex = None
        self._moderngl = moderngl

    # -- resources ------------------------------------------------------------------------
    def set_mesh_topology(self, triangles: np.ndarray, n_vertices: int) -> None:
        ctx = self.ctx
        for o in (self._vao, self._vbo, self._ibo):
            if o is not None:
                o.release()
        self._vbo = ctx.buffer(reserve=n_vertices * 9 * 4, dynamic=True)
        self._vbo_size = n_vertices
        self._ibo = ctx.buffer(np.ascontiguousarray(triangles, np.int32).tobytes())
        self._vao = ctx.vertex_array(self.prog, [(self._vbo, "3f 3f 2f 1f", "in_pos", "in_nrm", "in_uv", "in_mat")],
                                     index_buffer=self._ibo, index_element_size=4)

    def set_skin_texture(self, rgb: np.ndarray) -> None:
        if self._skin_tex is not None:
            self._skin_tex.release()
        h, w = rgb.shape[:2]
        self._skin_tex = self.ctx.texture((w, h), 3, np.ascontiguousarray(rgb, np.uint8).tobytes())
        self._skin_tex.build_mipmaps()
        self._skin_tex.filter = (self._moderngl.LINEAR_MIPMAP_LINEAR, self._moderngl.LINEAR)
        self._skin_tex.repeat_x = True
        self._skin_tex.repeat_y = False

    def set_background(self, rgb: np.ndarray) -> None:
        if self._bg_tex is not None:
            self._bg_tex.release()
        h, w = rgb.shape[:2]
        self._bg_tex = self.ctx.texture((w, h), 3, np.ascontiguousarray(rgb, np.uint8).tobytes())
        self._bg_tex.filter = (self._moderngl.LINEAR, self._moderngl.LINEAR)

    def set_uniforms(self, **values) -> None:
        for k, v in values.items():
            u = self.prog[k]
            u.value = tuple(float(x) for x in v) if isinstance(v, (tuple, list, np.ndarray)) else float(v)

    # -- drawing --------------------------------------------------------------------------
    def render(self, camera: Camera, light: Light, vertex_data: np.ndarray,
               bg_window: tuple[float, float, float] = (0.5, 0.5, 1.0)) -> tuple[np.ndarray, np.ndarray]:
        """Draw one frame.  ``vertex_data (V, 9)``: camera-space position, normal, uv, material.
        ``bg_window``: the centre (x right, y down) and width of the part of the background texture
        the frame shows, as fractions of the texture (the whole of it by default).

        Returns ``(rgb (S, S, 3) uint8, depth (S, S) float32 distance along the view axis, cm;
        +inf where nothing was drawn)``.
        """
        mgl = self._moderngl
        assert vertex_data.shape == (self._vbo_size, 9)
        self._vbo.write(np.ascontiguousarray(vertex_data, np.float32).tobytes())
        target = self.ms_fbo or self.fbo
        target.use()
        self.ctx.viewport = (0, 0, self.size, self.size)
        target.clear(0.0, 0.0, 0.0, 1.0, depth=1.0)
        self.ctx.disable(mgl.DEPTH_TEST | mgl.CULL_FACE)
        if self._bg_tex is not None:
            self._bg_tex.use(1)
            self.bg_prog["bg"].value = 1
            cx, cy, span = (float(v) for v in bg_window)
            self.bg_prog["bg_window"].value = (cx - 0.5 * span, cy - 0.5 * span, span)
            self._bg_vao.render(mgl.TRIANGLE_STRIP)
        self.ctx.enable(mgl.DEPTH_TEST)
        self._skin_tex.use(0)
        self.prog["skin_tex"].value = 0
        self.prog["proj"].write(camera.projection().T.copy().tobytes())
        self.set_uniforms(light_dir=light.direction, light_col=light.color, sky=light.sky,
                          ground=light.ground, spec_amt=light.specular)
        self._vao.render()
        if self.ms_fbo is not None:
            self.ctx.copy_framebuffer(self.fbo, self.ms_fbo)
        raw = self.fbo.read(components=3, alignment=1)
        rgb = np.frombuffer(raw, np.uint8).reshape(self.size, self.size, 3)[::-1]
        d = np.frombuffer(self.fbo.read(components=1, attachment=-1, dtype="f4", alignment=1), np.float32)
        d = d.reshape(self.size, self.size)[::-1]
        zn = d * 2.0 - 1.0
        lin = 2.0 * NEAR * FAR / (FAR + NEAR - zn * (FAR - NEAR))
        lin = np.where(d >= 1.0, np.inf, lin).astype(np.float32)
        return np.ascontiguousarray(rgb), lin

    def release(self) -> None:
        for o in (self._vao, self._vbo, self._ibo, self._skin_tex, self._bg_tex, self._bg_vao,
                  self._bg_vbo, self.prog, self.bg_prog, self.fbo, self.ms_fbo):
            if o is not None:
                o.release()
