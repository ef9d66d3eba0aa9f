"""Audio-visual sync of piano videos (issue 10's piano instance): the keyboard windows and their
sound, training the task on tiny data, the pipeline and the CLI with piano weights, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from x2studio.core.errors import InputError
from x2studio.media.audio import frame_windows
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "resources" / "demo" / "piano_4.mp4"


def test_piano_clips_centre_the_sound_on_the_keyboard_window(tiny_piano: Path, tmp_path: Path) -> None:
    from training.data.avclips import PianoAVClips
    from training.data.piano import load_manifest, video_crops

    ds = PianoAVClips(tiny_piano, "train", (16, 96), 16000, 0.2, 5, tmp_path / "c")
    entry = next(v for v in load_manifest(tiny_piano)["videos"] if v["split"] == "train")
    crops = np.asarray(video_crops(tiny_piano, entry, (96, 16), tmp_path / "c"))
    assert crops.shape[1:] == (16, 96) and len(ds) == min(len(crops), int(len(ds.audio[0]) / 16000 * ds.fps[0])) - 4
    for i in (0, len(ds) // 2, len(ds) - 1):
        t, k, _ = (int(x) for x in ds.items[i])
        vis, a1, a2 = ds[i]
        assert vis.shape == (5, 16, 96) and np.array_equal(vis.numpy(), crops[k - 2:k + 3])   # frames k-2 … k+2
        # the matching sound: the 0.2 s centred on frame k's time k / fps
        centre = int(round(k / ds.fps[t] * 16000))
        lo, hi = centre - 1600, centre + 1600          # before the start and after the end: silence
        want = np.zeros(3200, np.float32)
        part = np.asarray(ds.audio[t][max(lo, 0):hi])
        want[max(lo, 0) - lo:max(lo, 0) - lo + len(part)] = part
        np.testing.assert_allclose(a1.numpy(), want, atol=1e-6)
        assert a1.shape == a2.shape == (3200,)
    # a click at 1.0 s sits at the centre of frame 25's window (at 25 fps)
    click = np.zeros(4 * 16000, np.float32)
    click[16000] = 1.0
    w = frame_windows(click, 16000, 25.0, 0.2, np.array([25]))[0]
    assert int(np.argmax(w)) == 1600


@pytest.mark.slow
def test_avsync_piano_trains_and_syncs_on_tiny_data(tiny_piano: Path, tmp_path: Path) -> None:
    from training.loop import train
    from training.tasks import TASKS
    from training.tasks.avsync import sync_eval

    from x2studio.media.audio import load_audio
    from x2studio.pipelines.sync import estimate_offset, fix_offset

    task = TASKS["avsync-piano"]
    res = train(task, task.recipes["tiny"], tiny_piano, tmp_path / "run", device="cpu")
    card = res.weights.card
    assert card.architecture == "avsync" and card.config["kind"] == "piano" and card.config["mouth_size"] == [16, 96]
    assert {"val_pair_acc", "val_d_match"} <= set(card.metrics)
    w = str(res.weights.weights_path)
    out = sync_eval(tiny_piano, "test", w, cache=tmp_path / "c", shifts=3, png=tmp_path / "curve.png")
    assert out["kind"] == "piano" and out["clips"] == 1 and out["trials"] == 3
    assert len(out["curve"]) == len(out["curve_offsets_s"]) and (tmp_path / "curve.png").stat().st_size > 1000
    # the pipeline with these weights on a video of the set (its keyboard given as the manifest's crop)
    entry = next(v for v in json.loads((tiny_piano / "manifest.json").read_text())["videos"] if v["split"] == "test")
    from x2studio.pipelines.piano import corners_from_crop

    video = tiny_piano / entry["video"]
    est = estimate_offset(video, kind="piano", weights=w, corners=corners_from_crop(*entry["crop"]), max_offset_s=0.5)
    assert len(est.offsets) == 2 * round(0.5 * est.fps) + 1 and np.isfinite(est.distances).any()
    # the face weights do not read a keyboard, nor these a face: said, not guessed
    with pytest.raises(InputError, match="sync piano videos"):
        estimate_offset(video, kind="face", weights=w)
    with pytest.raises(InputError, match="holds piano videos"):
        sync_eval(tiny_piano, "test", "avsync-face-lite", cache=tmp_path / "c")
    fixed = fix_offset(video, 0.2, tmp_path / "fixed.mp4")
    a, b = load_audio(video, mono=True), load_audio(fixed, mono=True)
    assert a.frames == b.frames


def test_piano_sync_bad_input(tmp_path: Path) -> None:
    from x2studio.media.video import VideoWriter
    from x2studio.pipelines.sync import estimate_offset

    with pytest.raises(InputError, match="not available"):
        estimate_offset(DEMO, kind="violin")
    # a video with sound but no keyboard in it
    blank = tmp_path / "blank.mp4"
    sr = 16000
    with VideoWriter(blank, 25, (160, 96), audio_rate=sr) as vw:
        for i in range(50):
            vw.write(np.full((96, 160, 3), 40, np.uint8))
        t = np.arange(2 * sr) / sr
        vw.write_audio((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32))
    with pytest.raises(InputError, match="No keyboard was found"):
        estimate_offset(blank, kind="piano")
    # --crop belongs to the piano
    r = run_cli("sync", DEMO, "--crop", "10,50,0,300")
    assert r.returncode != 0 and "--kind piano" in r.stderr


# ---------------------------------------------------------------------------- the bundled piano weights
@pytest.mark.slow
def test_bundled_piano_sync_finds_a_known_shift_on_the_demo(tmp_path: Path) -> None:
    import shutil

    from x2studio.pipelines.sync import estimate_offset, fix_offset

    res = estimate_offset(DEMO, kind="piano")
    assert res.offset_frames is not None and abs(res.offset_frames) <= 1 and res.confidence > 0.15
    late = fix_offset(DEMO, -0.4, tmp_path / "late.mp4")            # the sound 400 ms late
    shutil.copy(DEMO.with_suffix(".json"), late.with_suffix(".json"))
    r = run_cli("sync", late, "--kind", "piano", "--json", "-o", tmp_path / "fixed.mp4")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert abs(out["offset_s"] - 0.4) <= 1.01 / out["fps"] and out["fixed"]
    shutil.copy(DEMO.with_suffix(".json"), tmp_path / "fixed.json")
    assert abs(estimate_offset(tmp_path / "fixed.mp4", kind="piano").offset_frames) <= 1
    # beyond the search range: said, not guessed
    far = estimate_offset(fix_offset(DEMO, -1.5, tmp_path / "far.mp4"), kind="piano", corners=_demo_corners(), max_offset_s=0.5)
    assert far.offset_frames is None and "not found" in far.lines()[0]


def _demo_corners() -> np.ndarray:
    from x2studio.pipelines.piano import keyboard_of

    return keyboard_of(DEMO)


# offset accuracy of the bundled piano weights on held-out renders (generator seed 99: pieces, pianos,
# cameras never trained on); measured when they were bundled: see the model card
MIN_PIANO_SYNC_ACCURACY = 0.80


@pytest.mark.slow
def test_bundled_piano_sync_on_held_out_renders(held_out_piano: Path, tmp_path: Path) -> None:
    from training.tasks.avsync import sync_eval

    data = held_out_piano
    res = sync_eval(data, "test", "avsync-piano-lite", cache=tmp_path / "c", shifts=6)
    assert res["clips"] == 3 and res["trials"] == 18
    assert abs(res["curve_min_at_s"]) <= 0.04                     # the distance is lowest in sync
    assert res["accuracy"] >= MIN_PIANO_SYNC_ACCURACY, res["rows"]
