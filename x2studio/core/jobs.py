"""The job protocol every long operation uses: a progress callback and a cancel token.

A long function takes ``job: Job | None`` and calls ``job.progress(done, total, message)`` from time
to time; ``progress`` also raises :class:`~x2studio.core.errors.Cancelled` once the token is set, so
a job stops at its next report.  The same object works from the CLI (a terminal reporter), from a
Qt worker (signals) and from tests (a list).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Protocol

from .errors import Cancelled

__all__ = ["CancelToken", "Job", "ProgressEvent", "ProgressSink"]


class CancelToken:
    """A thread-safe flag a UI sets and a job polls."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled()


@dataclass(frozen=True)
class ProgressEvent:
    """One progress report: ``done`` of ``total`` units (``total`` None when unknown)."""

    done: float
    total: float | None
    message: str
    elapsed_s: float

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return max(0.0, min(1.0, self.done / self.total))

    @property
    def eta_s(self) -> float | None:
        frac = self.fraction
        if frac is None or frac <= 0.0:
            return None
        return self.elapsed_s * (1.0 - frac) / frac


class ProgressSink(Protocol):
    def __call__(self, event: ProgressEvent) -> None: ...


class Job:
    """Progress + cancellation handed to a long operation.

    Args:
        sink: called with each :class:`ProgressEvent` (rate-limited to ``min_interval_s``, except
            the first and the final ``done == total`` report).
        token: the cancel token; a new one if omitted.
        min_interval_s: the least time between two reports reaching the sink.
    """

    def __init__(
        self,
        sink: ProgressSink | Callable[[ProgressEvent], None] | None = None,
        token: CancelToken | None = None,
        min_interval_s: float = 0.05,
    ) -> None:
        self.sink = sink
        self.token = token or CancelToken()
        self.min_interval_s = min_interval_s
        self._t0 = time.monotonic()
        self._last = -1e9

    def progress(self, done: float, total: float | None = None, message: str = "") -> None:
        """Report progress; raises :class:`Cancelled` if the job was cancelled."""
        self.token.raise_if_cancelled()
        if self.sink is None:
            return
        now = time.monotonic()
        final = total is not None and done >= total
        if final or now - self._last >= self.min_interval_s:
            self._last = now
            self.sink(ProgressEvent(float(done), None if total is None else float(total), message, now - self._t0))

    def check(self) -> None:
        """Raise :class:`Cancelled` if the job was cancelled (for loops that do not report)."""
        self.token.raise_if_cancelled()


def progress_of(job: Job | None, done: float, total: float | None = None, message: str = "") -> None:
    """``job.progress(...)`` that accepts ``job=None``."""
    if job is not None:
        job.progress(done, total, message)
