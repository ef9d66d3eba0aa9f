"""Run the training module (``python -m training …``) as a child process and read its JSON events.

The child prints progress as JSON lines on stdout (``--events stdout``); everything else it prints
(stdout or stderr) arrives as plain lines.  The last lines are kept, so that when the child dies the
user sees why.  :meth:`EventProcess.cancel` sends SIGTERM (the training loop saves a checkpoint and
exits) and kills the child if it has not ended 20 s later.

``QProcess`` does the reading on the GUI's event loop without blocking it: no thread of our own.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections import deque

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

__all__ = ["EventProcess", "training_command"]

log = logging.getLogger(__name__)
KILL_AFTER_MS = 20000


def training_command(args: list[str]) -> tuple[str, list[str]]:
    """Program and arguments that run the training module with ``args``."""
    return sys.executable, ["-m", "training", *args]


class EventProcess(QObject):
    event = Signal(object)       # a JSON event line (dict; object: passed as is, no QVariantMap conversion) ({"event": ...})
    line = Signal(str)           # any other output line (stdout or stderr)
    ended = Signal(int, str)     # exit code (-1: crashed or could not start), outcome: ok|failed|cancelled

    def __init__(self, parent: QObject | None = None, keep_lines: int = 400) -> None:
        super().__init__(parent)
        self.tail: deque[str] = deque(maxlen=keep_lines)
        self.stdout_lines: list[str] = []
        self._proc: QProcess | None = None
        self._buf = {"out": b"", "err": b""}
        self._cancelled = False
        self._kill_timer = QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.timeout.connect(self._kill)

    def start(self, args: list[str], env: dict[str, str] | None = None) -> None:
        if self.is_running():
            raise RuntimeError("a process is already running")
        self.tail.clear()
        self.stdout_lines = []
        self._buf = {"out": b"", "err": b""}
        self._cancelled = False
        proc = QProcess(self)
        penv = QProcessEnvironment.systemEnvironment()
        penv.insert("PYTHONUNBUFFERED", "1")
        penv.insert("PYTHONFAULTHANDLER", "1")   # a child killed by a signal says where, in its last lines
        for k, v in (env or {}).items():
            penv.insert(k, v)
        if "X2STUDIO_HOME" in os.environ:
            penv.insert("X2STUDIO_HOME", os.environ["X2STUDIO_HOME"])
        proc.setProcessEnvironment(penv)
        proc.readyReadStandardOutput.connect(lambda: self._read("out"))
        proc.readyReadStandardError.connect(lambda: self._read("err"))
        proc.finished.connect(self._on_finished)
        proc.errorOccurred.connect(self._on_error)
        self._proc = proc
        program, argv = training_command(args)
        log.info("starting %s %s", program, " ".join(argv))
        proc.start(program, argv)

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.state() != QProcess.ProcessState.NotRunning

    def cancel(self) -> None:
        """Ask the child to save and stop (SIGTERM); kill it if it has not ended in 20 s."""
        if not self.is_running():
            return
        self._cancelled = True
        self._proc.terminate()
        self._kill_timer.start(KILL_AFTER_MS)

    def wait(self, msecs: int) -> bool:
        return self._proc is None or self._proc.waitForFinished(msecs) or not self.is_running()

    def _kill(self) -> None:
        if self.is_running():
            log.warning("the training process did not stop after SIGTERM; killing it")
            self._proc.kill()

    def _read(self, which: str) -> None:
        if self._proc is None:
            return
        data = bytes(self._proc.readAllStandardOutput() if which == "out" else self._proc.readAllStandardError())
        buf = self._buf[which] + data
        *lines, self._buf[which] = buf.split(b"\n")
        for raw in lines:
            self._line(raw.decode("utf-8", "replace").rstrip("\r"), which)

    def _line(self, text: str, which: str) -> None:
        # carriage returns: a terminal bar redrawn in place; keep its last state
        text = text.rsplit("\r", 1)[-1]
        if which == "out" and text.startswith("{"):
            try:
                ev = json.loads(text)
            except ValueError:
                ev = None
            if isinstance(ev, dict) and "event" in ev:
                self.event.emit(ev)
                return
        if which == "out":
            self.stdout_lines.append(text)
        if text.strip():
            self.tail.append(text)
            self.line.emit(text)

    def _flush(self) -> None:
        for which in ("out", "err"):
            if self._buf[which]:
                self._line(self._buf[which].decode("utf-8", "replace"), which)
                self._buf[which] = b""

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self.tail.append(f"could not start {sys.executable}: {self._proc.errorString()}")
            self._proc = None
            self.ended.emit(-1, "failed")

    def _on_finished(self, code: int, status: QProcess.ExitStatus) -> None:
        self._kill_timer.stop()
        self._read("out")
        self._read("err")
        self._flush()
        crashed = status == QProcess.ExitStatus.CrashExit
        if self._cancelled:
            outcome = "cancelled"
        elif crashed or code != 0:
            outcome = "failed"
        else:
            outcome = "ok"
        self.ended.emit(-1 if crashed else code, outcome)

    def last_error(self) -> str:
        """The child's own one-line error (``x2studio: error: …``), else its last line."""
        for text in reversed(self.tail):
            if "error:" in text:
                return text.split("error:", 1)[1].strip()
        return self.tail[-1] if self.tail else "no output"
