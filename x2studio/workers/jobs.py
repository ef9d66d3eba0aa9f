"""One way to run a Qt-free job on a thread.

A *job function* takes a :class:`~x2studio.core.jobs.Job` and returns a result::

    def work(job):
        for i in range(n):
            job.progress(i, n, "doing")
        return result

``JobRunner.start(title, work)`` runs it on its own ``QThread`` and returns a :class:`JobHandle`
whose signals report ``progress(ProgressEvent)``, then exactly one of ``succeeded(result)``,
``failed(message, details)`` or ``cancelled()``, then ``ended()``.  Errors never escape the thread:
a user-facing :class:`X2Error` arrives as its message, anything else as a one-line summary plus the
traceback in ``details``.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, Signal, Slot

from ..core.errors import Cancelled, X2Error, format_error
from ..core.jobs import CancelToken, Job, ProgressEvent
from .threads import hand_back, make_thread

__all__ = ["JobHandle", "JobRunner"]

log = logging.getLogger(__name__)


class _JobWorker(QObject):
    progress = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str, str)
    cancelled = Signal()
    finished = Signal()

    def __init__(self, fn: Callable[[Job], Any], token: CancelToken) -> None:
        super().__init__()
        self._fn = fn
        self._token = token

    def _emit_progress(self, event: ProgressEvent) -> None:
        self.progress.emit(event)

    @Slot()
    def run(self) -> None:
        job = Job(self._emit_progress, self._token)
        try:
            result = self._fn(job)
        except Cancelled:
            self.cancelled.emit()
        except X2Error as exc:
            self.failed.emit(str(exc), "")
        except MemoryError:
            self.failed.emit(format_error(MemoryError()), traceback.format_exc())
        except Exception as exc:  # noqa: BLE001 - every error must reach the user as a message
            log.exception("job failed")
            if _is_cuda_oom(exc):
                self.failed.emit("The GPU ran out of memory — choose the CPU in Settings or use a smaller input.",
                                 traceback.format_exc())
            else:
                self.failed.emit(format_error(exc), traceback.format_exc())
        else:
            if self._token.cancelled:
                self.cancelled.emit()
            else:
                self.succeeded.emit(result)
        finally:
            hand_back(self)   # before this thread ends
            self.finished.emit()


def _is_cuda_oom(exc: BaseException) -> bool:
    return type(exc).__name__ == "OutOfMemoryError" or "CUDA out of memory" in str(exc)


class JobHandle(QObject):
    """A running job: its title, cancel, and signals forwarded from its worker."""

    progress = Signal(object)  # ProgressEvent
    succeeded = Signal(object)
    failed = Signal(str, str)  # message, details
    cancelled = Signal()
    ended = Signal(object)  # this handle

    def __init__(self, title: str, fn: Callable[[Job], Any]) -> None:
        # Python owns the handle, its worker and (as a Qt child) its thread; nothing here is deleted
        # with deleteLater(), which on Python-owned objects risks a double free.
        super().__init__()
        self.title = title
        self.token = CancelToken()
        self.last_progress: ProgressEvent | None = None
        self.outcome: str = "running"  # running | succeeded | failed | cancelled
        self.error: str = ""
        # The thread is a Qt child of the handle: it is destroyed with the handle, after it has ended,
        # never by Python's garbage collector while its OS thread may still be winding down.
        self._thread = make_thread(f"job: {title}", parent=self)
        self._worker = _JobWorker(fn, self.token)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        self._worker.progress.connect(self._on_worker_progress)
        self._worker.succeeded.connect(self._on_worker_succeeded)
        self._worker.failed.connect(self._on_worker_failed)
        self._worker.cancelled.connect(self._on_worker_cancelled)
        # Direct: quit() is thread-safe, and a GUI thread blocked in wait() could not run a queued call.
        self._worker.finished.connect(self._thread.quit, Qt.ConnectionType.DirectConnection)
        self._thread.finished.connect(self._on_thread_finished)

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        self.token.cancel()

    def is_running(self) -> bool:
        """Whether the job's thread is still alive (it winds down a little after the outcome is known)."""
        return self._thread.isRunning()

    def is_working(self) -> bool:
        """Whether the job's work has not ended yet.  A panel that starts its next job from this one's
        ``succeeded`` slot asks this, not :meth:`is_running`: the thread may still be winding down then."""
        return self.outcome == "running"

    def wait(self, msecs: int = 30000) -> bool:
        return self._thread.wait(msecs)

    def _on_worker_progress(self, event: ProgressEvent) -> None:
        self.last_progress = event
        self.progress.emit(event)

    def _on_worker_succeeded(self, result: object) -> None:
        self.outcome = "succeeded"
        self.succeeded.emit(result)

    def _on_worker_failed(self, message: str, details: str) -> None:
        self.outcome, self.error = "failed", message
        self.failed.emit(message, details)

    def _on_worker_cancelled(self) -> None:
        self.outcome = "cancelled"
        self.cancelled.emit()

    def _on_thread_finished(self) -> None:
        self._thread.wait()  # finished() comes just before the OS thread really ends
        self.ended.emit(self)


class JobRunner(QObject):
    """Starts jobs and keeps them alive until they end; the status bar watches it."""

    jobStarted = Signal(object)  # JobHandle
    jobEnded = Signal(object)  # JobHandle
    jobFailed = Signal(str, str, str)  # title, message, details

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._active: list[JobHandle] = []
        self._retired: list[JobHandle] = []  # ended handles, freed at the next start (never inside their own signal)

    def start(self, title: str, fn: Callable[[Job], Any],
              on_success: Callable[[Any], None] | None = None,
              on_failure: Callable[[str, str], None] | None = None) -> JobHandle:
        self._retired.clear()
        handle = JobHandle(title, fn)
        if on_success is not None:
            handle.succeeded.connect(on_success)
        if on_failure is not None:
            handle.failed.connect(on_failure)
        else:
            handle.failed.connect(self._on_handle_failed)
        handle.ended.connect(self._on_handle_ended)
        self._active.append(handle)
        self.jobStarted.emit(handle)
        handle.start()
        return handle

    def active(self) -> list[JobHandle]:
        return list(self._active)

    def cancel_all(self) -> None:
        for handle in self._active:
            handle.cancel()

    def shutdown(self, msecs: int = 10000) -> bool:
        """Cancel every job and wait for the threads; True if all ended."""
        self.cancel_all()
        ok = all(h.wait(msecs) for h in list(self._active))
        return ok

    def _on_handle_failed(self, message: str, details: str) -> None:
        handle = self.sender()
        self.jobFailed.emit(getattr(handle, "title", "A job"), message, details)

    def _on_handle_ended(self, handle: JobHandle) -> None:
        if handle in self._active:
            self._active.remove(handle)
            self._retired.append(handle)
        self.jobEnded.emit(handle)
