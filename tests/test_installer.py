"""Issue 11: what an installed X2 Studio relies on — the synthesizer fallback, the environment check,
importing weights, the frozen entry point, the install script, and (when built) the bundle itself."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from x2studio.core.errors import InputError, MediaError
from x2studio.core.settings import Settings
from x2studio.media.midi import NoteEvent
from x2studio.weights.registry import WeightsRegistry, sha256_of

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "resources" / "weights"


# ------------------------------------------------------------------ synthesizer fallback
def _peak_hz(samples: np.ndarray, rate: int) -> float:
    mono = samples.mean(axis=1)
    spec = np.abs(np.fft.rfft(mono * np.hanning(len(mono))))
    return float(np.fft.rfftfreq(len(mono), 1 / rate)[np.argmax(spec)])


@pytest.mark.parametrize("engine", ["fluidsynth", "tinysoundfont"])
def test_both_synthesizers_play_the_right_pitch(engine: str, monkeypatch) -> None:
    from x2studio.media.synth import render_notes, synth_engine

    monkeypatch.setenv("X2STUDIO_SYNTH", engine)
    assert synth_engine() == {"fluidsynth": "FluidSynth", "tinysoundfont": "TinySoundFont"}[engine]
    clip = render_notes([NoteEvent(pitch=69, onset=0.0, offset=1.0, velocity=100, program=0)], sample_rate=22050)
    x = clip.samples
    assert x.dtype == np.float32 and x.shape[1] == 2 and len(x) == int(round(2.0 * 22050))
    assert 0.005 < np.sqrt((x[:22050] ** 2).mean()) < 0.5          # audible, not clipping
    assert abs(_peak_hz(x[2000:22050], 22050) - 440.0) < 8.0        # A4


def test_tinysoundfont_is_the_fallback_when_fluidsynth_is_missing(monkeypatch) -> None:
    from x2studio.core.errors import DependencyError
    from x2studio.media import synth

    def missing():
        raise DependencyError("The FluidSynth library is not installed.")

    monkeypatch.delenv("X2STUDIO_SYNTH", raising=False)
    monkeypatch.setattr(synth, "_fluidsynth", missing)
    assert synth.synth_engine() == "TinySoundFont"
    clip = synth.render_notes([NoteEvent(onset=0.0, offset=0.5, pitch=60, velocity=90, program=0)], sample_rate=16000)
    assert np.abs(clip.samples).max() > 0.01
    monkeypatch.setenv("X2STUDIO_SYNTH", "fluidsynth")         # forcing the missing one: a clear error
    with pytest.raises(DependencyError, match="FluidSynth"):
        synth.render_notes([NoteEvent(onset=0.0, offset=0.5, pitch=60, velocity=90, program=0)], sample_rate=16000)


def test_a_bad_soundfont_is_refused_by_the_fallback_too(tmp_path: Path, monkeypatch) -> None:
    from x2studio.core.errors import DependencyError
    from x2studio.media.synth import render_notes

    bad = tmp_path / "broken.sf2"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00not a soundfont")
    monkeypatch.setenv("X2STUDIO_SYNTH", "tinysoundfont")
    with pytest.raises(DependencyError, match="could not load the soundfont"):
        render_notes([NoteEvent(onset=0.0, offset=0.5, pitch=60, velocity=90, program=0)], sample_rate=16000, soundfont=bad)


# ------------------------------------------------------------------ environment check
def test_environment_check_names_each_thing_and_its_fix(monkeypatch) -> None:
    from x2studio import info

    checks = {c.name: c for c in info.environment_checks(Settings())}
    assert set(checks) == {"Compute device", "Synthesizer", "Soundfont", "Audio output", "Bundled weights", "Data folder"}
    assert all(c.status in ("ok", "warn", "fail") for c in checks.values())
    assert checks["Bundled weights"].status == "ok" and "checksums verified" in checks["Bundled weights"].found
    assert checks["Compute device"].status == "ok"
    # nothing to play on here (the tests' null sound card may or may not list a device): a warning, never a failure
    assert checks["Audio output"].status in ("ok", "warn")
    for c in checks.values():
        if c.status != "ok":
            assert c.fix, c                     # every problem comes with what to do

    monkeypatch.setattr(info, "_nvidia_present", lambda: True)   # a GPU torch cannot use: say so
    dev = {c.name: c for c in info.environment_checks(Settings())}["Compute device"]
    assert dev.status == "warn" and "driver" in dev.fix


def test_environment_check_reports_damaged_bundled_weights(tmp_path: Path, monkeypatch) -> None:
    from x2studio import info
    from x2studio.weights import registry

    copy = tmp_path / "weights"
    shutil.copytree(BUNDLED, copy)
    data = bytearray((copy / "x2face-lite-v2p.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (copy / "x2face-lite-v2p.safetensors").write_bytes(bytes(data))
    monkeypatch.setattr(registry, "_bundled_dir", lambda: copy)
    c = {c.name: c for c in info.environment_checks(Settings())}["Bundled weights"]
    assert c.status == "fail" and "x2face-lite-v2p" in c.found and "Reinstall" in c.fix


def test_info_check_cli_prints_one_line_per_check() -> None:
    out = subprocess.run([sys.executable, "-m", "x2studio", "info", "--check"], capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("[")]
    assert len(lines) == 6 and any("Bundled weights" in ln for ln in lines)


# ------------------------------------------------------------------ importing weights
def _entry_copy(tmp_path: Path, name: str = "x2face-lite-p2v") -> Path:
    src = tmp_path / "download"
    src.mkdir(parents=True, exist_ok=True)
    for ext in (".safetensors", ".json"):
        shutil.copy(BUNDLED / f"{name}{ext}", src / f"{name}{ext}")
    return src / f"{name}.safetensors"


def test_import_checks_then_installs_and_refuses_to_overwrite(tmp_path: Path) -> None:
    from x2studio.pipelines.weights_import import import_weights

    path = _entry_copy(tmp_path)
    entry = import_weights(path, name="my-p2v")
    assert entry.name == "my-p2v" and not entry.bundled
    assert WeightsRegistry().get("my-p2v").card.sha256 == sha256_of(entry.weights_path)
    with pytest.raises(InputError, match="already installed"):
        import_weights(path, name="my-p2v")
    again = import_weights(path.with_suffix(".json"), name="my-p2v", replace=True)   # the card names it too
    assert again.weights_path == entry.weights_path


def test_import_refuses_damaged_unknown_misfitting_and_pickled_files(tmp_path: Path) -> None:
    from x2studio.pipelines.weights_import import import_weights

    user_dir = Path(WeightsRegistry().folders[-1])
    before = sorted(user_dir.glob("*")) if user_dir.is_dir() else []

    damaged = _entry_copy(tmp_path / "a")
    data = bytearray(damaged.read_bytes())
    data[-1] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with pytest.raises(MediaError, match="checksum"):
        import_weights(damaged)

    unknown = _entry_copy(tmp_path / "b")
    card = json.loads(unknown.with_suffix(".json").read_text())
    card["architecture"] = "mystery-net"
    unknown.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(InputError, match="mystery-net"):
        import_weights(unknown)

    misfit = _entry_copy(tmp_path / "c")
    card = json.loads(misfit.with_suffix(".json").read_text())
    card["config"] = {**card["config"], "dim": int(card["config"]["dim"]) // 2}
    misfit.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(InputError, match="do not fit"):
        import_weights(misfit)

    diverged = _entry_copy(tmp_path / "d")           # a run that diverged, its checksum made to match
    from safetensors.torch import load_file, save_file

    from x2studio.weights.registry import sha256_of

    tensors = load_file(str(diverged))
    first = sorted(k for k, t in tensors.items() if t.is_floating_point())[0]
    tensors[first] = tensors[first].clone().fill_(float("nan"))
    save_file(tensors, str(diverged))
    card = json.loads(diverged.with_suffix(".json").read_text())
    card["sha256"] = sha256_of(diverged)
    diverged.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(MediaError, match="NaN"):
        import_weights(diverged)

    pickled = tmp_path / "model.pt"
    pickled.write_bytes(b"\x80\x04not opened")
    with pytest.raises(InputError, match="never opens pickled"):
        import_weights(pickled)
    with pytest.raises(InputError, match="does not exist"):
        import_weights(tmp_path / "nothing.safetensors")
    assert (sorted(user_dir.glob("*")) if user_dir.is_dir() else []) == before   # nothing was installed


def test_weights_import_cli(tmp_path: Path) -> None:
    path = _entry_copy(tmp_path)
    run = lambda *a: subprocess.run([sys.executable, "-m", "x2studio", "weights", *a], capture_output=True,  # noqa: E731
                                    text=True, timeout=300, cwd=ROOT, env={**os.environ})
    out = run("import", str(path), "--name", "cli-p2v")
    assert out.returncode == 0, out.stderr
    assert "imported 'cli-p2v'" in out.stdout and "sha256" in out.stdout
    out = run("import", str(path), "--name", "cli-p2v")
    assert out.returncode != 0 and "already installed" in out.stderr and "Traceback" not in out.stderr
    listing = run("list")
    assert "cli-p2v" in listing.stdout and "user" in listing.stdout


# ------------------------------------------------------------------ the frozen entry point
def test_launcher_runs_the_cli_and_the_training_module() -> None:
    """The bundle's one executable: ``x2studio …`` is the CLI, ``x2studio -m training …`` the training child."""
    launcher = ROOT / "installer" / "launcher.py"
    out = subprocess.run([sys.executable, str(launcher), "-m", "training", "train", "list", "--json"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "autoencoder" in json.loads(out.stdout.strip().splitlines()[-1])
    out = subprocess.run([sys.executable, str(launcher), "--version"], capture_output=True, text=True, timeout=120,
                         cwd=ROOT)
    assert out.returncode == 0 and "X2 Studio" in out.stdout


def test_spec_keeps_triton_and_unused_qt_out_and_data_in() -> None:
    spec = (ROOT / "installer" / "x2studio.spec").read_text()
    for needed in ('"triton"', "QtQuick", "x2studio/resources", "pretty_midi", "nmp.onnx", 'collect_submodules("training")',
                   "copy_metadata"):
        assert needed in spec
    compile(spec, "x2studio.spec", "exec")       # valid Python (PyInstaller executes it)


# ------------------------------------------------------------------ install.sh
def _fake_bundle(tmp_path: Path) -> Path:
    b = tmp_path / "bundle" / "x2studio"
    (b / "_internal" / "x2studio" / "resources" / "icons").mkdir(parents=True)    # the bundle's package data
    shutil.copy(ROOT / "resources" / "icons" / "x2studio.png",
                b / "_internal" / "x2studio" / "resources" / "icons" / "x2studio.png")
    exe = b / "x2studio"
    exe.write_text("#!/bin/sh\necho fake x2studio \"$@\"\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    shutil.copy(ROOT / "installer" / "x2studio.desktop", b / "x2studio.desktop")
    return b


def test_install_script_installs_replaces_and_uninstalls(tmp_path: Path) -> None:
    bundle, prefix = _fake_bundle(tmp_path), tmp_path / "prefix"
    script = ROOT / "installer" / "install.sh"
    run = lambda *a: subprocess.run(["bash", str(script), *a], capture_output=True, text=True, timeout=120)  # noqa: E731
    out = run("--prefix", str(prefix), str(bundle))
    assert out.returncode == 0, out.stderr
    app, link = prefix / "opt" / "x2studio", prefix / "bin" / "x2studio"
    assert link.is_symlink() and link.resolve() == (app / "x2studio").resolve()
    assert subprocess.run([str(link), "info"], capture_output=True, text=True).stdout.strip() == "fake x2studio info"
    desktop = (prefix / "share" / "applications" / "x2studio.desktop").read_text()
    assert f"Exec={app}/x2studio app %F" in desktop and "@APPDIR@" not in desktop and "Icon=x2studio" in desktop
    assert (prefix / "share" / "icons" / "hicolor" / "256x256" / "apps" / "x2studio.png").is_file()

    (bundle / "NEW").write_text("2")                      # a new version replaces the old one whole
    assert run("--prefix", str(prefix), str(bundle)).returncode == 0
    assert (app / "NEW").is_file() and not (prefix / "opt" / "x2studio.new").exists()

    bad = run("--prefix", str(prefix), str(tmp_path))     # not a bundle: refused, the install untouched
    assert bad.returncode != 0 and "not an X2 Studio bundle" in bad.stderr and (app / "x2studio").is_file()

    out = run("--uninstall", "--prefix", str(prefix))
    assert out.returncode == 0, out.stderr
    assert not app.exists() and not link.exists() and not (prefix / "share" / "applications" / "x2studio.desktop").exists()
    assert run("--uninstall", "--prefix", str(prefix)).returncode != 0   # nothing left to remove: says so


# ------------------------------------------------------------------ the built bundle (installer/build.sh)
BUNDLE_EXE = ROOT / "dist" / "x2studio" / "x2studio"


@pytest.mark.slow
@pytest.mark.skipif(not BUNDLE_EXE.is_file(), reason="no bundle built here (bash installer/build.sh builds and "
                                                     "self-tests it; CI does not build the 5 GB bundle)")
def test_built_bundle_starts_without_the_environment(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "X2STUDIO_HOME": str(tmp_path / "x2"),
           "QT_QPA_PLATFORM": "offscreen", "LANG": "C.UTF-8"}
    out = subprocess.run([str(BUNDLE_EXE), "app", "--self-test"], capture_output=True, text=True, timeout=900,
                         cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "PASSED" in out.stdout


def test_a_wheel_carries_the_top_level_resources(tmp_path: Path) -> None:
    """resources/ sits beside x2studio/ in the tree; an installed wheel has it as x2studio's data,
    where x2studio.core.resources looks when there is no tree."""
    import zipfile

    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                        str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    names = zipfile.ZipFile(next(tmp_path.glob("x2studio-*.whl"))).namelist()
    for bundled in ("x2studio/resources/weights/piano-lite.safetensors", "x2studio/resources/weights/piano-lite.json",
                    "x2studio/resources/demo/piano_4.mp4", "x2studio/resources/icons/x2studio.png"):
        assert bundled in names
    assert "x2studio/cli/__init__.py" in names and "training/loop.py" in names
    from x2studio.core.resources import resources_dir

    assert resources_dir() == ROOT / "resources"
