"""Reenactment pipeline and CLI (X2Face): sources from images and videos, absolute and relative
driving, paste-back, MP4 export with the driving audio, and bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from x2studio.core.errors import InputError, OutputError
from x2studio.media.audio import load_audio
from x2studio.media.video import VideoReader, probe
from x2studio.models.x2face import X2Face
from x2studio.pipelines.reenact import Reenactor
from x2studio.pipelines.reenactment import reenact_video
from x2studio.weights import ModelCard, WeightsRegistry, save_weights
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "resources" / "demo"


@pytest.fixture
def registry(tmp_path) -> WeightsRegistry:
    """A tiny untrained X2Face in a private weights folder (speed and plumbing, not looks)."""
    torch.manual_seed(0)
    cfg = {"image_size": 64, "base": 8, "max_channels": 32, "dim": 32}
    folder = tmp_path / "weights"
    folder.mkdir()
    save_weights(X2Face(**cfg).state_dict(), ModelCard("x2-tiny", "x2face", config=cfg), folder)
    save_weights(torch.nn.Linear(2, 2).state_dict(), ModelCard("not-x2face", "linear"), folder)
    return WeightsRegistry([folder])


def test_sources_from_images_and_a_video(registry) -> None:
    r = Reenactor("x2-tiny", detector="haar", registry=registry)
    srcs = r.load_sources([DEMO / "face_0.png", DEMO / "talking_3.mp4"], frames_per_video=2)
    assert len(srcs) == 3 and all(s.crop.shape == (64, 64, 3) for s in srcs)
    assert srcs[0].frame.shape == (256, 256, 3)
    r.set_sources(srcs)
    emb = r.embedded_face()
    assert emb.shape == (64, 64, 3) and emb.dtype == np.uint8
    frame = next(iter(VideoReader(DEMO / "talking_3.mp4"))).image
    gen, box = r.drive(frame)
    assert gen.shape == (64, 64, 3) and box is not None
    comp = r.composite(gen)
    assert comp.shape == srcs[0].frame.shape and not np.array_equal(comp, srcs[0].frame)
    rel1 = r.drive_crop(srcs[0].crop, relative=True)      # relative: the first frame is the reference,
    assert rel1.shape == (64, 64, 3)                       # so it generates the source's own pose


def test_several_sources_are_fused_for_each_driving_frame(registry) -> None:
    from x2studio.pipelines.paint import PaintLayer

    srcs = [Reenactor("x2-tiny", detector="haar", registry=registry).load_sources([DEMO / f"face_{i}.png"])[0]
            for i in (0, 2)]
    with pytest.raises(InputError, match="Unknown fusion 'median'"):
        Reenactor("x2-tiny", detector="haar", registry=registry, fusion="median")
    r = Reenactor("x2-tiny", detector="haar", registry=registry)
    assert r.fusion == "matched"
    with pytest.raises(InputError, match="source faces first"):
        r.embedded_for(torch.zeros(1, 32))
    r.set_sources(srcs)
    v = r._parts.vectors[0]                       # the sources' own driving vectors
    with torch.inference_mode():
        per_frame = r.embedded_for(v)             # matched: a face per driving vector, unlike confidence
        assert per_frame.shape == (2, 3, 64, 64) and not torch.allclose(per_frame[0], per_frame[1])
        plain = r.embedded_face()
        r.set_fusion("confidence")
        both = r.embedded_for(v)
        assert torch.equal(both[0], both[1]) and np.array_equal(r.embedded_face(), plain)
        r.set_fusion("mean")                      # the shown embedded face is the mean one now
        assert not np.array_equal(r.embedded_face(), plain)
        with pytest.raises(InputError, match="Unknown fusion"):
            r.set_fusion("best")
        # the paint layer is drawn on each frame's fused face
        r.set_fusion("matched")
        layer = PaintLayer(64)
        layer.rgba[10:20, 10:20] = (255, 0, 0, 255)
        r.set_paint(layer)
        painted = r.embedded_for(v)
        assert torch.allclose(painted[:, :, 10:20, 10:20], torch.tensor([1.0, 0, 0])[None, :, None, None].expand(2, 3, 10, 10))
        assert r.generate(v).shape == (2, 3, 64, 64)


def test_bad_sources_and_weights(registry, tmp_path) -> None:
    r = Reenactor("x2-tiny", detector="haar", registry=registry)
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((120, 160, 3), 128, np.uint8))
    with pytest.raises(InputError, match="No face"):
        r.load_sources([blank])
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputError, match="neither an image nor a video"):
        r.load_sources([tmp_path / "notes.txt"])
    with pytest.raises(InputError, match="does not exist"):
        r.load_sources([tmp_path / "missing.png"])
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    with pytest.raises(Exception, match="not a readable image"):
        r.load_sources([broken])
    with pytest.raises(InputError, match="cannot be used here"):
        Reenactor("not-x2face", registry=registry)
    with pytest.raises(InputError, match="No weights named"):
        Reenactor("nope", registry=registry)
    with pytest.raises(InputError, match="source faces first"):
        r.drive_crop(np.zeros((64, 64, 3), np.uint8))


def test_reenact_video_exports_frames_and_audio(registry, tmp_path) -> None:
    r = Reenactor("x2-tiny", detector="haar", registry=registry)
    r.set_sources(r.load_sources([DEMO / "face_1.png"]))
    driving = DEMO / "talking_3.mp4"
    info = probe(driving)
    out = tmp_path / "out.mp4"
    report = reenact_video(r, driving, out, relative=True)
    assert report.frames == info.video.frames and report.audio
    assert report.generated + report.held == report.frames and report.generated > 0.9 * report.frames
    got = probe(out)
    assert got.video.frames == info.video.frames
    assert (got.video.width, got.video.height) == (256, 256)
    a, b = load_audio(out), load_audio(driving)
    assert abs(a.duration_s - b.duration_s) < 0.1
    crop_only = reenact_video(r, driving, tmp_path / "crop.mp4", paste=False)
    assert probe(tmp_path / "crop.mp4").video.width == 64 and crop_only.frames == report.frames
    with pytest.raises(InputError, match="MP4"):
        reenact_video(r, driving, tmp_path / "out.gif")
    with pytest.raises(OutputError, match="does not exist"):
        reenact_video(r, driving, tmp_path / "no" / "such" / "out.mp4")
    with pytest.raises(InputError, match="replace an input"):
        reenact_video(r, driving, driving)                # never over the driving video
    assert not (tmp_path / "out.gif").exists()


def test_reenact_cli_bad_input(tmp_path) -> None:
    def run(*args):
        return run_cli("reenact", *args)

    p = run("--source", str(tmp_path / "missing.png"), "--driving", str(DEMO / "talking_3.mp4"), "-o", str(tmp_path / "o.mp4"))
    assert p.returncode == 2 and "does not exist" in p.stderr
    p = run("--source", str(DEMO / "face_0.png"), "--driving", str(DEMO / "talking_3.mp4"), "-o", str(tmp_path / "o.mp4"),
            "--weights", "nope")
    assert p.returncode == 2 and "No weights named 'nope'" in p.stderr
    p = run("--source", str(DEMO / "face_0.png"), "--driving", str(DEMO / "talking_3.mp4"), "-o", str(tmp_path / "o.mp4"),
            "--fusion", "median")
    assert p.returncode == 2 and "invalid choice: 'median'" in p.stderr
    assert not (tmp_path / "o.mp4").exists()


def test_consecutive_frames_reuse_the_face_box(registry) -> None:
    from x2studio.face.detect import make_detector

    haar = make_detector("haar")
    calls = []

    class Counting:
        def detect(self, rgb):
            calls.append(1)
            return haar.detect(rgb)

    r = Reenactor("x2-tiny", detector=Counting(), registry=registry)
    r.set_sources(r.load_sources([DEMO / "face_0.png"]))
    calls.clear()
    frames = [f.image for f, _ in zip(VideoReader(DEMO / "talking_3.mp4"), range(7))]
    boxes = [r.drive(f, reuse_box=True)[1] for f in frames]
    assert len(calls) == 3 and all(b is not None for b in boxes)       # frames 0, 3 and 6
    r.drive(frames[0])                                                  # scrubbing: always detect
    assert len(calls) == 4


def test_asking_for_mediapipe_without_it_says_how_to_get_it(monkeypatch) -> None:
    """`--detector mediapipe` without the optional package: a message with the install line and the
    alternative (auto falls back to the Haar cascade)."""
    import builtins

    from x2studio.core.errors import DependencyError
    from x2studio.face.detect import HaarDetector, make_detector

    real_import = builtins.__import__

    def no_mediapipe(name, *args, **kwargs):
        if name.startswith("mediapipe"):
            raise ImportError("No module named 'mediapipe'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mediapipe)
    with pytest.raises(DependencyError) as err:
        make_detector("mediapipe")
    assert "--detector haar" in err.value.hint and "pip install --no-deps mediapipe==0.10.21" in err.value.hint
    assert isinstance(make_detector("auto"), HaarDetector)


def test_mediapipes_c_level_set_up_lines_are_kept_off_the_terminal(capfd) -> None:
    """mediapipe's C++ side writes to file descriptor 2 past Python's logging; the detector silences
    that while it sets up, and stderr works again afterwards."""
    import os
    import threading

    from x2studio.face.detect import _quiet_stderr

    with _quiet_stderr():
        os.write(2, b"absl set-up line\n")

    def set_up():     # detectors set up in several workers at once: stderr still comes back
        for _ in range(20):
            with _quiet_stderr():
                os.write(2, b"absl set-up line\n")

    workers = [threading.Thread(target=set_up) for _ in range(4)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    os.write(2, b"a real error\n")
    err = capfd.readouterr().err
    assert "absl set-up line" not in err and "a real error" in err


def test_a_fresh_mediapipe_detector_prints_nothing(tmp_path) -> None:
    """TensorFlow Lite logs its set-up from the graphs' threads, which could come after the detector's
    constructor had restored stderr (seen in 3 of 4 fresh processes): the constructor now waits for a
    first inference inside the silenced stretch.  A fresh process, as the lines come once per process."""
    pytest.importorskip("mediapipe")
    code = ("import time; from x2studio.face.detect import make_detector; "
            "from x2studio.media.video import VideoReader; d = make_detector('mediapipe'); time.sleep(0.5); "
            f"rd = VideoReader({str(DEMO / 'talking_3.mp4')!r}); print(len(d.detect(rd.read(0).image))); rd.close()")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "1" and proc.stderr == "", proc.stderr
