"""The trainable tasks: ``TASKS[name]`` → a task object for :func:`training.loop.train`."""

from __future__ import annotations

from .attributes import AttributesTask
from .avsync import AVSyncPianoTask, AVSyncTask
from .baselines import AutoencoderTask, RotationTask
from .fabnet import FAbNetTask
from .hierarchical import HierarchicalTask
from .identity import IdentityTask
from .piano import PianoTask
from .piano_fusion import PianoFusionTask
from .posemap import ExpressionTask, HeadPoseTask, PoseFromVectorTask, VectorFromPoseTask
from .violin import ViolinStudentTask, ViolinTeacherTask
from .x2face import X2FaceTask

TASKS = {t.name: t for t in (AutoencoderTask(), RotationTask(), IdentityTask(), X2FaceTask(), PoseFromVectorTask(),
                              VectorFromPoseTask(), HeadPoseTask(), ExpressionTask(), AVSyncTask(), AVSyncPianoTask(), FAbNetTask(), HierarchicalTask(),
                              AttributesTask(),
                              PianoTask(), PianoFusionTask(), ViolinTeacherTask(), ViolinStudentTask())}

__all__ = ["TASKS"]
