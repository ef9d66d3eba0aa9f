"""Audio-visual sync of face videos: window alignment, the offset of a clip with a known shift, the
fix moving the sound by the right number of samples, drift windows, the CLI, bad input, and the
evaluation (distance curve, offset accuracy) on tiny held-out data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from x2studio.core.errors import InputError, OutputError
from x2studio.media.audio import load_audio
from x2studio.media.video import VideoReader, VideoWriter, probe, replace_audio
from x2studio.pipelines.sync import estimate_offset, fix_offset, offset_curve
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]
TALK = ROOT / "resources" / "demo" / "talking_3.mp4"


def test_offset_curve_finds_a_planted_shift() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(80, 8)).astype(np.float32)
    v = np.full_like(a, np.nan)
    v[:-7] = a[7:]                       # the sound of frame k is at k + 7: 7 frames late
    v[:3] = np.nan                       # frames without a face are left out
    offsets, d = offset_curve(v, a, 20)
    assert offsets[int(np.nanargmin(d))] == 7 and d[offsets == 7][0] == pytest.approx(0.0, abs=1e-6)
    _, d = offset_curve(v[:10], a[:10], 20)
    assert np.isnan(d).all()             # too few frames pair up: no estimate


@pytest.fixture(scope="module")
def late(tmp_path_factory) -> Path:
    """The demo talking clip with its sound 400 ms late."""
    return fix_offset(TALK, -0.4, tmp_path_factory.mktemp("sync") / "late.mp4")


def test_estimate_finds_a_known_shift_and_the_fix_undoes_it(late: Path, tmp_path: Path) -> None:
    assert probe(late).video.frames == probe(TALK).video.frames
    res = estimate_offset(TALK, detector="haar")
    assert res.offset_frames == 0 and res.confidence > 0.2
    res = estimate_offset(late, detector="haar")
    assert abs(res.offset_frames - 10) <= 1 and "late" in res.lines()[0]
    fixed = fix_offset(late, res.offset_s, tmp_path / "fixed.mp4")
    assert abs(estimate_offset(fixed, detector="haar").offset_frames) <= 1
    # the picture is copied, not re-encoded: the same packets
    with VideoReader(TALK) as a, VideoReader(fixed) as b:
        assert np.array_equal(a.read(20).image, b.read(20).image)
    d = res.to_dict()
    assert d["offset_frames"] == res.offset_frames and len(d["distances"]) == len(d["offsets"])


def test_fix_moves_the_sound_by_the_right_number_of_samples(tmp_path: Path) -> None:
    sr = 16000
    with VideoWriter(tmp_path / "v.mp4", 25, (64, 48), audio_rate=sr) as vw:
        for i in range(75):
            vw.write(np.full((48, 64, 3), i, np.uint8))
        clicks = np.zeros(3 * sr, np.float32)
        clicks[int(1.5 * sr)] = 0.9
        vw.write_audio(clicks)
    src = load_audio(tmp_path / "v.mp4", mono=True)
    at = int(np.argmax(np.abs(src.samples[:, 0])))
    for offset in (0.25, -0.3):
        out = fix_offset(tmp_path / "v.mp4", offset, tmp_path / f"f{offset}.mp4")
        got = load_audio(out, mono=True)
        moved = int(np.argmax(np.abs(got.samples[:, 0])))
        assert abs((at - moved) - offset * sr) <= 2, (at, moved)
        assert abs(got.duration_s - src.duration_s) < 0.03
    with pytest.raises(InputError):
        fix_offset(tmp_path / "v.mp4", 0.1, tmp_path / "f.gif")
    with pytest.raises(OutputError):
        fix_offset(tmp_path / "v.mp4", 0.1, tmp_path / "missing" / "f.mp4")
    with pytest.raises(InputError, match="replace an input"):
        fix_offset(tmp_path / "v.mp4", 0.1, tmp_path / "v.mp4")           # never over the video itself


def test_bad_input_is_refused_with_a_message(tmp_path: Path, clip: Path) -> None:
    from conftest import make_clip

    silent = make_clip(tmp_path / "noaudio.mp4", audio_rate=None)
    with pytest.raises(InputError, match="no audio"):
        estimate_offset(silent, detector="haar")
    quiet = replace_audio(TALK, np.zeros((16000 * 4, 1), np.float32), 16000, tmp_path / "quiet.mp4")
    with pytest.raises(InputError, match="silent"):
        estimate_offset(quiet, detector="haar")
    with pytest.raises(InputError, match="No face"):
        estimate_offset(clip, detector="haar")
    with pytest.raises(InputError, match="range"):
        estimate_offset(TALK, max_offset_s=30)
    with pytest.raises(InputError, match="not available"):
        estimate_offset(TALK, kind="violin")
    short = tmp_path / "short.mp4"
    with VideoReader(TALK) as rd, VideoWriter(short, 25, (rd.width, rd.height), audio_rate=16000) as vw:
        for fr in rd.frames(stop=8):
            vw.write(fr.image)
        vw.write_audio(load_audio(TALK, 16000, mono=True).samples[16000:16000 + int(16000 * 8 / 25)])
    with pytest.raises(InputError, match="frames"):
        estimate_offset(short, detector="haar")


def test_an_offset_beyond_the_range_is_said_not_guessed(tmp_path: Path) -> None:
    far = fix_offset(TALK, -1.2, tmp_path / "far.mp4")
    res = estimate_offset(far, detector="haar", max_offset_s=0.5)
    assert res.offset_frames is None and res.offset_s is None
    assert any("beyond the search range" in n for n in res.notes) and "not found" in res.lines()[0]


def _cli(*args: str):
    return run_cli(*args)


def test_sync_cli(late: Path, tmp_path: Path) -> None:
    res = _cli("sync", str(late), "--detector", "haar", "--json", "-o", str(tmp_path / "fixed.mp4"))
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert abs(out["offset_frames"] - 10) <= 1 and Path(out["fixed"]).is_file()
    res = _cli("sync", str(late), "--detector", "haar")
    assert res.returncode == 0 and "ms late" in res.stdout
    res = _cli("sync", str(ROOT / "resources" / "demo" / "face_1.png"))
    assert res.returncode != 0 and "no audio" in res.stderr and "Traceback" not in res.stderr
    res = _cli("sync", str(late), "-o", str(tmp_path / "x.avi"))
    assert res.returncode != 0 and "MP4" in res.stderr
    size = late.stat().st_size
    for bad, said in ((["-o", str(late)], "replace an input"), (["--window", "0"], "Windows of 0"),
                      (["--max-offset", "nan"], "search range")):
        res = _cli("sync", str(late), *bad)                  # refused before any work, the video untouched
        assert res.returncode == 2 and said in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert late.stat().st_size == size


# ---------------------------------------------------------------------------- evaluation (tiny data)
render = pytest.importorskip("training.synth.render")


@pytest.mark.slow
def test_sync_eval_draws_the_curve_and_scores_offsets(tmp_path: Path) -> None:
    if not render.gl_available():  # pragma: no cover
        pytest.skip("no OpenGL context")
    from training.synth.faces import face_model_of, generate_faces
    from training.tasks.avsync import sync_eval

    data = generate_faces(tmp_path / "faces", tracks=4, size=128, seed=99, identities=4, max_seconds=4.0,
                          face_model=face_model_of("avsync-face-lite"))
    res = sync_eval(data, "train", png=tmp_path / "curve.png", cache=tmp_path / "c")
    assert res["clips"] >= 1 and len(res["curve"]) == len(res["curve_offsets_s"]) == 101
    assert abs(res["curve_min_at_s"]) <= 0.04                   # the bundled network: lowest at 0
    assert 0.0 <= res["baseline_accuracy"] <= 1.0 and res["accuracy"] >= 0.5
    assert (tmp_path / "curve.png").stat().st_size > 1000


def test_drift_shows_in_the_sliding_windows(tmp_path: Path) -> None:
    """The sound played 5 % slow: its lag grows by 50 ms per second of video."""
    clip = load_audio(TALK, mono=True)
    n = clip.frames
    slow = np.interp(np.arange(n) / 1.05, np.arange(n), clip.samples[:, 0]).astype(np.float32)
    drifting = replace_audio(TALK, slow[:, None], clip.sample_rate, tmp_path / "drift.mp4")
    res = estimate_offset(drifting, detector="haar", window_s=2.0, max_offset_s=1.0)
    assert len(res.windows) >= 3
    assert res.drift_ms_per_min is not None and 1500 < res.drift_ms_per_min < 4500, res.windows
    assert any("drift" in n for n in res.notes)
    steady = estimate_offset(TALK, detector="haar", window_s=2.0, max_offset_s=1.0)
    assert steady.drift_ms_per_min is not None and abs(steady.drift_ms_per_min) < 600
    assert not any("drift" in n for n in steady.notes)
