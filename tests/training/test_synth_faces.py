"""The rendered talking-face generator: determinism, labels that match the pixels, the pose
convention, speech-driven mouths, identity-disjoint splits, the CLI."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from x2studio.core.errors import InputError

from x2studio.cli import main
from x2studio.face.dataset import load_labels, load_manifest, split_identities

render = pytest.importorskip("training.synth.render")
if not render.gl_available():  # pragma: no cover - the set-up script installs Mesa's EGL
    pytest.skip("no OpenGL context (install libegl1 libegl-mesa0 libgl1-mesa-dri)", allow_module_level=True)

from training.synth import speech  # noqa: E402
from training.synth.faces import _key_light, _reframing, face_model_of, generate_faces, plan_track  # noqa: E402
from training.synth.head import FACE_MODEL, FACE_MODELS, Expression, HeadMesh, sample_identity  # noqa: E402
from training.synth.render import Camera, Renderer  # noqa: E402
from training.synth.scene import FaceScene, make_background  # noqa: E402
from training.synth.texture import to_pixels  # noqa: E402
from training.synth.head import landmark_params  # noqa: E402

SIZE = 192
MARKED = (8, 19, 30, 33, 48, 54)     # chin, brow, nose tip, nostril base, mouth corners


@pytest.fixture(scope="module")
def renderer():
    r = Renderer(SIZE)
    yield r
    r.release()


def _marked_scene(renderer, idx=3, face_model=FACE_MODEL):
    """A person whose texture carries pure green dots at some landmarks' surface points."""
    ident = sample_identity(11, idx)
    rng = np.random.default_rng(0)
    scene = FaceScene(renderer, ident, rng, background=np.full((SIZE, SIZE, 3), 40, np.uint8), face_model=face_model)
    tex = scene.texture.copy()
    lm, _ = landmark_params(ident)
    px = to_pixels(lm[:, 0], lm[:, 1])
    for i in MARKED:
        x, y = np.round(px[i]).astype(int)
        tex[y - 3:y + 4, x - 3:x + 4] = (0, 255, 0)
    scene.texture = tex
    scene.bind()
    return scene


def _find_marker(img: np.ndarray, near: np.ndarray, radius: float = 6.0):
    """Centroid of the green blob nearest ``near`` (within ``radius`` px), or None."""
    rb = np.maximum(img[..., 0], img[..., 2]).astype(int)
    g = ((img[..., 1] > 25) & (img[..., 1].astype(int) > 1.3 * rb + 8)).astype(np.uint8)   # green, even in shade
    n, _, stats, cents = cv2.connectedComponentsWithStats(g)
    if n <= 1:
        return None
    d = np.hypot(cents[1:, 0] - near[0], cents[1:, 1] - near[1])
    k = int(np.argmin(d))
    return cents[1 + k] if d[k] < radius else None


def _render(scene, pose, expr=Expression()):
    cam = Camera(SIZE, SIZE * 2.2)
    return scene.render(pose, expr, cam, (0.0, 0.0, -62.0))


@pytest.mark.parametrize("face_model", FACE_MODELS)
def test_projected_landmarks_land_on_rendered_markers(renderer, face_model):
    scene = _marked_scene(renderer, face_model=face_model)
    for pose in [(0, 0, 0), (15, 8, -8), (-20, -10, 12)]:
        img, truth = _render(scene, pose, Expression(jaw_open=0.3, smile=0.4))
        for i in MARKED:
            if not truth.visible[i]:
                continue
            found = _find_marker(img, truth.landmarks[i])
            assert found is not None, f"marker {i} not found at pose {pose}"
            assert np.hypot(*(found - truth.landmarks[i])) < 2.0, (i, pose, found, truth.landmarks[i])


def test_hidden_landmarks_are_flagged_and_not_seen(renderer):
    scene = _marked_scene(renderer)
    img, truth = _render(scene, (60, 0, 0))
    # nose to the image right: the subject's left jaw (points 14..16, image right) turns away
    assert not truth.visible[14:17].any() and truth.visible[0]
    assert truth.visible[30]
    # nose to the image left: the subject's right mouth corner (48) is on the far side
    img2, t2 = _render(scene, (-60, 0, 0))
    assert not t2.visible[48] and t2.visible[54]
    assert _find_marker(img2, t2.landmarks[48], radius=2.0) is None


@pytest.mark.parametrize("face_model", FACE_MODELS)
def test_pose_sign_convention(renderer, face_model):
    scene = _marked_scene(renderer, face_model=face_model)
    img0, t0 = _render(scene, (0, 0, 0))
    nose0 = _find_marker(img0, t0.landmarks[30])
    img, t = _render(scene, (30, 0, 0))
    assert _find_marker(img, t.landmarks[30])[0] > nose0[0] + 10      # +yaw: nose to the image right
    img, t = _render(scene, (0, 20, 0))
    assert _find_marker(img, t.landmarks[30])[1] < nose0[1] - 5       # +pitch: nose up
    img, t = _render(scene, (0, 0, 20))
    # +roll: counter-clockwise in the image, the image-right mouth corner rises
    r = _find_marker(img, t.landmarks[54])
    l_ = _find_marker(img, t.landmarks[48])
    assert r[1] < l_[1] - 5
    assert np.allclose(t.pose, (0, 0, 20))


def test_expression_changes_the_face(renderer):
    scene = _marked_scene(renderer)
    _, closed = _render(scene, (0, 0, 0))
    _, opened = _render(scene, (0, 0, 0), Expression(jaw_open=1.0))
    gap_closed = closed.landmarks[66, 1] - closed.landmarks[62, 1]
    gap_open = opened.landmarks[66, 1] - opened.landmarks[62, 1]
    assert gap_closed < 0.5 and gap_open > 4
    _, blink = _render(scene, (0, 0, 0), Expression(blink=1.0))
    assert blink.landmarks[41, 1] - blink.landmarks[37, 1] < 0.5 < closed.landmarks[41, 1] - closed.landmarks[37, 1]


def test_identities_are_distinct():
    people = [sample_identity(0, i) for i in range(200)]
    vecs = np.array([[p.width, p.face_length, p.nose_height, p.eye_spacing, p.mouth_width, *p.skin_tone,
                      *p.hair_color] for p in people])
    d = np.linalg.norm(vecs[:, None] - vecs[None], axis=-1) + np.eye(200)
    assert d.min() > 1e-3
    assert len({(p.hair_style, p.beard, p.glasses) for p in people}) > 15
    assert sample_identity(0, 5) == sample_identity(0, 5)


def test_speech_has_phoneme_timings_and_closes_the_lips():
    utt = speech.speak("Mama baked a pie", "en+f2", rate_wpm=140)
    assert utt.duration_s > 0.5 and np.abs(utt.audio).max() > 0.05
    starts = [t for t, _ in utt.phonemes]
    assert starts == sorted(starts) and len(starts) > 6
    names = [p for _, p in utt.phonemes]
    assert "m" in names
    mouth = speech.mouth_track(utt, 100.0, int(utt.duration_s * 100))
    m_start = next(t for t, p in utt.phonemes if p == "m")
    a_after = next(t for t, p in utt.phonemes if t > m_start and p.startswith("a"))
    assert mouth[int((m_start + 0.5 * (a_after - m_start)) * 100), 0] < mouth[int((a_after + 0.04) * 100), 0]
    with pytest.raises(Exception, match="no voice"):
        speech.speak("hello", "xx-nonexistent")
    # the same from a fresh process (isolated): what a fresh process says first, whatever was said here
    with speech.isolated():
        again = speech.speak("Mama baked a pie", "en+f2", rate_wpm=140)
        with speech.isolated():                                  # nested: the same process
            assert speech.speak("Mama", "en").duration_s > 0
        with pytest.raises(InputError, match="no voice 'xx-nonexistent'"):
            speech.speak("hello", "xx-nonexistent")              # its errors reach the caller
    assert again.phonemes and again.sample_rate == utt.sample_rate and len(again.audio) > 0


def test_mouth_follows_the_audio():
    plan = plan_track(3, 0, 0, 128, max_seconds=4)
    sr, n = plan.sample_rate, plan.n_frames
    assert len(plan.audio) == round(n / 25 * sr)
    hop = sr // 25
    rms = np.sqrt([np.mean(plan.audio[k * hop:(k + 1) * hop] ** 2) for k in range(n)])
    r = np.corrcoef(rms, plan.expr[:, 0])[0, 1]
    assert r > 0.3, r
    assert np.abs(plan.pose[:, 0]).max() <= 60 and np.abs(plan.pose[:, 1]).max() <= 30
    assert np.abs(np.diff(plan.pose, axis=0)).max() < 6    # smooth: < 6 degrees per frame


@pytest.mark.slow
def test_dataset_is_deterministic_and_complete(tmp_path):
    # espeak-ng's output depends on the calls made before in the same process; a dataset's speech
    # comes from a fresh process (speech.isolated), so speaking in between changes nothing
    from training.synth.speech import speak

    args = ["--tracks", "2", "--size", "64", "--seed", "4", "--max-seconds", "1", "--frames-fps", "1", "--stills", "3"]
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["data", "synth", "faces", str(a), *args]) == 0
    speak("Zwei Katzen spielen im Garten.", "de+m1")
    speak("The quick brown fox jumps over the lazy dog.", "en+f2")
    assert main(["data", "synth", "faces", str(b), *args]) == 0
    c = generate_faces(tmp_path / "c", tracks=1, size=64, seed=5, max_seconds=1.0)
    for name in ("t000000.npz", "t000001.npz"):    # labels (the waveform may jitter by a few samples: Utterance.span_s)
        assert (a / "tracks" / name).read_bytes() == (b / "tracks" / name).read_bytes()
    assert (a / "tracks/t000000.npz").read_bytes() != (c / "tracks/t000000.npz").read_bytes()
    m = load_manifest(a)
    assert len(m["tracks"]) == 2 and m["size"] == 64 and m["fps"] == 25.0
    lab = load_labels(a / "tracks/t000000.npz")
    t = m["tracks"][0]["frames"]
    assert lab["pose"].shape == (t, 3) and lab["landmarks"].shape == (t, 68, 2) and lab["visible"].shape == (t, 68)
    assert lab["expression"].shape == (t, 5) and lab["box"].shape == (t, 4)
    assert sorted(p.name for p in (a / "frames/t000000").iterdir())[0] == "00000.png"
    stills = [s for s in ("train", "val", "test") if (a / "stills" / s / "labels.npz").exists()]
    assert sum(len(load_labels(a / "stills" / s / "labels.npz")["index"]) for s in stills) == 3


@pytest.mark.slow
def test_cli_generates_and_resumes(tmp_path, capsys):
    out = tmp_path / "ds"
    assert main(["data", "synth", "faces", str(out), "--tracks", "1", "--size", "64", "--max-seconds", "1"]) == 0
    m1 = (out / "manifest.json").read_text()
    mtime = (out / "tracks/t000000.mp4").stat().st_mtime_ns
    assert main(["data", "synth", "faces", str(out), "--tracks", "1", "--size", "64", "--max-seconds", "1"]) == 0
    assert (out / "tracks/t000000.mp4").stat().st_mtime_ns == mtime     # resumed: not rendered again
    assert json.loads(m1)["tracks"][0]["audio"] is True


@pytest.mark.slow
def test_a_resumed_dataset_has_the_same_labels(tmp_path):
    import shutil

    a, b = tmp_path / "a", tmp_path / "b"
    generate_faces(a, tracks=3, size=64, seed=6, max_seconds=1.0)
    shutil.copytree(a, b)
    for name in ("t000001", "t000002"):          # interrupted after the first track
        for ext in (".mp4", ".npz"):
            (b / "tracks" / f"{name}{ext}").unlink()
    generate_faces(b, tracks=3, size=64, seed=6, max_seconds=1.0)
    for name in ("t000001.npz", "t000002.npz"):
        assert (a / "tracks" / name).read_bytes() == (b / "tracks" / name).read_bytes()


def test_cli_bad_arguments(tmp_path, capfd):
    assert main(["data", "synth", "faces", str(tmp_path / "x"), "--size", "13"]) == 2
    assert "out of range" in capfd.readouterr().err
    assert main(["data", "synth", "faces", str(tmp_path / "x"), "--tracks", "0"]) == 2


def _profile_angle(lm3: np.ndarray) -> float:
    """Degrees by which the chin (8) stands forward of the nasion (27), seen from the side."""
    d = lm3[8] - lm3[27]
    return float(np.degrees(np.arctan2(d[2], -d[1])))


def test_face_model_2_is_tilted_chin_forward_and_flatter_across_the_eyes(renderer):
    """Version 2 of the head (see ``training.synth.head.FACE_MODEL``): the same person's profile is
    tilted chin-forward by about 10 degrees, and at 40 degrees of yaw more of the far eye shows."""
    for i in range(4):
        ident = sample_identity(5, i)
        angles = [_profile_angle(m.landmarks_3d(m.deform(Expression()), Expression()))
                  for m in (HeadMesh(ident, face_model=1), HeadMesh(ident, face_model=2))]
        # the 10-degree tilt, plus a little from the shallower head and flatter mouth region
        assert angles[1] - angles[0] == pytest.approx(10.0, abs=1.5), angles
    seen = {}
    for fm in FACE_MODELS:
        n = 0
        for i in range(6):
            scene = FaceScene(renderer, sample_identity(5, i), np.random.default_rng(i),
                              background=np.full((SIZE, SIZE, 3), 40, np.uint8), face_model=fm)
            _, t = _render(scene, (40, 0, 0))            # +yaw: the subject's left eye (42-47) turns away
            _, t2 = _render(scene, (-40, 0, 0))
            n += int(t.visible[42:48].sum() + t2.visible[36:42].sum())
        seen[fm] = n
    assert seen[2] > seen[1], seen
    with pytest.raises(ValueError, match="face model"):
        HeadMesh(sample_identity(5, 0), face_model=9)


def test_face_model_2_lights_from_above_and_in_front():
    """Version 2 draws an interview key light (raised 15-45 degrees, within 30 degrees of the camera
    axis); version 1's light and the rest of a plan's random stream are unchanged."""
    rng = np.random.default_rng(0)
    dirs = np.array([_key_light(rng.normal(0, 1, 3), 2) for _ in range(2000)])
    el = np.degrees(np.arcsin(dirs[:, 1]))
    az = np.degrees(np.arctan2(dirs[:, 0], dirs[:, 2]))
    assert np.allclose(np.linalg.norm(dirs, axis=1), 1.0)
    assert el.min() >= 15 - 1e-6 and el.max() <= 45 + 1e-6 and np.ptp(el) > 25
    assert np.abs(az).max() <= 30 + 1e-6 and az.min() < -25 and az.max() > 25
    u = np.array([0.3, -1.2, 0.5])
    d1 = u * np.array([0.8, 0.5, 0.3]) + np.array([0, 0.4, 1.0])
    assert np.allclose(_key_light(u, 1), d1 / np.linalg.norm(d1))       # version 1, as before
    plans = []
    for fm in (1, 2):
        with speech.isolated():     # espeak in a fresh process: the same timings for both plans
            plans.append(plan_track(3, 1, 1, 64, max_seconds=1.0, face_model=fm))
    p1, p2 = plans
    for name in ("pose", "expr", "gaze", "focal", "principal", "head_pos"):
        assert np.array_equal(getattr(p1, name), getattr(p2, name)), name
    assert p1.light.color == p2.light.color and p1.light.direction != p2.light.direction
    assert p2.light.direction[1] > np.sin(np.radians(15)) - 1e-9


def test_datasets_record_their_face_model(tmp_path):
    a = generate_faces(tmp_path / "a", tracks=0, stills=2, size=64, seed=4, identities=2, face_model=1)
    b = generate_faces(tmp_path / "b", tracks=0, stills=2, size=64, seed=4, identities=2)
    assert "face_model" not in load_manifest(a)["config"]        # version 1: the manifest as before versions
    assert load_manifest(b)["config"]["face_model"] == FACE_MODEL == 2
    split = next(x for x in ("train", "val", "test") if (a / "stills" / x / "labels.npz").exists())
    la, lb = (np.load(d / "stills" / split / "labels.npz") for d in (a, b))
    assert np.array_equal(la["pose"], lb["pose"]) and not np.allclose(la["landmarks"], lb["landmarks"])
    with pytest.raises(InputError, match="face model"):
        generate_faces(tmp_path / "c", tracks=1, size=64, seed=4, face_model=7)
    # the bundled weights were trained on version 1, and a card says which version it learnt from
    assert face_model_of("x2face-lite") == face_model_of("fabnet-lite") == 1
    import torch
    from x2studio.weights import ModelCard, save_weights
    card = ModelCard("fm2-test", "x2face", data={"generator": load_manifest(b)["config"]})
    entry = save_weights({"w": torch.zeros(1)}, card, tmp_path)
    assert face_model_of(str(entry.weights_path)) == 2


def test_splits_are_identity_disjoint_and_sized():
    names = [f"id{i:05d}" for i in range(200)]
    s = split_identities(names, seed=3)
    counts = {k: sum(v == k for v in s.values()) for k in ("train", "val", "test")}
    assert counts == {"train": 150, "val": 30, "test": 20}
    assert s == split_identities(list(reversed(names)), seed=3)
    assert s != split_identities(names, seed=4)


def test_background_and_scene_are_deterministic(renderer):
    a = make_background(np.random.default_rng(1), 64)
    b = make_background(np.random.default_rng(1), 64)
    assert np.array_equal(a, b)
    scene = _marked_scene(renderer)
    i1, _ = _render(scene, (10, 5, 0))
    i2, _ = _render(scene, (10, 5, 0))
    assert np.array_equal(i1, i2)


def test_reframing_slides_the_background_through_the_crop(renderer, tmp_path, capfd):
    """``reframe``: the background slides once through the (face-centred) crop in that share of
    tracks; the face and the plan's other draws stay as they were."""
    n = 150
    assert _reframing(3, 0, n, 0.0) is None
    wins = [_reframing(3, t, n, 1.0) for t in range(12)]
    for w in wins:
        assert w.shape == (n, 3) and np.all(w[:, 2] == np.float32(0.7))
        assert np.all((w[:, :2] >= 0.35 - 1e-6) & (w[:, :2] <= 0.65 + 1e-6))   # inside the texture
        assert np.all(np.abs(np.diff(w[:, :2], axis=0)) < 0.05)                 # smooth
    moved = [np.linalg.norm(w[-1, :2] - w[0, :2]) for w in wins]
    assert min(moved) > 0.03 and max(moved) > 0.1
    some = [_reframing(3, t, n, 0.3) for t in range(200)]
    share = np.mean([np.linalg.norm(w[-1, :2] - w[0, :2]) > 1e-6 for w in some])
    assert 0.2 < share < 0.4, share
    # rendering: the background moves, the face does not; the default window is the old picture
    rng = np.random.default_rng(4)
    scene = FaceScene(renderer, sample_identity(5, 1), rng, background=make_background(rng, SIZE))
    cam = Camera(SIZE, SIZE * 2.2)
    a, ta = scene.render((0, 0, 0), Expression(), cam, (0.0, 0.0, -62.0))
    b, _ = scene.render((0, 0, 0), Expression(), cam, (0.0, 0.0, -62.0), bg_window=(0.5, 0.5, 1.0))
    c, _ = scene.render((0, 0, 0), Expression(), cam, (0.0, 0.0, -62.0), bg_window=(0.4, 0.6, 0.7))
    assert np.array_equal(a, b)
    x0, y0, x1, y1 = (int(v) for v in ta.box)
    face = (slice(y0 + (y1 - y0) // 4, y1 - (y1 - y0) // 4), slice(x0 + (x1 - x0) // 4, x1 - (x1 - x0) // 4))
    assert np.array_equal(a[face], c[face])
    corner = (slice(0, SIZE // 8), slice(0, SIZE // 8))
    assert np.abs(a[corner].astype(int) - c[corner].astype(int)).mean() > 2
    with speech.isolated():
        p0 = plan_track(3, 1, 1, 64, max_seconds=1.0)
    with speech.isolated():
        p1 = plan_track(3, 1, 1, 64, max_seconds=1.0, reframe=1.0)
    assert p0.bg_window is None and p1.bg_window.shape == (p1.n_frames, 3)
    assert np.array_equal(p0.pose, p1.pose) and p0.light == p1.light
    # the dataset records it, and a share outside 0-1 is refused
    root = generate_faces(tmp_path / "r", tracks=1, size=64, seed=2, max_seconds=1.0, reframe=0.5)
    assert load_manifest(root)["config"]["reframe"] == 0.5
    with pytest.raises(InputError, match="reframe"):
        generate_faces(tmp_path / "bad", tracks=1, size=64, seed=2, reframe=1.5)
    assert main(["data", "synth", "faces", str(tmp_path / "bad2"), "--reframe", "-0.1"]) == 2
    assert "reframe" in capfd.readouterr().err

def test_contact_sheet_cli(tmp_path, capfd):
    out = tmp_path / "sheet.png"
    assert main(["data", "synth", "faces-sheet", str(out), "--identities", "2", "--size", "48"]) == 0
    sheet = cv2.imread(str(out))
    assert sheet.shape == (96, 240, 3)
    assert np.abs(sheet[:48].astype(int) - sheet[48:].astype(int)).mean() > 5     # two different people
    assert main(["data", "synth", "faces-sheet", str(tmp_path / "sheet.txt")]) == 2
    assert ".png or .jpg" in capfd.readouterr().err


def test_occlusion_darkens_the_hollows():
    from training.synth.head import HeadMesh
    from training.synth.texture import bake_occlusion

    ident = sample_identity(0, 3)
    mesh = HeadMesh(ident)
    cav = mesh.cavity()
    lm, _ = landmark_params(ident)

    def at(t, p):
        return cav[np.argmin(np.abs(mesh.phi_axis - p)), np.argmin(np.abs(mesh.theta_axis - t))]

    assert at(*lm[39]) > 0.1 and at(*lm[42]) > 0.1           # inner eye corners lie in hollows
    assert at(*lm[30]) < 0                                     # the nose tip sticks out
    flat = np.full((512, 1024, 3), 200, np.uint8)
    baked = bake_occlusion(flat, mesh)
    x, y = to_pixels(lm[[39, 30], 0], lm[[39, 30], 1]).round().astype(int).T
    assert baked[y[0], x[0]].mean() < 185 and baked[y[1], x[1]].mean() >= 200


def test_demo_face_media_is_bundled():
    from x2studio.core.resources import demo_dir
    from x2studio.media.video import probe

    folder = demo_dir()
    clips = sorted(p for p in folder.iterdir() if p.name.startswith("talking_") and p.name.endswith(".mp4"))
    assert clips, "no talking_*.mp4 demo clip"
    info = probe(clips[0])
    assert info.audio is not None and 4.0 <= info.duration_s <= 7.0 and info.video.width == 256
    stills = [p for p in folder.iterdir() if p.name.startswith("face_") and p.name.endswith(".png")]
    assert len(stills) >= 3
    assert all(cv2.imread(str(p)).shape == (256, 256, 3) for p in stills)
