"""What the CLI's commands share: a job with a terminal progress bar, output checks, device choice."""

from __future__ import annotations

import argparse
import json
from typing import Callable

from ..core.choices import DETECTORS
from ..core.jobs import Job
from ..core.terminal import TerminalProgress

__all__ = ["job_and_bar", "with_progress", "add_face_options", "add_detector_option", "device_of",
           "DETECTOR_CHOICES"]

DETECTOR_CHOICES = DETECTORS


def job_and_bar() -> tuple[Job, TerminalProgress]:
    bar = TerminalProgress()
    return Job(bar, min_interval_s=0.1), bar


def with_progress(work: Callable[[Job], object], as_json: bool = False):
    """Run ``work(job)`` with a terminal progress bar; print its result's lines, or with ``as_json``
    its ``to_json()``; return the result."""
    job, bar = job_and_bar()
    try:
        result = work(job)
    finally:
        bar.close()
    if as_json:
        print(json.dumps(result.to_json()))
    else:
        for line in result.lines():
            print(line)
    return result



def device_of(args: argparse.Namespace) -> str:
    """``--device``, else the Settings' device (auto: CUDA when present)."""
    from ..core.device import resolve_device
    from ..core.settings import load_settings

    return str(getattr(args, "device", None) or resolve_device(load_settings().device).torch_device)


def add_detector_option(p: argparse.ArgumentParser) -> None:
    """``--detector`` and ``--device``, as every face command has them."""
    p.add_argument("--detector", choices=DETECTOR_CHOICES, default="auto", help="face detector")
    p.add_argument("--device", default=None, help="cpu, cuda… (default: Settings)")


def add_face_options(p: argparse.ArgumentParser) -> None:
    """The options every face-embedding command shares."""
    p.add_argument("--detector", default="auto", choices=DETECTOR_CHOICES)
    p.add_argument("--device", default=None, help="cpu, cuda (default: the settings')")
    p.add_argument("--json", action="store_true")
