"""Synthetic piano videos: keyboard geometry, two-hand reduction, renderer determinism and label
alignment, the dataset writer (splits by piece, resume, MIDI truth, audio) and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from x2studio.core.errors import InputError
from x2studio.core.keyboard import BLACK_L, WHITE_W, WIDTH, is_black, key_rect, keys

from training.synth.piano_music import (MAX_SPAN, MIN_GAP, _exercise, exercise_kinds, piece_split,
                                        reduce_to_hands, sample_performance)
from training.synth.piano_render import PianoRenderer, key_roll, sample_camera, sample_style


def test_keyboard_geometry():
    ks = keys()
    assert len(ks) == 88 and sum(not k.black for k in ks) == 52 and sum(k.black for k in ks) == 36
    whites = [k.rect for k in ks if not k.black]
    assert whites[0][0] == 0 and whites[-1][2] == pytest.approx(WIDTH)
    assert all(abs(b[0] - a[2]) < 1e-9 for a, b in zip(whites, whites[1:]))   # whites tile the width
    for k in ks:
        if k.black:
            x0, _, x1, y1 = k.rect
            left, right = key_rect(k.pitch - 1), key_rect(k.pitch + 1)
            assert left[0] < x0 < left[2] and right[0] < x1 < right[2] and y1 == BLACK_L  # between its neighbours
    c_sharp, f_sharp = key_rect(61), key_rect(66)
    assert (c_sharp[0] + c_sharp[2]) / 2 < key_rect(60)[2]           # C# leans left of the C/D line
    assert (f_sharp[0] + f_sharp[2]) / 2 < key_rect(65)[2] + WHITE_W * 0.1
    assert is_black(61) and not is_black(60)
    with pytest.raises(ValueError):
        key_rect(20)


def _held_at(notes, t):
    return [n for n in notes if n[0] <= t < n[1]]


def test_two_hand_reduction_is_playable():
    rng = np.random.default_rng(0)
    # a dense random texture: 8 voices over 6 octaves
    timed = []
    for _ in range(400):
        on = float(rng.uniform(0, 20))
        timed.append((on, on + float(rng.uniform(0.1, 1.5)), int(rng.integers(30, 100)), 64))
    out = reduce_to_hands(timed)
    assert 0.3 * len(timed) < len(out) <= len(timed)
    times = sorted({n[0] for n in out})
    for t in times:
        for hand in (0, 1):
            held = [n for n in _held_at(out, t) if n[4] == hand]
            assert len(held) <= 5
            if held:
                ps = [n[2] for n in held]
                assert max(ps) - min(ps) <= MAX_SPAN
    by_pitch: dict[int, list] = {}
    for n in out:
        by_pitch.setdefault(n[2], []).append(n)
    for same in by_pitch.values():
        same.sort()
        for a, b in zip(same, same[1:]):
            assert b[0] - a[1] >= MIN_GAP - 1e-9, (a, b)   # a key is released before it is struck again


@pytest.mark.parametrize("kind", exercise_kinds())
def test_exercises_generate(kind):
    pid, notes = _exercise(kind, np.random.default_rng(3))
    assert pid.startswith("ex/") and len(notes) >= 8
    assert all(d > 0 for _, d, _ in notes)


def test_performance_is_deterministic_and_in_its_split():
    a = sample_performance(np.random.default_rng(5), 12.0, split="test")
    b = sample_performance(np.random.default_rng(5), 12.0, split="test")
    assert a.piece == b.piece and a.events == b.events
    assert piece_split(a.piece) == "test"
    assert all(0 <= n.onset < n.offset <= 12.0 for n in a.events)
    assert all(21 <= n.pitch <= 108 for n in a.events)
    assert {h.finger for h in a.notes} <= set(range(5)) and {h.hand for h in a.notes} <= {0, 1}


def _renderer(seed=2, seconds=4.0, size=(480, 270)):
    rng = np.random.default_rng(seed)
    perf = sample_performance(rng, seconds)
    return PianoRenderer(perf, sample_style(rng), sample_camera(rng, size), 25.0, seed=seed)


def test_renderer_is_deterministic():
    a, b = _renderer(), _renderer()
    for k in (0, 17, 60):
        assert np.array_equal(a.frame(k), b.frame(k))
    f = a.frame(30)
    assert f.shape == (270, 480, 3) and f.dtype == np.uint8 and f.std() > 10


def test_a_held_key_is_drawn_down_in_exactly_its_frames():
    r = _renderer(seed=7, seconds=5.0)
    roll = key_roll(r.perf, r.n_frames, r.fps)
    assert roll.any() and (~roll).any()
    # each key's own pixels: those its press changes and no other key's press does (borders are shared)
    full = {}
    for key in keys():
        sl, mask, pix = r._down[key.pitch]
        m = np.zeros(r._base.shape[:2], bool)
        m[sl] = mask
        full[key.pitch] = m
    count = np.sum([m.astype(np.int32) for m in full.values()], axis=0)
    own = {p: m & (count == 1) for p, m in full.items()}
    for p in own:
        assert own[p].sum() > 200
    down_img = {}
    for key in keys():
        sl, mask, pix = r._down[key.pitch]
        img = r._base.copy()
        img[sl][mask] = pix
        down_img[key.pitch] = img[own[key.pitch]]
    for k in range(r.n_frames):
        img = r.canvas(k, hands=False)
        for j, key in enumerate(keys()):
            region = img[own[key.pitch]]
            down = np.array_equal(region, down_img[key.pitch])
            up = np.array_equal(region, r._base[own[key.pitch]])
            assert down == bool(roll[k, j]) and up != down, (k, key.pitch)


def test_hands_cover_the_keys_they_play():
    r = _renderer(seed=11, seconds=6.0)
    covered = 0
    for h in r.perf.notes[:20]:
        k = int(np.ceil(h.note.onset * r.fps))
        if k / r.fps >= h.note.offset or k >= r.n_frames:
            continue
        with_hands, bare = r.canvas(k), r.canvas(k, hands=False)
        x0, y0, x1, y1 = key_rect(h.note.pitch)
        c0, r0 = r._px(x0, y0)
        c1, r1 = r._px(x1, y1)
        covered += np.any(with_hands[r0:r1, c0:c1] != bare[r0:r1, c0:c1])
    assert covered >= 10   # the finger is on the key it plays


def test_generate_piano_dataset(tmp_path):
    from x2studio.media.midi import load_midi
    from x2studio.media.video import probe

    from training.synth.piano import generate_piano, load_piano_manifest, plan_clip

    root = generate_piano(tmp_path / "p", minutes=0.2, seed=3, clip_seconds=4.0, size=(320, 180))
    m = load_piano_manifest(root)
    assert len(m["videos"]) == 3 and sum(m["splits"].values()) == 3
    for e in m["videos"]:
        info = probe(root / e["video"])
        assert info.video.width == 320 and info.audio is not None
        assert abs(info.duration_s - 4.0) < 0.2 and info.video.frames == e["frames"]
        y0, y1, x0, x1 = e["crop"]
        assert 0 <= y0 < y1 <= 180 and 0 <= x0 < x1 <= 320 and (x1 - x0) > 0.75 * 320
        clip = plan_clip(3, int(e["id"].split("_")[1]), 4.0, (320, 180))
        truth = load_midi(root / e["midi"]).notes
        assert len(truth) == len(clip.perf.events) == e["notes"]
        assert all(abs(a.onset - b.onset) < 2e-3 and a.pitch == b.pitch for a, b in zip(truth, clip.perf.events))
        assert e["split"] == piece_split(e["piece"])
    # rerun: resumes (nothing re-rendered), and a folder made with other settings is refused
    stamp = (root / m["videos"][0]["video"]).stat().st_mtime_ns
    generate_piano(root, minutes=0.2, seed=3, clip_seconds=4.0, size=(320, 180))
    assert (root / m["videos"][0]["video"]).stat().st_mtime_ns == stamp
    with pytest.raises(InputError, match="other settings"):
        generate_piano(root, minutes=0.2, seed=4, clip_seconds=4.0, size=(320, 180))
    with pytest.raises(InputError):
        generate_piano(tmp_path / "q", minutes=0)
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "manifest.json").write_text(json.dumps({"kind": "faces"}))
    with pytest.raises(InputError, match="not a piano dataset"):
        load_piano_manifest(tmp_path / "r")


def test_audio_follows_the_notes(tmp_path):
    from x2studio.media.audio import load_audio

    from training.synth.piano import plan_clip, write_clip

    clip = plan_clip(5, 0, 5.0, (320, 180))
    entry = write_clip(clip, tmp_path / "v.mp4", tmp_path / "v.mid")
    audio = load_audio(tmp_path / "v.mp4", sample_rate=16000, mono=True).samples
    first = min(n.onset for n in clip.perf.events)
    rms_before = np.sqrt(np.mean(audio[: int(16000 * max(first - 0.1, 0.05))] ** 2))
    rms_during = np.sqrt(np.mean(audio[int(16000 * first): int(16000 * (first + 1.0))] ** 2))
    assert rms_during > 10 * max(rms_before, 1e-5)
    assert entry["frames"] == int(5.0 * clip.fps)


def test_cli_synth_piano(tmp_path, capsys):
    from x2studio.cli import main

    out = tmp_path / "d"
    assert main(["data", "synth", "piano", str(out), "--minutes", "0.05", "--clip-seconds", "3",
                 "--width", "320", "--height", "180"]) == 0
    assert (out / "manifest.json").is_file() and len(list((out / "videos").glob("*.mp4"))) == 1
    assert main(["data", "synth", "piano", str(out), "--minutes", "-2"]) == 2
    assert main(["data", "synth", "piano", str(Path(tmp_path / "e")), "--minutes", "1", "--width", "20"]) == 2


def test_bundled_piano_demo_is_a_held_out_piece_with_its_midi():
    from x2studio.media.midi import load_midi
    from x2studio.media.video import probe

    demo = Path(__file__).resolve().parents[2] / "resources" / "demo"
    clips = sorted(demo.glob("piano_*.mp4"))
    assert clips
    for clip in clips:
        info = probe(clip)
        assert info.audio is not None and 8 <= info.duration_s <= 12
        notes = load_midi(clip.with_suffix(".mid")).notes
        assert len(notes) >= 20 and max(n.offset for n in notes) <= info.duration_s
        meta = json.loads(clip.with_suffix(".json").read_text())
        assert meta["split"] == "test" == piece_split(meta["piece"])
