"""Rendered talking-face datasets: tracks (MP4 with speech + per-frame labels) and still sets.

``generate_faces(out, tracks=N, size=S, seed=K)`` writes the dataset format of
:mod:`x2studio.face.dataset`.  Everything is a function of the seed: identity ``i`` of seed ``K``
is the same person in every dataset made with ``K``; track ``j`` uses identity ``j % identities``.
"""

from __future__ import annotations

import contextlib
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from x2studio.core.errors import InputError
from x2studio.core.jobs import Job
from x2studio.face.dataset import DatasetWriter, TrackEntry, save_npz, split_identities
from x2studio.media.image import write_image
from x2studio.media.video import VideoWriter

from .head import FACE_MODEL, FACE_MODELS, Expression, sample_identity
from .render import Camera, Light, Renderer
from .scene import FaceScene, make_background
from .speech import LANGUAGES, isolated, mouth_track, sentence, speak

__all__ = ["TrackPlan", "plan_track", "render_track", "generate_faces", "render_still", "contact_sheet", "make_demo", "FPS",
           "FACE_MODEL", "face_model_of"]

log = logging.getLogger(__name__)

FPS = 25.0
_VOICES_F = ("f1", "f2", "f3", "f4", "f5")
_VOICES_M = ("m1", "m2", "m3", "m4", "m5", "m6", "m7")


def _smooth_keys(rng: np.random.Generator, n: int, lo: float, hi: float, every: tuple[float, float],
                 centre_p: float, centre_sd: float) -> np.ndarray:
    """A smooth trajectory of ``n`` frames through random key values (smoothstep easing)."""
    keys_t = [0.0]
    while keys_t[-1] < n:
        keys_t.append(keys_t[-1] + rng.uniform(*every) * FPS)
    vals = np.where(rng.uniform(size=len(keys_t)) < centre_p, rng.normal(0, centre_sd, len(keys_t)),
                    rng.uniform(lo, hi, len(keys_t)))
    vals = np.clip(vals, lo, hi)
    t = np.arange(n, dtype=np.float64)
    k = np.searchsorted(keys_t, t, side="right") - 1
    a = (t - np.take(keys_t, k)) / (np.take(keys_t, k + 1) - np.take(keys_t, k))
    a = a * a * (3 - 2 * a)
    return vals[k] * (1 - a) + vals[k + 1] * a


def _wobble(rng: np.random.Generator, n: int, sd: float, frames: float) -> np.ndarray:
    """Low-pass noise (a slow random wobble) with standard deviation ``sd``."""
    x = rng.standard_normal(n + int(6 * frames))
    k = np.exp(-0.5 * (np.arange(-3 * frames, 3 * frames + 1) / frames) ** 2)
    y = np.convolve(x, k / np.sqrt((k ** 2).sum()), mode="valid")[:n]
    return y * sd


@dataclass
class TrackPlan:
    """Everything that varies over one track, per frame, plus its speech."""

    identity: int
    n_frames: int
    pose: np.ndarray         # (T, 3)
    expr: np.ndarray         # (T, 5)
    gaze: np.ndarray         # (T, 2)
    focal: np.ndarray        # (T,)
    principal: np.ndarray    # (T, 2)
    head_pos: np.ndarray     # (T, 3)
    audio: np.ndarray        # (n,) float32, exactly n_frames / FPS seconds
    sample_rate: int
    text: str
    voice: str
    light: Light
    seed: tuple[int, ...]
    face_model: int = FACE_MODEL
    bg_window: np.ndarray | None = None     # (T, 3) background centre x, y and width (``reframe``)


def _key_light(u: np.ndarray, face_model: int) -> tuple[float, float, float]:
    """The key light's direction (camera frame: x right, y up, z towards the camera) from three
    standard-normal draws ``u``.

    Face model 1 spread it widely (often from below, often from far to one side).  Measured with
    dlib's HOG detector on 24 tracks of seed 7 (|yaw| 30-45), that lighting cost most of the turned
    faces it missed: lit from below, 29 % of them were found; lit from the side the face turns away
    from (so the visible cheek is in shadow), 35 %.  Interview footage is lit from above and in front
    (a key light raised 15-45 degrees, within 30 degrees of the camera axis), so version 2 draws
    that: uniform azimuth in +-30 and elevation in 15-45 degrees (the same draws mapped through the
    normal CDF, so the rest of a plan's random stream is unchanged).  Found at |yaw| 30-45: 56 % ->
    83 % on those tracks; |yaw| < 30: 93 % -> 97 %."""
    if face_model < 2:
        d = u * np.array([0.8, 0.5, 0.3]) + np.array([0, 0.4, 1.0])
        return tuple(float(x) for x in d / np.linalg.norm(d))
    cdf = [0.5 * (1 + math.erf(float(x) / math.sqrt(2))) for x in u[:2]]
    az, el = np.deg2rad(30.0 * (2 * cdf[0] - 1)), np.deg2rad(15.0 + 30.0 * cdf[1])
    return (float(np.sin(az) * np.cos(el)), float(np.sin(el)), float(np.cos(az) * np.cos(el)))


def _reframing(seed: int, track: int, n: int, reframe: float) -> np.ndarray | None:
    """Per-frame background window ``(n, 3)`` (centre x, y and width, fractions of the background
    texture) of a face track cut from footage where the person shifts in the frame, or ``None``.

    A face tracker keeps the face centred in its crop, so when the person leans or the camera
    reframes, the background slides through the crop: the FAb-Net thesis names such "large shifts in
    the background" as the pairs its curriculum learns to leave out.  With ``reframe`` = p, every
    track shows 70 % of its (out-of-focus) background and, with probability p, slides it once by
    10-25 % of the texture (14-36 % of the frame) over 0.4-1.2 s at a random time.  Its own random
    stream, so a plan's other draws do not change."""
    if reframe <= 0:
        return None
    rng = np.random.default_rng([int(seed), int(track), 0x8F])
    span = 0.7
    lo, hi = span / 2, 1 - span / 2
    c0 = 0.5 + rng.uniform(-0.1, 0.1, 2)
    move = rng.uniform() < reframe
    t0 = rng.uniform(0.25, 0.75) * n
    dur = rng.uniform(0.4, 1.2) * FPS
    ang, mag = rng.uniform(0, 2 * np.pi), rng.uniform(0.1, 0.25)
    c1 = np.clip(c0 + mag * np.array([np.cos(ang), np.sin(ang)]), lo, hi) if move else c0
    u = np.clip((np.arange(n) - t0) / dur, 0, 1)
    u = u * u * (3 - 2 * u)
    c = c0 + u[:, None] * (c1 - c0)
    return np.concatenate([c, np.full((n, 1), span)], 1).astype(np.float32)


def plan_track(seed: int, track: int, identity: int, size: int, max_seconds: float = 8.0,
               face_model: int = FACE_MODEL, reframe: float = 0.0) -> TrackPlan:
    """Draw a track's speech, motion, camera and lighting (deterministic); ``reframe``: the share of
    tracks whose background slides once through the face crop (:func:`_reframing`)."""
    rng = np.random.default_rng([int(seed), int(track), 0x7AC])
    ident = sample_identity(seed, identity)
    lang = LANGUAGES[int(rng.choice(len(LANGUAGES), p=[0.5, 0.125, 0.125, 0.125, 0.125]))]
    variant = (_VOICES_F if ident.sex < 0.5 else _VOICES_M)[int(rng.integers(5))]
    voice = f"{lang}+{variant}"
    rate = int(rng.uniform(130, 195))
    pitch = int(rng.uniform(25, 75))
    texts, pieces, phon = [], [], []
    lead = rng.uniform(0.2, 0.6)
    t_off = lead
    for _ in range(int(rng.integers(1, 3))):
        text = sentence(rng, lang)
        u = speak(text, voice, rate_wpm=rate, pitch=pitch, pitch_range=int(rng.uniform(30, 80)))
        if t_off + u.span_s > max_seconds and pieces:
            break
        texts.append(text)
        pieces.append((t_off, u))
        t_off += u.span_s + rng.uniform(0.25, 0.6)
    sr = pieces[0][1].sample_rate
    n = max(int(np.ceil(min(t_off, max_seconds + 1.0) * FPS)), 10)
    audio = np.zeros(int(round(n / FPS * sr)), np.float32)
    mouth = np.zeros((n, 2), np.float32)
    for off, u in pieces:
        i0 = int(round(off * sr))
        seg = u.audio[: max(0, len(audio) - i0)]
        audio[i0:i0 + len(seg)] += seg
        mouth = np.maximum(mouth, mouth_track(u, FPS, n, offset_s=off))
    # head motion: mostly near-frontal with turns, as in interviews
    yaw = _smooth_keys(rng, n, -60, 60, (0.8, 2.2), 0.45, 12) + _wobble(rng, n, 2.0, 4)
    pitch_ = _smooth_keys(rng, n, -30, 30, (1.0, 2.5), 0.6, 7) + _wobble(rng, n, 1.5, 4)
    roll = _smooth_keys(rng, n, -25, 25, (1.2, 3.0), 0.7, 5) + _wobble(rng, n, 1.0, 5)
    pose = np.stack([np.clip(yaw, -60, 60), np.clip(pitch_, -30, 30), np.clip(roll, -25, 25)], -1)
    smile = np.clip(_smooth_keys(rng, n, 0, 1, (1.5, 3.5), 0.5, 0.1), 0, 1) * rng.uniform(0.3, 1.0)
    brow = np.clip(_smooth_keys(rng, n, 0, 1, (0.8, 2.0), 0.7, 0.08), 0, 1) * rng.uniform(0.4, 1.0)
    blink = np.zeros(n)
    t = rng.uniform(0.3, 2.0)
    while t * FPS < n:
        c = t * FPS
        k = np.arange(n)
        blink = np.maximum(blink, np.exp(-0.5 * ((k - c) / 1.3) ** 2))
        t += rng.uniform(1.5, 5.0)
    expr = np.stack([mouth[:, 0], np.clip(mouth[:, 1] * 0.8, 0, 1), smile * (1 - mouth[:, 1]), brow,
                     np.clip(blink, 0, 1)], -1).astype(np.float32)
    gaze = np.stack([_smooth_keys(rng, n, -0.5, 0.5, (0.4, 1.5), 0.6, 0.1),
                     _smooth_keys(rng, n, -0.3, 0.3, (0.4, 1.5), 0.6, 0.08)], -1)
    zoom = rng.uniform(2.0, 2.6)
    focal = size * zoom * (1 + _wobble(rng, n, 0.015, 12))
    principal = size / 2 + np.stack([_wobble(rng, n, size * 0.012, 10), _wobble(rng, n, size * 0.012, 10)], -1)
    head_pos = np.array([rng.uniform(-1.5, 1.5), rng.uniform(-1.0, 1.0), -rng.uniform(58, 66)])
    head_pos = head_pos + np.stack([_wobble(rng, n, 0.4, 15), _wobble(rng, n, 0.3, 15), _wobble(rng, n, 0.8, 20)], -1)
    direction = _key_light(rng.normal(0, 1, 3), face_model)
    warm = rng.uniform(-0.08, 0.08)
    inten = rng.uniform(0.55, 0.85)
    light = Light(direction=direction,
                  color=tuple(np.clip(inten * np.array([1 + warm, 1.0, 1 - warm]), 0, 1.2)),
                  sky=tuple(rng.uniform(0.28, 0.42) * np.array([1 - warm, 1, 1 + warm])),
                  ground=tuple(rng.uniform(0.15, 0.28) * np.ones(3)), specular=float(rng.uniform(0.05, 0.2)))
    return TrackPlan(identity=identity, n_frames=n, pose=pose.astype(np.float32), expr=expr, gaze=gaze,
                     focal=focal, principal=principal, head_pos=head_pos, audio=audio, sample_rate=sr,
                     text=" ".join(texts), voice=voice, light=light, seed=(int(seed), int(track)),
                     face_model=int(face_model), bg_window=_reframing(seed, track, n, reframe))


def _scene(renderer: Renderer, seed: int, identity: int, key: int, light: Light | None,
           face_model: int = FACE_MODEL) -> FaceScene:
    rng = np.random.default_rng([int(seed), int(key), 0xB6])
    return FaceScene(renderer, sample_identity(seed, identity), rng, light=light,
                     background=make_background(rng, renderer.size), face_model=face_model)


def render_track(renderer: Renderer, plan: TrackPlan, seed: int):
    """Yield ``(rgb, FrameTruth)`` for every frame of ``plan``."""
    scene = _scene(renderer, seed, plan.identity, plan.seed[1], plan.light, plan.face_model)
    scene.bind()
    for k in range(plan.n_frames):
        e = plan.expr[k]
        expr = Expression(jaw_open=float(e[0]), lip_round=float(e[1]), smile=float(e[2]),
                          brow_raise=float(e[3]), blink=float(e[4]))
        cam = Camera(renderer.size, float(plan.focal[k]), float(plan.principal[k, 0]), float(plan.principal[k, 1]))
        win = (0.5, 0.5, 1.0) if plan.bg_window is None else plan.bg_window[k]
        yield scene.render(plan.pose[k], expr, cam, plan.head_pos[k], gaze=plan.gaze[k], bg_window=win)


def render_still(renderer: Renderer, seed: int, identity: int, key: int,
                 face_model: int = FACE_MODEL) -> tuple[np.ndarray, object]:
    """One labelled image of ``identity`` in a random pose/expression/camera/light."""
    rng = np.random.default_rng([int(seed), int(key), 0x57])
    light = Light(direction=_key_light(rng.normal(0, 1, 3), face_model), color=tuple(rng.uniform(0.6, 0.95) * np.ones(3)))
    scene = _scene(renderer, seed, identity, 10_000_000 + key, light, face_model)
    scene.bind()
    pose = (rng.uniform(-60, 60), np.clip(rng.normal(0, 12), -30, 30), np.clip(rng.normal(0, 9), -25, 25))
    e = rng.uniform(0, 1, 5) * np.array([0.9, 0.8, 1.0, 1.0, 1.0])
    e[4] = e[4] if rng.uniform() < 0.2 else 0.0
    expr = Expression(*[float(x) for x in e])
    s = renderer.size
    cam = Camera(s, s * rng.uniform(2.0, 2.6), s / 2 + rng.normal(0, s * 0.015), s / 2 + rng.normal(0, s * 0.015))
    pos = (rng.uniform(-1.5, 1.5), rng.uniform(-1.0, 1.0), -rng.uniform(58, 66))
    return scene.render(pose, expr, cam, pos, gaze=tuple(rng.uniform(-0.4, 0.4, 2)))


SHEET_POSES = ((-50, 0, 0), (-25, 10, -8), (0, 0, 0), (25, -10, 8), (50, 0, 0))


def contact_sheet(seed: int = 0, identities: int = 16, size: int = 128,
                  poses=SHEET_POSES, landmarks: bool = False, face_model: int = FACE_MODEL) -> np.ndarray:
    """One row per identity of ``seed``, one column per pose (yaw, pitch, roll); RGB uint8."""
    renderer = Renderer(size)
    rows = []
    for i in range(identities):
        rng = np.random.default_rng([int(seed), i, 0x5EE7])
        scene = _scene(renderer, seed, i, 20_000_000 + i, None, face_model)
        scene.bind()
        expr = Expression(jaw_open=float(rng.uniform(0, 0.5)), smile=float(rng.uniform(0, 0.6)))
        tiles = []
        for pose in poses:
            rgb, truth = scene.render(pose, expr, Camera(size, size * 2.3), (0.0, 0.0, -62.0))
            if landmarks:
                rgb = rgb.copy()
                for (x, y), v in zip(truth.landmarks, truth.visible):
                    cv2.circle(rgb, (int(round(x)), int(round(y))), 1, (0, 255, 0) if v else (255, 0, 0), -1)
            tiles.append(rgb)
        rows.append(np.hstack(tiles))
    return np.vstack(rows)


def make_demo(out: str | Path, seed: int = 0, identities: int = 5, size: int = 256,
              face_model: int = FACE_MODEL) -> list[Path]:
    """The app's bundled face demo: ``talking_<seed>.mp4`` (about 5 s of a rendered person speaking,
    with the audio) and ``face_<k>.png`` (a near-frontal still of ``identities`` people)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    renderer = Renderer(size)
    # the first track of this seed that lasts 4.5-6.5 s
    plan = next(p for p in (plan_track(seed, j, j, size, max_seconds=6.0, face_model=face_model) for j in range(100))
                if 4.5 <= p.n_frames / FPS <= 6.5)
    clip = out / f"talking_{seed}.mp4"
    with VideoWriter(clip, FPS, (size, size), audio_rate=plan.sample_rate) as vw:
        for rgb, _ in render_track(renderer, plan, seed):
            vw.write(rgb)
        vw.write_audio(plan.audio)
    written = [clip]
    for i in range(identities):
        scene = _scene(renderer, seed, 100 + i, 30_000_000 + i, None, face_model)
        scene.bind()
        rng = np.random.default_rng([int(seed), i, 0xDE40])
        pose = (float(rng.uniform(-15, 15)), float(rng.uniform(-5, 8)), float(rng.uniform(-4, 4)))
        rgb, _ = scene.render(pose, Expression(smile=float(rng.uniform(0, 0.5))), Camera(size, size * 2.3),
                              (0.0, 0.0, -62.0))
        path = out / f"face_{i}.png"
        _write_png(path, rgb)
        written.append(path)
    renderer.release()
    return written


def _stack(truths) -> dict[str, np.ndarray]:
    return {"pose": np.stack([t.pose for t in truths]).astype(np.float32),
            "expression": np.stack([t.expression for t in truths]).astype(np.float32),
            "landmarks": np.stack([t.landmarks for t in truths]).astype(np.float32),
            "visible": np.stack([t.visible for t in truths]),
            "box": np.stack([t.box for t in truths]).astype(np.float32)}


def generate_faces(out: str | Path, *, tracks: int, size: int = 256, seed: int = 0, identities: int | None = None,
                   frames_fps: float | None = None, stills: int = 0, max_seconds: float = 8.0,
                   face_model: int = FACE_MODEL, reframe: float = 0.0, job: Job | None = None) -> Path:
    """Write a rendered talking-face dataset to ``out`` (resumable; see :mod:`x2studio.face.dataset`).

    Args:
        tracks: number of face tracks (one MP4 with speech + labels each).
        size: square frame size in pixels (64–1024).
        identities: number of distinct people (default: as many as tracks).
        frames_fps: also save PNG frames sampled at this rate (e.g. 1, as the papers' VoxCeleb frames).
        stills: number of labelled still images (split by identity like the tracks).
        face_model: the head's shape version (:data:`training.synth.head.FACE_MODELS`; the latest by
            default); test a model on the version its card names (:func:`face_model_of`).
        reframe: share of tracks (0-1) in which the background slides once through the face crop, as
            when a person shifts in the frame (:func:`_reframing`; 0, a static background, by default).
    """
    _check_request(size, tracks, stills, face_model, frames_fps, reframe)
    n_id = int(identities or max(tracks, 1))
    if n_id < 1:
        raise InputError("At least one identity is needed.")
    config = {"generator": "training.synth.faces", "seed": int(seed), "tracks": int(tracks), "size": int(size),
              "identities": n_id, "frames_fps": frames_fps, "stills": int(stills), "max_seconds": float(max_seconds)}
    if face_model != 1:     # a version-1 dataset's manifest is what it was before versions existed
        config["face_model"] = int(face_model)
    if reframe:
        config["reframe"] = float(reframe)
    writer = DatasetWriter(out, size=size, fps=FPS, source="synthetic", config=config)
    names = [f"id{i:05d}" for i in range(n_id)]
    splits = split_identities(names, seed)
    renderer = Renderer(size)
    job = job or Job()
    total = tracks + stills
    speech = contextlib.ExitStack()
    if tracks:      # the same labels for a seed whatever this process synthesised before
        speech.enter_context(isolated())
    try:
        for j in range(tracks):
            tid = f"t{j:06d}"
            job.progress(j, total, f"track {j + 1}/{tracks}")
            if writer.done(tid):
                # its speech again (no rendering): the tracks after it then meet espeak-ng in the state an
                # uninterrupted run leaves, so a resumed dataset has the same labels
                plan_track(seed, j, j % n_id, size, max_seconds=max_seconds, face_model=face_model,
                           reframe=reframe)
                continue
            _write_track(writer, renderer, tid, (seed, j, j % n_id), size, names, splits, job,
                         max_seconds=max_seconds, face_model=face_model, reframe=reframe, frames_fps=frames_fps)
        if stills:
            _write_stills(writer, renderer, seed, stills, n_id, names, splits, job, done=tracks, total=total,
                          face_model=face_model)
        writer.write_manifest(splits, extra={"stills": _stills_summary(writer.root)} if stills else None)
        job.progress(total, total, "done")
    finally:
        speech.close()
        renderer.release()
    return writer.root


def _check_request(size: int, tracks: int, stills: int, face_model: int, frames_fps: float | None,
                   reframe: float) -> None:
    if not 64 <= int(size) <= 1024:
        raise InputError(f"Size {size} is out of range.", "Use a frame size between 64 and 1024 pixels.")
    if tracks < 0 or stills < 0 or (tracks == 0 and stills == 0):
        raise InputError("Nothing to generate.", "Ask for at least one track (--tracks) or still (--stills).")
    if face_model not in FACE_MODELS:
        raise InputError(f"There is no face model {face_model}.",
                         f"Use one of {', '.join(map(str, FACE_MODELS))} (the latest, {FACE_MODEL}, by default).")
    if frames_fps is not None and not 0 < frames_fps <= FPS:
        raise InputError(f"Cannot sample frames at {frames_fps} fps.", f"Use a rate in (0, {FPS:g}].")
    if not 0.0 <= float(reframe) <= 1.0:
        raise InputError(f"Cannot reframe {reframe} of the tracks.", "Give --reframe as a share between 0 and 1.")


def _write_track(writer: DatasetWriter, renderer: Renderer, tid: str, which: tuple[int, int, int], size: int,
                 names: list[str], splits: dict, job: Job, *, max_seconds: float, face_model: int, reframe: float,
                 frames_fps: float | None) -> None:
    """Render track ``tid`` (``which``: the dataset's seed, the track's number, its identity's) with its
    speech, labels and (at ``frames_fps``) PNG frames, and add it to the dataset."""
    seed, j, ident = which
    plan = plan_track(seed, j, ident, size, max_seconds=max_seconds, face_model=face_model,
                      reframe=reframe)
    truths = []
    step = None if frames_fps is None else FPS / frames_fps
    fdir = writer.frames_dir(tid)
    with VideoWriter(writer.video_path(tid), FPS, (size, size), audio_rate=plan.sample_rate) as vw:
        for k, (rgb, truth) in enumerate(render_track(renderer, plan, seed)):
            vw.write(rgb)
            truths.append(truth)
            if step is not None and (k % step) < 1:
                fdir.mkdir(parents=True, exist_ok=True)
                _write_png(fdir / f"{k:05d}.png", rgb)
            if k % 10 == 0:
                job.check()
        vw.write_audio(plan.audio)
    labels = _stack(truths)
    labels.update(identity=np.int32(ident), fps=np.float32(FPS))
    save_npz(writer.labels_path(tid), **labels)
    writer.add(TrackEntry(id=tid, identity=names[ident], split=splits[names[ident]], frames=plan.n_frames,
                          fps=FPS, video=f"tracks/{tid}.mp4", labels=f"tracks/{tid}.npz", audio=True,
                          frames_dir=f"frames/{tid}" if step else None,
                          extra={"text": plan.text, "voice": plan.voice}), splits)


def _write_png(path: Path, rgb: np.ndarray) -> None:
    write_image(path, rgb)


def _write_stills(writer, renderer, seed, n, n_id, names, splits, job, done, total, face_model=FACE_MODEL) -> None:
    per_split: dict[str, list[tuple[int, int, object]]] = {"train": [], "val": [], "test": []}
    ids_of = {s: [i for i in range(n_id) if splits[names[i]] == s] for s in per_split}
    rng = np.random.default_rng([int(seed), 0x511])
    for k in range(n):
        job.progress(done + k, total, f"still {k + 1}/{n}")
        s = ("train", "val", "test")[int(rng.choice(3, p=[0.75, 0.15, 0.10]))]
        if not ids_of[s]:
            s = next(x for x in per_split if ids_of[x])
        ident = ids_of[s][int(rng.integers(len(ids_of[s])))]
        rgb, truth = render_still(renderer, seed, ident, k, face_model)
        d = writer.root / "stills" / s / "images"
        d.mkdir(parents=True, exist_ok=True)
        _write_png(d / f"{k:06d}.png", rgb)
        per_split[s].append((k, ident, truth))
    for s, items in per_split.items():
        if not items:
            continue
        labels = _stack([t for _, _, t in items])
        labels.update(index=np.array([k for k, _, _ in items], np.int32),
                      identity=np.array([i for _, i, _ in items], np.int32))
        save_npz(writer.root / "stills" / s / "labels.npz", **labels)


def _stills_summary(root: Path) -> dict:
    out = {}
    for s in ("train", "val", "test"):
        p = root / "stills" / s / "labels.npz"
        if p.exists():
            out[s] = {"labels": f"stills/{s}/labels.npz", "images": f"stills/{s}/images"}
    return out


def face_model_of(weights: str) -> int:
    """The face model (head shape version) that the weights named ``weights`` (a registry name or a
    file) were trained on: their card's dataset generator says; cards from before versions: 1."""
    from x2studio.weights.registry import resolve_entry

    gen = resolve_entry(weights).card.data.get("generator") or {}
    return int(gen.get("face_model", 1)) if isinstance(gen, dict) else 1
