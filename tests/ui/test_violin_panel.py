"""The Violin panel offscreen with the bundled violin weights: the violin demo opens, its sound's and
its picture's pitch become notes with an intonation view, the confidence slider re-picks notes,
exports write; live mode reads frames as a webcam would hand them in."""

from __future__ import annotations

from pathlib import Path

import pytest

from x2studio.core.settings import Settings
from x2studio.media.midi import load_midi
from x2studio.ui.panels.violin_panel import ViolinPanel
from tests.conftest import no_webcam_then_stand_in

pytestmark = pytest.mark.gui

DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo"


@pytest.fixture
def panel(qtbot, x2_home):
    p = ViolinPanel(Settings())
    qtbot.addWidget(p)
    p.resize(1100, 750)
    p.show()          # first show opens the bundled violin demo
    yield p
    p.shutdown()


def test_violin_mode_on_the_demo(qtbot, panel: ViolinPanel, tmp_path: Path) -> None:
    """Violin mode: the violin demo opens, the sound's pitch becomes notes with an intonation view, the
    picture's pitch (bundled violin-lite) too, the confidence slider re-picks notes, exports write."""
    from x2studio.pipelines.piano import note_metrics

    errors = []
    panel.errorRaised.connect(lambda m, d: errors.append(m))
    assert panel.intonation.isVisible() and not hasattr(panel.view, "corners")      # no keyboard to mark
    qtbot.waitUntil(lambda: panel.video is not None and panel.video.name.startswith("violin_") and panel.n_frames > 0,
                    timeout=30000)
    assert panel.reference and [panel.source_box.itemText(i) for i in range(3)] == ["Picture", "Sound", "Picture + sound"]
    done = []
    panel.transcribed.connect(done.append)
    panel.source_box.setCurrentText("Sound")
    assert panel.transcribe() is not None
    qtbot.waitUntil(lambda: bool(done) and panel.export_midi.isEnabled(), timeout=120000)
    assert not errors and panel.notes and "Intonation" in panel.status.text()
    assert note_metrics(panel.reference, panel.notes)["f1"] > 0.5          # by ear, the demo's tune
    assert len(panel.cents_curve.getData()[0]) > 50 and panel._tracks
    if panel.weights_box.currentText():                                 # the bundled visual model
        done.clear()
        panel.source_box.setCurrentText("Picture + sound")
        qtbot.waitUntil(panel.transcribe_button.isEnabled, timeout=30000)     # the sound's job has ended
        assert panel.transcribe() is not None
        qtbot.waitUntil(lambda: bool(done) and panel.export_midi.isEnabled(), timeout=120000)
        assert not errors and panel.notes and panel.result.visual is not None
        n = len(panel.notes)
        panel.threshold.setValue(panel.threshold.maximum())     # the surest: more of the picture's frames unvoiced
        assert panel.result.threshold == pytest.approx(panel.threshold.maximum() / 100)
        assert len(panel.notes) <= n + 5
        panel.threshold.setValue(50)
    out = tmp_path / "violin.mid"
    h = panel._export("midi", out)
    qtbot.waitUntil(lambda: out.is_file(), timeout=20000)
    assert h is not None and load_midi(out).notes


def test_violin_live_mode_with_a_camera_stand_in(qtbot, panel: ViolinPanel, monkeypatch, tmp_path: Path) -> None:
    """Live mode: camera frames (here the demo's frames, handed in as the webcam would) are read as they
    come, the status names the note, the track scrolls; stopping keeps the take as notes that export.
    Without a webcam the user is told, and nothing breaks."""
    from x2studio.pipelines.piano import note_metrics

    errors = []
    panel.errorRaised.connect(lambda m, d: errors.append(m))
    qtbot.waitUntil(lambda: panel.video is not None and panel.video.name.startswith("violin_") and panel.n_frames > 0,
                    timeout=30000)
    assert panel.live_button.isVisible() and panel.weights_box.currentText() == "violin-lite"
    # no webcam here: a message, the button springs back; then a camera stand-in: the demo's frames,
    # each handed over when the last answer came back
    frames = no_webcam_then_stand_in(qtbot, panel, monkeypatch, errors, 150)
    answers, ready = [], []
    panel.live.ready.connect(ready.append)          # this take's set-up done (not the first try's)
    panel.live_button.setChecked(True)
    qtbot.waitUntil(lambda: bool(ready), timeout=30000)                             # the weights are loaded
    panel.live.result.connect(answers.append)
    window = panel.live._live.live.tr.model.frames
    for k, rgb in enumerate(frames):
        panel._on_camera_frame(rgb, k / panel.fps)
        # one answer per frame once a window is full (waited for, so no frame is skipped as stale)
        qtbot.waitUntil(lambda: len(answers) >= k - window + 2, timeout=30000)
    assert len(answers) == len(frames) - window + 1
    assert panel.status.text().startswith("Live:") and not errors and panel.view.image() is not None
    assert "Live again" in panel.status.text()
    assert len(panel._live_t) > 100 and not panel.transcribe_button.isEnabled()
    panel.live_button.setChecked(False)
    assert panel.notes and panel.result.live and panel.export_midi.isEnabled()
    assert "Live take" in panel.status.text()
    assert panel.reference is None                                     # the video's true notes are not the camera's
    take = len(frames) / panel.fps
    ref = [n for n in load_midi(panel.video.with_suffix(".mid")).notes if n.offset < take - 0.2]
    assert note_metrics(ref, panel.notes)["f1"] > 0.5                 # what the camera saw, note for note
    out = tmp_path / "take.mid"
    panel._export("midi", out)
    qtbot.waitUntil(lambda: out.is_file(), timeout=20000)
    assert load_midi(out).notes


def test_a_recording_is_transcribed_from_its_sound(qtbot, panel: ViolinPanel, tmp_path: Path) -> None:
    """A WAV (no picture) opens as a recording: the source is the sound, Transcribe finds its notes,
    they play and export like a video's."""
    from x2studio.media.audio import save_audio
    from x2studio.media.midi import NoteEvent
    from x2studio.media.synth import render_notes
    from x2studio.pipelines.piano import note_metrics

    notes = [NoteEvent(0.3 + 0.5 * k, 0.7 + 0.5 * k, p, 90, program=40) for k, p in enumerate((62, 66, 69, 74))]
    wav = save_audio(tmp_path / "tune.wav", render_notes(notes, sample_rate=22050))
    errors = []
    panel.errorRaised.connect(lambda m, d: errors.append(m))
    qtbot.waitUntil(lambda: panel.n_frames > 0, timeout=30000)
    panel.open_video(wav)
    qtbot.waitUntil(lambda: panel.recording and panel.n_frames > 0, timeout=30000)
    assert panel.source_box.currentText() == "Sound" and not panel.source_box.isEnabled()
    assert "no picture" in panel.status.text() and panel.transcribe_button.isEnabled()
    done = []
    panel.transcribed.connect(done.append)
    assert panel.transcribe() is not None
    qtbot.waitUntil(lambda: bool(done), timeout=60000)
    assert not errors and note_metrics(notes, panel.notes)["f1"] > 0.6
    panel._export("midi", tmp_path / "o.mid")
    qtbot.waitUntil(lambda: (tmp_path / "o.mid").is_file(), timeout=20000)
    panel.open_video(sorted(DEMO.glob("violin_*.mp4"))[0])          # a video again: the picture is back
    qtbot.waitUntil(lambda: not panel.recording and panel.source_box.isEnabled(), timeout=30000)
