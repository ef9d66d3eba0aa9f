"""The head-pose convention shared by the data, the models and the app (no heavy imports here, so
the GUI can use it at start-up): yaw, pitch, roll in degrees, 0, 0, 0 facing the camera."""

from __future__ import annotations

__all__ = ["AXES", "LIMITS"]

AXES = ("yaw", "pitch", "roll")
# the ranges the pose controls offer; the training data cover yaw ±60, pitch ±30, roll ±25
LIMITS = {"yaw": (-60.0, 60.0), "pitch": (-30.0, 30.0), "roll": (-25.0, 25.0)}
