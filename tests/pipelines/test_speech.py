"""Speech-driven X2Face: audio windows aligned to frames, the AV-sync network and its loss, the
MFCC baseline, f_a→v, the speech driver, the talking-video export, the CLI and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from x2studio.core.errors import InputError
from x2studio.media.audio import AudioClip, frame_windows, load_audio, save_audio
from x2studio.models.audiomap import VectorFromAudio
from x2studio.models.avsync import AVSync, contrastive_loss, mouth_regions
from x2studio.pipelines.speech import MfccFeatures, check_speech
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "resources" / "demo"
SR = 16000


def _click(seconds: float, at: float, rate: int = SR) -> np.ndarray:
    x = np.zeros(int(seconds * rate), np.float32)
    x[int(round(at * rate))] = 1.0
    return x


@pytest.mark.parametrize("at", [0.0, 0.52, 0.731, 1.2394, 1.96])
def test_a_click_lands_in_the_window_of_its_frame(at: float) -> None:
    fps = 25.0
    w = frame_windows(_click(2.0, at), SR, fps)
    assert w.shape == (50, 3200)
    frame = int(round(at * fps))                       # frame k is shown at k / fps
    offsets = {k: int(np.argmax(w[k])) for k in range(len(w)) if w[k].max() > 0}
    # the click is in the windows of the frames within ±0.1 s, nearest the centre in its own frame's
    assert frame in offsets and all(abs(k - at * fps) <= 2.5 for k in offsets)
    nearest = min(offsets, key=lambda k: abs(offsets[k] - 1600))
    assert nearest == frame
    assert abs(offsets[frame] - (1600 + (at - frame / fps) * SR)) <= 1


def test_frame_windows_pad_at_the_ends_and_pick_frames() -> None:
    x = np.ones(SR, np.float32)                       # 1 s
    w = frame_windows(x, SR, 25.0)
    assert len(w) == 25
    assert w[0, :1600].sum() == 0 and w[0, 1600:].min() == 1      # before the start: zeros
    assert frame_windows(x, SR, 25.0, frames=np.array([3, 7])).shape == (2, 3200)
    assert np.array_equal(frame_windows(x, SR, 25.0, frames=np.array([7]))[0], w[7])
    assert len(frame_windows(x, SR, 30.0)) == 30


def test_avsync_streams_shapes_and_mouth_region() -> None:
    m = AVSync(base=4, fc=16, dim=8, audio_widths=(8, 4, 4, 4, 4, 8), audio_fc=16, mouth_size=(24, 32))
    v, a = m(torch.rand(3, 5, 24, 32), torch.randn(6, 3200) * 0.1)
    assert v.shape == (6, 8) and a.shape == (6, 8)                 # 2 audio windows per clip
    assert torch.equal(v[:3], v[3:])
    with pytest.raises(ValueError):
        m.audio(torch.zeros(2, 1000))
    crops = torch.rand(2, 3, 64, 64)
    assert mouth_regions(crops, (24, 32)).shape == (2, 24, 32)
    # the level is an input: louder and quieter copies of a sound differ only through it
    x = torch.randn(1, 3200) * 0.1
    m.eval()
    assert not torch.allclose(m.audio(x), m.audio(x * 0.01))


def test_contrastive_loss_pulls_matches_together_and_pushes_others_apart() -> None:
    torch.manual_seed(0)
    m = AVSync(base=4, fc=16, dim=8, audio_widths=(8, 4, 4, 4, 4, 8), audio_fc=16, mouth_size=(24, 32))
    frames = torch.rand(8, 5, 24, 32)
    audio = torch.randn(8, 3200) * 0.1
    other = torch.randn(8, 3200) * 0.1
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    match = torch.cat([torch.ones(8), torch.zeros(8)])

    def dists():
        m.eval()
        with torch.no_grad():
            v, a = m(frames, torch.cat([audio, other]))
            d = m.distance(v, a)
        m.train()
        return float(d[:8].mean()), float(d[8:].mean())

    before = dists()
    for _ in range(30):
        v, a = m(frames, torch.cat([audio, other]))
        loss = contrastive_loss(v, a, match)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = dists()
    assert after[0] < before[0] and after[0] < after[1]
    # the sign: a matching pair at distance 0 costs nothing, a non-matching one costs margin²
    z = torch.zeros(1, 4)
    assert float(contrastive_loss(z, z, torch.ones(1))) == pytest.approx(0.0, abs=1e-6)
    assert float(contrastive_loss(z, z, torch.zeros(1))) == pytest.approx(1.0, abs=1e-3)


def test_mfcc_baseline_features() -> None:
    f = MfccFeatures()
    feats = f(AudioClip(np.random.default_rng(0).normal(0, 0.1, (SR, 1)).astype(np.float32), SR), 25.0)
    assert feats.shape == (25, f.dim) and f.dim == 18 * 13 and np.isfinite(feats).all()
    assert np.isfinite(f.silence()).all()
    # 44.1 kHz input is resampled: the same sound gives nearly the same features
    t = np.arange(44100) / 44100.0
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[:, None]
    a = f(AudioClip(tone, 44100), 25.0)
    t16 = np.arange(SR) / SR
    b = f(AudioClip((0.3 * np.sin(2 * np.pi * 440 * t16)).astype(np.float32)[:, None], SR), 25.0)
    assert np.abs(a[5:20] - b[5:20]).mean() < 0.05 * np.abs(b[5:20]).mean()


def test_check_speech_refuses_empty_short_and_silent_audio() -> None:
    with pytest.raises(InputError, match="no samples"):
        check_speech(AudioClip(np.zeros((0, 1), np.float32), SR))
    with pytest.raises(InputError, match="shorter"):
        check_speech(AudioClip(np.full((SR // 10, 1), 0.1, np.float32), SR))
    with pytest.raises(InputError, match="silent"):
        check_speech(AudioClip(np.full((SR, 1), 1e-5, np.float32), SR))
    bad = np.full((SR, 1), 0.1, np.float32)
    bad[100] = np.nan
    with pytest.raises(InputError, match="invalid"):
        check_speech(AudioClip(bad, SR))
    check_speech(AudioClip(np.full((SR, 1), 0.1, np.float32), SR))


def test_vector_from_audio_standardises() -> None:
    m = VectorFromAudio(4, 3, "mfcc")
    with torch.no_grad():
        m.mean.copy_(torch.tensor([1.0, 2, 3, 4]))
        m.std.fill_(2.0)
        m.fc.weight.copy_(torch.eye(3, 4))
        m.fc.bias.zero_()
    out = m(torch.tensor([[3.0, 2, 3, 4]]))
    assert torch.allclose(out, torch.tensor([[1.0, 0, 0]]))


# ---------------------------------------------------------------------------- the bundled driver
@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory) -> Path:
    """1.6 s of the demo talking clip's speech as WAV."""
    clip = load_audio(DEMO / "talking_3.mp4")
    path = tmp_path_factory.mktemp("speech") / "speech.wav"
    return save_audio(path, AudioClip(clip.samples[: int(1.6 * clip.sample_rate)], clip.sample_rate))


@pytest.fixture(scope="module")
def driver():
    from x2studio.pipelines.reenact import Reenactor
    from x2studio.pipelines.speech import SpeechDriver

    r = Reenactor("x2face-lite", detector="haar")
    r.set_sources(r.load_sources([DEMO / "face_1.png"]))
    return SpeechDriver(r)


def test_driver_keeps_the_source_for_silence_and_zero_strength(driver, speech_wav: Path) -> None:
    n = driver.load(load_audio(speech_wav))
    assert n == 40 and driver.feats.shape == (40, driver.features.dim)
    r = driver.reenactor
    silence = torch.from_numpy(driver.features.silence())[None]
    assert torch.allclose(driver.vectors(silence), r.v_source, atol=1e-5)
    assert torch.allclose(driver.frame_vectors([5, 20], strength=0.0), r.v_source.expand(2, -1), atol=1e-6)
    v = driver.frame_vectors(list(range(n)))
    assert float((v - r.v_source).abs().mean()) > 1e-3                 # speech moves the vector
    # the pose change the audio would make is taken out: f_v→p reads the source's pose
    with torch.inference_mode():
        p = driver.v2p(v) - driver.v2p(r.v_source)
    assert float(p.abs().max()) < 0.01
    assert driver.frame_at(0.0) == 0 and driver.frame_at(0.079) == 1 and driver.frame_at(99) == n - 1
    crops = driver.render_many([0, 10])
    assert len(crops) == 2 and crops[0].shape == (r.size, r.size, 3)


def test_speak_video_writes_the_talking_face_with_the_speech(driver, speech_wav: Path, tmp_path: Path) -> None:
    from x2studio.media.video import probe
    from x2studio.pipelines.speech import speak_video

    out = tmp_path / "talk.mp4"
    report = speak_video(driver, speech_wav, out, strength=1.2)
    assert report.frames == 40 and out.is_file()
    info = probe(out)
    assert info.video.frames == 40 and info.audio is not None
    assert abs(load_audio(out).duration_s - 1.6) < 0.05
    with pytest.raises(InputError):
        speak_video(driver, speech_wav, tmp_path / "talk.gif")
    with pytest.raises(InputError):
        speak_video(driver, speech_wav, tmp_path / "missing" / "talk.mp4")
    with pytest.raises(InputError):
        speak_video(driver, tmp_path / "notes.txt", tmp_path / "t2.mp4")
    assert not (tmp_path / "t2.mp4").exists()


def _cli(*args: str):
    return run_cli(*args)


def test_speak_cli_and_its_bad_input(speech_wav: Path, tmp_path: Path) -> None:
    silent = save_audio(tmp_path / "silent.wav", AudioClip(np.zeros((SR, 1), np.float32), SR))
    short = save_audio(tmp_path / "short.wav", AudioClip(np.full((SR // 10, 1), 0.2, np.float32), SR))
    bad_img = tmp_path / "broken.png"
    bad_img.write_bytes(b"not a png")
    face = str(DEMO / "face_1.png")
    res = _cli("speak", "--source", face, "--audio", str(silent), "-o", str(tmp_path / "a.mp4"))
    assert res.returncode != 0 and "silent" in res.stderr and not (tmp_path / "a.mp4").exists()
    res = _cli("speak", "--source", face, "--audio", str(short), "-o", str(tmp_path / "b.mp4"))
    assert res.returncode != 0 and "shorter" in res.stderr
    res = _cli("speak", "--source", str(bad_img), "--audio", str(speech_wav), "-o", str(tmp_path / "c.mp4"))
    assert res.returncode != 0 and "broken.png" in res.stderr and "Traceback" not in res.stderr
    res = _cli("speak", "--source", face, "--audio", str(speech_wav), "-o", str(tmp_path / "d.gif"))
    assert res.returncode != 0 and "MP4" in res.stderr
    res = _cli("speak", "--source", face, "--audio", str(speech_wav), "-o", str(tmp_path / "ok.mp4"),
               "--strength", "1.5")
    assert res.returncode == 0, res.stderr
    assert "40 frames" in res.stdout and (tmp_path / "ok.mp4").is_file()


# ---------------------------------------------------------------------------- training (tiny data)
render = pytest.importorskip("training.synth.render")


@pytest.fixture(scope="module")
def talking_data(talking_stills) -> Path:
    return talking_stills


@pytest.mark.slow
def test_speech_tasks_train_and_fit_on_tiny_data(talking_data: Path, tmp_path: Path) -> None:
    from x2studio.models.x2face import X2Face
    from x2studio.weights import ModelCard, save_weights
    from training.loop import train
    from training.tasks import TASKS
    from training.tasks.audiomap import fit_audio_map

    av = TASKS["avsync"]
    res = train(av, av.recipes["tiny"], talking_data, tmp_path / "av", device="cpu")
    assert res.weights.card.architecture == "avsync" and res.weights.card.config["dim"] == 16
    assert {"val_pair_acc", "val_d_match"} <= set(res.weights.card.metrics)
    ex = TASKS["expression"]
    res2 = train(ex, ex.recipes["tiny"], talking_data, tmp_path / "ex", device="cpu")
    assert res2.weights.card.architecture == "vgg11-expression"
    torch.manual_seed(0)
    cfg = {"image_size": 32, "base": 8, "max_channels": 32, "dim": 16}
    (tmp_path / "w").mkdir()
    x2 = save_weights(X2Face(**cfg).state_dict(), ModelCard("x2-tiny", "x2face", config=cfg), tmp_path / "w")
    for features in (str(res.weights.weights_path), "mfcc"):
        out = fit_audio_map(talking_data, x2face=str(x2.weights_path), features=features, name="a2v",
                            weights_dir=tmp_path / "w", cache=tmp_path / "c")
        m = out["metrics"]
        assert out["entry"].card.architecture == "x2face-a2v" and out["entry"].card.config["dim"] == 16
        assert {"r2_train", "ridge", "r2_val_ols"} <= set(m) and m["frames_train"] > 0
        assert ("r2_val" in m) == ("r2_mouth_val" in m)       # labelled synthetic tracks: the mouth read-out


def test_microphone_recorder_on_the_null_device() -> None:
    """The tests' ALSA default is a null device: recording runs and yields samples; a device
    that cannot record raises AudioDeviceError, which the Audio panel shows as a message."""
    import time

    from x2studio.core.errors import AudioDeviceError
    from x2studio.media.playback import AudioRecorder

    rec = AudioRecorder(sample_rate=16000, max_seconds=0.5)
    rec.start()
    t0 = time.monotonic()
    while rec.seconds < 0.2 and time.monotonic() - t0 < 5:
        time.sleep(0.02)
    clip = rec.stop()
    assert clip.sample_rate == 16000 and 0.1 <= clip.duration_s <= 0.5 and clip.channels == 1
    # the null device hands over uninitialised memory: it arrives finite and within [-1, 1]
    assert np.isfinite(clip.samples).all() and np.abs(clip.samples).max() <= 1.0
    with pytest.raises(AudioDeviceError):
        AudioRecorder(device="no such microphone").start()
