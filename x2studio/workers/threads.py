"""Every QThread X2 Studio starts is made here, so tests (and shutdown) can find those still running."""

from __future__ import annotations

import weakref

from PySide6.QtCore import QCoreApplication, QObject, QThread

__all__ = ["make_thread", "running_threads", "hand_back"]

_THREADS: "weakref.WeakSet[QThread]" = weakref.WeakSet()


def make_thread(name: str, parent: QObject | None = None) -> QThread:
    thread = QThread(parent)
    thread.setObjectName(name)
    _THREADS.add(thread)
    return thread


def running_threads() -> list[QThread]:
    alive = []
    for thread in list(_THREADS):
        try:
            if thread.isRunning():
                alive.append(thread)
        except RuntimeError:  # the C++ object is already gone
            continue
    return alive


def hand_back(worker: QObject) -> None:
    """Last call on a worker's thread: move the worker back to the GUI thread, so that Python frees
    it there (a deleteLater() on a Python-owned object would free it twice)."""
    app = QCoreApplication.instance()
    if app is not None:
        worker.moveToThread(app.thread())
