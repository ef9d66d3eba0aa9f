"""Where X2 Studio keeps the user's files (platformdirs), overridable by ``X2STUDIO_HOME``.

With ``X2STUDIO_HOME`` set, everything lives below it (``config/``, ``data/``, ``cache/``...): the
tests use this to run in a temporary folder, and a user can keep a portable installation.
"""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import PlatformDirs

__all__ = ["config_dir", "data_dir", "cache_dir", "log_dir", "user_weights_dir", "settings_file"]

_APP = "x2studio"


def _home() -> Path | None:
    value = os.environ.get("X2STUDIO_HOME", "").strip()
    return Path(value).expanduser() if value else None


def _dirs() -> PlatformDirs:
    return PlatformDirs(_APP, appauthor=False)


def _pick(sub: str, default: str) -> Path:
    home = _home()
    path = home / sub if home else Path(default)
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_dir() -> Path:
    return _pick("config", _dirs().user_config_dir)


def data_dir() -> Path:
    return _pick("data", _dirs().user_data_dir)


def cache_dir() -> Path:
    return _pick("cache", _dirs().user_cache_dir)


def log_dir() -> Path:
    return _pick("logs", _dirs().user_log_dir)


def user_weights_dir() -> Path:
    """Weights trained or installed by the user (besides those bundled in ``resources/weights``)."""
    path = data_dir() / "weights"
    path.mkdir(parents=True, exist_ok=True)
    return path


def settings_file() -> Path:
    return config_dir() / "settings.json"
