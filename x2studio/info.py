"""What X2 Studio runs on: versions, compute device, soundfont, audio devices (Qt-free).

Versions are read from package metadata so that nothing heavy (torch, Qt) is imported just to
print a number; the compute device does import torch.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from . import __version__
from .core.errors import X2Error
from .core.settings import Settings

__all__ = ["package_versions", "system_report", "Check", "environment_checks", "is_frozen"]

_PACKAGES = ("torch", "torchvision", "PySide6-Essentials", "pyqtgraph", "av", "numpy", "opencv-python-headless",
             "soundfile", "sounddevice", "pyfluidsynth", "pretty_midi", "music21", "safetensors")


def package_versions() -> dict[str, str]:
    out = {"x2studio": __version__, "python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def torch_build() -> dict[str, str]:
    import torch

    return {"torch": torch.__version__, "cuda (build)": str(torch.version.cuda or "none"),
            "cudnn": str(torch.backends.cudnn.version() or "none") if torch.backends.cudnn.is_available() else "none"}


def system_report(settings: Settings) -> list[tuple[str, str]]:
    """(label, value) rows for ``x2studio info`` and the About dialog."""
    from .core.device import describe_devices, resolve_device
    from .media.playback import list_output_devices, portaudio_version
    from .media.synth import find_soundfonts, fluidsynth_version, resolve_soundfont, synth_engine

    rows: list[tuple[str, str]] = [("X2 Studio", __version__ + (" (installed bundle)" if is_frozen() else "")), ("Python", f"{platform.python_version()} ({sys.executable})"),
                                   ("Platform", platform.platform())]
    versions = package_versions()
    rows += [(name, versions[name]) for name in _PACKAGES]
    try:
        build = torch_build()
        rows.append(("CUDA (torch build)", build["cuda (build)"]))
        dev = resolve_device(settings.device)
        rows.append(("Compute device", f"{dev.label} [setting: {settings.device}]"))
        rows.append(("Devices available", ", ".join(d.label for d in describe_devices())))
    except X2Error as exc:
        rows.append(("Compute device", f"unavailable: {exc}"))
    except ImportError as exc:
        rows.append(("Compute device", f"torch cannot be imported: {exc}"))
    rows.append(("FluidSynth", fluidsynth_version()))
    rows.append(("Synthesizer", synth_engine()))
    try:
        rows.append(("Soundfont", str(resolve_soundfont(settings.soundfont))))
    except X2Error as exc:
        rows.append(("Soundfont", f"none: {exc}"))
    others = [str(p) for p in find_soundfonts()][1:]
    if others:
        rows.append(("Other soundfonts", "; ".join(others)))
    rows.append(("PortAudio", portaudio_version()))
    try:
        outs = list_output_devices()
        rows.append(("Audio outputs", "; ".join(f"{d.name}{' (default)' if d.is_default else ''}" for d in outs)
                     or "none (playback disabled; offline rendering works)"))
    except X2Error as exc:
        rows.append(("Audio outputs", f"none: {exc}"))
    return rows


def is_frozen() -> bool:
    """True in the installed one-folder bundle (PyInstaller), False in a source tree or virtual environment."""
    return bool(getattr(sys, "frozen", False))


@dataclass(frozen=True)
class Check:
    """One line of the environment check: what was looked at, what was found, and what to do."""

    name: str
    status: str        # ok | warn | fail
    found: str
    fix: str = ""


def _nvidia_present() -> bool:
    return Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi") is not None


def environment_checks(settings: Settings) -> list[Check]:
    """What the welcome screen and ``x2studio info --check`` show: device, synthesis, sound, weights, folders."""
    from .core import paths
    from .core.device import resolve_device
    from .media.playback import list_output_devices
    from .media.synth import resolve_soundfont, synth_engine
    from .weights.registry import WeightsRegistry

    checks: list[Check] = []
    try:
        dev = resolve_device(settings.device)
        if dev.kind == "cpu" and _nvidia_present():
            checks.append(Check("Compute device", "warn", f"{dev.label}: an NVIDIA GPU is here but PyTorch cannot use it",
                                "Update the NVIDIA driver (CUDA 12 needs driver 525 or newer) and restart X2 Studio."))
        elif dev.kind == "cpu":
            checks.append(Check("Compute device", "ok", f"{dev.label} (no GPU found)",
                                "The bundled models run on the CPU. Training at paper scale wants an NVIDIA GPU."))
        else:
            checks.append(Check("Compute device", "ok", dev.label))
    except X2Error as exc:
        checks.append(Check("Compute device", "warn", f"the setting '{settings.device}' cannot be used: {exc.message}",
                            "Choose 'auto' in Settings > Device."))
    except ImportError as exc:
        checks.append(Check("Compute device", "fail", f"PyTorch cannot be loaded ({exc})",
                            "Reinstall X2 Studio (bash installer/go.sh app, or the bundle)."))
    engine = synth_engine()
    if engine == "FluidSynth":
        checks.append(Check("Synthesizer", "ok", "FluidSynth"))
    elif engine == "TinySoundFont":
        checks.append(Check("Synthesizer", "ok", "TinySoundFont (FluidSynth is not installed)",
                            "Optional: install FluidSynth (Debian: apt install libfluidsynth3) for its reverb and chorus."))
    else:
        checks.append(Check("Synthesizer", "fail", "none: notes cannot be played or rendered",
                            "Install FluidSynth (Debian: apt install libfluidsynth3) or 'pip install --no-deps tinysoundfont'."))
    try:
        sf = resolve_soundfont(settings.soundfont)
        small = sf.name == "TimGM6mb.sf2"
        checks.append(Check("Soundfont", "warn" if small else "ok", str(sf),
                            "A small General MIDI soundfont: install a better one (Debian: apt install "
                            "fluid-soundfont-gm) or choose any .sf2 in Settings." if small else ""))
    except X2Error as exc:
        checks.append(Check("Soundfont", "fail", exc.message, exc.hint or "Choose a .sf2 file in Settings."))
    try:
        outs = list_output_devices()
        if outs:
            default = next((d.name for d in outs if d.is_default), outs[0].name)
            checks.append(Check("Audio output", "ok", f"{default} ({len(outs)} device{'s' if len(outs) > 1 else ''})"))
        else:
            checks.append(Check("Audio output", "warn", "no output device: playback is off (rendering to files works)",
                                "Connect or enable a sound device (PulseAudio/PipeWire on Linux), then restart."))
    except X2Error as exc:
        checks.append(Check("Audio output", "warn", f"none: {exc.message}",
                            exc.hint or "Install PortAudio (Debian: apt install libportaudio2)."))
    bundled = [e for e in WeightsRegistry().entries().values() if e.bundled]
    damaged = []
    for entry in bundled:
        try:
            entry.verify()
        except X2Error:
            damaged.append(entry.name)
    if not bundled:
        checks.append(Check("Bundled weights", "fail", "none found", "Reinstall X2 Studio."))
    elif damaged:
        checks.append(Check("Bundled weights", "fail", f"{len(damaged)} of {len(bundled)} damaged: {', '.join(damaged)}",
                            "Reinstall X2 Studio."))
    else:
        mb = sum(e.size_bytes for e in bundled) / 1e6
        checks.append(Check("Bundled weights", "ok", f"{len(bundled)} models, {mb:.0f} MB, checksums verified"))
    try:
        folder = paths.data_dir()
        folder.mkdir(parents=True, exist_ok=True)
        writable = os.access(folder, os.W_OK)
    except OSError:
        folder, writable = Path("?"), False
    checks.append(Check("Data folder", "ok" if writable else "fail", str(folder),
                        "" if writable else "Make it writable, or set X2STUDIO_HOME to a writable folder."))
    return checks
