"""The Audio panel offscreen with the bundled weights: the demo face and speech load, a click on the
waveform seeks to the frame under it, strength re-renders, playback advances with the clock, a
recording-sized clip loads, the MP4 export carries the speech; silent speech is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from x2studio.core.settings import Settings
from x2studio.media.audio import AudioClip, load_audio, save_audio
from x2studio.ui.panels.audio_panel import AudioPanel

pytestmark = pytest.mark.gui


@pytest.fixture
def panel(qtbot, x2_home):
    p = AudioPanel(Settings())
    qtbot.addWidget(p)
    p.resize(1000, 700)
    p.show()          # first show: the bundled x2face-lite, the demo face and the demo clip's speech
    yield p
    p.shutdown()


def _click_wave(qtbot, panel: AudioPanel, seconds: float) -> None:
    vb = panel.wave.getPlotItem().vb
    scene = vb.mapViewToScene(QPointF(seconds, 0.0))
    pos = panel.wave.mapFromScene(scene)
    qtbot.mouseClick(panel.wave.viewport(), Qt.MouseButton.LeftButton, pos=pos)


def test_audio_panel_seeks_plays_and_exports(qtbot, panel: AudioPanel, tmp_path: Path) -> None:
    errors = []
    panel.errorRaised.connect(lambda m, d: errors.append(m))
    assert panel.weights_box.currentText() == "x2face-lite"
    qtbot.waitUntil(lambda: panel.ready and panel.loaded and panel.last_result is not None, timeout=90000)
    assert panel.frames == int(panel.clip.duration_s * 25 + 1e-6) and panel.export_button.isEnabled()
    results = []
    panel.resultShown.connect(results.append)
    qtbot.wait(200)
    _click_wave(qtbot, panel, 1.23)
    assert abs(panel.frame - 30) <= 1                     # 1.23 s at 25 fps: frame 30 (± a pixel)
    qtbot.waitUntil(lambda: bool(results) and results[-1]["frame"] == panel.frame, timeout=30000)
    assert panel.playhead.value() == pytest.approx(panel.frame / 25.0)
    n, shown = len(results), results[-1]["generated"]
    panel.strength.setValue(250)
    qtbot.waitUntil(lambda: len(results) > n, timeout=30000)
    assert results[-1]["frame"] == panel.frame and results[-1]["generated"] != shown
    panel.seek_frame(0)
    panel.play()
    assert panel.is_playing
    qtbot.waitUntil(lambda: panel.frame >= 10, timeout=30000)
    panel.pause()
    assert not panel.is_playing
    handle = panel.export_video(tmp_path / "talk.mp4")
    with qtbot.waitSignal(handle.ended, timeout=180000):
        pass
    assert handle.outcome == "succeeded", handle.error
    assert abs(load_audio(tmp_path / "talk.mp4").duration_s - panel.frames / 25.0) < 0.06
    assert not errors


def test_audio_panel_takes_a_recording_and_refuses_silence(qtbot, panel: AudioPanel, tmp_path: Path) -> None:
    qtbot.waitUntil(lambda: panel.ready and panel.loaded, timeout=90000)
    demo = load_audio(Path(panel.speech))
    rec = AudioClip(demo.samples[: demo.sample_rate].mean(1, keepdims=True), demo.sample_rate)   # 1 s "recording"
    with qtbot.waitSignal(panel.speechLoaded, timeout=30000):
        panel.load_speech(rec)
    assert panel.frames == 25 and panel.speech_name == "the recording"
    silent = save_audio(tmp_path / "silent.wav", AudioClip(np.zeros((16000, 1), np.float32), 16000))
    with qtbot.waitSignal(panel.errorRaised, timeout=30000) as sig:
        panel.load_speech(str(silent))
    assert "silent" in sig.args[0]
    assert panel.frames == 25                          # the speech loaded before is kept


def test_audio_panel_mixes_pose_and_a_driving_video(qtbot, panel: AudioPanel, tmp_path: Path, clip: Path) -> None:
    qtbot.waitUntil(lambda: panel.ready and panel.loaded and panel.last_result is not None, timeout=90000)
    talk = Path(panel.speech)
    results = []
    panel.resultShown.connect(results.append)
    plain = panel.last_result["generated"]
    panel.pose_box.setChecked(True)
    panel.angle_spins["yaw"].setValue(panel.angle_spins["yaw"].value() + 25)
    qtbot.waitUntil(lambda: bool(results) and results[-1]["generated"] != plain, timeout=30000)
    assert panel.mix().pose is not None and panel.mix().video_weight == 0.0
    with qtbot.waitSignal(panel.server.videoLoaded, timeout=60000):
        panel.set_video(str(talk))
    assert panel.video == str(talk) and "frames" in panel.video_label.text()
    n = len(results)
    panel.video_weight.setValue(2.0)
    qtbot.waitUntil(lambda: len(results) > n, timeout=30000)
    assert panel.mix().video_weight == 2.0
    handle = panel.export_video(tmp_path / "mix.mp4")
    with qtbot.waitSignal(handle.ended, timeout=180000):
        pass
    assert handle.outcome == "succeeded", handle.error
    assert "driving video" in panel.status.text() and "pose" in panel.status.text()
    # a video without a face: a clear message, the mix goes on without it
    with qtbot.waitSignal(panel.errorRaised, timeout=60000) as sig:
        panel.set_video(str(clip))
    assert "No face" in sig.args[0] and panel.video is None
    assert panel.video_label.text() == "no driving video"


def test_audio_panel_checks_and_fixes_the_sync_of_its_speech(qtbot, panel: AudioPanel, tmp_path: Path) -> None:
    from x2studio.pipelines.sync import fix_offset

    qtbot.waitUntil(lambda: panel.ready and panel.loaded, timeout=90000)
    late = fix_offset(Path(panel.speech), -0.4, tmp_path / "late.mp4")       # the sound 400 ms late
    with qtbot.waitSignal(panel.speechLoaded, timeout=30000):
        panel.load_speech(str(late))
    assert panel.sync_button.isEnabled() and not panel.fix_button.isEnabled()
    handle = panel.check_sync()
    with qtbot.waitSignal(handle.ended, timeout=120000):
        pass
    assert handle.outcome == "succeeded", handle.error
    assert panel.sync_plot.isVisible() and "400 ms late" in panel.sync_label.text()
    assert abs(panel.sync_offset - 0.4) <= 0.041 and panel.fix_button.isEnabled()
    before = panel.clip.samples.copy()
    with qtbot.waitSignal(panel.speechLoaded, timeout=30000):
        panel.fix_sync()
    k = int(round(0.4 * panel.clip.sample_rate))
    assert np.allclose(panel.clip.samples[:1000], before[k:k + 1000], atol=1e-6)   # moved 0.4 s earlier
    assert "moved" in panel.speech_name and not panel.sync_button.isEnabled()       # a clip, not a video now
