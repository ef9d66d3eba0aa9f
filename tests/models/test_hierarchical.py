"""The hierarchical probabilistic embedding (appendix A): the top-K refinement equals the dense
computation, the losses behave, the level curriculum moves and resumes, and a tiny run trains."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from x2studio.models.hierarchical import (HierarchicalEmbedding, children, confidence_loss, cyclic_loss, first_level,
                                          refine)


def _parent(i: int, w: int) -> int:
    """Flat index at ``w``² → its parent's flat index at (w/2)²."""
    return (i // w // 2) * (w // 2) + (i % w) // 2


@pytest.mark.parametrize("k", [16, 5])
def test_topk_refinement_equals_the_dense_computation(k: int) -> None:
    torch.manual_seed(0)
    b, w1, c = 2, 4, 3
    w2 = 2 * w1
    n1, n2 = w1 * w1, w2 * w2
    a1, _ = first_level(torch.randn(b, n1, w1, w1) * 2, torch.rand(b, c, w1, w1))
    prob, idx = torch.topk(a1, k, dim=1)
    m_dense = torch.randn(b, n2, n2)              # [source s, target t] at level 2, any values
    source = torch.rand(b, c, w2, w2)
    # the 4k values the decoder would predict: the dense ones at the candidates' positions
    cand = children(idx, w1).repeat_interleave(2, 2).repeat_interleave(2, 3)          # (B, 4k, w2, w2)
    m = torch.gather(m_dense, 1, cand.flatten(2)).view(b, 4 * k, w2, w2)
    a, got_idx, gen = refine(prob, idx, w1, m, source)
    assert torch.equal(got_idx, cand)
    # dense reference: every source pixel, its parent's probability under the target's parent
    a1f = a1.view(b, n1, n1)                       # [source s1, target t1]
    kept = torch.zeros(b, n1, n1, dtype=torch.bool)
    kept.scatter_(1, idx.view(b, k, n1), True)
    par = np.array([_parent(i, w2) for i in range(n2)])
    p_dense = a1f[:, par][:, :, par] * m_dense                  # [s, t]: A1[parent s, parent t] · M
    p_dense = p_dense.masked_fill(~kept[:, par][:, :, par], float("-inf"))
    a_dense = torch.softmax(p_dense, 1)
    gen_dense = torch.bmm(source.flatten(2), a_dense).view(b, c, w2, w2)
    assert torch.allclose(gen, gen_dense, atol=1e-5)
    # the candidates' probabilities are the dense distribution's, and they sum to one
    assert torch.allclose(a.sum(1), torch.ones(b, w2, w2), atol=1e-5)
    assert torch.allclose(a.flatten(2), torch.gather(a_dense, 1, cand.flatten(2)), atol=1e-6)


def test_losses() -> None:
    n, w = 16, 4
    eye = torch.eye(n).view(1, n, w, w) * 0.999 + 0.001 / n       # each pixel maps to itself
    flat = torch.full((1, n, w, w), 1.0 / n)                         # everything maps everywhere
    assert cyclic_loss(eye, eye) < 0.01 < cyclic_loss(flat, flat)
    t = torch.rand(2, 3, 8, 8)
    s1, s2 = torch.full((2, 1, 8, 8), 0.1), torch.full((2, 1, 8, 8), 1.0)
    # a confident prediction is rewarded when right and punished when wrong
    assert confidence_loss(t, t, s1) < confidence_loss(t, t, s2)
    assert confidence_loss(t + 0.5, t, s1) > confidence_loss(t + 0.5, t, s2)


def test_model_levels_shapes_and_embedding() -> None:
    m = HierarchicalEmbedding(32, dim=16, base=8, max_channels=16, base_res=8, levels=3, k=4).eval()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    out = m(x, x.flip(0))
    assert [o["generated"].shape[-1] for o in out] == [8, 16, 32]
    assert out[0]["A"].shape == (2, 64, 8, 8) and all((o["sigma"] > 0).all() for o in out)
    assert len(m(x, x, levels=1)) == 1
    assert m.encoder(x).shape == (2, 16)
    with pytest.raises(ValueError):
        HierarchicalEmbedding(32, base_res=16, levels=3)


def test_level_curriculum_moves_and_resumes() -> None:
    from training.tasks.hierarchical import LevelCurriculum

    c = LevelCurriculum(3, patience=2)
    seen = [c.levels]
    for loss in (1.0, 0.9, 0.95, 0.96, 2.0, 1.9, 1.95, 1.97, 3.0, 3.1, 3.2, 3.3):
        c.on_eval(loss)
        seen.append(c.levels)
    assert seen[0] == 1 and max(seen) == 3 and seen == sorted(seen)
    assert seen.index(2) == 4 and seen.index(3) == 8        # after two evaluations without improvement
    d = LevelCurriculum(3)
    d.load(c.state())
    assert d.levels == 3 and d.state() == c.state()


@pytest.fixture(scope="module")
def faces(tiny_faces):
    return tiny_faces


@pytest.mark.slow
def test_tiny_run_trains_resumes_and_exports(faces, tmp_path) -> None:
    from training.loop import train
    from training.tasks import TASKS
    from x2studio.models.fabnet import load_embedder
    from x2studio.weights.registry import load_entry

    task = TASKS["hierarchical"]
    recipe = task.recipes["tiny"]
    res = train(task, recipe, faces, tmp_path / "run", max_steps=6)
    assert res.weights is None
    res = train(task, recipe, faces, tmp_path / "run", resume=True)
    assert res.weights is not None and res.step == recipe.steps
    state = task.task_state()["levels"]
    assert state["levels"] >= 2            # patience 1: the curriculum added levels during the run
    enc = load_embedder(load_entry(res.weights.weights_path))
    assert enc(torch.rand(1, 3, 32, 32)).shape == (1, 32)


def test_a_new_level_restarts_the_plateau_schedule_and_best_weights(faces, tmp_path) -> None:
    """With patience 1 the curriculum adds levels during the tiny run; the learning rate is not cut
    for the jump in the loss, and the exported weights' metrics come from the last level."""
    import json

    from training.loop import train
    from training.tasks import TASKS

    task = TASKS["hierarchical"]
    res = train(task, task.recipes["tiny"], faces, tmp_path / "run")
    evs = [json.loads(x) for x in (tmp_path / "run" / "progress.jsonl").read_text().splitlines()]
    evals = [e for e in evs if e["event"] == "eval"]
    levels = [e["metrics"]["val_levels"] for e in evals]
    assert levels[-1] > levels[0]
    assert all(e["lr"] == task.recipes["tiny"].lr for e in evals)           # no cut for the jump
    card = json.loads(res.weights.card_path.read_text())
    assert card["metrics"]["val_levels"] == levels[-1]                      # best weights of the last level
