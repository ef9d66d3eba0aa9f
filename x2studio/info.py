"""What X2 Studio runs on: versions, compute device, soundfont, audio devices (Qt-free).

Versions are read from package metadata so that nothing heavy (torch, Qt) is imported just to
print a number; the compute device does import torch.
"""

from __future__ import annotations

import platform
import sys
from importlib import metadata

from . import __version__
from .core.errors import X2Error
from .core.settings import Settings

__all__ = ["package_versions", "system_report"]

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
    from .media.synth import find_soundfonts, fluidsynth_version, resolve_soundfont

    rows: list[tuple[str, str]] = [("X2 Studio", __version__), ("Python", f"{platform.python_version()} ({sys.executable})"),
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
