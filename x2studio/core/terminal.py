"""What a terminal program needs around a job: a progress bar on stderr and one readable line per error.

Shared by the ``x2studio`` CLI and the training module's command line (``python -m training``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable

from .errors import Cancelled, X2Error, format_error
from .jobs import ProgressEvent

__all__ = ["TerminalProgress", "run_guarded"]

log = logging.getLogger("x2studio")


class TerminalProgress:
    """A one-line progress bar on stderr (only when stderr is a terminal)."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self._drawn = False

    def __call__(self, ev: ProgressEvent) -> None:
        if not self.enabled:
            return
        frac = ev.fraction
        bar = "#" * int(30 * (frac or 0)) + "-" * (30 - int(30 * (frac or 0)))
        eta = f" ETA {ev.eta_s:5.1f}s" if ev.eta_s is not None else ""
        pct = f"{100 * frac:5.1f}%" if frac is not None else "  ?  "
        self.stream.write(f"\r[{bar}] {pct} {ev.message[:40]:<40}{eta}")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()


def run_guarded(func: Callable[[argparse.Namespace], int], args: argparse.Namespace, *, debug: bool,
                interrupted: str = "interrupted") -> int:
    """Run a command; every error becomes one ``x2studio: error: ...`` line and an exit code."""
    try:
        return int(func(args) or 0)
    except Cancelled:
        print("x2studio: cancelled", file=sys.stderr)
        return Cancelled.exit_code
    except KeyboardInterrupt:
        print(f"x2studio: {interrupted}", file=sys.stderr)
        return 130
    except X2Error as exc:
        if debug:
            log.exception("error")
        print(f"x2studio: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one readable line, no traceback
        if debug:
            log.exception("unexpected error")
        print(f"x2studio: error: {format_error(exc)} (run with --debug for details)", file=sys.stderr)
        return 1
