"""Quality of the bundled violin weights on held-out synthetic videos (another seed than the training
data, tunes of the val/test splits, which no training video plays): the Table-2 RPA against the
true pitch must not regress.

The teacher (``violin-teacher-lite``, sound → pitch) is what the student is distilled from; the
student (``violin-lite``, 5 frames → pitch) is what the app's picture mode runs."""

from __future__ import annotations

import pytest

from x2studio.weights.registry import WeightsRegistry

# measured when bundled (2026-12-03), against the true pitch; the teacher learnt from the yin tracker's
# labels read 40 ms after each frame (RPA 90 % against the truth on the varied subset), which bounds
# it. Teacher: varied test split 91.8, 'all' test split 91.3, these held-out videos 92.6 and 94.9.
# Thresholds leave room for the small samples' spread.
MIN_TEACHER_RPA, MIN_TEACHER_TOL = 0.85, 0.92
# the student learnt from the true pitch (1 frame on 'all', then 'varied', then 5 frames): varied test
# split RPA 87.1 (24 videos); on these two held-out videos 75.1 and 100.0 (2026-12-03)
MIN_STUDENT_RPA, MIN_STUDENT_TOL = 0.75, 0.77


@pytest.fixture(scope="module")
def held_out(tmp_path_factory):
    from training.synth.violin import generate_violin

    root = tmp_path_factory.mktemp("violin-held-out")
    generate_violin(root, "varied", minutes=0.5, seed=99, clip_seconds=10.0)      # train, val, test
    return root


def _rpa(data, weights, cache) -> dict:
    from training.tasks.violin import violin_eval

    out = [violin_eval(data, weights, split=s, labels="truth", cache=cache) for s in ("val", "test")]
    n = sum(m["frames"] for m in out)
    return {k: sum(m[k] * m["frames"] for m in out) / n for k in ("rpa", "rpa_tol")}


@pytest.mark.slow
def test_bundled_violin_teacher_on_held_out_tunes(held_out, tmp_path):
    m = _rpa(held_out, "violin-teacher-lite", tmp_path)
    assert m["rpa"] >= MIN_TEACHER_RPA and m["rpa_tol"] >= MIN_TEACHER_TOL, m


@pytest.mark.slow
def test_bundled_violin_student_on_held_out_tunes(held_out, tmp_path):
    m = _rpa(held_out, "violin-lite", tmp_path)
    assert m["rpa"] >= MIN_STUDENT_RPA and m["rpa_tol"] >= MIN_STUDENT_TOL, m


def test_bundled_violin_weights_are_listed():
    names = WeightsRegistry().names()
    assert "violin-teacher-lite" in names and "violin-lite" in names
    assert WeightsRegistry().get("violin-lite").card.config["frames"] == 5
