"""The one QSettings adapter: window geometry, recent files, panel state.

User preferences shared with the CLI (device, soundfont, audio output, theme) live in the Qt-free
JSON file of :mod:`x2studio.core.settings`; this store holds what only the GUI needs.  It uses an
INI file in X2 Studio's config folder (so ``X2STUDIO_HOME`` isolates it too).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from ..core import paths

__all__ = ["SettingsStore"]

MAX_RECENT = 10


class SettingsStore:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or paths.config_dir() / "ui-state.ini"
        self.qsettings = QSettings(str(self.path), QSettings.Format.IniFormat)

    # --------------------------------------------------------- typed reads
    def value_str(self, key: str, default: str = "") -> str:
        value = self.qsettings.value(key, default)
        return value if isinstance(value, str) else default

    def value_int(self, key: str, default: int = 0) -> int:
        try:
            return int(self.qsettings.value(key, default))
        except (TypeError, ValueError):
            return default

    def value_bytes(self, key: str) -> QByteArray | None:
        value = self.qsettings.value(key)
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def set_value(self, key: str, value: object) -> None:
        self.qsettings.setValue(key, value)

    # --------------------------------------------------------- recent files
    def recent_files(self) -> list[str]:
        value = self.qsettings.value("recent/files", [])
        if isinstance(value, str):
            value = [value]
        return [v for v in (value or []) if isinstance(v, str)][:MAX_RECENT]

    def add_recent_file(self, path: str | Path) -> list[str]:
        path = str(Path(path).expanduser().resolve())
        files = [path] + [f for f in self.recent_files() if f != path]
        self.qsettings.setValue("recent/files", files[:MAX_RECENT])
        return files[:MAX_RECENT]

    def remove_recent_file(self, path: str) -> list[str]:
        files = [f for f in self.recent_files() if f != path]
        self.qsettings.setValue("recent/files", files)
        return files

    def clear_recent_files(self) -> None:
        self.qsettings.setValue("recent/files", [])

    def sync(self) -> None:
        self.qsettings.sync()
