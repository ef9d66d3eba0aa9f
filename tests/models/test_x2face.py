"""X2Face on tiny configurations: the samplers, the shapes, multi-source fusion, training steps that
lower the loss, and the ``x2face`` task's Table-1 analog (1 vs 3 sources)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from x2studio.models.x2face import X2Face, warp

TINY = {"image_size": 32, "base": 8, "max_channels": 32, "dim": 32}


def _smooth_images(n: int, size: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 3, 6, 6, generator=g)
    return F.interpolate(low, size=(size, size), mode="bicubic", align_corners=True).clamp(0, 1)


def test_zero_offsets_reproduce_the_image_and_one_pixel_is_one_pixel() -> None:
    x = torch.rand(2, 3, 16, 20)
    assert torch.allclose(warp(x, torch.zeros(2, 2, 16, 20)), x, atol=1e-5)   # align_corners=True
    off = torch.zeros(2, 2, 16, 20)
    off[:, 0] = 2.0 / (20 - 1)                                                  # one pixel to the right
    assert torch.allclose(warp(x, off)[..., :-1], x[..., 1:], atol=1e-5)


def test_shapes_vectors_and_no_nan() -> None:
    m = X2Face(**TINY).eval()
    src, drv = _smooth_images(2, 32), _smooth_images(2, 32, 1)
    with torch.no_grad():
        out = m(src, drv)
        v = m.driving.vector(drv)
        multi = m(torch.stack([src, drv], 1), drv)
    assert out.shape == (2, 3, 32, 32) and v.shape == (2, 32) and multi.shape == out.shape
    assert torch.isfinite(out).all() and torch.isfinite(multi).all()
    with pytest.raises(ValueError):
        X2Face(image_size=48)


def test_identical_sources_fuse_to_the_single_source() -> None:
    m = X2Face(**TINY).eval()
    src = _smooth_images(2, 32)
    with torch.no_grad():
        one = m.embed(src)
        three = m.embed(src[:, None].repeat(1, 3, 1, 1, 1))
    assert torch.allclose(one, three, atol=1e-5)


def test_matched_fusion_weights_the_source_that_looks_like_the_driving_frame() -> None:
    from x2studio.models.x2face import SourceSet

    m = X2Face(**TINY).eval()
    src = _smooth_images(3, 32, seed=4)
    with torch.no_grad():
        parts = m.embed_sources(src[None], vectors=True)
        assert parts.faces.shape == (1, 3, 3, 32, 32) and parts.weights.shape == (1, 3, 1, 32, 32)
        assert parts.vectors.shape == (1, 3, 32)
        # the driving vector of source 1 itself: source 1 gets most of the weight, the more the lower tau
        v = parts.vectors[:, 1]
        conf = m.fuse(parts, v, "confidence")
        sharp = m.fuse(parts, v, "matched", tau=0.05)
        soft = m.fuse(parts, v, "matched", tau=100.0)
        d = lambda a: float((a - parts.faces[:, 1]).abs().mean())
        assert d(sharp) < 0.2 * d(conf) and d(soft) == pytest.approx(d(conf), rel=0.05)
        assert torch.allclose(m.fuse(parts, fusion="mean"), parts.faces.mean(1))
        assert torch.allclose(m.fuse(parts), m.embed(src[None]))        # embed: the confidence rule
        # one set of sources fused for several driving vectors: one face each
        many = m.fuse(parts, parts.vectors[0], "matched")
        assert many.shape == (3, 3, 32, 32)
        assert torch.allclose(many[1], m.fuse(parts, v, "matched")[0])
        # forward with the matched rule, and one source: every rule gives that source
        drv = _smooth_images(2, 32, seed=9)
        two = src[None].repeat(2, 1, 1, 1, 1)
        assert m(two, drv, fusion="matched").shape == (2, 3, 32, 32)
        one = m.embed_sources(src[:1])
        for fusion in ("matched", "confidence", "mean"):
            assert torch.allclose(m.fuse(one, v, fusion), one.faces[:, 0])
        with pytest.raises(ValueError, match="fusion must be one of"):
            m.fuse(parts, v, "median")
        with pytest.raises(ValueError, match="driving vectors"):
            m.fuse(SourceSet(parts.faces, parts.weights, None), v, "matched")


def test_paper_configuration_is_the_papers_size() -> None:
    n = sum(p.numel() for p in X2Face(256, base=64, max_channels=512).parameters())
    assert 60e6 < n < 70e6          # the thesis: about 65 M


def test_a_few_training_steps_lower_the_loss() -> None:
    torch.manual_seed(0)
    m = X2Face(**TINY)
    src = _smooth_images(8, 32)
    drv = torch.roll(src, shifts=(2, 3), dims=(2, 3))          # the same face, moved
    opt = torch.optim.Adam(m.parameters(), lr=2e-3)
    losses = []
    for _ in range(40):
        loss = F.l1_loss(m(src, drv), drv)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert np.isfinite(losses).all()
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5]), losses


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    render = pytest.importorskip("training.synth.render")
    if not render.gl_available():  # pragma: no cover
        pytest.skip("no OpenGL context")
    from training.synth.faces import generate_faces

    return generate_faces(tmp_path_factory.mktemp("x2faces") / "faces", tracks=6, size=64, seed=3, max_seconds=2.0)


def test_x2face_task_trains_and_measures_one_and_three_sources(faces, tmp_path) -> None:
    from training.loop import evaluate_weights, train
    from training.tasks import TASKS

    data = faces
    task = TASKS["x2face"]
    res = train(task, task.recipes["tiny"], data, tmp_path / "run")
    assert res.weights is not None and res.weights.card.architecture == "x2face"
    assert {"val_l1", "val_l1_3src", "val_gain_3src_pct"} <= set(res.best)
    assert sorted((tmp_path / "run" / "samples").glob("*.png"))
    out = evaluate_weights(task, res.weights.weights_path, data, split="test", cache=tmp_path / "cache")
    m = out["metrics"]
    assert m["l1"] > 0 and m["l1_3src"] > 0 and np.isfinite(m["gain_3src_pct"])
    # 3 sources fused three ways: confidence (l1_3src), the paper's mean, matched to the driving frame
    assert {"l1_3src_mean", "gain_3src_mean_pct", "l1_3src_matched", "gain_3src_matched_pct"} <= set(m)
    assert len({m["l1_3src"], m["l1_3src_mean"], m["l1_3src_matched"]}) == 3
    # the exported weights build through the models registry; a FAb-Net loader refuses them
    from x2studio.core.errors import InputError
    from x2studio.models.fabnet import load_embedder
    from x2studio.models.registry import model_from_card

    model = model_from_card(res.weights)
    assert isinstance(model, X2Face) and not model.training
    with pytest.raises(InputError, match="cannot be used here"):
        load_embedder(res.weights)
    # items: three source frames of the driving frame's own track, and the frame itself
    ds = task.dataset(data, "val", task.recipes["tiny"], tmp_path / "cache")
    src, drv = ds[0]
    assert src.shape == (3, 3, 32, 32) and drv.shape == (3, 32, 32) and src.dtype == torch.uint8


def test_stage_two_with_an_identity_network(faces, tmp_path, capsys) -> None:
    import json

    from training.loop import evaluate_weights, train
    from training.tasks import TASKS
    from x2studio.core.errors import InputError

    ident = train(TASKS["identity"], TASKS["identity"].recipes["tiny"], faces, tmp_path / "id")
    assert ident.weights.card.architecture == "vgg11-identity" and "val_accuracy" in ident.best
    x2 = TASKS["x2face"]
    stage1 = train(x2, x2.recipes["tiny"], faces, tmp_path / "s1")
    recipe = x2.recipes["tiny-ii"]
    with pytest.raises(InputError, match="identity network"):
        train(x2, recipe, faces, tmp_path / "no-id")
    from dataclasses import replace

    r2 = replace(recipe, init=str(stage1.weights.weights_path),
                 options={"stage": 2, "identity": str(ident.weights.weights_path)})
    with pytest.raises(InputError, match="Cannot start 'x2face' from"):
        train(x2, replace(r2, init=str(ident.weights.weights_path)), faces, tmp_path / "bad-init")
    res = train(x2, r2, faces, tmp_path / "s2")
    evs = [json.loads(x) for x in (tmp_path / "s2" / "progress.jsonl").read_text().splitlines()]
    first = next(e for e in evs if e["event"] == "train")
    assert {"id_same", "id_other", "l1"} <= set(first["losses"])
    # both stages measured with the identity network (the leakage comparison); the 6-track set's
    # validation split has one person only, so "another person" comes from the training split here
    for w in (stage1.weights, res.weights):
        out = evaluate_weights(x2, w.weights_path, faces, split="train", cache=tmp_path / "c",
                               options={"identity": str(ident.weights.weights_path)})
        assert out["metrics"]["identity_leak"] >= 0 and out["metrics"]["l1_3src"] > 0
    # --samples N: the first N items of the split's fixed order, the same whatever the batch size
    a = evaluate_weights(x2, res.weights.weights_path, faces, split="train", cache=tmp_path / "c", samples=8)
    b = evaluate_weights(x2, res.weights.weights_path, faces, split="train", cache=tmp_path / "c", samples=8,
                         batch_size=8)
    c = evaluate_weights(x2, res.weights.weights_path, faces, split="train", cache=tmp_path / "c", samples=12)
    assert a["samples"] == b["samples"] == 8 and c["samples"] == 12
    assert a["metrics"]["l1"] == pytest.approx(b["metrics"]["l1"], rel=1e-5)
    assert a["metrics"]["l1"] != pytest.approx(c["metrics"]["l1"], rel=1e-5)
    with pytest.raises(InputError, match="Cannot measure 0 samples"):
        evaluate_weights(x2, res.weights.weights_path, faces, split="train", cache=tmp_path / "c", samples=0)
    # the Table-1 analog from the CLI: stage I and stage II (comma-separated) on the same items, with
    # the identity leak; a blank weights list is refused
    from training.__main__ import main

    both = f"{stage1.weights.weights_path},{res.weights.weights_path}"
    ident_opt = f"identity={ident.weights.weights_path}"
    common = ["train", "eval", "x2face", "--data", str(faces), "--split", "train", "--option", ident_opt]
    capsys.readouterr()
    assert main([*common, "--weights", both, "--samples", "8", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [r["samples"] for r in rows] == [8, 8]
    solo = evaluate_weights(x2, stage1.weights.weights_path, faces, split="train", samples=8,
                            options={"identity": str(ident.weights.weights_path)})
    assert rows[0]["metrics"]["l1"] == pytest.approx(solo["metrics"]["l1"], rel=1e-5)
    assert rows[0]["metrics"] != rows[1]["metrics"]
    assert main([*common, "--weights", both, "--batches", "2"]) == 0
    text = capsys.readouterr().out
    assert "identity leak" in text and "3 src, mean (paper)" in text and "3 src, matched" in text
    assert text.count("(stage I)") == 2 and text.count("(stage II)") == 2      # the title and a row each
    assert main([*common, "--weights", " , "]) == 2
    assert "No weights given" in capsys.readouterr().err
    # the identity terms' weights (multiples of the photometric L1) are options; negative ones refused
    only_other = {**r2.options, "same_weight": "0", "other_weight": "0.5"}
    res0 = train(x2, replace(r2, steps=2, options=only_other), faces, tmp_path / "s2-other")
    losses = [json.loads(x)["losses"] for x in (tmp_path / "s2-other" / "progress.jsonl").read_text().splitlines()
              if json.loads(x)["event"] == "train"]
    assert res0.weights is not None and all(x["id_same"] == 0 and x["id_other"] > 0 for x in losses)
    # the other-identity term is the given multiple of the photometric L1 (two layers)
    assert all(abs(x["id_other"] - 2 * 0.5 * x["l1"]) < 1e-4 * x["l1"] + 1e-7 for x in losses)
    with pytest.raises(InputError, match="cannot be negative"):
        train(x2, replace(r2, options={**r2.options, "other_weight": "-1"}), faces, tmp_path / "neg")
    assert not (tmp_path / "neg" / "weights").exists()


def test_training_with_several_sources_uses_the_confidence_channel(faces, tmp_path) -> None:
    from dataclasses import replace

    from training.loop import train
    from training.tasks import TASKS

    x2 = TASKS["x2face"]
    torch.manual_seed(0)
    res = train(x2, replace(x2.recipes["tiny"], options={"train_sources": 3}), faces, tmp_path / "ms")
    assert res.weights is not None
    # with one source only the confidence channel gets no gradient; with several it does
    model = X2Face(**res.weights.card.config)
    model.train()
    src = _smooth_images(6, 32).view(2, 3, 3, 32, 32)
    F.l1_loss(model(src, src[:, 0]), src[:, 0]).backward()
    head = model.embedding.head[1]
    assert head.weight.grad[2].abs().sum() > 0            # channel 2: confidence
