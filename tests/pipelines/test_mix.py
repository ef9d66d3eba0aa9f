"""Mixing drivers: pose sliders + speech + a driving video, each with a weight, in one driving vector;
the mixed video export and the CLI with bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from x2studio.core.errors import InputError
from x2studio.media.audio import AudioClip, load_audio, save_audio
from x2studio.media.video import VideoReader, probe
from x2studio.pipelines.mix import DriverMixer, Mix, mix_video
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "resources" / "demo"
TALK = DEMO / "talking_3.mp4"


@pytest.fixture(scope="module")
def mixer() -> DriverMixer:
    from x2studio.pipelines.reenact import Reenactor

    r = Reenactor("x2face-lite", detector="haar")
    r.set_sources(r.load_sources([DEMO / "face_1.png"]))
    m = DriverMixer(r)
    m.speech.load(load_audio(TALK))
    return m


@pytest.fixture(scope="module")
def talk_crops(mixer: DriverMixer) -> list[np.ndarray]:
    from x2studio.face.tracks import crop

    r = mixer.reenactor
    out = []
    with VideoReader(TALK) as rd:
        for fr in rd.frames(stop=12):
            box = r.drive(fr.image)[1]
            out.append(crop(fr.image, box, r.size))
    return out


def test_each_driver_alone_acts_as_it_does_by_itself(mixer: DriverMixer, talk_crops) -> None:
    r = mixer.reenactor
    src = r.v_source
    assert torch.allclose(mixer.vectors(Mix()), src)                                     # nothing drives
    pose = tuple(float(x) for x in mixer.poses.source_pose() + np.array([20.0, -5.0, 8.0]))
    assert torch.allclose(mixer.vectors(Mix(pose=pose)), mixer.poses.vector(pose), atol=1e-5)
    assert torch.allclose(mixer.vectors(Mix(pose=pose, pose_weight=0.0)), src)
    frames = [3, 10, 40]
    alone = mixer.speech.frame_vectors(frames)
    assert torch.allclose(mixer.vectors(Mix(), 3, speech_frames=frames), alone, atol=1e-5)
    # weights scale a driver's change linearly, and changes add
    twice = mixer.vectors(Mix(speech_weight=2.0), 3, speech_frames=frames)
    assert torch.allclose(twice - src, 2 * (alone - src), atol=1e-5)
    mixer.restart()
    video = mixer.video_vectors(talk_crops)
    dv = mixer.vectors(Mix(), len(video), video=video) - src
    assert torch.allclose(dv[0], torch.zeros_like(dv[0]), atol=1e-6)                     # the first frame: no change
    assert float(dv[1:].abs().mean()) > 0
    with torch.inference_mode():        # the video's head pose is taken out unless asked for
        read = mixer.poses.v2p(src + dv) - mixer.poses.v2p(src)
    assert float(read.abs().max()) < 0.01
    mixer.restart()
    both = mixer.vectors(Mix(pose=pose), len(video), speech_frames=list(range(len(video))), video=video)
    mixer.restart()
    parts = (mixer.vectors(Mix(pose=pose)) - src) + (mixer.speech.frame_vectors(list(range(len(video)))) - src) + dv
    assert torch.allclose(both - src, parts, atol=1e-4)
    with pytest.raises(InputError):
        mixer.vectors(Mix(speech_weight=4.0))
    with pytest.raises(InputError):
        mixer.vectors(Mix(pose=(float("nan"), 0.0, 0.0)))


def test_mix_video_length_sound_and_bad_input(mixer: DriverMixer, tmp_path: Path) -> None:
    clip = load_audio(TALK)
    short = save_audio(tmp_path / "short.wav", AudioClip(clip.samples[: int(1.2 * clip.sample_rate)], clip.sample_rate))
    out = tmp_path / "mix.mp4"
    rep = mix_video(mixer, out, Mix(pose=(10.0, 0.0, 0.0), video_weight=0.5), audio=short, driving=TALK)
    assert rep.frames == 30 and len(rep.drivers) == 3                  # as long as the shorter driver
    info = probe(out)
    assert info.video.frames == 30 and info.audio is not None
    assert abs(load_audio(out).duration_s - 1.2) < 0.05
    rep = mix_video(mixer, tmp_path / "video_only.mp4", Mix(), driving=TALK)
    assert rep.frames == probe(TALK).video.frames
    with pytest.raises(InputError, match="speech or a driving video"):
        mix_video(mixer, tmp_path / "none.mp4", Mix(pose=(5.0, 0.0, 0.0)))
    with pytest.raises(InputError):
        mix_video(mixer, tmp_path / "m.gif", Mix(), driving=TALK)
    with pytest.raises(InputError):
        mix_video(mixer, tmp_path / "m2.mp4", Mix(video_weight=-1.0), driving=TALK)
    assert not (tmp_path / "none.mp4").exists() and not (tmp_path / "m2.mp4").exists()


def _cli(*args: str):
    return run_cli(*args)


def test_mix_cli(tmp_path: Path) -> None:
    face = str(DEMO / "face_1.png")
    res = _cli("mix", "--source", face, "--yaw", "15", "-o", str(tmp_path / "a.mp4"))
    assert res.returncode != 0 and "--audio" in res.stderr
    res = _cli("mix", "--source", face, "--driving", str(tmp_path / "nope.mp4"), "-o", str(tmp_path / "b.mp4"))
    assert res.returncode != 0 and "does not exist" in res.stderr
    res = _cli("mix", "--source", face, "--driving", str(TALK), "--video-weight", "9", "-o", str(tmp_path / "c.mp4"))
    assert res.returncode != 0 and "outside" in res.stderr and "Traceback" not in res.stderr
    res = _cli("mix", "--source", face, "--yaw", "20", "--audio", str(TALK), "--driving", str(TALK),
               "--speech-weight", "1.5", "-o", str(tmp_path / "ok.mp4"))
    assert res.returncode == 0, res.stderr
    assert "pose ×1" in res.stdout and "speech ×1.5" in res.stdout and (tmp_path / "ok.mp4").is_file()
