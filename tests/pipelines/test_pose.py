"""Head-pose control of X2Face: the mappings f_v→p / f_p→v, their training tasks, the headpose CNN,
the pose pipeline (render, sweep export, closed loop), the CLI and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from x2studio.core.errors import InputError
from x2studio.models.posemap import PoseFromVector, VectorFromPose, closed_loop_gain, pose_delta
from x2studio.models.x2face import X2Face
from x2studio.pipelines.pose import PoseController, export_sweep, sweep_poses
from x2studio.pipelines.reenact import Reenactor
from x2studio.weights import ModelCard, WeightsRegistry, save_weights
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "resources" / "demo"


def test_mappings_shapes_and_the_pose_delta() -> None:
    v2p, p2v = PoseFromVector(32), VectorFromPose(32).eval()
    assert v2p(torch.randn(5, 32)).shape == (5, 3)
    p = torch.tensor([[10.0, -5.0, 3.0]])
    assert p2v(p).shape == (1, 32)
    assert torch.allclose(pose_delta(p2v, p, p), torch.zeros(1, 32))        # same pose: no change
    q = p + torch.tensor([[20.0, 0.0, 0.0]])
    # affine: the change depends on the pose difference only
    assert torch.allclose(pose_delta(p2v, q, p), pose_delta(p2v, q - 7, p - 7), atol=1e-5)
    before = pose_delta(p2v, q, p)
    p2v.gain.fill_(2.0)                                                       # the calibration scales it
    assert torch.allclose(pose_delta(p2v, q, p), 2 * before, atol=1e-5)


def test_closed_loop_gain_is_bounded_and_stored() -> None:
    torch.manual_seed(0)
    x2 = X2Face(32, base=8, max_channels=32, dim=16).eval()
    v2p, p2v = PoseFromVector(16).eval(), VectorFromPose(16).eval()
    gain = closed_loop_gain(x2, v2p, p2v, torch.rand(4, 3, 32, 32), rounds=2, max_gain=3.0)
    assert gain.shape == (3,) and bool(((gain >= 1.0) & (gain <= 3.0)).all())
    assert torch.equal(p2v.gain, gain)
    assert "gain" in p2v.state_dict()


def test_sweep_poses_go_there_and_back() -> None:
    poses = sweep_poses([5.0, 0.0, 0.0], "yaw", -30, 30, frames=40)
    yaw = np.array([p[0] for p in poses])
    assert len(poses) == 40 and yaw[0] == 5.0 and yaw.min() == pytest.approx(-30) and yaw.max() == pytest.approx(30, abs=2)
    assert all(p[1] == 0 and p[2] == 0 for p in poses)
    assert all(-60 <= y <= 60 for y in sweep_poses([0, 0, 0], "yaw", -90, 90, frames=10)[0][:1])   # clamped
    with pytest.raises(InputError):
        sweep_poses([0, 0, 0], "tilt")
    with pytest.raises(InputError):
        sweep_poses([0, 0, 0], "roll", 10, -10)


# ---------------------------------------------------------------------------- tasks (tiny data)
render = pytest.importorskip("training.synth.render")


@pytest.fixture(scope="module")
def stills_data(talking_stills) -> Path:
    return talking_stills


@pytest.fixture(scope="module")
def tiny_x2face(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    cfg = {"image_size": 32, "base": 8, "max_channels": 32, "dim": 16}
    folder = tmp_path_factory.mktemp("x2w")
    save_weights(X2Face(**cfg).state_dict(), ModelCard("x2-tiny", "x2face", config=cfg), folder)
    return folder / "x2-tiny.safetensors"


def _losses(run: Path) -> list[float]:
    evs = [json.loads(line) for line in (run / "progress.jsonl").read_text().splitlines()]
    return [e["losses"]["loss"] for e in evs if e["event"] == "train"]


def test_pose_tasks_train_on_tiny_data(stills_data: Path, tiny_x2face: Path, tmp_path: Path) -> None:
    from dataclasses import replace

    from training.loop import evaluate_weights, train
    from training.tasks import TASKS

    v2p_task = TASKS["x2face-v2p"]
    rec = replace(v2p_task.recipes["tiny"], options={"x2face": str(tiny_x2face)}, steps=40, eval_every=20)
    res = train(v2p_task, rec, stills_data, tmp_path / "v2p", device="cpu")
    losses = _losses(tmp_path / "v2p")
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    assert res.weights.card.architecture == "x2face-v2p" and res.weights.card.config == {"dim": 16}
    m = evaluate_weights(v2p_task, res.weights.weights_path, stills_data, split="test", cache=tmp_path / "c")["metrics"]
    assert {"mae_yaw", "mae_pitch", "mae_roll", "mae"} <= set(m)

    p2v_task = TASKS["x2face-p2v"]
    rec = replace(p2v_task.recipes["tiny"], options={"x2face": str(tiny_x2face), "v2p": str(res.weights.weights_path)})
    res2 = train(p2v_task, rec, stills_data, tmp_path / "p2v", device="cpu")
    from safetensors.torch import load_file

    gain = load_file(str(res2.weights.weights_path))["gain"]
    assert bool(((gain >= 1) & (gain <= 4)).all())

    # the exact L1 fit (recipe lite): no steps, the penalty it chose on val in the card, weights that load
    rec = replace(v2p_task.recipes["lite"], options={"x2face": str(tiny_x2face)})
    exact = train(v2p_task, rec, stills_data, tmp_path / "v2p-exact", device="cpu")
    assert exact.step == 0 and exact.weights.card.metrics["l1_penalty"] in (0.0, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
    m2 = evaluate_weights(v2p_task, exact.weights.weights_path, stills_data, split="val", cache=tmp_path / "c")
    assert m2["metrics"]["mae"] == pytest.approx(exact.best["val_mae"], rel=1e-4)

    hp = TASKS["headpose"]
    res3 = train(hp, hp.recipes["tiny"], stills_data, tmp_path / "hp", device="cpu")
    assert res3.weights.card.architecture == "vgg11-headpose"


def test_exact_v2p_fit_is_the_l1_minimum() -> None:
    """f_v→p's exact fit: on vectors with correlated units, Laplace noise and gross outliers, it reaches
    the training MAE of the generating map (or lower: it is the minimum), recovers that map where least
    squares is pulled off by the outliers, and folds the standardisation into the layer."""
    from training.tasks import TASKS
    from training.tasks.posemap import TensorPairs

    rng = np.random.default_rng(0)
    mix, w_true = rng.normal(size=(6, 12)), rng.normal(size=(12, 3))

    def draw(n):
        v = rng.normal(size=(n, 6)) @ mix * 3 + 5 + 0.3 * rng.normal(size=(n, 12))
        return v, v @ w_true + np.array([2.0, -3.0, 1.0])

    v, clean = draw(600)
    noisy = clean + rng.laplace(0, 1.0, clean.shape)
    noisy[:40] += rng.choice([-80.0, 80.0], (40, 3))            # 7 % gross outliers
    vv, cv = draw(200)
    vv_noisy = cv + rng.laplace(0, 1.0, cv.shape)
    task, model = TASKS["x2face-v2p"], PoseFromVector(12)
    task.solve(model, TensorPairs(v, noisy), TensorPairs(vv, vv_noisy), task.recipes["lite"])
    with torch.no_grad():
        fit = model(torch.from_numpy(v).float()).double().numpy()
        fit_clean = model(torch.from_numpy(vv).float()).double().numpy()
    assert np.abs(fit - noisy).mean() <= np.abs(clean - noisy).mean() * 1.001
    a = np.c_[v, np.ones(len(v))]
    ls = np.c_[vv, np.ones(len(vv))] @ np.linalg.lstsq(a, noisy, rcond=None)[0]
    assert np.abs(fit_clean - cv).mean() < 0.5 * np.abs(ls - cv).mean()
    assert np.abs(fit_clean - cv).mean() < 0.3


def test_p2v_needs_a_v2p(stills_data: Path, tiny_x2face: Path, tmp_path: Path) -> None:
    from dataclasses import replace

    from training.loop import train
    from training.tasks import TASKS

    t = TASKS["x2face-p2v"]
    with pytest.raises(InputError, match="f_v→p"):
        train(t, replace(t.recipes["tiny"], options={"x2face": str(tiny_x2face)}), stills_data, tmp_path / "r")


def test_stills_are_required(tmp_path: Path, tiny_x2face: Path) -> None:
    from dataclasses import replace

    from training.synth.faces import generate_faces
    from training.loop import train
    from training.tasks import TASKS

    data = generate_faces(tmp_path / "notstills", tracks=3, size=64, seed=2, max_seconds=1.0)
    t = TASKS["x2face-v2p"]
    with pytest.raises(InputError, match="stills"):
        train(t, replace(t.recipes["tiny"], options={"x2face": str(tiny_x2face)}), data, tmp_path / "r")


# ---------------------------------------------------------------------------- pipeline (bundled weights)
@pytest.fixture(scope="module")
def controller() -> PoseController:
    r = Reenactor("x2face-lite", detector="haar")
    r.set_sources(r.load_sources([DEMO / "face_2.png"]))
    return PoseController(r)


def test_render_at_the_source_pose_reconstructs_the_source(controller: PoseController) -> None:
    r = controller.reenactor
    src = controller.source_pose()
    assert src.shape == (3,) and np.all(np.isfinite(src))
    same = controller.render(src)
    assert same.shape == (r.size, r.size, 3)
    assert np.array_equal(same, r.drive_crop(r.sources[0].crop))       # v = v_src exactly
    turned = controller.render([src[0] + 30, src[1], src[2]])
    assert np.abs(turned.astype(int) - same.astype(int)).mean() > 2
    assert [c.shape for c in controller.render_many([src, src, src])] == [same.shape] * 3
    with pytest.raises(InputError):
        controller.render([0, 0])
    with pytest.raises(InputError):
        controller.render([float("nan"), 0, 0])


def test_sweep_export_mp4_and_gif(controller: PoseController, tmp_path: Path) -> None:
    from PIL import Image

    from x2studio.media.video import probe

    mp4 = export_sweep(controller, "roll", tmp_path / "s.mp4", seconds=1.0, fps=10)
    info = probe(mp4)
    assert info.video.frames == 10 and info.video.width == 256
    gif = export_sweep(controller, "yaw", tmp_path / "s.gif", seconds=1.0, fps=8, paste=False)
    with Image.open(gif) as im:
        assert im.n_frames == 8 and im.size == (controller.reenactor.size,) * 2
    with pytest.raises(InputError):
        export_sweep(controller, "yaw", tmp_path / "s.avi")
    with pytest.raises(InputError):
        export_sweep(controller, "yaw", tmp_path / "missing" / "s.mp4")
    assert not (tmp_path / "s.avi").exists()


def test_mappings_must_match_the_x2face_weights(tmp_path: Path) -> None:
    torch.manual_seed(0)
    cfg = {"image_size": 32, "base": 8, "max_channels": 32, "dim": 16}
    folder = tmp_path / "w"
    folder.mkdir()
    save_weights(X2Face(**cfg).state_dict(), ModelCard("x2-tiny", "x2face", config=cfg), folder)
    reg = WeightsRegistry([folder])
    r = Reenactor("x2-tiny", detector="haar", registry=reg)
    r.set_sources(r.load_sources([DEMO / "face_2.png"]))
    with pytest.raises(InputError, match="no pose mapping"):
        PoseController(r, registry=reg)
    save_weights(PoseFromVector(16).state_dict(), ModelCard("x2-tiny-v2p", "x2face-v2p", config={"dim": 16},
                                                            recipe={"options": {"x2face": "other"}}), folder)
    save_weights(VectorFromPose(16).state_dict(), ModelCard("x2-tiny-p2v", "x2face-p2v", config={"dim": 16}), folder)
    with pytest.raises(InputError, match="made for the X2Face weights"):
        PoseController(r, registry=WeightsRegistry([folder]))


def _cli(*args: str):
    return run_cli(*args)


def test_pose_cli_writes_a_posed_photo_and_refuses_bad_input(tmp_path: Path) -> None:
    import cv2

    out = tmp_path / "posed.png"
    proc = _cli("pose", "--source", str(DEMO / "face_2.png"), "--yaw", "20", "--roll", "-10", "-o", str(out),
                "--detector", "haar")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "source pose: yaw" in proc.stdout and "roll -10.0" in proc.stdout
    img = cv2.imread(str(out))
    assert img is not None and img.shape == (256, 256, 3)
    proc = _cli("pose", "--source", str(DEMO / "face_2.png"), "--check", "--detector", "haar")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("achieved/commanded change") == 3 and "estimator" in proc.stdout

    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((200, 200, 3), 128, np.uint8))
    cases = [
        (["--source", str(tmp_path / "nope.png"), "-o", str(out)], "does not exist"),
        (["--source", str(broken), "-o", str(out)], "not a readable image"),
        (["--source", str(blank), "-o", str(out), "--detector", "haar"], "No face"),
        (["--source", str(DEMO / "talking_3.mp4"), "-o", str(out)], "not an image"),
        (["--source", str(DEMO / "face_2.png")], "Say where"),
        (["--source", str(DEMO / "face_2.png"), "--sweep", "yaw", "-o", str(tmp_path / "a.png")], "MP4 or GIF"),
        (["--source", str(DEMO / "face_2.png"), "-o", str(tmp_path / "no" / "a.png")], "does not exist"),
        (["--source", str(DEMO / "face_2.png"), "-o", str(out), "--weights", "nothing-here"], "nothing-here"),
        (["--source", str(DEMO / "face_2.png"), "-o", str(out), "--yaw", "1e9"], "outside -60…60"),
        (["--source", str(DEMO / "face_2.png"), "-o", str(out), "--pitch", "nan"], "pitch of nan"),
        (["--source", str(out), "-o", str(out)], "would replace the photo"),
    ]
    for args, expected in cases:
        proc = _cli("pose", *args)
        assert proc.returncode != 0 and "Traceback" not in proc.stderr, (args, proc.stderr[-1500:])
        assert expected in proc.stderr + proc.stdout, (args, proc.stderr[-1500:])
