"""The Reenact panel offscreen: the demo face driven by the demo clip, playback, modes, stills,
MP4 export (frame count and audio length), and an absent webcam."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from x2studio.core.settings import Settings
from x2studio.media.audio import load_audio
from x2studio.media.video import probe
from x2studio.models.x2face import X2Face
from x2studio.ui.panels.reenact_panel import ReenactPanel
from x2studio.weights import ModelCard, save_weights

pytestmark = pytest.mark.gui
DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo"


@pytest.fixture
def panel(qtbot, x2_home):
    torch.manual_seed(0)
    cfg = {"image_size": 64, "base": 8, "max_channels": 32, "dim": 32}
    save_weights(X2Face(**cfg).state_dict(), ModelCard("x2-tiny", "x2face", config=cfg))   # user weights
    p = ReenactPanel(Settings())
    qtbot.addWidget(p)
    p.show()
    yield p
    p.shutdown()


def test_reenact_panel_drives_the_demo_face_and_exports(qtbot, panel: ReenactPanel, tmp_path: Path) -> None:
    errors = []
    panel.errorRaised.connect(lambda m, d: errors.append(m))
    assert "x2-tiny" in [panel.weights_box.itemText(i) for i in range(panel.weights_box.count())]
    panel.weights_box.setCurrentText("x2-tiny")
    panel.set_sources([str(DEMO / "face_0.png")])
    panel.set_driving(DEMO / "talking_3.mp4")
    qtbot.waitUntil(lambda: panel.ready and panel.frames > 0, timeout=60000)
    qtbot.waitUntil(lambda: panel.last_result is not None and panel.last_result["found"], timeout=60000)
    assert panel.source_strip.count() == 1 and panel.embedded_view.image() is not None
    assert not panel.generated_view.image().isNull() and not panel.composite_view.image().isNull()
    # scrub, then play a little: results keep coming, the GUI never waits for the model
    panel.slider.setValue(40)
    qtbot.waitUntil(lambda: panel.last_result["index"] == 40, timeout=30000)
    panel.relative.setChecked(True)
    assert "Relative" in panel.mode_help.text()
    panel.toggle_play()
    qtbot.wait(800)
    panel.toggle_play()
    assert panel.index > 40
    stills = panel.save_stills(tmp_path)
    assert {p.name for p in stills} == {"embedded.png", "generated.png", "pasted_back.png"}
    out = tmp_path / "out.mp4"
    handle = panel.export(out)
    with qtbot.waitSignal(handle.ended, timeout=180000):
        pass
    assert handle.outcome == "succeeded", handle.error
    info, got = probe(DEMO / "talking_3.mp4"), probe(out)
    assert got.video.frames == info.video.frames
    assert abs(load_audio(out).duration_s - load_audio(DEMO / "talking_3.mp4").duration_s) < 0.1
    assert "Exported" not in errors and not errors


def test_absent_webcam_is_reported(qtbot, panel: ReenactPanel) -> None:
    msgs = []
    panel.errorRaised.connect(lambda m, d: msgs.append(m))
    panel.set_webcam(True)
    qtbot.waitUntil(lambda: bool(msgs), timeout=20000)
    assert "webcam" in msgs[-1].lower() and not panel.webcam_button.isChecked()
    qtbot.waitUntil(lambda: not panel.camera.is_running(), timeout=10000)


def test_no_weights_says_what_to_do(qtbot, x2_home, monkeypatch) -> None:
    from x2studio.weights import registry

    monkeypatch.setattr(registry, "_bundled_dir", lambda: None)     # an install without bundled weights
    assert not registry.WeightsRegistry().names("x2face")
    p = ReenactPanel(Settings())
    qtbot.addWidget(p)
    p.show()
    assert "Train panel" in p.status.text()
    p.shutdown()


def test_sources_by_pose_picks_frames_of_the_source_video(qtbot, panel: ReenactPanel) -> None:
    errors = []
    panel.errorRaised.connect(lambda m, d: errors.append(m))
    panel.sources_by_pose()                                   # nothing chosen yet: said, not crashed
    assert errors and "source video" in errors[-1]
    panel.weights_box.setCurrentText("x2-tiny")
    panel.set_sources([str(DEMO / "talking_3.mp4")])
    panel.set_driving(DEMO / "talking_3.mp4")
    qtbot.waitUntil(lambda: panel.ready and panel.frames > 0, timeout=60000)
    assert panel.pose_sources_button.isEnabled()
    panel.index = 60
    panel.sources_by_pose()
    qtbot.waitUntil(lambda: all("@" in s for s in panel.sources), timeout=60000)
    frames = [int(s.rpartition("@")[2]) for s in panel.sources]
    assert len(frames) == 3 and min(abs(f - 60) for f in frames) <= 10
    qtbot.waitUntil(lambda: panel.ready and panel.source_strip.count() == 3, timeout=60000)
    assert "frame" in panel.source_strip.item(0).toolTip()
    # how the 3 sources are fused: matched per driving frame by default; the choice reaches the model
    # (with the next frame) and the export
    assert panel.fusion() == "matched" and "closest" in panel.fusion_box.toolTip()
    panel.fusion_box.setCurrentIndex(panel.fusion_box.findData("mean"))
    assert panel.fusion() == "mean"
    qtbot.waitUntil(lambda: panel.server._driver.reenactor.fusion == "mean", timeout=30000)


def test_a_video_frame_is_a_source(tmp_path: Path) -> None:
    from x2studio.core.errors import InputError
    from x2studio.pipelines.reenact import Reenactor, split_frame_spec

    assert split_frame_spec(f"{DEMO / 'talking_3.mp4'}@12") == (DEMO / "talking_3.mp4", 12)
    assert split_frame_spec(str(DEMO / "face_0.png")) == (DEMO / "face_0.png", None)
    torch.manual_seed(0)
    cfg = {"image_size": 64, "base": 8, "max_channels": 32, "dim": 32}
    save_weights(X2Face(**cfg).state_dict(), ModelCard("x2-tiny", "x2face", config=cfg), tmp_path)
    from x2studio.weights.registry import WeightsRegistry

    r = Reenactor("x2-tiny", detector="haar", registry=WeightsRegistry([tmp_path]))
    src = r.load_sources([f"{DEMO / 'talking_3.mp4'}@12"])
    assert len(src) == 1 and src[0].origin == "talking_3.mp4 frame 12"
    with pytest.raises(InputError, match="no frame 99999"):
        r.load_sources([f"{DEMO / 'talking_3.mp4'}@99999"])


def _rgb(image):
    import numpy as np
    from PySide6.QtGui import QImage

    image = image.convertToFormat(QImage.Format.Format_RGB888)
    w, h, stride = image.width(), image.height(), image.bytesPerLine()
    return np.frombuffer(image.constBits(), np.uint8, stride * h).reshape(h, stride)[:, :3 * w].reshape(h, w, 3).copy()


@pytest.mark.parametrize("relative", [False, True])
def test_a_previewed_frame_is_the_exported_frame(qtbot, x2_home, tmp_path: Path, monkeypatch, relative) -> None:
    """The panel's preview of driving frame k (the reenactment worker) and the frame the export
    writes for k (before encoding) are the same pixels, in both the absolute and the relative mode."""
    import numpy as np

    import x2studio.pipelines.reenactment as reenactment
    from x2studio.pipelines.reenact import Reenactor
    from x2studio.workers.reenact import _Driver

    written = []

    class Recorder:                      # the export's frames as computed, before H.264
        def __init__(self, *a, **k) -> None: ...
        def write(self, img) -> None: written.append(np.array(img))
        def write_audio(self, samples) -> None: ...
        def close(self) -> None: ...
        def abort(self) -> None: ...

    monkeypatch.setattr(reenactment, "VideoWriter", Recorder)
    driving, source = DEMO / "talking_3.mp4", str(DEMO / "face_0.png")
    r = Reenactor("x2face-lite", device="cpu")
    r.set_sources(r.load_sources([source]))
    reenactment.reenact_video(r, driving, tmp_path / "out.mp4", relative=relative)
    preview = _Driver()
    preview._setup("x2face-lite", "cpu", [source])
    preview.relative = relative
    preview._open_driving(str(driving))
    for k in (30, 5, 60):                 # out of order, as a user scrubs
        out = preview.handle(("frame", k))
        assert out["found"]
        assert np.array_equal(_rgb(out["composite"]), written[k][:out["composite"].height(), :out["composite"].width()])
    preview.release()
