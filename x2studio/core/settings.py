"""User preferences: a typed schema with ``schema_version`` and migrations.

Preferences are shared by the app and the CLI (``x2studio info`` reports the soundfont the app
would use), so they live in one Qt-free JSON file (``paths.settings_file()``), written atomically.
Window geometry, recent files and panel state are the GUI's own and live in QSettings
(``x2studio/ui/settings_store.py``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Callable

from .atomic import atomic_write_text
from . import paths

__all__ = ["Settings", "SCHEMA_VERSION", "load_settings", "save_settings", "DEVICE_CHOICES", "THEMES"]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
DEVICE_CHOICES = ("auto", "cuda", "mps", "cpu")
THEMES = ("system", "light", "dark")


@dataclass
class Settings:
    """Preferences a person sets in the Settings dialog.

    Attributes:
        device: compute device, one of ``DEVICE_CHOICES`` ("auto" = CUDA, then MPS, then CPU).
        soundfont: path of a .sf2 soundfont; "" = the first one found on the system.
        audio_output: name of the sound output device; "" = the system default.
        theme: one of ``THEMES``.
    """

    schema_version: int = SCHEMA_VERSION
    device: str = "auto"
    soundfont: str = ""
    audio_output: str = ""
    theme: str = "system"

    def validated(self) -> "Settings":
        """A copy with every unknown value replaced by its default (a hand-edited file never crashes us)."""
        out = Settings(**asdict(self))
        if out.device not in DEVICE_CHOICES:
            log.warning("unknown device setting %r; using 'auto'", out.device)
            out.device = "auto"
        if out.theme not in THEMES:
            out.theme = "system"
        for name in ("soundfont", "audio_output"):
            if not isinstance(getattr(out, name), str):
                setattr(out, name, "")
        out.schema_version = SCHEMA_VERSION
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Settings":
        data = migrate(dict(data))
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known}).validated()


def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    # v1 called the compute device "compute" and used "gpu" for CUDA.
    if "compute" in data:
        value = data.pop("compute")
        data["device"] = "cuda" if value == "gpu" else value
    data["schema_version"] = 2
    return data


_MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2}


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Bring a stored dict up to ``SCHEMA_VERSION`` one step at a time."""
    version = int(data.get("schema_version", 1))
    while version < SCHEMA_VERSION:
        step = _MIGRATIONS.get(version)
        if step is None:
            break
        data = step(data)
        version = int(data.get("schema_version", version + 1))
    return data


def load_settings(path: Path | None = None) -> Settings:
    """The stored preferences, or the defaults if the file is missing or unreadable."""
    path = path or paths.settings_file()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except FileNotFoundError:
        return Settings()
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable settings file %s (%s); using defaults", path, exc)
        return Settings()
    return Settings.from_dict(data)


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    path = path or paths.settings_file()
    atomic_write_text(path, json.dumps(settings.validated().to_dict(), indent=2) + "\n")
    return path
