"""Live piano transcription: streaming peak picking against the offline rule on hand-made curves,
the bundled model on the demo clip fed frame by frame (the take equals the offline transcription,
the streamed notes match the true MIDI, the latency is what the window and smoothing cost), the
bounded queue, bad frames, a keyboard found in the picture, the live synthesizer, the CLI, and a
video played at its own pace."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d
from scipy.signal import find_peaks

from x2studio.core.errors import AudioDeviceError, InputError, MediaError
from x2studio.media.midi import NoteEvent, load_csv, load_midi
from x2studio.pipelines.piano import PianoTranscriber, keyboard_of, note_metrics
from x2studio.pipelines.piano_live import LivePiano, StreamingOnsets

DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo" / "piano_4.mp4"


def _offline_peaks(p: np.ndarray, thr: float, sigma: float) -> set[tuple[int, int]]:
    """The offline rule (probabilities_to_notes) with the live kernel cut at 2σ."""
    s = gaussian_filter1d(p, sigma, axis=0, mode="nearest", truncate=2.0) if sigma > 0 else p
    out = set()
    for key in range(88):
        col = np.concatenate([[0.0], s[:, key], [0.0]])
        peaks, _ = find_peaks(col, height=thr, distance=2)
        out |= {(int(k) - 1, key) for k in peaks}
    return out


@pytest.mark.parametrize("sigma", [0.0, 1.0, 2.0])
def test_streaming_onsets_are_the_offline_peaks_decided_lag_rows_later(sigma):
    rng = np.random.default_rng(int(sigma * 10))
    p = gaussian_filter1d(rng.random((300, 88)).astype(np.float32) ** 6, 1.5, axis=0)
    p = (p / p.max()).astype(np.float32)
    p[0, 3] = 0.99                         # a peak at the very first frame
    p[-1, 5] = 0.99                        # and at the very last
    s = StreamingOnsets(0.3, sigma)
    got, late = set(), []
    for i, row in enumerate(p):
        for k, key in s.push(row):
            got.add((k, key))
            late.append(i - k)
    got |= set(s.flush())
    assert got == _offline_peaks(p, 0.3, sigma)
    assert late and set(late) == {s.lag}   # each onset known exactly `lag` rows after its frame
    assert s.lag == (int(np.ceil(2 * sigma)) + 1 if sigma else 1)
    with pytest.raises(InputError):
        StreamingOnsets(1.5, 1.0)


@pytest.mark.parametrize("sigma", [0.0, 1.0, 2.0])
def test_streaming_key_rules_are_the_offline_ones(sigma):
    from x2studio.pipelines.piano import PRESS_FRAMES, key_rules

    rng = np.random.default_rng(7 + int(sigma * 10))
    p = gaussian_filter1d(rng.random((300, 88)).astype(np.float32) ** 6, 1.5, axis=0)
    p = (p / p.max()).astype(np.float32)
    # key-down curves that stay near 1 for a while after some peaks, so both rules have work
    d = np.clip(gaussian_filter1d(rng.random((300, 88)).astype(np.float32), 3.0, axis=0) * 2.2 - 0.3, 0, 1)
    d[d > 0.9] = 0.99
    d[-2:, 5] = 0.99
    p[-1, 5] = 0.99                        # a peak at the last frame, confirmed by the truncated look-ahead
    s = StreamingOnsets(0.3, sigma, release=0.98, press=0.7)
    got, late = set(), []
    for i, (row, drow) in enumerate(zip(p, d)):
        for k, key in s.push(row, drow):
            got.add((k, key))
            late.append(i - k)
    got |= set(s.flush())
    peaks = _offline_peaks(p, 0.3, sigma)
    want = set()
    for key in range(88):
        want |= {(k, key) for k in key_rules(sorted(k for k, q in peaks if q == key), d[:, key], 0.98, 0.7)}
    assert got == want and len(want) < len(peaks)
    assert s.lag == max(int(np.ceil(2 * sigma)) + 1 if sigma else 1, PRESS_FRAMES - 1)
    assert late and set(late) == {s.lag}


@pytest.fixture(scope="module")
def transcriber():
    return PianoTranscriber("piano-lite", "cpu")


@pytest.fixture(scope="module")
def demo_frames():
    from x2studio.media.video import VideoReader

    with VideoReader(DEMO) as rd:
        return [f.image for f in rd.frames()], float(rd.fps)


def test_live_take_equals_offline_and_streamed_notes_match_the_truth(transcriber, demo_frames):
    frames, fps = demo_frames
    truth = list(load_midi(DEMO.with_suffix(".mid")).notes)
    offline = transcriber.transcribe_video(DEMO)
    now = [0.0]
    live = LivePiano(transcriber, keyboard_of(DEMO), clock=lambda: now[0], max_pending=64)
    assert live.take() is None and live.step() is None
    for k, rgb in enumerate(frames):                  # a frame every 1/fps; the model reads every frame
        now[0] = k / fps
        live.add(rgb, k / fps)
        live.step()
    assert live.dropped == 0 and live.received == len(frames)
    # every note decided live waited for the 2 frames after its centre and the smoothing's lag
    lag = live.onsets.lag + transcriber.frames // 2
    assert live.notes and {round(n.latency * fps) for n in live.notes} == {lag}
    assert live.latency == pytest.approx(lag / fps)
    streamed = [NoteEvent(n.onset, n.onset + 0.1, n.pitch, 80) for n in live.notes]
    assert note_metrics(truth, streamed)["f1"] > 0.75
    take = live.take()
    assert take.live is not None and len(take.onset) == len(frames)
    assert note_metrics(offline.notes, take.notes)["f1"] == 1.0        # the take is what a recording gives
    assert np.abs(take.onset - offline.onset).max() < 1e-4
    assert note_metrics(truth, take.notes)["f1"] == pytest.approx(note_metrics(truth, offline.notes)["f1"])


def test_frames_are_dropped_not_queued_and_bad_input_is_refused(transcriber, demo_frames):
    frames, fps = demo_frames
    live = LivePiano(transcriber, keyboard_of(DEMO), max_pending=8)
    for k in range(50):                               # the model does not keep up at all
        live.add(frames[k], k / fps)
    assert live.pending == 8 and live.dropped == 42
    out = live.step()
    assert out.frames == 8 - transcriber.frames // 2 and out.dropped == 42
    with pytest.raises(MediaError, match="not an RGB picture"):
        live.add(np.zeros((4, 4), np.uint8), 3.0)
    with pytest.raises(InputError, match="outside"):
        LivePiano(transcriber, np.array([[0, 0], [5000, 0], [5000, 90], [0, 90]], float)).add(frames[0], 0.0)


def test_the_keyboard_is_found_in_the_picture(transcriber, demo_frames):
    frames, fps = demo_frames
    now = [0.0]
    live = LivePiano(transcriber, None, clock=lambda: now[0], search_every_s=0.2)
    blank = np.full_like(frames[0], 40)
    live.add(blank, 0.0)
    out = live.step()
    assert out.searching and live.corners is None and out.frames == 0
    for k, rgb in enumerate(frames[:30]):
        now[0] = 1.0 + k / fps
        live.add(rgb, now[0])
        out = live.step() or out
        if live.corners is not None:
            break
    known = np.asarray(json.loads(DEMO.with_suffix(".json").read_text())["corners"])
    assert live.corners is not None and np.abs(live.corners - known).max() < 10


def test_live_synth_sounds_the_notes_and_needs_a_device_to_play(monkeypatch):
    from x2studio.media import playback
    from x2studio.media.live_synth import LiveSynth

    synth = LiveSynth()
    try:
        quiet = synth.pull(2048)
        assert quiet.shape == (2048, 2) and np.abs(quiet).max() < 1e-4
        synth.noteon(60)
        synth.noteon(64)
        assert synth.sounding == {60, 64}
        loud = synth.pull(4410)
        assert np.abs(loud).max() > 0.01
        synth.strike([67, 72], [64, 72], [60, 67])      # 64 ends; 67 sounds; 72 is struck and let go at once
        assert synth.sounding == {60, 67} and synth.notes_played == 4
        synth.all_off()
        synth.pull(44100 * 2)                         # the release dies away
        assert np.abs(synth.pull(2048)).max() < 0.5 * np.abs(loud).max() and not synth.sounding
        monkeypatch.setattr(playback, "list_output_devices", lambda: [])
        with pytest.raises(AudioDeviceError, match="No sound output"):
            synth.start()
    finally:
        synth.close()
    assert np.abs(synth.pull(64)).max() == 0.0        # closed: silence, no crash
    synth.noteon(60)


def test_cli_live_piano_plays_the_demo_and_writes_the_take(tmp_path, capsys):
    from x2studio.cli import main

    out, csv = tmp_path / "take.mid", tmp_path / "take.csv"
    t0 = time.perf_counter()
    assert main(["live", "piano", str(DEMO), "--seconds", "4", "--no-sound", "-o", str(out), "--csv", str(csv),
                 "--json"]) == 0
    assert 3.5 < time.perf_counter() - t0 < 30           # real time: about the 4 s asked for
    lines = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    notes, summary = lines[:-1], lines[-1]
    assert notes and all(0 <= n["latency_ms"] < 3000 for n in notes)
    assert 3.0 < summary["seconds"] < 6.0 and summary["live_notes"] == len(notes)     # ~4 s, a loaded CPU later
    # a CPU busy with other work drops frames (counted, as it should: never queued without bound), and
    # notes fall between them: with a training job beside it, 9 / 29 / 63 of ~120 frames dropped gave
    # F1 0.75 / 0.70 / 0.50 (0.57 failed the suite once).  Streaming = offline is tested exactly above;
    # this is the real-time run's floor
    kept = 1 - summary["dropped"] / max(summary["received"], 1)
    assert summary["f1_vs_piano_4.mid"] > (0.6 if kept >= 0.9 else 0.3), summary
    assert len(load_midi(out).notes) == summary["notes"] == len(load_csv(csv))
    assert main(["live", "piano", str(tmp_path / "missing.mp4")]) == 2
    assert main(["live", "piano", "--camera", "7", "--seconds", "1", "--no-sound"]) == 2
    assert "No webcam" in capsys.readouterr().err


def test_cli_live_take_is_kept_when_the_reference_midi_is_broken(tmp_path, capsys):
    """The .mid beside the video is read after the take is written: a corrupt one is said, and the
    take is on disk all the same."""
    import shutil

    from x2studio.cli import main

    video = tmp_path / "piano.mp4"
    shutil.copy(DEMO, video)
    shutil.copy(DEMO.with_suffix(".json"), video.with_suffix(".json"))          # its keyboard
    video.with_suffix(".mid").write_bytes(b"MThd not really a MIDI file")
    out = tmp_path / "take.mid"
    assert main(["live", "piano", str(video), "--seconds", "1.5", "--no-sound", "-o", str(out)]) == 0
    assert out.is_file() and "cannot be read as the reference" in capsys.readouterr().err
    assert main(["live", "piano", str(video), "--seconds", "1", "--no-sound", "-o", str(video)]) == 2   # not over the video
    assert video.stat().st_size > 1000
