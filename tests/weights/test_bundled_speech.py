"""Quality of the bundled speech models on held-out synthetic people (generator seed 99; the weights
saw seed 11): the AV-sync network tells a face's own speech from other speech, its audio stream knows
the mouth, and the expression CNN reads mouth opening.  Fails if a retrained bundle regresses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

render = pytest.importorskip("training.synth.render")
if not render.gl_available():  # pragma: no cover
    pytest.skip("no OpenGL context", allow_module_level=True)

from training.loop import evaluate_weights  # noqa: E402
from training.tasks import TASKS  # noqa: E402

# Measured on this set when the bundle was made (2026-11-25): AV-sync pair accuracy 0.80 (match nearer
# than a non-matching window), expression CNN jaw-opening MAE 0.089, learned features → jaw r 0.88
# (MFCC 0.78 the same way).  The bounds leave a margin for renderer differences between machines.
MIN_PAIR_ACC = 0.70
MAX_JAW_MAE = 0.12
MIN_MOUTH_R = 0.75


@pytest.fixture(scope="module")
def held_out(tmp_path_factory) -> Path:
    from training.synth.faces import face_model_of, generate_faces

    return generate_faces(tmp_path_factory.mktemp("speechheld") / "faces", tracks=6, stills=40, size=128, seed=99,
                          identities=12, max_seconds=4.0, face_model=face_model_of("avsync-face-lite"))


def test_bundled_avsync_and_expression_on_unseen_people(held_out: Path, tmp_path: Path) -> None:
    av = evaluate_weights(TASKS["avsync"], "avsync-face-lite", held_out, split="train", cache=tmp_path / "c")
    assert av["metrics"]["pair_acc"] > MIN_PAIR_ACC, av["metrics"]
    assert av["metrics"]["d_match"] < av["metrics"]["d_other"]
    ex = evaluate_weights(TASKS["expression"], "expression-lite", held_out, split="train", cache=tmp_path / "c")
    assert ex["metrics"]["mae_jaw_open"] < MAX_JAW_MAE, ex["metrics"]


def test_bundled_speech_features_follow_the_mouth(held_out: Path) -> None:
    """Per held-out track, the learned features' first principal direction within the track tracks
    the true jaw opening (a linear read-out fitted on the other tracks)."""
    from x2studio.face.dataset import load_labels, load_manifest
    from x2studio.media.audio import load_audio
    from x2studio.pipelines.speech import SpeechFeatures

    feats = SpeechFeatures("avsync-face-lite")
    man = load_manifest(held_out)
    xs, ys = [], []
    for t in man["tracks"]:
        jaw = load_labels(held_out / t["labels"])["expression"][:, 0]
        a = feats(load_audio(held_out / t["video"]), 25.0, np.arange(len(jaw)))
        xs.append(a - a.mean(0))
        ys.append(jaw - jaw.mean())
    rs = []
    for k in range(len(xs)):          # leave one track out
        x = np.concatenate([x for i, x in enumerate(xs) if i != k])
        y = np.concatenate([y for i, y in enumerate(ys) if i != k])
        w = np.linalg.solve(x.T @ x + 10.0 * len(x) * np.eye(x.shape[1]) * x.var(), x.T @ y)
        rs.append(np.corrcoef(xs[k] @ w, ys[k])[0, 1])
    assert np.mean(rs) > MIN_MOUTH_R, rs
