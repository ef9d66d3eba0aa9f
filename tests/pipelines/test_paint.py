"""Painting on the embedded face: the paint layer (strokes, eraser, stamps, undo/redo, PNG
round trip, bad layers), the reenactor with a layer, the `paint` CLI, and the Paint panel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from x2studio.core.errors import InputError
from x2studio.media.image import write_image
from x2studio.models.x2face import X2Face
from x2studio.pipelines.paint import PaintLayer, composite
from x2studio.pipelines.reenact import Reenactor
from x2studio.weights import ModelCard, WeightsRegistry, save_weights
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "resources" / "demo"


def test_strokes_erase_and_history() -> None:
    layer = PaintLayer(64)
    layer.stroke([(10, 10), (50, 10), (10, 10)], size=6, hardness=1.0, color=(255, 0, 0))   # crosses itself
    a = layer.rgba[..., 3]
    assert a[10, 30] == 255 and a[40, 30] == 0
    assert tuple(layer.rgba[10, 30, :3]) == (255, 0, 0)
    half = PaintLayer(64)
    half.stroke([(10, 10), (50, 10), (10, 10)], size=6, hardness=1.0, opacity=0.5)
    assert 126 <= half.rgba[10, 30, 3] <= 129                   # one stroke never builds up over itself
    soft = PaintLayer(64)
    soft.stroke([(32, 32)], size=20, hardness=0.0)
    assert soft.rgba[32, 32, 3] > 200 and 0 < soft.rgba[32, 40, 3] < soft.rgba[32, 34, 3]
    before = layer.rgba.copy()
    layer.stroke([(30, 0), (30, 63)], size=4, erase=True)
    assert layer.rgba[10, 30, 3] == 0 and layer.rgba[10, 20, 3] == 255
    assert layer.undo() and np.array_equal(layer.rgba, before)           # one stroke = one step
    assert layer.redo() and layer.rgba[10, 30, 3] == 0
    assert not layer.redo()
    layer.clear()
    assert not layer.rgba[..., 3].any() and layer.undo() and layer.rgba[..., 3].any()
    layer.stroke([(5, 5)], size=3)
    assert not layer.can_redo()                                         # a new stroke drops the redo branch
    with pytest.raises(InputError):
        layer.stroke([], size=3)
    with pytest.raises(InputError):
        layer.stroke([(1, 1)], size=0)
    with pytest.raises(InputError):
        layer.stroke([(1, 1)], opacity=1.5)


def test_stamps_keep_their_transparency() -> None:
    stamp = np.zeros((10, 20, 4), np.uint8)
    stamp[:, :10] = (0, 0, 255, 255)              # left half opaque blue, right half transparent
    layer = PaintLayer(64)
    layer.stamp(stamp, (32, 32), width=20)
    assert tuple(layer.rgba[32, 25]) == (0, 0, 255, 255)
    assert layer.rgba[32, 38, 3] == 0
    layer.stamp(np.full((8, 8, 3), 200, np.uint8), (0, 0), width=8)        # RGB: opaque; clipped at the edge
    assert layer.rgba[1, 1, 3] == 255
    with pytest.raises(InputError):
        layer.stamp(stamp, (500, 500), width=20)
    with pytest.raises(InputError):
        layer.stamp(np.zeros((4, 4), np.uint8), (10, 10), width=4)


def test_layer_png_round_trip_and_bad_layers(tmp_path: Path) -> None:
    layer = PaintLayer(32)
    layer.stroke([(5, 5), (25, 20)], size=5, hardness=0.3, color=(10, 200, 30), opacity=0.7)
    path = layer.save(tmp_path / "layer.png")
    back = PaintLayer.load(path, 32)
    assert np.array_equal(back.rgba, layer.rgba)
    with pytest.raises(InputError, match="not 64x64"):
        PaintLayer.load(path, 64)
    with pytest.raises(InputError, match="PNG"):
        layer.save(tmp_path / "layer.jpg")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(InputError, match="not a readable image"):
        PaintLayer.load(bad, 32)
    with pytest.raises(InputError, match="does not exist"):
        PaintLayer.load(tmp_path / "none.png", 32)
    emb = np.full((32, 32, 3), 100, np.uint8)
    out = composite(emb, layer)
    assert np.array_equal(out[31, 0], emb[31, 0]) and not np.array_equal(out[5, 5], emb[5, 5])


def test_reenactor_draws_the_layer_and_keeps_it_for_another_face(tmp_path: Path) -> None:
    torch.manual_seed(0)
    cfg = {"image_size": 64, "base": 8, "max_channels": 32, "dim": 32}
    save_weights(X2Face(**cfg).state_dict(), ModelCard("x2-tiny", "x2face", config=cfg), tmp_path)
    r = Reenactor("x2-tiny", detector="haar", registry=WeightsRegistry([tmp_path]))
    r.set_sources(r.load_sources([DEMO / "face_0.png"]))
    plain = r.embedded_face()
    layer = PaintLayer(64)
    layer.stroke([(10, 30), (50, 30)], size=6, hardness=1.0, color=(0, 255, 0))
    r.set_paint(layer)
    painted = r.embedded_face()
    assert tuple(painted[30, 30]) == (0, 255, 0) and np.array_equal(r.embedded_face(painted=False), plain)
    assert np.array_equal(painted[5, 5], plain[5, 5])
    r.set_sources(r.load_sources([DEMO / "face_2.png"]))                 # another person: the edit stays
    assert tuple(r.embedded_face()[30, 30]) == (0, 255, 0)
    r.set_paint(None)
    assert not np.array_equal(r.embedded_face()[30, 30], (0, 255, 0))
    with pytest.raises(InputError):
        r.set_paint(PaintLayer(32))


def _cli(*args: str):
    return run_cli(*args)


def test_paint_cli_exports_the_edited_video_and_refuses_bad_layers(tmp_path: Path) -> None:
    from x2studio.media.video import probe

    layer = PaintLayer(128)                     # x2face-lite's embedded face is 128²
    layer.stroke([(40, 60), (90, 60)], size=5, color=(0, 0, 0))
    lp = layer.save(tmp_path / "glasses.png")
    out = tmp_path / "painted.mp4"
    proc = _cli("paint", "--source", str(DEMO / "face_0.png"), "--layer", str(lp), "--driving",
                str(DEMO / "talking_3.mp4"), "-o", str(out), "--detector", "haar")
    assert proc.returncode == 0, proc.stderr[-2000:]
    info, drv = probe(out), probe(DEMO / "talking_3.mp4")
    assert info.video.frames == drv.video.frames and info.audio is not None
    small = PaintLayer(64).save(tmp_path / "small.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG broken")
    common = ["--source", str(DEMO / "face_0.png"), "--driving", str(DEMO / "talking_3.mp4"), "--detector", "haar"]
    for args, expected in (([*common, "--layer", str(small), "-o", str(tmp_path / "a.mp4")], "not 128x128"),
                           ([*common, "--layer", str(bad), "-o", str(tmp_path / "a.mp4")], "not a readable image"),
                           ([*common, "--layer", str(tmp_path / "no.png"), "-o", str(tmp_path / "a.mp4")], "does not exist"),
                           ([*common, "--layer", str(lp), "-o", str(tmp_path / "a.gif")], "MP4")):
        proc = _cli("paint", *args)
        assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr[-1500:]
        assert expected in proc.stderr, (expected, proc.stderr[-1500:])
    assert not (tmp_path / "a.mp4").exists()


@pytest.mark.gui
def test_paint_panel_strokes_follow_the_face_undo_and_export(qtbot, tmp_path: Path) -> None:
    from x2studio.core.settings import Settings
    from x2studio.ui.panels.paint_panel import PaintPanel

    panel = PaintPanel(Settings())
    qtbot.addWidget(panel)
    panel.show()
    try:
        errors = []
        panel.errorRaised.connect(lambda m, d: errors.append(m))
        qtbot.waitUntil(lambda: panel.ready and panel.last_result is not None and panel.frames > 0, timeout=60000)
        plain = panel.last_result["generated"]
        results = []
        panel.resultShown.connect(results.append)
        panel.add_stroke([(30.0, 60.0), (100.0, 60.0)])
        qtbot.waitUntil(lambda: bool(results), timeout=30000)
        assert results[-1]["generated"] != plain               # the edit shows in the generated face
        assert panel.undo_button.isEnabled() and not panel.redo_button.isEnabled()
        n = len(results)
        panel.undo()
        qtbot.waitUntil(lambda: len(results) > n, timeout=30000)
        assert results[-1]["generated"] == plain and panel.redo_button.isEnabled()
        panel.redo()
        assert panel.save_layer(tmp_path / "layer.png")
        panel.clear()
        assert not panel.layer.rgba[..., 3].any()
        assert panel.load_layer(tmp_path / "layer.png") and panel.layer.rgba[..., 3].any()
        write_image(tmp_path / "small.png", np.zeros((16, 16, 4), np.uint8))
        assert not panel.load_layer(tmp_path / "small.png") and "not 128x128" in errors[-1]
        stamp = np.zeros((8, 8, 4), np.uint8)
        stamp[..., 2:] = 255
        write_image(tmp_path / "stamp.png", stamp)
        assert panel.set_stamp(tmp_path / "stamp.png") and panel.canvas.mode == "stamp"
        panel.add_stamp(64.0, 90.0)
        assert tuple(panel.layer.rgba[90, 64]) == (0, 0, 255, 255)
        handle = panel.export(tmp_path / "painted.mp4")
        with qtbot.waitSignal(handle.ended, timeout=180000):
            pass
        assert handle.outcome == "succeeded", handle.error
        assert (tmp_path / "painted.mp4").stat().st_size > 0
    finally:
        panel.shutdown()
