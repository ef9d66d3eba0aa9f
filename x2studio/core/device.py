"""Compute-device selection: CUDA, then MPS, then CPU — overridable by setting and ``X2STUDIO_DEVICE``.

torch is imported lazily inside the functions so that importing ``core`` stays cheap and torch-free.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .errors import InputError

__all__ = ["DeviceInfo", "resolve_device", "describe_devices"]


@dataclass(frozen=True)
class DeviceInfo:
    kind: str  # "cuda" | "mps" | "cpu"
    name: str  # human-readable, e.g. "NVIDIA H100 80GB HBM3" or "CPU (2 threads)"
    torch_device: str  # what torch.device() takes, e.g. "cuda:0"

    @property
    def label(self) -> str:
        return f"{self.kind.upper()}: {self.name}" if self.kind != "cpu" else self.name


def _available() -> dict[str, DeviceInfo]:
    import torch

    found: dict[str, DeviceInfo] = {}
    if torch.cuda.is_available():
        found["cuda"] = DeviceInfo("cuda", torch.cuda.get_device_name(0), "cuda:0")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found["mps"] = DeviceInfo("mps", "Apple GPU (Metal)", "mps")
    found["cpu"] = DeviceInfo("cpu", f"CPU ({torch.get_num_threads()} threads)", "cpu")
    return found


def resolve_device(preference: str = "auto") -> DeviceInfo:
    """The device to compute on.

    ``X2STUDIO_DEVICE`` (auto/cuda/mps/cpu) wins over ``preference`` (the Settings value).  Asking
    for a device that is not there raises :class:`InputError`.
    """
    wanted = (os.environ.get("X2STUDIO_DEVICE") or preference or "auto").strip().lower()
    if wanted.startswith("cuda:"):
        wanted = "cuda"
    found = _available()
    if wanted == "auto":
        for kind in ("cuda", "mps", "cpu"):
            if kind in found:
                return found[kind]
    if wanted not in ("cuda", "mps", "cpu"):
        raise InputError(f"Unknown compute device '{wanted}'.", "Use auto, cuda, mps or cpu.")
    if wanted not in found:
        raise InputError(
            f"The compute device '{wanted}' is not available on this machine.",
            f"Choose one of: {', '.join(['auto', *found])} (Settings, or X2STUDIO_DEVICE).",
        )
    return found[wanted]


def describe_devices() -> list[DeviceInfo]:
    return list(_available().values())
