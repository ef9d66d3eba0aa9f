"""Test set-up: offscreen Qt, an isolated X2 Studio home, a null sound device, clip fixtures, and
a guard that fails any test leaving a QThread running."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

# Before anything imports Qt or PortAudio: offscreen Qt; a private HOME whose .asoundrc routes ALSA's
# default device to a null sink, so playback code runs (and is tested) without a sound card.
_SESSION_HOME = Path(tempfile.mkdtemp(prefix="x2studio-test-home-"))
atexit.register(shutil.rmtree, _SESSION_HOME, True)
(_SESSION_HOME / ".asoundrc").write_text("pcm.!default { type null }\nctl.!default { type hw card 0 }\n")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["HOME"] = str(_SESSION_HOME)
os.environ["X2STUDIO_HOME"] = str(_SESSION_HOME / "x2studio")
os.environ.pop("X2STUDIO_DEVICE", None)
os.environ.pop("X2STUDIO_SOUNDFONT", None)

# torch's compiler (triton's LLVM) must load before Mesa's llvmpipe, or creating an optimiser after
# a render segfaults (see training.synth.render.preload_torch_compiler)
import torch._dynamo  # noqa: E402,F401
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def x2_home(tmp_path, monkeypatch) -> Path:
    """A fresh X2 Studio home per test (settings, UI state, user weights)."""
    home = tmp_path / "x2home"
    monkeypatch.setenv("X2STUDIO_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def no_leaked_qthreads(request):
    """Fail a test that leaves a QThread running (napari's rule)."""
    yield
    if "qtbot" not in request.fixturenames and "qapp" not in request.fixturenames:
        return
    from PySide6.QtCore import QThread
    from PySide6.QtWidgets import QApplication

    from x2studio.workers.threads import running_threads

    app = QApplication.instance()
    if app is None:
        return
    app.processEvents()
    leaked = [t for t in app.findChildren(QThread) if t.isRunning()] + running_threads()
    if leaked:
        names = ", ".join(t.objectName() or type(t).__name__ for t in leaked)
        for t in leaked:
            t.quit()
            t.wait(5000)
        pytest.fail(f"test left QThread(s) running: {names}")


def make_clip(path: Path, frames: int = 50, fps: int = 25, size: tuple[int, int] = (128, 96),
              audio_rate: int | None = 16000, audio_channels: int = 1) -> Path:
    """Write a test clip: frame i has red = 4*i (clamped) and a white bar moving right; audio a 440 Hz tone."""
    from x2studio.media.video import VideoWriter

    w, h = size
    with VideoWriter(path, fps, size, audio_rate=audio_rate, audio_channels=audio_channels, crf=10) as vw:
        for i in range(frames):
            img = np.zeros((h, w, 3), np.uint8)
            img[:, :, 0] = min(255, 4 * i)
            x = (i * 2) % max(1, w - 8)
            img[h // 2 - 4:h // 2 + 4, x:x + 8] = 255
            vw.write(img)
        if audio_rate:
            t = np.arange(int(audio_rate * frames / fps)) / audio_rate
            tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            vw.write_audio(np.repeat(tone[:, None], audio_channels, axis=1))
    return path


@pytest.fixture(scope="session")
def clip(tmp_path_factory) -> Path:
    """A 2 s, 25 fps, 128x96 H.264/AAC clip."""
    return make_clip(tmp_path_factory.mktemp("clips") / "clip.mp4")


@pytest.fixture(scope="session")
def midi_file(tmp_path_factory) -> Path:
    from x2studio.media.midi import NoteEvent, save_midi

    notes = [NoteEvent(0.5 * i, 0.5 * i + 0.4, 60 + i, 90) for i in range(4)]
    return save_midi(tmp_path_factory.mktemp("midi") / "scale.mid", notes)


@pytest.fixture(scope="session")
def tiny_piano(tmp_path_factory) -> Path:
    """Three 4-s rendered piano videos, one per split, shared by the piano tests (one adds pseudo labels)."""
    import json

    from training.synth.piano import generate_piano

    root = generate_piano(tmp_path_factory.mktemp("piano") / "d", minutes=0.2, seed=2, clip_seconds=4.0,
                          size=(320, 180))
    m = json.loads((root / "manifest.json").read_text())
    for e, s in zip(m["videos"], ("train", "val", "test")):
        e["split"] = s
    (root / "manifest.json").write_text(json.dumps(m))
    return root


@pytest.fixture(scope="session")
def held_out_piano(tmp_path_factory) -> Path:
    """Three 10-s piano videos rendered with generator seed 99 (pieces, pianos and cameras no bundled
    model was trained on), 640×360, all in the 'test' split: the bundled piano models' quality tests."""
    import json

    from training.synth.piano import generate_piano

    data = generate_piano(tmp_path_factory.mktemp("held99") / "d", minutes=0.5, seed=99, clip_seconds=10.0,
                          size=(640, 360))
    m = json.loads((data / "manifest.json").read_text())
    for e in m["videos"]:
        e["split"] = "test"
    (data / "manifest.json").write_text(json.dumps(m))
    return data


def no_webcam_then_stand_in(qtbot, panel, monkeypatch, errors: list, n_frames: int) -> list:
    """Live with no webcam: a message and the Live button springs back; then a camera stand-in that
    the test feeds by hand: the first ``n_frames`` frames of the open video."""
    from x2studio.media.video import VideoReader

    monkeypatch.setattr(panel.camera, "start",
                        lambda index=0: panel.camera.failed.emit("No webcam could be opened (camera 0): it is absent or busy."))
    panel.live_button.setChecked(True)
    qtbot.waitUntil(lambda: bool(errors), timeout=30000)
    assert "webcam" in errors[0] and not panel.live_button.isChecked()
    errors.clear()
    monkeypatch.setattr(panel.camera, "start", lambda index=0: None)
    monkeypatch.setattr(panel.camera, "is_running", lambda: True)
    with VideoReader(panel.video) as rd:
        return [f.image for _, f in zip(range(n_frames), rd.frames())]


class CliRun:
    """What ``x2studio ARGS`` returned and printed (the fields of a ``subprocess.CompletedProcess``)."""

    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def run_cli(*args) -> CliRun:
    """``x2studio ARGS`` run in this process: a child process would spend seconds importing torch and
    the models again for every call (the tests that are about the process itself still start one)."""
    import contextlib
    import io

    from x2studio.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:          # argparse's usage errors
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    return CliRun(code, out.getvalue(), err.getvalue())


def _rendered(tmp_path_factory, name: str, **kwargs) -> Path:
    render = pytest.importorskip("training.synth.render")
    if not render.gl_available():  # pragma: no cover
        pytest.skip("no OpenGL context")
    from training.synth.faces import generate_faces

    return generate_faces(tmp_path_factory.mktemp(name) / "faces", **kwargs)


@pytest.fixture(scope="session")
def tiny_faces(tmp_path_factory) -> Path:
    """8 rendered talking-face tracks of 2 s at 64 px (seed 1), shared by the tiny training runs
    (read only: a run writes into its own folder)."""
    return _rendered(tmp_path_factory, "tinyfaces", tracks=8, size=64, seed=1, max_seconds=2.0)


@pytest.fixture(scope="session")
def talking_stills(tmp_path_factory) -> Path:
    """8 rendered talking-face tracks of 1.5 s and 40 labelled stills of 8 people at 64 px (seed 5),
    shared by the pose and speech tasks' tiny runs (read only)."""
    return _rendered(tmp_path_factory, "talk", tracks=8, stills=40, size=64, seed=5, identities=8, max_seconds=1.5)


@pytest.fixture(scope="session")
def held_out_stills(tmp_path_factory):
    """``held_out_stills(weights)``: 60 labelled stills at 128 px of 40 people no bundled weights saw
    (seed 99), with the head shape ``weights`` were trained on; made once per shape."""
    from training.synth.faces import face_model_of

    made: dict[int, Path] = {}

    def stills(weights: str) -> Path:
        model = face_model_of(weights)
        if model not in made:
            made[model] = _rendered(tmp_path_factory, f"stills{model}", tracks=0, stills=60, size=128, seed=99,
                                    identities=40, face_model=model)
        return made[model]

    return stills
