"""QApplication bootstrap: names, logging, excepthook, Qt message handler, main window."""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
import traceback
from pathlib import Path
from typing import Sequence

import time

from PySide6.QtCore import QObject, QTimer, QtMsgType, Signal, qInstallMessageHandler
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from . import APP_NAME, ORG_NAME, __version__
from .core import paths
from .core.errors import X2Error, format_error

__all__ = ["run_app", "create_main_window", "demo_media", "SelfTest", "app_icon"]

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
    """The demo clips bundled in ``resources/demo`` (opened on the very first start)."""
    from .core.resources import demo_dir

    folder = demo_dir()
    return sorted(p for p in folder.glob("*") if p.suffix.lower() in (".mp4", ".wav", ".mkv", ".mov"))


def create_main_window():
    from .ui.main_window import MainWindow

    return MainWindow()


def app_icon() -> QIcon:
    from .core.resources import icons_dir

    return QIcon(str(icons_dir() / "x2studio.png"))


def _panel_busy(panel) -> bool:
    jobs = getattr(panel, "jobs", None)
    if jobs is not None and jobs.active():
        return True
    proc = getattr(panel, "proc", None)                  # the Train panel's training child
    return proc is not None and proc.is_running()


class SelfTest(QObject):
    """``x2studio app --self-test``: opens the demo project, shows every panel in turn and waits for what
    it starts (demo reenactment, transcription, gallery, task list...), collects every error the user
    would have seen, optionally saves a screenshot per panel, prints one line per panel and quits
    with 0 (all panels worked) or 1.  The installer's build runs it on the built bundle."""

    finished = Signal(int)   # the exit code

    def __init__(self, window, shots: Path | None = None, settle_s: float = 2.0, timeout_s: float = 240.0) -> None:
        super().__init__(window)
        self.window = window
        self.shots = shots
        self.settle_s, self.timeout_s = settle_s, timeout_s
        self.order = list(window.panels)
        self.errors: list[tuple[str, str]] = []
        self.rows: list[tuple[str, str, float]] = []
        self.exit_code: int | None = None
        self._current = "start"
        window.error_sink = lambda message, details="": self.errors.append((self._current, message))
        self._timer = QTimer(self)
        self._timer.setInterval(250)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        print("start       window shown", flush=True)
        if self.shots is not None:
            try:
                self.shots.mkdir(parents=True, exist_ok=True)
            except OSError as exc:        # an unwritable --shots folder: say so and stop, do not hang
                self.errors.append(("start", f"cannot write screenshots to '{self.shots}': {exc.strerror or exc}"))
                self.order = []
                self._finish()
                return
        self.window.open_demo_project()
        self._next()
        self._timer.start()

    def _next(self) -> None:
        if not self.order:
            self._finish()
            return
        self._current = self.order.pop(0)
        self._t0 = time.monotonic()
        self.window.panel_list.setCurrentRow(list(self.window.panels).index(self._current))

    def _tick(self) -> None:
        if self.exit_code is not None:
            return
        elapsed = time.monotonic() - self._t0
        panel = self.window.panels[self._current]
        busy = _panel_busy(panel) or bool(self.window.jobs.active())
        if elapsed < self.settle_s or (busy and elapsed < self.timeout_s):
            return
        mine = [m for p, m in self.errors if p == self._current]
        status = getattr(panel, "status", None)
        said = status.text() if status is not None and hasattr(status, "text") else ""
        if busy:
            outcome = f"TIMEOUT after {self.timeout_s:.0f} s"
            self.errors.append((self._current, outcome))
        else:
            outcome = "ERROR: " + "; ".join(mine) if mine else "ok"
        self.rows.append((self._current, f"{outcome}{' — ' + said if said and not mine else ''}", elapsed))
        print(f"{self._current:<11} {elapsed:6.1f} s  {self.rows[-1][1]}", flush=True)
        if self.shots is not None:
            index = len(self.rows)
            if not self.window.grab().save(str(self.shots / f"{index:02d}_{self._current}.png")):
                self.errors.append((self._current, f"the screenshot could not be written to '{self.shots}'"))
        self._next()

    def _finish(self) -> None:
        self._timer.stop()
        start_errors = [m for p, m in self.errors if p == "start"]
        for message in start_errors:
            print(f"{'start':<11} ERROR: {message}", flush=True)
        self.exit_code = 1 if self.errors else 0
        print(f"self-test: {len(self.rows)} panels, {len(self.errors)} errors -> "
              f"{'PASSED' if self.exit_code == 0 else 'FAILED'}", flush=True)
        self.window.close()
        self.finished.emit(self.exit_code)


def check_display(environ=os.environ) -> None:
    """Raise a sentence that says what to do when there is no screen to open a window on (else Qt
    aborts the process with "could not load the Qt platform plugin")."""
    platform = environ.get("QT_QPA_PLATFORM", "")
    if not sys.platform.startswith("linux") or platform not in ("", "xcb", "wayland"):
        return
    if environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"):
        return
    raise X2Error("There is no display to open X2 Studio's window on (neither DISPLAY nor WAYLAND_DISPLAY is set).",
                  "Start it from a desktop session, or under a virtual display: 'xvfb-run -a bash installer/go.sh "
                  "app'. Every feature also works from the command line without a display: 'x2studio --help'.")


def run_app(files: Sequence[str] = (), self_test: bool = False, shots: str | Path | None = None) -> int:
    """Start the GUI; open ``files`` (or, on the first start, the bundled demo clip).  ``self_test``:
    run :class:`SelfTest` and return its exit code."""
    if QApplication.instance() is None:
        check_display()
    logfile = _setup_logging()
    qInstallMessageHandler(_qt_message_handler)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORG_NAME)
    app.setApplicationName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setWindowIcon(app_icon())
    app.setDesktopFileName("x2studio")
    log.info("X2 Studio %s starting; log at %s", __version__, logfile)
    window = create_main_window()
    _install_excepthook(lambda: window)
    window.show()
    if self_test:
        test = SelfTest(window, Path(shots) if shots else None)
        test.finished.connect(app.exit)
        QTimer.singleShot(0, test.start)
        app.exec()
        return 1 if test.exit_code is None else test.exit_code
    to_open = list(files)
    if not to_open:
        recent = window.store.recent_files()
        to_open = [recent[0]] if recent and Path(recent[0]).is_file() else [str(p) for p in demo_media()[:1]]
    if to_open:
        window.open_path(to_open[0])
    if window.store.value_int("welcome/show", 1):
        QTimer.singleShot(0, window.open_welcome)
    return app.exec()
