"""Qt workers: run Qt-free jobs on threads, reporting progress, cancellation and errors as signals."""

from .jobs import JobHandle, JobRunner

__all__ = ["JobHandle", "JobRunner"]
