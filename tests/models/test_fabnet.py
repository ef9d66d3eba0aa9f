"""FAb-Net: the model (sampling, several sources), the curriculum (windows, state, resume), and the
task on tiny data."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from x2studio.models.fabnet import FAbNet
from training.tasks.fabnet import Curriculum, FAbNetTask


def test_zero_offsets_reproduce_the_source_and_sources_fuse() -> None:
    torch.manual_seed(0)
    m = FAbNet(32, dim=16, base=8, max_channels=32).eval()
    last = m.decoder.up[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()
    src = torch.rand(2, 1, 3, 32, 32) * 2 - 1
    tgt = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.allclose(m(src, tgt), src[:, 0], atol=1e-5)       # identity grid, align_corners=True
    # equal confidences: three sources are averaged
    three = torch.rand(2, 3, 3, 32, 32) * 2 - 1
    assert torch.allclose(m(three, tgt), three.mean(1), atol=1e-5)
    assert m(three[:, :1], tgt).shape == (2, 3, 32, 32)


def test_curriculum_windows_move_as_specified() -> None:
    c = Curriculum(patience=2)
    assert c.window == (0, 50)
    windows = []
    c.on_eval(1.0)                       # improves: no move
    for _ in range(12):                  # a plateau: every second evaluation moves the window
        if c.on_eval(1.5):
            windows.append(c.window)
    assert windows == [(10, 60), (20, 70), (30, 80), (40, 90)]      # four times, ending at 40–90
    assert c.window == (40, 90) and c.shifts == 4
    # the batch mean over ranks 40–90 %: samples 4..8 of 10 sorted by loss
    losses = torch.arange(10.0)[torch.randperm(10)]
    assert float(c.select(losses)) == pytest.approx(float(torch.arange(4.0, 9.0).mean()))
    c2 = Curriculum()
    c2.load(json.loads(json.dumps(c.state())))
    assert c2.window == c.window and c2.shifts == 4 and c2.bad == c.bad
    assert float(Curriculum().select(torch.tensor([3.0, 1.0, 2.0, 10.0]))) == pytest.approx(1.5)


render = pytest.importorskip("training.synth.render")


@pytest.fixture(scope="module")
def tracks(tmp_path_factory) -> Path:
    if not render.gl_available():  # pragma: no cover
        pytest.skip("no OpenGL context")
    from training.synth.faces import generate_faces

    return generate_faces(tmp_path_factory.mktemp("fab") / "faces", tracks=6, stills=40, size=64, seed=3,
                          identities=6, max_seconds=1.0)


@pytest.mark.slow
def test_fabnet_trains_and_the_curriculum_resumes(tracks: Path, tmp_path: Path) -> None:
    from training.loop import latest_checkpoint, train

    task = FAbNetTask()
    rec = replace(task.recipes["tiny"], steps=16, eval_every=2, ckpt_every=2, plateau_patience=1,
                  options={"curriculum": 1, "train_sources": 3})
    res = train(task, rec, tracks, tmp_path / "run", device="cpu", max_steps=8)
    assert res.weights is None and res.step == 8
    saved = json.loads(torch.load(latest_checkpoint(tmp_path / "run"), weights_only=True)["task_state"])
    lo = saved["curriculum"]["lo"]
    fresh = FAbNetTask()                           # a new process resumes: the window comes back
    res = train(fresh, rec, tracks, tmp_path / "run", device="cpu", resume=True)
    assert res.weights is not None and res.weights.card.architecture == "fabnet"
    events = [json.loads(x) for x in (tmp_path / "run" / "progress.jsonl").read_text().splitlines()]
    after = [e for e in events if e["event"] == "train" and e["step"] == 9]
    assert after and after[-1]["losses"]["window_lo"] == lo
    assert fresh.curriculum.lo >= lo
    assert {"val_l1", "val_l1_3src"} <= set(res.weights.card.metrics)
    m = res.weights.card.metrics          # a 3-source run is selected on what it trains: both L1s, halved
    assert m["val_loss"] == pytest.approx((m["val_l1"] + m["val_l1_3src"]) / 2, rel=1e-5)


def test_validation_loss_follows_the_sources_trained_with() -> None:
    torch.manual_seed(0)
    m = FAbNet(32, dim=16, base=8, max_channels=32).eval()
    batch = (torch.rand(2, 3, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1)
    task = FAbNetTask()
    with torch.no_grad():
        one, logs = task.loss(m, batch)
        assert float(one) == pytest.approx(logs["l1"])
        task.train_sources = 3
        both, logs = task.loss(m, batch)
    assert float(both) == pytest.approx((logs["l1"] + logs["l1_3src"]) / 2)


def test_landmark_targets_and_error() -> None:
    import numpy as np

    from training.tasks.attributes import landmark_error, landmark_targets

    lm = np.random.default_rng(0).uniform(10, 50, (3, 68, 2)).astype(np.float32)
    t68, t5 = landmark_targets(lm, 64, "lm68"), landmark_targets(lm, 64, "lm5")
    assert t68.shape == (3, 136) and t5.shape == (3, 10) and np.abs(t68).max() <= 1
    assert np.allclose(t5[:, 4:6], lm[:, 30] / 64 * 2 - 1)                    # the nose tip
    true = torch.from_numpy(t68)
    assert torch.allclose(landmark_error(true, true), torch.zeros(3))
    iod = (true.view(3, 68, 2)[:, 36] - true.view(3, 68, 2)[:, 45]).norm(dim=1)
    shifted = (true.view(3, 68, 2) + torch.tensor([0.1, 0.0])).view(3, -1)    # every point moved by 0.1
    assert torch.allclose(landmark_error(shifted, true), 100 * 0.1 / iod, atol=1e-4)


@pytest.mark.slow
def test_attribute_heads_train_on_frozen_encoders(tracks: Path, tmp_path: Path) -> None:
    from training.loop import train
    from training.tasks import TASKS

    task = TASKS["attributes"]
    for target, key in (("pose", "val_mae"), ("lm5", "val_error_iod_pct")):
        rec = replace(task.recipes["tiny"], options={"encoder": "random:1", "target": target})
        res = train(task, rec, tracks, tmp_path / target, device="cpu")
        card = res.weights.card
        assert card.architecture == "fabnet-head" and card.config["target"] == target
        assert card.config["encoder"] == "random:1" and key in card.metrics
        head = res.weights.load_state_dict()
        assert "fc.bias" not in head and "bn.weight" in head                  # BatchNorm + linear, no bias


def test_attribute_table_folders_stay_inside_out_for_weights_files() -> None:
    from training.tasks.attributes import encoder_label, table_tag

    assert table_tag("fabnet-lite") == "fabnet-lite"
    assert table_tag("random:3") == "random3"
    # a run's exported weights, given by path: named by the file and its path, inside ``out``
    a = table_tag("/runs/a/weights/fabnet-lite-curriculum.safetensors")
    b = table_tag("/runs/b/weights/fabnet-lite-curriculum.safetensors")
    assert a.startswith("fabnet-lite-curriculum-") and b.startswith("fabnet-lite-curriculum-")
    assert a != b                                   # two runs of one recipe: two rows, not one reused
    assert a == table_tag("/runs/a/weights/fabnet-lite-curriculum.safetensors")    # resumable
    assert "/" not in table_tag("../x/a b.json") and " " not in table_tag("../x/a b.json")
    assert encoder_label("/runs/a/weights/fabnet-lite-curriculum.safetensors") == "a"
    assert encoder_label("w/x.safetensors") == "x" and encoder_label("random:0") == "random:0"


def test_a_random_encoders_cached_embeddings_are_keyed_by_its_shape(monkeypatch) -> None:
    """The random baseline takes fabnet-lite's shape; when the bundle's shape changed (64² → 128²), test
    embeddings cached for the old shape were read back under the same key and the random row's pose
    error went from 9.9° on val to 73° on test."""
    import training.tasks.attributes as attributes

    enc, now = attributes._encoder("random:0")
    assert now.startswith("random0-") and f"-{enc.image_size}-" in f"{now}-"
    monkeypatch.setattr(attributes, "_has", lambda name: False)      # no fabnet-lite: a 64² encoder
    enc64, before = attributes._encoder("random:0")
    assert enc64.image_size == 64 and before != now


def _correlated(n: int, dim: int, seed: int):
    """Embeddings whose units are strongly correlated (ill-conditioned, as trained ones), with linear
    targets (3 outputs) and five binary labels read from them."""
    import numpy as np

    g = np.random.default_rng(seed)
    mix = np.random.default_rng(7).normal(size=(dim, dim)) * np.logspace(0, -3, dim)[:, None]
    e = g.normal(size=(n, dim)) @ mix + 5.0
    w = np.random.default_rng(1).normal(size=(dim, 3))
    y = (e - 5.0) @ w * 0.1 + np.array([0.2, -0.1, 0.05]) + 0.01 * g.normal(size=(n, 3))
    labels = ((e - 5.0) @ np.random.default_rng(2).normal(size=(dim, 5)) > 0).astype(np.float32)
    return e.astype(np.float32), y.astype(np.float32), labels


def test_least_squares_head_is_the_exact_minimum_and_carries_its_intercept() -> None:
    """``lite`` heads: BatchNorm + linear without bias set to the least-squares fit with an intercept (the
    BatchNorm's shift carries it); better on the training loss than Adam's thousand steps."""
    import numpy as np

    from training.tasks.attributes import AttributesTask
    from training.tasks.posemap import TensorPairs
    from x2studio.models.fabnet import AttributeHead

    e, y, _ = _correlated(600, 24, 0)
    ev, yv, _ = _correlated(200, 24, 3)
    task = AttributesTask()
    task.target = "pose"
    head = AttributeHead(24, 3)
    task.solve(head, TensorPairs(e, y), TensorPairs(ev, yv), task.recipes["lite"])
    assert task.strength in (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
    head.eval()
    with torch.no_grad():
        pred = head(torch.from_numpy(e)).numpy()
    a = np.c_[e.astype(np.float64), np.ones(len(e))]
    exact = a @ np.linalg.lstsq(a, y.astype(np.float64), rcond=None)[0]
    assert np.abs(pred - exact).max() < 2e-3 * np.abs(exact).max()
    assert "fc.bias" not in head.state_dict()
    adam = AttributeHead(24, 3)
    opt = torch.optim.Adam(adam.parameters(), 1e-3)
    for _ in range(1000):
        loss = torch.nn.functional.mse_loss(adam(torch.from_numpy(e)), torch.from_numpy(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
    adam.eval()
    with torch.no_grad():
        assert float(((pred - y) ** 2).mean()) < float(torch.nn.functional.mse_loss(adam(torch.from_numpy(e)),
                                                                                  torch.from_numpy(y)))


def test_logistic_head_reads_binary_labels() -> None:
    from training.tasks.attributes import AttributesTask, expression_auc
    from training.tasks.posemap import TensorPairs
    from x2studio.models.fabnet import AttributeHead

    e, _, lab = _correlated(600, 24, 0)
    ev, _, labv = _correlated(300, 24, 3)
    lab[:, 4] = 0.0                                           # a label that never occurs in training
    task = AttributesTask()
    task.target = "expression"
    head = AttributeHead(24, 5, target="expression")
    task.solve(head, TensorPairs(e, lab), TensorPairs(ev, labv), task.recipes["lite"])
    head.eval()
    with torch.no_grad():
        logits = head(torch.from_numpy(ev)).numpy()
    auc = expression_auc(logits, labv)
    assert min(auc[k] for k in ("auc_mouth_open", "auc_lips_rounded", "auc_smile", "auc_brows_raised")) > 0.95
    with torch.no_grad():
        assert torch.allclose(head(torch.from_numpy(e))[:, 4], torch.zeros(1), atol=1e-4)   # never seen: unknown


def test_the_loop_fits_a_least_squares_recipe_without_steps(tmp_path: Path, monkeypatch) -> None:
    """``optimizer="lstsq"``: no steps and no checkpoints; the fit is measured on val and exported with its
    card (the recipe, the chosen ridge strength, the val metrics)."""
    from training.loop import evaluate_weights, train
    from training.tasks.attributes import AttributesTask
    from training.tasks.posemap import TensorPairs

    split = {"train": _correlated(600, 256, 0), "val": _correlated(200, 256, 3), "test": _correlated(200, 256, 4)}

    def dataset(self, data, name, recipe, cache, job=None):
        self.target, self.encoder_name, self.dim = "pose", "random:0", 256
        return TensorPairs(split[name][0], split[name][1])          # pose targets are in units of DEGREES

    monkeypatch.setattr(AttributesTask, "dataset", dataset)
    task = AttributesTask()
    res = train(task, task.recipes["lite"], tmp_path / "data", tmp_path / "run", device="cpu")
    card = res.weights.card
    assert res.step == 0 and not res.interrupted and not list((tmp_path / "run").glob("ckpt-*"))
    assert card.recipe["optimizer"] == "lstsq" and card.metrics["ridge"] > 0
    assert card.metrics["val_mae"] < 1.0                      # the noise: 0.24° (0.01 · DEGREES)
    again = evaluate_weights(task, str(res.weights.weights_path), tmp_path / "data", split="test")
    assert again["metrics"]["mae"] < 1.0
    split["val"] = tuple(a[:0] for a in split["val"])
    with pytest.raises(Exception, match="needs training and validation samples"):
        train(task, task.recipes["lite"], tmp_path / "data", tmp_path / "run3", device="cpu")
    with pytest.raises(Exception, match="no closed-form"):
        train(FAbNetTask(), replace(FAbNetTask().recipes["tiny"], optimizer="lstsq"), tmp_path / "data",
              tmp_path / "run2", device="cpu")


def test_ridge_picks_its_strength_on_validation_data() -> None:
    import numpy as np

    from training.tasks.linear import r2_score, ridge

    g = np.random.default_rng(0)
    x, xv = g.normal(size=(40, 30)), g.normal(size=(400, 30))
    w = g.normal(size=(30, 2))
    y, yv = x @ w + 3 * g.normal(size=(40, 2)), xv @ w          # few noisy samples: a penalty generalises
    lam, coef, fits = ridge(x, y, (xv, yv))
    assert lam > 0 and fits[lam][1] == max(f[1] for f in fits.values())
    assert r2_score(xv @ coef, yv) > fits[0.0][1]
    lam0, coef0, _ = ridge(x, y, (None, None), strengths=(0.0,))
    assert lam0 == 0.0 and np.allclose(coef0, np.linalg.lstsq(x, y, rcond=None)[0])
