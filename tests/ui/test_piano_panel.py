"""The Piano panel offscreen with the bundled piano weights: the demo clip opens with its
remembered keyboard, transcription runs as a job and fills the piano roll, the notes match the
demo's true MIDI, the threshold slider re-picks notes without a network pass, seeking lights the
keys being played, playback advances, exports write MIDI/CSV; corners can be dragged; a video
without a known keyboard has it found automatically."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from x2studio.core.settings import Settings
from x2studio.media.midi import load_csv, load_midi
from x2studio.ui.panels.piano_panel import PianoPanel
from tests.conftest import no_webcam_then_stand_in

pytestmark = pytest.mark.gui

DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo"


@pytest.fixture
def panel(qtbot, x2_home):
    p = PianoPanel(Settings())
    qtbot.addWidget(p)
    p.resize(1100, 750)
    p.show()          # first show opens the bundled piano demo
    yield p
    p.shutdown()


def test_transcribe_panel_on_the_demo(qtbot, panel: PianoPanel, tmp_path: Path) -> None:
    errors = []
    panel.errorRaised.connect(lambda m, d: errors.append(m))
    assert panel.weights_box.currentText() == "piano-lite"
    qtbot.waitUntil(lambda: panel.n_frames > 0 and panel.view.image() is not None, timeout=30000)
    meta = json.loads(sorted(DEMO.glob("piano_*.json"))[0].read_text())
    assert np.allclose(panel.view.corners, meta["corners"], atol=0.01)      # from the sidecar
    assert panel.reference and not panel.export_midi.isEnabled()
    done = []
    panel.transcribed.connect(done.append)
    handle = panel.transcribe()
    assert handle is not None and panel.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: bool(done) and panel.export_midi.isEnabled(), timeout=120000)
    assert panel.notes and not panel.cancel_button.isEnabled() and not errors
    assert "F1" in panel.status.text()
    assert "come up first" in panel.status.text()            # piano-lite's card turns the key rules on
    from x2studio.pipelines.piano import note_metrics

    assert note_metrics(panel.reference, panel.notes)["f1"] > 0.5
    # the threshold slider: no network pass, fewer notes when raised
    n = len(panel.notes)
    panel.threshold.setValue(95)
    assert len(panel.notes) <= n
    panel.threshold.setValue(40)
    # seek into a note: its key lights up
    first = panel.notes[len(panel.notes) // 2]
    panel.seek_time(first.onset + 0.5 / panel.fps + 1e-3)
    assert panel.view.lit
    panel.seek_frame(0)
    panel.play()          # the notes are synthesized off the GUI thread, then playback starts
    qtbot.waitUntil(lambda: panel.is_playing, timeout=30000)
    qtbot.waitUntil(lambda: panel.frame >= 8, timeout=30000)
    panel.pause()
    # exports
    for kind, name in (("midi", "o.mid"), ("csv", "o.csv"), ("musicxml", "o.musicxml")):
        h = panel._export(kind, tmp_path / name)
        qtbot.waitUntil(lambda: (tmp_path / name).is_file() and "Wrote" in panel.status.text(), timeout=60000)
        assert h is not None
    assert len(load_midi(tmp_path / "o.mid").notes) == len(panel.notes) == len(load_csv(tmp_path / "o.csv"))
    assert "estimated from the onsets" in panel.status.text()      # the MusicXML's tempo is said
    # the slider back at the transcription's own threshold: the panel's export and the CLI's are the same file
    panel.threshold.setValue(int(round(100 * panel.result.threshold)))
    assert panel.notes == list(panel.result.notes)
    panel._export("midi", tmp_path / "panel.mid")
    qtbot.waitUntil(lambda: (tmp_path / "panel.mid").is_file(), timeout=60000)
    from x2studio.cli import main

    assert main(["transcribe", "piano", str(panel.video), "-o", str(tmp_path / "cli.mid")]) == 0
    assert (tmp_path / "cli.mid").read_bytes() == (tmp_path / "panel.mid").read_bytes()


def test_corners_drag_and_unknown_keyboard(qtbot, panel: PianoPanel, tmp_path: Path) -> None:
    import shutil

    qtbot.waitUntil(lambda: panel.n_frames > 0 and panel.view.image() is not None, timeout=30000)
    video = tmp_path / "clip.mp4"
    shutil.copy(sorted(DEMO.glob("piano_*.mp4"))[0], video)       # no sidecar beside the copy
    found = []
    panel.keyboardFound.connect(found.append)
    panel.open_video(video)
    qtbot.waitUntil(lambda: bool(found), timeout=30000)     # found automatically
    meta = json.loads(sorted(DEMO.glob("piano_*.json"))[0].read_text())
    width = np.ptp(np.asarray(meta["corners"])[:, 0])
    assert np.abs(found[0] - np.asarray(meta["corners"])).max() < 0.01 * width
    assert panel.reference is None and "Keyboard found" in panel.status.text()
    qtbot.wait(100)
    before = panel.view.corners.copy()
    start = panel.view.to_widget(before[:1])[0]
    moved = []
    panel.view.cornersChanged.connect(moved.append)
    qtbot.mousePress(panel.view, Qt.MouseButton.LeftButton, pos=QPoint(int(start.x()), int(start.y())))
    qtbot.mouseMove(panel.view, QPoint(int(start.x()) + 20, int(start.y()) - 15))
    qtbot.mouseRelease(panel.view, Qt.MouseButton.LeftButton, pos=QPoint(int(start.x()) + 20, int(start.y()) - 15))
    assert moved and moved[-1][0][0] > before[0][0] and moved[-1][0][1] < before[0][1]
    panel.open_video(tmp_path / "missing.mp4")
    assert "does not exist" in panel.status.text()


@pytest.mark.slow
def test_transcribe_panel_by_ear(qtbot, panel: PianoPanel) -> None:
    from x2studio.pipelines.piano import note_metrics

    qtbot.waitUntil(lambda: panel.n_frames > 0, timeout=30000)
    panel.source_box.setCurrentText("Sound")
    assert not panel.threshold.isEnabled() and panel.transcribe_button.isEnabled()
    done = []
    panel.transcribed.connect(done.append)
    panel.transcribe()
    qtbot.waitUntil(lambda: bool(done) and panel.export_midi.isEnabled(), timeout=180000)
    assert "heard in the sound" in panel.status.text()
    assert note_metrics(panel.reference, panel.notes)["f1"] > 0.6


@pytest.mark.slow
def test_piano_check_sync_and_fix_before_the_sound_transcription(qtbot, panel: PianoPanel, tmp_path: Path) -> None:
    """The demo with its sound 400 ms late: Check sync finds it (the curve shown), Fix moves the sound
    for the sound transcription (its notes land on the true onsets again) and Save fixed… writes the
    video in sync."""
    import dataclasses
    import shutil

    from x2studio.pipelines.piano import note_metrics
    from x2studio.pipelines.sync import fix_offset

    demo = sorted(DEMO.glob("piano_*.mp4"))[0]
    late = fix_offset(demo, -0.4, tmp_path / "late.mp4")
    shutil.copy(demo.with_suffix(".json"), late.with_suffix(".json"))       # its keyboard
    errors = []
    panel.errorRaised.connect(lambda m, d: errors.append(m))
    qtbot.waitUntil(lambda: panel.n_frames > 0, timeout=30000)
    panel.open_video(late)
    qtbot.waitUntil(lambda: panel.video == late and panel.n_frames > 0 and panel.sync_button.isEnabled(), timeout=30000)
    assert panel.sync_button.isVisible() and not panel.fix_button.isEnabled() and not panel.save_fixed_button.isEnabled()
    assert panel.check_sync() is not None
    qtbot.waitUntil(lambda: panel.sync_offset is not None or bool(errors), timeout=120000)
    assert not errors and panel.sync_plot.isVisible() and "late" in panel.sync_plot.title
    assert abs(panel.sync_offset - 0.4) <= 1.01 / panel.fps and panel.fix_button.isEnabled()
    ref = load_midi(demo.with_suffix(".mid")).notes
    panel.source_box.setCurrentText("Sound")
    done = []
    panel.transcribed.connect(done.append)
    panel.fix_sync()
    assert abs(panel.audio_shift - 0.4) <= 1.01 / panel.fps and not panel.fix_button.isEnabled()
    assert panel.save_fixed_button.isEnabled() and "moved" in panel.status.text()
    panel.transcribe()
    qtbot.waitUntil(lambda: bool(done), timeout=120000)
    assert note_metrics(ref, panel.notes)["f1"] > 0.7          # on the true onsets again
    late_notes = [dataclasses.replace(n, onset=n.onset + 0.4, offset=n.offset + 0.4) for n in panel.notes]
    assert note_metrics(ref, late_notes)["f1"] < 0.4           # what the late sound alone would have given
    # picture and sound fused, with the sound as fixed
    done.clear()
    panel.source_box.setCurrentText("Picture + sound")
    qtbot.waitUntil(panel.transcribe_button.isEnabled, timeout=30000)     # the sound's job has ended
    assert panel.transcribe() is not None
    qtbot.waitUntil(lambda: bool(done) or bool(errors), timeout=120000)
    assert done and not errors, (errors, panel.status.text())
    assert panel.result.transcription.mode == "fused" and "from the picture and the sound" in panel.status.text()
    assert panel._sources is not None and "seen and heard" in panel.status.text()
    assert note_metrics(ref, panel.notes)["f1"] > 0.8 and not errors
    out = tmp_path / "synced.mp4"
    panel.save_fixed(out)
    qtbot.waitUntil(lambda: out.is_file() and "Wrote" in panel.status.text(), timeout=60000)
    shutil.copy(demo.with_suffix(".json"), out.with_suffix(".json"))
    from x2studio.pipelines.sync import estimate_offset

    assert abs(estimate_offset(out, kind="piano").offset_frames) <= 1


def test_piano_live_mode_plays_the_video_in_real_time(qtbot, panel: PianoPanel, monkeypatch) -> None:
    """Piano live (Video): the open demo is played at its own pace, notes are decided as it
    plays (struck on the live synthesizer, here without a sound device: the status says the sound
    is off, the notes still come), the latency and dropped frames are shown; when the video ends the
    take is kept and matches the demo's true MIDI."""
    from x2studio.pipelines.piano import note_metrics

    errors, results = [], []
    panel.errorRaised.connect(lambda m, d: errors.append(m))
    qtbot.waitUntil(lambda: panel.view.corners is not None, timeout=30000)
    panel.live_source.setCurrentIndex(1)
    panel.live_button.setChecked(True)
    qtbot.waitUntil(lambda: panel.piano_live is not None, timeout=5000)
    panel.piano_live.result.connect(results.append)
    qtbot.waitUntil(lambda: any(r.new for r in results), timeout=60000)
    assert panel.status.text().startswith("Live:") and "ms" in panel.status.text() and "dropped" in panel.status.text()
    assert panel._live_bar_item is not None and not panel.transcribe_button.isEnabled()
    lat = [r.latency for r in results if r.latency is not None]
    assert lat and all(0.0 <= x < 2.0 for x in lat)
    qtbot.waitUntil(lambda: not panel.live_button.isChecked(), timeout=60000)      # the demo's 10 s are over
    assert not errors, errors
    take = panel.result
    assert take.live and take.transcription.live.received > 200 and "Live take" in panel.status.text()
    m = note_metrics(panel.reference, panel.notes)
    assert m["f1"] > 0.6, m                       # the reference stays: the video's true notes
    assert panel.export_midi.isEnabled() and panel.threshold.isEnabled()
    n = len(panel.notes)
    panel.threshold.setValue(20)                   # the take re-thresholds like a video's
    assert len(panel.notes) >= n


def test_piano_live_webcam_finds_the_keyboard_and_says_what_is_wrong(qtbot, panel: PianoPanel, monkeypatch) -> None:
    """Piano live (Webcam): no webcam → a message and the button springs back; with frames handed in
    as a camera would, the keyboard is found in the picture (its outline drawn), and a frame that is
    not a picture stops the mode with a message."""
    errors = []
    panel.errorRaised.connect(lambda m, d: errors.append(m))
    qtbot.waitUntil(lambda: panel.view.corners is not None, timeout=30000)
    frames = no_webcam_then_stand_in(qtbot, panel, monkeypatch, errors, 40)
    ready = []
    panel.piano_live.ready.connect(ready.append)
    panel.live_button.setChecked(True)
    qtbot.waitUntil(lambda: bool(ready), timeout=30000)
    assert panel.view.corners is None and panel.reference is None     # the camera's keyboard is not the video's
    for rgb in frames:
        panel._on_camera_frame(rgb)
        qtbot.wait(40)
    qtbot.waitUntil(lambda: panel.view.corners is not None, timeout=30000)
    known = np.asarray(json.loads((DEMO / "piano_4.json").read_text())["corners"])
    assert np.abs(panel.view.corners - known).max() < 10
    panel._on_camera_frame(np.zeros((4, 4), np.uint8))
    qtbot.waitUntil(lambda: bool(errors), timeout=10000)
    assert "not an RGB picture" in errors[0] and not panel.live_button.isChecked()


def test_fused_notes_are_marked_by_source_on_the_roll(qtbot, panel: PianoPanel) -> None:
    """Picture + sound: each fused note is drawn in the colour of the source(s) that alone also find
    it (both, the picture only, the sound only, neither), with a legend, and the status counts them;
    the marks follow the threshold slider."""
    from x2studio.media.midi import NoteEvent
    from x2studio.pipelines.piano import Transcription, probabilities_to_notes
    from x2studio.pipelines.transcribe_piano import PianoResult

    qtbot.waitUntil(lambda: panel.n_frames > 0, timeout=30000)
    onset = np.zeros((100, 88), np.float32)
    for k, key, p in ((10, 39, 0.9), (30, 41, 0.9), (50, 43, 0.9), (70, 44, 0.6)):
        onset[k, key] = p
    down = np.zeros_like(onset)
    notes = probabilities_to_notes(onset, 25.0, down, 0.5, 0.0)
    seen = [NoteEvent(n.onset, n.offset, n.pitch, 80) for n in notes[:2]]
    heard = [NoteEvent(n.onset, n.offset, n.pitch, 80) for n in (notes[0], notes[2])]
    tr = Transcription(notes, onset, down, 25.0, panel.view.corners, weights="piano-fusion-lite", threshold=0.5,
                       sigma=0.0, mode="fused", picture_notes=tuple(seen), sound_notes=tuple(heard))
    panel._on_transcribed(PianoResult(panel.video, "fused", tuple(notes), tr))
    assert panel._sources == ["both", "picture", "sound", "fused"]
    names = [b.name() for b in panel._bars if b.name()]
    assert names == ["seen and heard", "seen only", "heard only", "found by neither alone"]
    assert "1 seen and heard, 1 seen only, 1 heard only, 1 found by neither alone" in panel.status.text()
    panel.threshold.setValue(70)                  # the weakest (fused-only) note goes, and its mark with it
    assert len(panel.notes) == 3 and panel._sources == ["both", "picture", "sound"]


def test_a_recording_is_transcribed_from_its_sound(qtbot, panel: PianoPanel, tmp_path: Path) -> None:
    """A piano recording with no picture: no keyboard to mark, the notes come from the sound."""
    from x2studio.media.audio import save_audio
    from x2studio.media.midi import NoteEvent
    from x2studio.media.synth import render_notes
    from x2studio.pipelines.piano import note_metrics

    notes = [NoteEvent(0.3 + 0.4 * k, 0.6 + 0.4 * k, p, 90) for k, p in enumerate((60, 64, 67, 72, 76))]
    wav = save_audio(tmp_path / "rec.wav", render_notes(notes))
    qtbot.waitUntil(lambda: panel.n_frames > 0, timeout=30000)
    panel.open_video(wav)
    qtbot.waitUntil(lambda: panel.recording, timeout=30000)
    assert panel.view.corners is None and not panel.sync_button.isEnabled()
    done = []
    panel.transcribed.connect(done.append)
    assert panel.transcribe() is not None
    qtbot.waitUntil(lambda: bool(done), timeout=60000)
    assert note_metrics(notes, panel.notes)["f1"] > 0.6 and "heard in the sound" in panel.status.text()
