"""Every QThread X2 Studio starts is made here, so tests (and shutdown) can find those still running."""

from __future__ import annotations

import weakref

import logging

from PySide6.QtCore import QCoreApplication, QObject, QThread, SignalInstance

__all__ = ["make_thread", "running_threads", "hand_back", "retire", "stop_thread"]

log = logging.getLogger(__name__)

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


def retire(worker: QObject) -> None:
    """The very last call on a worker's own thread: hand the worker back and end the thread's event
    loop.  The pair of :func:`stop_thread`."""
    hand_back(worker)
    QThread.currentThread().quit()


def stop_thread(thread: QThread, finish: SignalInstance, msecs: int = 10000) -> bool:
    """Stop a worker's thread once the worker's ``finish`` slot (which must end with :func:`retire`)
    has run *on that thread*, after the call it is busy with; True if the thread has ended.

    Quitting the thread at once instead would drop the queued ``finish`` (so the worker's files,
    decoders and sound streams were never closed on their thread), and Qt gives no warning of it."""
    if not thread.isRunning():
        return True
    finish.emit()
    if thread.wait(msecs):
        return True
    log.warning("the thread '%s' did not finish its work within %d ms; stopping it", thread.objectName(), msecs)
    thread.quit()
    return thread.wait(2000)
