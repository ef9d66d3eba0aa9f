"""The speak and mix requests refuse bad input with a sentence before any model is loaded, and
never write over an input."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from x2studio.core.errors import InputError, OutputError
from x2studio.media.audio import AudioClip
from x2studio.pipelines.mix import Mix
from x2studio.pipelines.speak_photo import MixRequest, SpeakRequest

DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo"


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path]:
    face, talk = tmp_path / "face.png", tmp_path / "talk.mp4"
    shutil.copy(DEMO / "face_1.png", face)
    shutil.copy(DEMO / "talking_3.mp4", talk)
    return face, talk


def test_speak_request_checks_its_input(inputs, tmp_path: Path) -> None:
    face, talk = inputs
    ok = SpeakRequest(face, talk, tmp_path / "out.mp4")
    assert ok.strength == 1.0
    recording = AudioClip(np.zeros((16000, 1), np.float32), 16000)
    assert SpeakRequest(face, recording, tmp_path / "out.mp4").audio is recording     # a recording in memory
    bad = [dict(audio=tmp_path / "none.wav"), dict(source=talk), dict(output=tmp_path / "out.gif"),
           dict(output=talk), dict(strength=float("nan")),
           dict(strength=4.0), dict(fps=0.0), dict(output=tmp_path / "no" / "out.mp4")]
    for change in bad:
        args = dict(source=face, audio=talk, output=tmp_path / "out.mp4") | change
        with pytest.raises((InputError, OutputError)):
            SpeakRequest(**args)
    assert talk.stat().st_size > 0 and not (tmp_path / "out.mp4").exists()


def test_mix_request_checks_its_input(inputs, tmp_path: Path) -> None:
    face, talk = inputs
    assert MixRequest(face, tmp_path / "m.mp4", Mix(pose=(10.0, None, None)), driving=talk).driving == talk
    for change in (dict(driving=None), dict(driving=tmp_path / "none.mp4"), dict(output=talk),
                   dict(mix=Mix(video_weight=9.0)), dict(mix=Mix(speech_weight=float("nan")))):
        args = dict(source=face, output=tmp_path / "m.mp4", mix=Mix(), driving=talk) | change
        with pytest.raises(InputError):
            MixRequest(**args)
