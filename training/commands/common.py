"""What the training module's commands share: a job reporting to the terminal (or as JSON lines),
a task by name, and the ``--option KEY=VALUE`` pairs."""

from __future__ import annotations

import argparse
import json

from x2studio.core.jobs import Job
from x2studio.core.terminal import TerminalProgress

__all__ = ["reporting_job", "task_named", "options_of"]


def reporting_job(args: argparse.Namespace) -> tuple[Job, TerminalProgress]:
    """A job whose progress goes to a terminal bar, or as JSON lines to stdout (``--events stdout``)."""
    bar = TerminalProgress()

    def report(ev) -> None:
        if args.events == "stdout":
            print(json.dumps({"event": "progress", "done": ev.done, "total": ev.total, "message": ev.message,
                              "eta_s": ev.eta_s}), flush=True)
        else:
            bar(ev)

    return Job(report, min_interval_s=0.2), bar


def task_named(name: str | None):
    from x2studio.core.errors import InputError

    from ..tasks import TASKS

    if name not in TASKS:
        raise InputError(f"No task named '{name}'." if name else "Name a task.",
                         f"Tasks: {', '.join(TASKS)} (see 'train list').")
    return TASKS[name]


def options_of(pairs: list[str]) -> dict:
    from x2studio.core.errors import InputError

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"'--option {pair}' is not KEY=VALUE.")
        out[key] = int(value) if value.lstrip("-").isdigit() else value
    return out
