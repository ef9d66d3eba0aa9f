"""The Pose panel offscreen with the bundled weights: the demo face's pose read, slider drags that
coalesce (latest wins), numeric entry, reset, a sweep export and a saved image; bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from x2studio.core.settings import Settings
from x2studio.ui.panels.pose_panel import PosePanel

pytestmark = pytest.mark.gui
DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo"


@pytest.fixture
def panel(qtbot, x2_home):
    p = PosePanel(Settings())
    qtbot.addWidget(p)
    p.show()          # first show: the bundled x2face-lite and the demo face
    yield p
    p.shutdown()


def test_pose_panel_sliders_preview_and_export(qtbot, panel: PosePanel, tmp_path: Path) -> None:
    errors = []
    panel.errorRaised.connect(lambda m, d: errors.append(m))
    assert panel.weights_box.currentText() == "x2face-lite"
    qtbot.waitUntil(lambda: panel.ready and panel.last_result is not None, timeout=60000)
    assert "Source pose" in panel.source_pose_label.text()
    assert [round(v, 1) for v in panel.pose()] == [round(v, 1) for v in panel.source_pose]
    results = []
    panel.resultShown.connect(results.append)
    # a drag: 40 moves in a burst; previews coalesce, and the last one shown is the last pose asked
    for v in range(-40, 40, 2):
        panel.sliders["yaw"].setValue(v)
    qtbot.waitUntil(lambda: bool(results) and results[-1]["pose"][0] == pytest.approx(19.0), timeout=30000)
    qtbot.wait(300)
    assert len(results) < 40
    assert panel.spins["yaw"].value() == pytest.approx(19.0)
    panel.spins["roll"].setValue(-12.0)                     # numeric entry moves the slider too
    assert panel.sliders["roll"].value() == -24
    qtbot.waitUntil(lambda: results[-1]["pose"][2] == pytest.approx(-12.0), timeout=30000)
    panel.reset()
    assert panel.pose()[0] == pytest.approx(panel.source_pose[0], abs=0.05)
    assert panel.save_image(tmp_path / "posed.png") and (tmp_path / "posed.png").stat().st_size > 0
    # a paint layer (from the Paint panel) shows on the posed face
    from x2studio.pipelines.paint import PaintLayer

    layer = PaintLayer(128)
    layer.stroke([(30, 60), (100, 60)], size=8, color=(0, 255, 0))
    plain, n = results[-1]["generated"], len(results)
    assert panel.set_layer(layer.save(tmp_path / "layer.png"))
    qtbot.waitUntil(lambda: len(results) > n, timeout=30000)
    assert results[-1]["generated"] != plain
    assert panel.set_layer(None)
    handle = panel.export_sweep(tmp_path / "sweep.gif", "pitch")
    with qtbot.waitSignal(handle.ended, timeout=120000):
        pass
    assert handle.outcome == "succeeded", handle.error
    with Image.open(tmp_path / "sweep.gif") as im:
        assert im.n_frames == 100
    assert not errors


def test_pose_panel_reports_a_photo_without_a_face(qtbot, panel: PosePanel, tmp_path: Path) -> None:
    import cv2
    import numpy as np

    qtbot.waitUntil(lambda: panel.ready, timeout=60000)
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((120, 160, 3), 90, np.uint8))
    with qtbot.waitSignal(panel.errorRaised, timeout=30000) as sig:
        panel.set_source(str(blank))
    assert "No face" in sig.args[0]
    assert not panel.ready and not panel.sweep_button.isEnabled()
