"""QApplication bootstrap: names, logging, excepthook, Qt message handler, main window."""

from __future__ import annotations

import logging
import logging.handlers
import sys
import traceback
from pathlib import Path
from typing import Sequence

from PySide6.QtCore import QtMsgType, qInstallMessageHandler
from PySide6.QtWidgets import QApplication

from . import APP_NAME, ORG_NAME, __version__
from .core import paths
from .core.errors import format_error

__all__ = ["run_app", "create_main_window", "demo_media"]

log = logging.getLogger("x2studio")


def _setup_logging() -> Path:
    logfile = paths.log_dir() / "x2studio.log"
    handler = logging.handlers.RotatingFileHandler(logfile, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return logfile


def _qt_message_handler(mode: QtMsgType, context, message: str) -> None:
    level = {QtMsgType.QtDebugMsg: logging.DEBUG, QtMsgType.QtInfoMsg: logging.INFO,
             QtMsgType.QtWarningMsg: logging.WARNING, QtMsgType.QtCriticalMsg: logging.ERROR,
             QtMsgType.QtFatalMsg: logging.CRITICAL}.get(mode, logging.INFO)
    logging.getLogger("qt").log(level, message)


def _install_excepthook(window_getter) -> None:
    def hook(exc_type, exc, tb) -> None:
        details = "".join(traceback.format_exception(exc_type, exc, tb))
        log.error("uncaught exception:\n%s", details)
        window = window_getter()
        if window is not None:
            window.show_error(format_error(exc), details)

    sys.excepthook = hook


def demo_media() -> list[Path]:
    """The demo clips bundled in ``x2studio/resources/demo`` (opened on the very first start)."""
    from importlib import resources

    folder = Path(str(resources.files("x2studio") / "resources" / "demo"))
    return sorted(p for p in folder.glob("*") if p.suffix.lower() in (".mp4", ".wav", ".mkv", ".mov"))


def create_main_window():
    from .ui.main_window import MainWindow

    return MainWindow()


def run_app(files: Sequence[str] = ()) -> int:
    """Start the GUI; open ``files`` (or, on the first start, the bundled demo clip)."""
    logfile = _setup_logging()
    qInstallMessageHandler(_qt_message_handler)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORG_NAME)
    app.setApplicationName(APP_NAME)
    app.setApplicationVersion(__version__)
    log.info("X2 Studio %s starting; log at %s", __version__, logfile)
    window = create_main_window()
    _install_excepthook(lambda: window)
    window.show()
    to_open = list(files)
    if not to_open:
        recent = window.store.recent_files()
        to_open = [recent[0]] if recent and Path(recent[0]).is_file() else [str(p) for p in demo_media()[:1]]
    if to_open:
        window.open_path(to_open[0])
    return app.exec()
