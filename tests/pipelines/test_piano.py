"""Visual piano transcription: the network (three architectures), post-processing on hand-made
probability curves, note metrics, keyboard positions, the training task on a tiny rendered set,
the transcriber and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from x2studio.core.errors import InputError
from x2studio.media.midi import NoteEvent, load_csv, load_midi, save_csv
from x2studio.models.piano import ARCHS, PianoNet
from x2studio.pipelines.piano import (Rectifier, keyboard_of, note_metrics, parse_crop, probabilities_to_notes)


@pytest.mark.parametrize("arch", ARCHS)
def test_piano_net_shapes_and_learning(arch):
    torch.manual_seed(0)
    net = PianoNet(arch, base=4, height=24, width=128)
    x = torch.rand(6, 5, 24, 128)
    out = net(x)
    assert out["onset"].shape == (6, 88) and out["down"].shape == (6, 88)
    assert torch.isfinite(out["onset"]).all()
    with pytest.raises(ValueError):
        net(torch.rand(2, 3, 24, 128))
    target = (torch.rand(6, 88) < 0.1).float()
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        out = net(x)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(out["onset"], target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_slope_module_sees_position():
    net = PianoNet("slope", base=4, height=24, width=128)
    assert hasattr(net, "slope") and net.ramp.shape == (1, 1, 88)
    assert not hasattr(PianoNet("resnet", base=4), "aggregate")


def _bump(t, at, key, height=0.9, width=1.0, fps=25):
    p = np.zeros((t, 88), np.float32)
    for a in at:
        p[:, key] = np.maximum(p[:, key], height * np.exp(-0.5 * ((np.arange(t) - a) / width) ** 2))
    return p


def test_peak_picking_on_hand_made_curves():
    fps = 25.0
    p = _bump(100, [10, 40], 39)
    notes = probabilities_to_notes(p, fps, threshold=0.4, sigma=0)
    assert [(n.pitch, round(n.onset, 3)) for n in notes] == [(60, 0.38), (60, 1.58)]
    # fallback durations: until the next onset or 0.5 s
    assert notes[0].offset == pytest.approx(notes[0].onset + 0.5)
    # below the threshold: nothing; heavy smoothing merges two onsets 3 frames apart
    assert probabilities_to_notes(_bump(50, [20], 10, height=0.3), fps, threshold=0.4, sigma=0) == []
    close = _bump(60, [20, 23], 50, width=0.6)
    assert len(probabilities_to_notes(close, fps, threshold=0.4, sigma=0)) == 2
    assert len(probabilities_to_notes(close, fps, threshold=0.1, sigma=5)) == 1
    # durations from the key-down probabilities
    down = np.zeros((100, 88), np.float32)
    down[10:30, 39] = 0.9
    n = probabilities_to_notes(_bump(100, [10], 39), fps, down=down, threshold=0.4, sigma=0)
    assert len(n) == 1 and n[0].offset == pytest.approx((30 - 0.5) / fps)
    with pytest.raises(InputError):
        probabilities_to_notes(np.zeros((10, 80)), fps)
    with pytest.raises(InputError):
        probabilities_to_notes(p, fps, threshold=1.5)


def test_key_rules_on_hand_made_curves():
    from x2studio.pipelines.piano import key_rules

    t = 40
    on = np.zeros((t, 88), np.float32)
    down = np.zeros((t, 88), np.float32)
    # key 10: struck at 5, a second peak at 12 while it stays down (the same press seen twice), up at
    # 18, struck again at 25
    on[[5, 12, 25], 10] = [0.9, 0.8, 0.9]
    down[5:18, 10] = 0.99
    down[25:30, 10] = 0.99
    # key 20: a peak the key never follows (a finger hovering), and a real press at 30
    on[[8, 30], 20] = 0.9
    down[31:34, 20] = 0.9
    notes = probabilities_to_notes(on, 25.0, down, threshold=0.5, sigma=0.0)
    assert [(n.pitch, round(n.onset * 25 + 0.5)) for n in notes if n.pitch == 31] == [(31, 5), (31, 12), (31, 25)]
    ruled = probabilities_to_notes(on, 25.0, down, threshold=0.5, sigma=0.0, release=0.98, press=0.7)
    assert [(n.pitch, round(n.onset * 25 + 0.5)) for n in ruled] == [(31, 5), (31, 25), (41, 30)]
    assert ruled[0].offset == pytest.approx(17.5 / 25)      # the first note lasts until the key comes up
    # release alone keeps the hovering peak; a dip below the release level between the peaks keeps both
    assert len(probabilities_to_notes(on, 25.0, down, 0.5, 0.0, release=0.98)) == 4
    down[9, 10] = 0.5
    assert key_rules([5, 12, 25], down[:, 10], 0.98, None) == [5, 12, 25]
    # a peak the release rule drops does not become the reference for the next one
    assert key_rules([5, 7, 9], np.full(t, 0.99, np.float32), 0.98, None) == [5]
    assert key_rules([3], np.zeros(t, np.float32), None, 0.7) == []
    # without key-down probabilities the rules have nothing to read: peaks alone
    assert len(probabilities_to_notes(on, 25.0, None, 0.5, 0.0, release=0.98, press=0.7)) == 5


def test_note_metrics():
    ref = [NoteEvent(0.5, 1.0, 60), NoteEvent(1.0, 1.5, 64), NoteEvent(2.0, 2.5, 67)]
    assert note_metrics(ref, ref)["f1"] == 1.0
    est = [NoteEvent(0.53, 1.0, 60), NoteEvent(1.08, 1.5, 64), NoteEvent(2.0, 2.5, 68), NoteEvent(3.0, 3.2, 70)]
    m = note_metrics(ref, est)
    assert m["tp"] == 1 and m["precision"] == 0.25 and m["recall"] == pytest.approx(1 / 3)
    assert m["accuracy"] == pytest.approx(1 / 6)
    assert note_metrics(ref, [])["f1"] == 0.0


def test_keyboard_positions(tmp_path):
    c = parse_crop("10,60,5,305")
    assert c.tolist() == [[5, 10], [305, 10], [305, 60], [5, 60]]
    assert parse_crop("0,0,10,0,10,5,0,5").shape == (4, 2)
    for bad in ("1,2,3", "a,b,c,d", "60,10,5,305"):
        with pytest.raises(InputError):
            parse_crop(bad)
    video = tmp_path / "v.mp4"
    assert keyboard_of(video) is None
    (tmp_path / "v.json").write_text(json.dumps({"crop": [10, 60, 5, 305]}))
    assert keyboard_of(video).tolist() == c.tolist()
    (tmp_path / "v.json").write_text("{broken")
    assert keyboard_of(video) is None
    with pytest.raises(InputError, match="outside"):
        Rectifier(parse_crop("10,60,5,905"), (128, 24), (320, 180))
    img = np.zeros((180, 320, 3), np.uint8)
    img[10:60, 5:155] = 255
    crop = Rectifier(c, (128, 24), (320, 180))(img)
    assert crop.shape == (24, 128) and crop[:, :60].mean() > 200 and crop[:, 70:].mean() < 30


def test_csv_round_trip(tmp_path):
    notes = [NoteEvent(0.1, 0.5, 60, 90), NoteEvent(0.2, 0.4, 21, 30)]
    back = load_csv(save_csv(tmp_path / "n.csv", notes))
    assert [(n.pitch, round(n.onset, 4), n.velocity) for n in back] == [(60, 0.1, 90), (21, 0.2, 30)]
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    from x2studio.core.errors import MediaError

    with pytest.raises(MediaError):
        load_csv(tmp_path / "bad.csv")


def test_label_arrays_match_the_renderer():
    from training.data.piano import label_arrays
    from training.synth.piano_render import key_roll
    from training.synth.piano_music import sample_performance

    perf = sample_performance(np.random.default_rng(4), 6.0)
    onset, down = label_arrays(perf.events, 150, 25.0)
    assert np.array_equal(down, key_roll(perf, 150, 25.0))
    # an onset frame is the first frame in which its key is down
    k, j = np.nonzero(onset)
    assert down[k, j].all() and (k == 0).sum() + (~down[np.maximum(k - 1, 0), j]).sum() >= len(k) - 2


def test_train_and_transcribe_tiny(tiny_piano, tmp_path, capfd):
    from training.loop import train
    from training.tasks import TASKS
    from training.tasks.piano import piano_eval

    task = TASKS["piano"]
    res = train(task, task.recipes["tiny"], tiny_piano, tmp_path / "run", device="cpu")
    weights = res.weights.weights_path
    card = json.loads(res.weights.card_path.read_text())
    assert card["architecture"] == "piano" and 0 < card["metrics"]["threshold"] < 1
    ev = piano_eval(tiny_piano, str(weights), split="test", cache=tmp_path / "cache")
    assert ev["videos"] == 1 and 0.0 <= ev["f1"] <= 1.0 and ev["notes"] > 0

    from x2studio.pipelines.piano import PianoTranscriber

    tr = PianoTranscriber(str(weights), "cpu")
    m = json.loads((tiny_piano / "manifest.json").read_text())
    test = next(e for e in m["videos"] if e["split"] == "test")
    out = tr.transcribe_video(tiny_piano / test["video"], np.asarray(test["corners"]), threshold=0.5)
    assert out.onset.shape == (test["frames"], 88) and out.down.shape == out.onset.shape
    assert all(21 <= n.pitch <= 108 for n in out.notes)
    assert len(out.renotes(0.99)) <= len(out.renotes(0.05))
    found = tr.transcribe_video(tiny_piano / test["video"], threshold=0.5)    # no position: found in the picture
    assert np.abs(found.corners - np.asarray(test["corners"])).max() < 0.015 * 320

    # Table 1 against both label sets from one pass of the network, and runs grouped by architecture
    import shutil

    from x2studio.cli import main
    from training.tasks.piano import arch_summary, piano_eval_labels

    data = tmp_path / "data"
    shutil.copytree(tiny_piano, data)
    with pytest.raises(InputError, match="no pseudo labels"):
        piano_eval_labels(data, str(weights), labels=("midi", "pseudo"), cache=tmp_path / "cache")
    truth = load_midi(data / test["midi"]).notes
    from x2studio.media.midi import save_midi

    (data / "pseudo").mkdir()   # pseudo labels here: every other true note, so the two rows must differ
    save_midi(data / "pseudo" / f"{test['id']}.mid", truth[::2])
    rows = piano_eval_labels(data, str(weights), labels=("midi", "pseudo"), cache=tmp_path / "cache", threshold=0.05)
    alone = piano_eval(data, str(weights), labels="pseudo", cache=tmp_path / "cache", threshold=0.05)
    assert [r["labels"] for r in rows] == ["midi", "pseudo"]
    assert rows[0]["notes"] == len([n for n in truth if 21 <= n.pitch <= 108]) and rows[1]["notes"] == alone["notes"]
    assert rows[1]["f1"] == pytest.approx(alone["f1"]) and rows[0]["detected"] == rows[1]["detected"]
    g = arch_summary(rows + [{**rows[0], "weights": "other", "f1": rows[0]["f1"] + 0.1}])
    assert [(x["labels"], x["runs"]) for x in g] == [("midi", 2), ("pseudo", 1)] and g[0]["head"] == "pool"
    assert len(arch_summary(rows + [{**rows[0], "head": "columns"}])) == 3     # another head: its own group
    assert g[0]["f1"] == pytest.approx(rows[0]["f1"] + 0.05) and g[0]["f1_sd"] == pytest.approx(0.1 / 2 ** 0.5)
    assert g[1]["f1_sd"] == 0.0
    capfd.readouterr()       # the train commands run in a child process: read the file descriptor
    assert main(["train", "eval", "piano", "--weights", f"{weights},{weights}", "--data", str(data),
                 "--option", "labels=midi,pseudo", "--option", "threshold=0.05"]) == 0
    text = capfd.readouterr().out
    assert "against midi labels" in text and "against pseudo labels" in text
    assert text.count("runs 2") == 2 and f"F1 {100 * rows[1]['f1']:.2f} ± 0.00" in text


def test_training_refuses_a_face_dataset(tmp_path):
    from training.data.piano import load_manifest

    (tmp_path / "manifest.json").write_text(json.dumps({"tracks": []}))
    with pytest.raises(InputError, match="not a piano dataset"):
        load_manifest(tmp_path)


def test_cli_transcribe_piano(tiny_piano, tmp_path, capsys):
    from x2studio.cli import main
    from training.loop import train
    from training.tasks import TASKS

    task = TASKS["piano"]
    weights = str(train(task, task.recipes["tiny"], tiny_piano, tmp_path / "run", device="cpu").weights.weights_path)
    m = json.loads((tiny_piano / "manifest.json").read_text())
    e = m["videos"][2]
    video = tiny_piano / e["video"]
    crop = ",".join(str(v) for v in e["crop"])
    out, csv = tmp_path / "o.mid", tmp_path / "o.csv"
    assert main(["transcribe", "piano", str(video), "-o", str(out), "--csv", str(csv), "--weights", weights,
                 "--crop", crop, "--threshold", "0.05", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["frames"] == e["frames"] and out.is_file() and csv.is_file()
    assert len(load_csv(csv)) == summary["notes"]
    if summary["notes"]:
        assert len(load_midi(out).notes) == summary["notes"]
    # no position given: the keyboard is found in the picture
    assert main(["transcribe", "piano", str(video), "-o", str(out), "--weights", weights, "--json"]) == 0
    # bad input: no keyboard in the picture, a mode not there yet, a missing video, nothing to write, bad crop
    from x2studio.media.video import VideoWriter

    blank = tmp_path / "blank.mp4"
    with VideoWriter(blank, 25, (320, 180)) as vw:
        for _ in range(10):
            vw.write(np.full((180, 320, 3), 90, np.uint8))
    capsys.readouterr()
    assert main(["transcribe", "piano", str(blank), "-o", str(out), "--weights", weights]) == 2
    assert "No keyboard was found" in capsys.readouterr().err
    # fused mode needs the sound: a video without any is refused, pointing to the visual mode
    assert main(["transcribe", "piano", str(blank), "-o", str(out), "--mode", "fused", "--crop", crop]) == 2
    assert "visual mode" in capsys.readouterr().err
    assert main(["transcribe", "piano", str(tmp_path / "none.mp4"), "-o", str(out), "--crop", crop,
                 "--weights", weights]) == 2
    assert main(["transcribe", "piano", str(video), "--crop", crop]) == 2
    assert main(["transcribe", "piano", str(video), "-o", str(out), "--crop", "1,2", "--weights", weights]) == 2
    assert main(["transcribe", "piano", str(video), "-o", str(out), "--crop", crop, "--weights", weights,
                 "--threshold", "3"]) == 2


@pytest.mark.parametrize("arch", ARCHS)
def test_sequence_forward_equals_windows(arch):
    torch.manual_seed(1)
    net = PianoNet(arch, base=4, height=24, width=128).eval()
    x = torch.rand(9, 24, 128)
    with torch.no_grad():
        seq = net.forward_sequence(x)
        win = net(torch.stack([x[i:i + 5] for i in range(5)]))
    assert torch.allclose(seq["onset"], win["onset"], atol=1e-5) and torch.allclose(seq["down"], win["down"], atol=1e-5)


def test_audio_teacher_and_pseudo_labels(tiny_piano, tmp_path, capsys):
    """Basic Pitch hears the rendered piano; its notes become pseudo labels; silent sound is refused."""
    from x2studio.cli import main
    from x2studio.media.audio import AudioClip
    from x2studio.pipelines.piano_audio import AudioTranscriber
    from training.tasks.piano import make_pseudo_labels

    res = make_pseudo_labels(tiny_piano)
    assert res["videos"] == 3 and not res["skipped"]
    assert all(m["f1"] > 0.6 for m in res["teacher"].values())
    m = json.loads((tiny_piano / "manifest.json").read_text())
    for e in m["videos"]:
        assert (tiny_piano / "pseudo" / f"{e['id']}.mid").is_file()
    with pytest.raises(InputError, match="silent"):
        AudioTranscriber().transcribe(AudioClip(np.zeros(22050, np.float32), 22050))
    video = tiny_piano / m["videos"][0]["video"]
    out = tmp_path / "a.mid"
    assert main(["transcribe", "piano", str(video), "-o", str(out), "--mode", "audio", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["notes"] == len(load_midi(out).notes)


def test_variable_frame_rate_uses_frame_times():
    p = _bump(60, [10, 40], 39)
    times = np.concatenate([np.arange(30) / 25.0, 1.2 + np.arange(30) / 10.0])   # 25 fps, then 10 fps
    notes = probabilities_to_notes(p, 25.0, threshold=0.4, sigma=0, times=times)
    assert notes[0].onset == pytest.approx(0.5 * (times[9] + times[10]))
    assert notes[1].onset == pytest.approx(0.5 * (times[39] + times[40]))
    with pytest.raises(InputError):
        probabilities_to_notes(p, 25.0, times=times[:10])


def test_keyboard_is_found_in_rendered_frames():
    from x2studio.pipelines.keyboard import detect_keyboard
    from training.synth.piano_render import PianoRenderer, sample_camera, sample_style
    from training.synth.piano_music import sample_performance

    found = 0
    for seed in range(6):
        rng = np.random.default_rng(100 + seed)
        perf = sample_performance(rng, 3.0)
        cam = sample_camera(rng, (960, 540))
        r = PianoRenderer(perf, sample_style(rng), cam, 25.0, seed=seed)
        c = detect_keyboard(r.frame(10))
        if c is not None:
            width = np.ptp(cam.corners[:, 0])
            assert np.abs(c - cam.corners).max() < 0.01 * width, (seed, c, cam.corners)
            found += 1
    assert found >= 5
    rng = np.random.default_rng(0)
    assert detect_keyboard(rng.integers(0, 255, (540, 960, 3), dtype=np.uint8)) is None   # noise
    assert detect_keyboard(np.full((540, 960, 3), 128, np.uint8)) is None                 # blank


def test_column_head_keeps_position():
    net = PianoNet("slope", base=4, height=24, width=128, head="columns")
    assert net.columns == 4 and net.head.in_features == 32 * 4
    assert net(torch.rand(2, 5, 24, 128))["onset"].shape == (2, 88)
    with pytest.raises(ValueError):
        PianoNet("slope", head="nope")


def test_import_your_own_piano_videos(tiny_piano, tmp_path, capsys):
    """Real footage: a folder of videos becomes a piano dataset (keyboards found, a MIDI beside a
    video taken as its truth, splits by video); videos without a keyboard are skipped with a reason."""
    import shutil

    from x2studio.cli import main
    from x2studio.media.video import VideoWriter
    from training.data.piano import PianoWindows, import_videos

    m = json.loads((tiny_piano / "manifest.json").read_text())
    mine = tmp_path / "mine"
    mine.mkdir()
    for e in m["videos"]:
        shutil.copy(tiny_piano / e["video"], mine / f"{e['id']}.mp4")
    shutil.copy(tiny_piano / m["videos"][0]["midi"], mine / f"{m['videos'][0]['id']}.mid")
    with VideoWriter(mine / "no-piano.mp4", 25, (320, 180)) as vw:
        for _ in range(10):
            vw.write(np.full((180, 320, 3), 70, np.uint8))
    res = import_videos([mine], tmp_path / "ds")
    assert res["videos"] == 3 and len(res["skipped"]) == 1 and "no keyboard" in res["skipped"][0]
    man = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    by_id = {e["id"].rsplit("-", 1)[0]: e for e in man["videos"]}
    for e in m["videos"]:
        got = np.asarray(by_id[e["id"]]["corners"])
        assert np.abs(got - np.asarray(e["corners"])).max() < 0.015 * 320
    assert sum("midi" in e for e in man["videos"]) == 1
    # a rerun adds nothing new; the CLI reaches the same importer
    assert import_videos([mine], tmp_path / "ds")["videos"] == 3
    assert main(["data", "piano", str(mine / f"{m['videos'][1]['id']}.mp4"), str(tmp_path / "ds2")]) == 0
    assert main(["data", "piano", str(mine / "no-piano.mp4"), str(tmp_path / "ds3")]) == 2
    # true MIDI labels where present: the windows dataset reads them
    train = [e for e in man["videos"] if "midi" in e]
    for e in man["videos"]:
        e["split"] = "train" if e in train else "val"
    (tmp_path / "ds" / "manifest.json").write_text(json.dumps(man))
    ds = PianoWindows(tmp_path / "ds", "train", (128, 24), tmp_path / "cache", labels="midi")
    assert len(ds) == train[0]["frames"]
