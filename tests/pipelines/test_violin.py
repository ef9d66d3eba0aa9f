"""Violin: string/finger geometry, fingering, rendered truth, pitch-tracker alignment, the teacher and
student networks on tiny configs (shapes, distillation weights, loss decrease), pitch track → notes
segmentation on hand-made tracks, the Table-2 metrics, the dataset generator and the task end to end
on a tiny dataset."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from x2studio.core.errors import InputError
from x2studio.models.violin import (N_CLASSES, PitchStudent, PitchTeacher, class_of_midi, distillation_loss,
                                    midi_of_class)
from x2studio.pipelines.violin import segment_notes
from x2studio.pipelines.violin_audio import track_pitch

from training.synth.violin_music import (HIGHEST, LOWEST, MAX_STOP, SCALE_LENGTH, STRINGS, choose_fingering, midi_at,
                                         sample_performance, stop_distance)


# ------------------------------------------------------------------------------------ geometry
@pytest.mark.parametrize("string", range(4))
def test_each_stopping_position_gives_its_midi_number(string):
    prev = -1.0
    for n in range(MAX_STOP + 1):
        d = stop_distance(n)
        assert d > prev                                  # further from the nut for higher notes
        assert midi_at(string, d) == pytest.approx(STRINGS[string] + n, abs=1e-9)
        prev = d
    # the octave is halfway along the string; semitone spacing shrinks up the fingerboard
    assert stop_distance(12) == pytest.approx(SCALE_LENGTH / 2)
    assert stop_distance(1) - stop_distance(0) > stop_distance(12) - stop_distance(11)
    # a finger 1 mm off the place is a fraction of a semitone, not another note
    assert abs(midi_at(string, stop_distance(5) + 1.0) - (STRINGS[string] + 5)) < 0.3


def test_geometry_rejects_positions_off_the_string():
    with pytest.raises(ValueError):
        midi_at(4, 10.0)
    with pytest.raises(ValueError):
        midi_at(0, SCALE_LENGTH + 1)


def test_fingering_plays_every_note_where_it_sounds():
    melody = [55, 57, 59, 60, 62, 64, 66, 67, 69, 71, 73, 74, 76, 78, 79, 81, 83, 86, 88, 76, 62, 55]
    for pitch, (s, n, finger, position) in zip(melody, choose_fingering(melody)):
        assert STRINGS[s] + n == pitch and 0 <= n <= MAX_STOP
        assert (finger == 0) == (n == 0)
        assert n == 0 or position <= n <= position + 6
    single = choose_fingering([69, 71, 73, 76, 81], single=2)
    assert all(s == 2 for s, *_ in single)
    with pytest.raises(ValueError):
        choose_fingering([54])           # below the G string


@pytest.mark.parametrize("subset", ["single", "all", "varied"])
def test_performances_stay_in_the_violin_range(subset):
    perf = sample_performance(np.random.default_rng(4), 8.0, subset=subset, split="train")
    assert len(perf.notes) >= 6
    for n in perf.notes:
        assert LOWEST <= n.note.pitch <= HIGHEST and n.note.program == 40
        assert STRINGS[n.string] + n.semitones == n.note.pitch
        if subset == "single":
            assert n.string == 2
    ons = [n.note.onset for n in perf.notes]
    assert ons == sorted(ons)
    assert all(a.note.offset <= b.note.onset + 1e-9 for a, b in zip(perf.notes, perf.notes[1:]))   # monophonic


def test_rendered_frames_and_their_truth():
    from training.synth.violin_render import ViolinRenderer, fixed_camera, fixed_style, frame_truth

    perf = sample_performance(np.random.default_rng(1), 4.0, subset="all")
    r = ViolinRenderer(perf, fixed_style(), fixed_camera((200, 100)), 25.0, plain_background=True)
    truth = frame_truth(perf, r.n_frames, 25.0)
    assert r.n_frames == 100 and truth["pitch"].shape == (100,)
    k = int(np.argmax(truth["midi"] > 0))
    f = r.frame(k)
    assert f.shape == (100, 200, 3) and f.dtype == np.uint8
    assert np.array_equal(f, r.frame(k))              # deterministic
    note = next(n for n in perf.notes if n.note.onset <= k / 25 < n.note.offset)
    assert truth["midi"][k] == note.note.pitch and truth["string"][k] == note.string
    assert abs(truth["pitch"][k] - note.note.pitch) < 0.5        # vibrato and intonation stay within the note
    # a different note looks different
    other = next(j for j in range(r.n_frames) if truth["midi"][j] not in (0, truth["midi"][k]))
    assert np.abs(r.frame(other).astype(int) - f.astype(int)).mean() > 0.5


# ------------------------------------------------------------------------------------ audio pitch
def _tones(pitches, seconds_each, rate=22050, gap=0.0):
    out = []
    for p in pitches:
        f0 = 440.0 * 2 ** ((p - 69) / 12)
        t = np.arange(int(seconds_each * rate)) / rate
        tone = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in (1, 2, 3)) * 0.3
        out += [tone, np.zeros(int(gap * rate))]
    return np.concatenate(out).astype(np.float32), rate


def test_pitch_track_is_aligned_with_the_video_frames():
    audio, rate = _tones([60, 67, 72, 64], 0.5)          # notes change at 0.5, 1.0, 1.5 s
    fps = 20.0
    n = int(2.0 * fps)
    pt = track_pitch(audio, rate, n, fps, "yin")
    truth = np.repeat([60, 67, 72, 64], 10)
    away = np.ones(n, bool)
    for c in (10, 20, 30):          # frames next to a change hear both notes
        away[c - 1:c + 2] = False
    assert np.all(np.abs(pt.midi[away] - truth[away]) < 0.5)
    # each change is found at its frame (±1)
    est = np.round(pt.midi).astype(int)
    for c, p in ((10, 67), (20, 72), (30, 64)):
        first = next(k for k in range(c - 3, n) if est[k] == p)
        assert abs(first - c) <= 1


def test_pitch_track_of_silence_and_pauses():
    with pytest.raises(InputError):
        track_pitch(np.zeros(22050, np.float32), 22050, 25, 25.0)
    audio, rate = _tones([69, 69], 0.6, gap=0.4)
    pt = track_pitch(audio, rate, 40, 25.0, "pyin")
    assert not pt.voiced[18:23].any()                   # the pause (0.6–1.0 s) is unvoiced
    assert pt.voiced[3:12].all() and np.all(np.abs(pt.midi[3:12] - 69) < 0.3)
    with pytest.raises(InputError):
        track_pitch(audio, rate, 40, 25.0, "nonsense")


# ------------------------------------------------------------------------------------ models
def test_classes_round_trip():
    c = class_of_midi([0.0, 54.6, 55.2, 69.4, 88.4, 89.0], voiced=[True, True, True, True, True, True])
    assert c.tolist() == [0, 1, 1, 15, 34, 0]
    assert midi_of_class(c).tolist() == [0, 55, 55, 69, 88, 0]
    assert class_of_midi([69.0], voiced=[False]).tolist() == [0]
    assert N_CLASSES == 35


@pytest.mark.parametrize("frames", [1, 5])
def test_student_shapes_and_loss_decrease(frames):
    torch.manual_seed(0)
    net = PitchStudent(frames=frames, height=32, width=64, base=4, fc=32)
    x = torch.rand(6, frames, 3, 32, 64) if frames == 5 else torch.rand(6, 3, 32, 64)
    f6, f7, f8 = net.forward_features(x)
    assert f6.shape == (6, 32) and f7.shape == (6, 32) and f8.shape == (6, N_CLASSES)
    y = torch.tensor([0, 3, 7, 12, 20, 34])
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    first = None
    for _ in range(25):
        loss = torch.nn.functional.cross_entropy(net(x), y)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first


def test_five_frame_fusion_is_the_thesis_3d_convolution():
    """The fusion runs as a 2-D convolution over the five frames' stacked channels: the same sums as
    the thesis' 3-D convolution over (5 frames x 3 x 3) without temporal padding."""
    torch.manual_seed(0)
    net = PitchStudent(frames=5, height=32, width=64, base=4, fc=32).eval()
    conv2d = net.fuse[0]
    conv3d = torch.nn.Conv3d(4, 4, (5, 3, 3), padding=(0, 1, 1), bias=False)
    with torch.no_grad():     # 2-D weight (out, T*C, 3, 3) with frame-major channels -> (out, C, T, 3, 3)
        conv3d.weight.copy_(conv2d.weight.view(4, 5, 4, 3, 3).transpose(1, 2))
    h = torch.rand(2, 5, 4, 16, 32)                                   # (B, T, C, H, W)
    a = conv2d(h.reshape(2, 20, 16, 32))
    b = conv3d(h.transpose(1, 2)).squeeze(2)
    assert torch.allclose(a, b, atol=1e-5)


def test_teacher_shapes_and_distillation_weights():
    teacher = PitchTeacher(bins=64, steps=8, base=4, fc=32).eval()
    spec = torch.rand(5, 8, 64)
    t6, t7, t8 = teacher.forward_features(spec)
    assert t8.shape == (5, N_CLASSES) and t6.shape == (5, 32)
    student = PitchStudent(frames=1, height=32, width=64, base=4, fc=32)
    feats = student.forward_features(torch.rand(5, 3, 32, 64))
    ce = torch.nn.functional.cross_entropy(feats[2], torch.tensor([1, 2, 3, 4, 0]))
    total, parts = distillation_loss(feats, (t6, t7, t8), ce)
    # each of the three terms is weighted to the size of the cross-entropy
    assert float(total.detach()) == pytest.approx(3 * float(ce.detach()), rel=1e-4)
    assert len(parts) == 3 and all(p > 0 for p in parts)
    total.backward()
    assert student.fc6.weight.grad is not None and teacher.fc6.weight.grad is None


# ------------------------------------------------------------------------------------ segmentation
def test_segmentation_of_hand_made_tracks():
    fps = 25.0
    vib = 69 + 0.3 * np.sin(np.arange(25) / fps * 2 * np.pi * 6)          # a second of A4 with vibrato
    track = np.concatenate([vib, np.zeros(5), np.full(10, 71.05), np.full(1, 0.0), np.full(8, 71.0),
                            np.full(1, 76.0), np.full(12, 74.0)])
    notes = segment_notes(track, track > 0, fps)
    assert [n.pitch for n in notes] == [69, 71, 74]
    assert notes[0].onset == 0.0 and notes[0].offset == pytest.approx(1.0)
    assert notes[1].onset == pytest.approx(30 / fps) and notes[1].offset == pytest.approx(49 / fps)   # gap bridged
    assert all(n.program == 40 for n in notes)
    assert segment_notes(np.zeros(30), np.zeros(30, bool), fps) == []
    assert segment_notes(np.full(1, 69.0), np.ones(1, bool), fps) == []              # 80 ms minimum
    # unvoiced frames never become notes, whatever their pitch value
    assert segment_notes(np.full(30, 69.0), np.zeros(30, bool), fps) == []


def test_table2_metrics():
    from training.tasks.violin import table2_metrics

    truth = np.array([0, 5, 5, 5, 9, 9, 0])
    pred = np.array([0, 5, 5, 6, 5, 9, 3])       # one wrong, one a frame late, one false note in silence
    m = table2_metrics([pred], [truth])
    assert m["rpa"] == pytest.approx(3 / 5)
    assert m["rpa_tol"] == pytest.approx(1.0)     # frame 3 (6) has a right neighbour (5), frame 4 (5) too (9)
    assert m["rpa_semitone"] == pytest.approx(4 / 5)  # 6 for 5 is one semitone off; 5 for 9 is four
    assert m["pa"] == pytest.approx(4 / 7)
    assert m["aca"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert m["ace"] == pytest.approx((0 + 0 + 1 + 4 + 0) / 5)


# ------------------------------------------------------------------------------------ data + task
@pytest.fixture(scope="module")
def tiny_violin(tmp_path_factory):
    from training.synth.violin import generate_violin

    root = tmp_path_factory.mktemp("violin")
    generate_violin(root, "all", minutes=0.2, seed=5, clip_seconds=4.0, size=(128, 64))
    return root


def test_generator_layout_and_resume(tiny_violin):
    from training.synth.violin import generate_violin

    m = json.loads((tiny_violin / "manifest.json").read_text())
    assert m["kind"] == "violin" and len(m["videos"]) == 3
    assert m["splits"] == {"train": 1, "val": 1, "test": 1}
    e = json.loads((tiny_violin / "labels" / f"{m['videos'][0]['id']}.json").read_text())
    assert len(e["truth"]["pitch"]) == e["frames"] == 100
    stamp = (tiny_violin / e["video"]).stat().st_mtime
    generate_violin(tiny_violin, "all", minutes=0.2, seed=5, clip_seconds=4.0, size=(128, 64))   # resumes
    assert (tiny_violin / e["video"]).stat().st_mtime == stamp
    with pytest.raises(InputError):
        generate_violin(tiny_violin, "varied", minutes=0.2, seed=5, clip_seconds=4.0, size=(128, 64))
    with pytest.raises(InputError):
        generate_violin(tiny_violin / "x", "nonsense", minutes=1)


@pytest.mark.slow
def test_teacher_and_student_tasks_end_to_end(tiny_violin, tmp_path):
    from training.data.violin import make_pseudo_labels
    from training.loop import train
    from training.tasks.violin import ViolinStudentTask, ViolinTeacherTask, violin_eval

    rep = make_pseudo_labels(tiny_violin, "yin", compare=("pyin",))
    assert rep["videos"] == 3 and (tiny_violin / "pseudo").is_dir()
    assert 0.5 < rep["trackers"]["yin"]["test"]["rpa"] <= 1.0
    t = ViolinTeacherTask()
    res = train(t, t.recipes["tiny"], tiny_violin, tmp_path / "teacher", events=None)
    assert res.weights is not None
    s = ViolinStudentTask()
    recipe = s.recipes["tiny"]
    from dataclasses import replace

    recipe = replace(recipe, options={**recipe.options, "distill": 1, "teacher": str(res.weights.weights_path)})
    res2 = train(s, recipe, tiny_violin, tmp_path / "student", events=None)
    m = violin_eval(tiny_violin, str(res2.weights.weights_path), split="test")
    assert set(m) >= {"rpa", "rpa_tol", "pa", "aca", "ace"} and m["kind"] == "5 frames → pitch"
    # distillation needs a teacher of the same width
    bad = replace(recipe, model={**recipe.model, "fc": 16})
    with pytest.raises(InputError):
        train(ViolinStudentTask(), bad, tiny_violin, tmp_path / "bad", events=None)


def test_student_class_weights_are_an_option(tiny_violin, tmp_path):
    from dataclasses import replace

    from training.tasks.violin import ViolinStudentTask

    s = ViolinStudentTask()
    recipe = s.recipes["tiny"]
    s.dataset(tiny_violin, "train", recipe, tmp_path)
    assert s.weight is None                      # plain cross-entropy by default (weighted, it stalled)
    s2 = ViolinStudentTask()
    s2.dataset(tiny_violin, "train", replace(recipe, options={**recipe.options, "class_weights": 1}), tmp_path)
    assert s2.weight is not None and s2.weight.shape == (35,) and float(s2.weight[0]) > 0


def test_augmentation_keeps_the_frame_and_varies_it(tiny_violin, tmp_path):
    from training.data.violin import ViolinItems

    ds = ViolinItems(tiny_violin, "train", tmp_path, frames=5, size=(64, 32), labels="truth", augment=True)
    plain = ViolinItems(tiny_violin, "train", tmp_path, frames=5, size=(64, 32), labels="truth")
    a, b, c = ds[10][0], ds[10][0], plain[10][0]
    assert a.shape == c.shape == (5, 3, 32, 64) and 0 <= float(a.min()) and float(a.max()) <= 1
    assert not torch.allclose(a, b)              # a new view each time
    assert float((a - c).abs().mean()) < 0.3     # still the same picture, roughly
    assert ds[10][2] == plain[10][2]             # and the same label


def test_five_frame_student_inflated_from_one_frame_weights():
    torch.manual_seed(3)
    one = PitchStudent(frames=1, height=32, width=64, base=4, fc=16).eval()
    five = PitchStudent(frames=5, height=32, width=64, base=4, fc=16)
    five.load_state_dict(five.inflated_state(one.state_dict()))
    five.eval()
    x = torch.rand(2, 5, 3, 32, 64)
    # at the start the fusion passes the centre frame through: the 1-frame model's answer on it
    assert torch.allclose(five(x), one(x[:, 2]), atol=1e-3)
    with pytest.raises(ValueError):
        five.inflated_state(PitchStudent(frames=1, height=32, width=64, base=4, fc=8).state_dict())
    with pytest.raises(ValueError):
        one.inflated_state(one.state_dict())


def test_five_frame_training_starts_from_a_one_frame_run(tiny_violin, tmp_path):
    from dataclasses import replace

    from training.loop import train
    from training.tasks.violin import ViolinStudentTask

    s = ViolinStudentTask()
    tiny = s.recipes["tiny"]
    one = train(s, replace(tiny, options={**tiny.options, "frames": 1}), tiny_violin, tmp_path / "one", events=None)
    five = train(ViolinStudentTask(), replace(tiny, init=str(one.weights.weights_path)), tiny_violin, tmp_path / "five",
                 events=None)
    assert five.weights is not None and five.weights.card.config["frames"] == 5
    # weights of another shape are refused with a message, not a traceback
    bad = replace(tiny, model={**tiny.model, "fc": 16}, init=str(one.weights.weights_path))
    with pytest.raises(InputError):
        train(ViolinStudentTask(), bad, tiny_violin, tmp_path / "bad", events=None)


def _tiny_student_file(tmp_path, frames=5):
    from x2studio.weights.registry import ModelCard, save_weights

    torch.manual_seed(0)
    cfg = {"frames": frames, "height": 32, "width": 64, "base": 4, "fc": 16}
    e = save_weights(PitchStudent(**cfg).state_dict(), ModelCard(f"violin-tiny{frames}", "violin-student", config=cfg),
                     tmp_path)
    return str(e.weights_path)


@pytest.mark.parametrize("frames", [1, 5])
def test_live_violin_answers_each_new_window_once(tmp_path, frames):
    from x2studio.core.errors import MediaError
    from x2studio.pipelines.violin import LiveViolin, ViolinTranscriber

    live = LiveViolin(ViolinTranscriber(_tiny_student_file(tmp_path, frames)), threshold=0.0)
    rng = np.random.default_rng(0)
    assert live.take() is None
    answers = []
    for k in range(12):
        live.add(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8), 10.0 + k / 25)
        if k < frames - 1:
            assert live.estimate() is None            # not a whole window yet
            continue
        a = live.estimate()
        assert a is not None and set(a) >= {"t", "midi", "confidence", "note"}
        assert live.estimate() is None                # nothing new since
        answers.append(a)
    # a 5-frame window answers for its centre frame, two frames back; times start at the first frame
    assert answers[0]["t"] == pytest.approx((frames // 2) / 25)
    assert all(a["midi"] == 0 or 55 <= a["midi"] <= 88 for a in answers)
    take = live.take()
    assert take.live and take.frames == len(answers)
    assert take.frame_times()[0] == pytest.approx((frames // 2) / 25)     # from the take's first frame
    assert take.fps == pytest.approx(25.0, rel=1e-3)
    with pytest.raises(MediaError):
        live.add(np.zeros((10, 10), np.uint8), 11.0)


def test_cli_transcribe_violin(tiny_violin, tmp_path, capsys):
    from x2studio.cli import main
    from x2studio.media.midi import load_midi
    from x2studio.media.video import VideoWriter

    e = json.loads((tiny_violin / "manifest.json").read_text())["videos"][0]
    video = tiny_violin / e["video"]
    out, track = tmp_path / "o.mid", tmp_path / "pitch.csv"
    # by ear (no weights needed), with the per-frame pitch track and its cents
    assert main(["transcribe", "violin", str(video), "-o", str(out), "--mode", "audio", "--csv", str(track)]) == 0
    assert load_midi(out).notes
    rows = track.read_text().splitlines()
    assert rows[0].startswith("time_s,visual_midi") and len(rows) == e["frames"] + 1
    # from the picture, with given weights; fused
    weights = _tiny_student_file(tmp_path)
    for mode in ("visual", "fused"):
        assert main(["transcribe", "violin", str(video), "-o", str(out), "--mode", mode, "--weights", weights,
                     "--threshold", "0.05"]) == 0
    # bad input: a video without sound by ear, a missing video, nothing to write, a threshold out of range
    mute = tmp_path / "mute.mp4"
    with VideoWriter(mute, 25, (128, 64)) as vw:
        for _ in range(10):
            vw.write(np.full((64, 128, 3), 90, np.uint8))
    capsys.readouterr()
    assert main(["transcribe", "violin", str(mute), "-o", str(out), "--mode", "audio"]) == 2
    assert "no sound" in capsys.readouterr().err
    assert main(["transcribe", "violin", str(tmp_path / "none.mp4"), "-o", str(out), "--mode", "audio"]) == 2
    assert main(["transcribe", "violin", str(video), "--mode", "audio"]) == 2
    assert main(["transcribe", "violin", str(video), "-o", str(out), "--weights", weights, "--threshold", "1.5"]) == 2


def test_pitch_track_lookahead_reads_the_sound_later():
    audio, rate = _tones([60, 67, 72, 64], 0.5)
    fps = 20.0
    now = np.round(track_pitch(audio, rate, 40, fps, "yin", lookahead_s=0.0).midi).astype(int)
    later = np.round(track_pitch(audio, rate, 40, fps, "yin", lookahead_s=0.1).midi).astype(int)   # two frames
    assert np.array_equal(later[5:35], now[7:37])


def test_pseudo_labels_are_remade_for_another_lookahead(tiny_violin, tmp_path):
    import shutil

    from training.data.violin import labels_current, make_pseudo_labels

    data = tmp_path / "d"
    shutil.copytree(tiny_violin, data)
    shutil.rmtree(data / "pseudo", ignore_errors=True)
    rep = make_pseudo_labels(data, "yin", lookahead_s=0.0)
    first = data / "pseudo" / f"{json.loads((data / 'manifest.json').read_text())['videos'][0]['id']}.npz"
    assert rep["lookahead_s"] == 0.0 and labels_current(first, 0.0) and not labels_current(first, 0.04)
    make_pseudo_labels(data, "yin")            # the default lookahead: made again
    assert labels_current(first, 0.04)
    first.write_bytes(b"not an npz")           # a damaged file is made again, not trusted
    assert not labels_current(first, 0.04)
    make_pseudo_labels(data, "yin")
    assert labels_current(first, 0.04)
