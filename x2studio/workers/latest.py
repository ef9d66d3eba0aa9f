"""A worker that serves only the newest request ("latest wins").

The GUI thread calls :meth:`LatestWins.set_wanted`; when it returns True (the worker was idle) the GUI
also queues :meth:`serve` on the worker's thread.  Requests that arrive while one is being handled
replace each other, so a slow model drops stale requests (slider drags, camera frames, playback)
instead of lagging behind them.
"""

from __future__ import annotations

import logging
import threading

from PySide6.QtCore import QObject, Signal, Slot

from ..core.errors import X2Error, format_error
from .threads import make_thread, retire, stop_thread

__all__ = ["LatestWins", "LatestWinsServer"]

log = logging.getLogger(__name__)


class LatestWins(QObject):
    result = Signal(object)
    failed = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._wanted: object | None = None
        self._serial = 0                  # counts requests: an equal request that came later is still new
        self._offers: dict = {}
        self._stopped = False

    def stop(self) -> None:
        """(Any thread.)  Serve nothing more: the request being handled is the last."""
        with self._lock:
            self._stopped = True
            self._wanted = None

    def offer(self, name: str, value: object) -> None:
        """(Any thread.)  A setting (e.g. a paint layer) applied before the next request is served.
        A queued signal would not do: requests already waiting could be served before it arrives."""
        with self._lock:
            self._offers[name] = value

    def take_offers(self) -> None:
        """Apply the settings offered since the last call (on the worker's thread)."""
        with self._lock:
            offers, self._offers = self._offers, {}
        if offers:
            self.apply_offers(offers)

    def apply_offers(self, offers: dict) -> None:
        """Subclasses: apply ``{name: value}`` settings."""

    def set_wanted(self, request: object) -> bool:
        """Remember ``request`` (replacing any unserved one); True if the worker must be woken."""
        with self._lock:
            if self._stopped:
                return False
            idle = self._wanted is None
            self._wanted = request
            self._serial += 1
            return idle

    def ready_to_serve(self) -> bool:
        """Whether requests can be handled now (e.g. a model is loaded); unhandled ones are dropped."""
        return True

    def handle(self, request: object) -> dict | None:
        """Serve one request on the worker's thread; the returned dict is emitted as ``result``."""
        raise NotImplementedError

    def _guard(self, fn, *args) -> None:
        """Run ``fn``; errors reach the GUI as ``failed`` messages, never as crashes."""
        try:
            fn(*args)
        except X2Error as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # noqa: BLE001 - reach the user as a message
            log.exception("%s failed", type(self).__name__)
            self.failed.emit(format_error(exc))

    @Slot()
    def serve(self) -> None:
        while True:
            with self._lock:
                req, serial = (None, 0) if self._stopped else (self._wanted, self._serial)
            if req is None or not self.ready_to_serve():
                with self._lock:
                    self._wanted = None
                return
            try:
                self.take_offers()
                out = self.handle(req)
            except Exception as exc:  # noqa: BLE001
                with self._lock:
                    self._wanted = None
                if not isinstance(exc, X2Error):
                    log.exception("%s failed", type(self).__name__)
                self.failed.emit(str(exc) if isinstance(exc, X2Error) else format_error(exc))
                return
            with self._lock:
                done = self._serial == serial      # nothing came while this one was handled
                if done:
                    self._wanted = None
            if out is not None:
                self.result.emit(out)
            if done:
                return

    def release(self) -> None:
        """Subclasses: free what the worker holds (readers, synthesizers), on the worker's thread."""

    @Slot()
    def finish(self) -> None:
        """Last call on the worker's thread: :meth:`release`, then end the thread.  Subclasses
        override :meth:`release`, never this: PySide6 calls an overriding slot directly on the
        emitting (GUI) thread, which closed the driving video's decoder under the reenactment
        thread's feet (a segfault in the Reenact panel's teardown)."""
        try:
            self.release()
        finally:
            retire(self)


class LatestWinsServer(QObject):
    """The GUI thread's handle on a :class:`LatestWins` worker running on a thread of its own:
    the worker's ``result``, ``failed`` and :attr:`forwarded` signals are re-emitted here;
    :meth:`_want` queues a request; :meth:`shutdown` stops the thread."""

    result = Signal(object)
    failed = Signal(str)
    _serve = Signal()
    _finish = Signal()
    forwarded: tuple[str, ...] = ()

    def __init__(self, worker: LatestWins, thread_name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread = make_thread(thread_name)
        self._worker = worker
        worker.moveToThread(self._thread)
        self._serve.connect(worker.serve)
        self._finish.connect(worker.finish)
        for name in ("result", "failed", *self.forwarded):
            getattr(worker, name).connect(getattr(self, name))

    def _start(self) -> None:
        """Start the thread (after the subclass has connected its own signals)."""
        self._thread.start()

    def _want(self, request: object) -> None:
        if self._worker.set_wanted(request):
            self._serve.emit()

    def shutdown(self) -> None:
        """Stop serving, let the worker release what it holds on its own thread, end the thread."""
        self._worker.stop()
        stop_thread(self._thread, self._finish)
