"""Quality of the bundled FAb-Net embedding and its pose head on held-out synthetic people (generator
seed 99; the weights saw seed 11).  Fails if a retrained bundle regresses."""

from __future__ import annotations

from pathlib import Path

import pytest

render = pytest.importorskip("training.synth.render")
if not render.gl_available():  # pragma: no cover
    pytest.skip("no OpenGL context", allow_module_level=True)

from training.loop import evaluate_weights  # noqa: E402
from training.tasks import TASKS  # noqa: E402

# Measured when bundled (2026-12-06; fabnet-lite at 128², 14000 steps; the head at its least-squares minimum):
# on this set 5.20° mean (roll 2.93, pitch 4.30, yaw 8.38); on stills128's test split 4.87°.  The same
# encoder with the head of 1000 Adam steps: 6.73° and 6.31°; the 64² fabnet-lite with that head: 7.98°, 7.24°.
MAX_POSE_MAE = 5.8


@pytest.fixture(scope="module")
def held_out(held_out_stills) -> Path:
    return held_out_stills("fabnet-lite")


def test_bundled_fabnet_pose_readout(held_out: Path, tmp_path: Path) -> None:
    res = evaluate_weights(TASKS["attributes"], "fabnet-lite-pose", held_out, split="train", cache=tmp_path / "c",
                           options={"encoder": "fabnet-lite", "target": "pose"})
    assert res["samples"] >= 30
    assert res["metrics"]["mae"] < MAX_POSE_MAE, res["metrics"]


# Measured when bundled (2026-12-06, least-squares head): 18.3 % of the inter-ocular distance on this set,
# 18.8 % on stills128's test split (a linear read-out of a 256-D embedding: coarse, as the Retrieve panel's
# overlay shows).  With the head of 1000 Adam steps: 24.1 % and 23.9 %.
MAX_LM68_IOD_PCT = 20.5


def test_bundled_fabnet_landmark_readout(held_out: Path, tmp_path: Path) -> None:
    res = evaluate_weights(TASKS["attributes"], "fabnet-lite-lm68", held_out, split="train", cache=tmp_path / "c",
                           options={"encoder": "fabnet-lite", "target": "lm68"})
    assert res["metrics"]["error_iod_pct"] < MAX_LM68_IOD_PCT, res["metrics"]


# hierarchical-lite (appendix A; 64² input, levels 16² → 32² trained, 3000 steps on an H100) with its heads
# at their least-squares minimum.  Measured (2026-12-06) on this set: pose 5.78°, landmarks 19.0 % of the
# inter-ocular distance; on stills128's test split 6.03° and 20.7 %.  It beats the 64² FAb-Net on landmarks
# there (21.4 %), as in the thesis, but not the bundled 128² one (18.8 %): the thesis' ordering is measured
# at equal input size by `train attributes-table`, not asserted on the bundle.  (Adam heads: 6.85°, 23.0 %.)
MAX_HIER_POSE_MAE = 6.5
MAX_HIER_LM68_IOD_PCT = 21.0


def test_bundled_hierarchical_readouts(held_out: Path, tmp_path: Path) -> None:
    def err(encoder: str, target: str) -> dict:
        return evaluate_weights(TASKS["attributes"], f"{encoder}-{target}", held_out, split="train",
                                cache=tmp_path / "c", options={"encoder": encoder, "target": target})["metrics"]

    pose = err("hierarchical-lite", "pose")
    lm = err("hierarchical-lite", "lm68")["error_iod_pct"]
    assert pose["mae"] < MAX_HIER_POSE_MAE, pose
    assert lm < MAX_HIER_LM68_IOD_PCT


def test_attribute_table_trains_and_measures_every_head(held_out: Path, tmp_path: Path) -> None:
    from training.tasks.attributes import attribute_table

    rows = attribute_table(held_out, tmp_path / "t", encoders=("fabnet-lite", "random:0"),
                           targets=("lm5", "expression"), steps=20, batch_size=16)
    assert [r["encoder"] for r in rows] == ["fabnet-lite", "random:0"]
    assert all(r["lm5"]["error_iod_pct"] > 0 and 0 <= r["expression"].get("auc_mean", 0.5) <= 1 for r in rows)
    again = attribute_table(held_out, tmp_path / "t", encoders=("fabnet-lite",), targets=("lm5",), steps=20, batch_size=16)
    assert again[0]["lm5"] == rows[0]["lm5"]                 # finished heads are reused
