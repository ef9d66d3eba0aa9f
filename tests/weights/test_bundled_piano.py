"""Quality of the bundled piano weights on held-out synthetic videos (pieces of the test split,
which no training video plays; another seed than the training data): note-level onset F1 against
the true MIDI must not regress."""

from __future__ import annotations

from pathlib import Path

import pytest

from x2studio.media.midi import load_midi
from x2studio.pipelines.piano import PianoTranscriber, keyboard_of, note_metrics

DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo"
# measured when bundled (2026-11-25, peaks alone): the demo 0.835 (81 notes), the three seed-99
# clips 0.811, the 11 test-split videos of the training data's seed 0.821.  With the key rules the
# card chose on 2026-12-04 (release 0.98, press 0.7): the demo 0.822, the three clips 0.831 (twelve
# clips: 0.824, against 0.784 with peaks alone), the test split 0.852 (card).  The thresholds leave
# room for the small samples' spread.
MIN_F1_DEMO, MIN_F1 = 0.75, 0.78


@pytest.fixture(scope="module")
def transcriber():
    return PianoTranscriber("piano-lite", "cpu")


def test_bundled_piano_on_the_demo(transcriber):
    video = sorted(DEMO.glob("piano_*.mp4"))[0]
    res = transcriber.transcribe_video(video, keyboard_of(video))
    m = note_metrics(load_midi(video.with_suffix(".mid")).notes, res.notes)
    assert m["f1"] >= MIN_F1_DEMO, m


@pytest.mark.slow
def test_bundled_piano_on_held_out_pieces(transcriber, tmp_path):
    import numpy as np

    from training.synth.piano import plan_clip, write_clip

    tp = ref = est = 0
    for i in range(3):
        clip = plan_clip(99, i, 12.0, (960, 540), split="test")
        entry = write_clip(clip, tmp_path / f"{i}.mp4", tmp_path / f"{i}.mid")
        res = transcriber.transcribe_video(tmp_path / f"{i}.mp4", np.asarray(entry["corners"]))
        m = note_metrics(load_midi(tmp_path / f"{i}.mid").notes, res.notes)
        tp, ref, est = tp + m["tp"], ref + m["ref"], est + m["est"]
    p, r = tp / max(est, 1), tp / max(ref, 1)
    f1 = 2 * p * r / max(p + r, 1e-9)
    assert f1 >= MIN_F1, (p, r, f1)
