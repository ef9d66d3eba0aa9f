"""The trainable tasks: ``TASKS[name]`` → a task object for :func:`training.loop.train`."""

from __future__ import annotations

from .baselines import AutoencoderTask, RotationTask

TASKS = {t.name: t for t in (AutoencoderTask(), RotationTask())}

__all__ = ["TASKS"]
