"""The trainable tasks: ``TASKS[name]`` → a task object for :func:`training.loop.train`."""

from __future__ import annotations

from .baselines import AutoencoderTask, RotationTask
from .identity import IdentityTask
from .posemap import HeadPoseTask, PoseFromVectorTask, VectorFromPoseTask
from .x2face import X2FaceTask

TASKS = {t.name: t for t in (AutoencoderTask(), RotationTask(), IdentityTask(), X2FaceTask(), PoseFromVectorTask(),
                              VectorFromPoseTask(), HeadPoseTask())}

__all__ = ["TASKS"]
