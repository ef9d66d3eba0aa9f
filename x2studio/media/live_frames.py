"""Frames as they come, for the live modes: the webcam's (through OpenCV), or a recording's played
at the pace it was filmed."""

from __future__ import annotations

import os
import time

import numpy as np

from ..core.errors import MediaError
from .video import VideoReader

__all__ = ["paced_frames", "camera_frames"]


def paced_frames(path: str | os.PathLike[str], running=lambda: True):
    """A video's frames (RGB arrays) at the pace they were filmed, as a camera would give them (live
    modes on a recording); frames that are already late (a slow decoder) come at once.  Stops early
    when ``running()`` turns false."""
    with VideoReader(path) as rd:
        start, first = time.perf_counter(), None
        for f in rd.frames():
            if not running():
                return
            first = f.time_s if first is None else first
            wait = start + (f.time_s - first) - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            yield f.image


def camera_frames(index: int = 0, running=lambda: True):
    """A webcam's frames (RGB arrays) through OpenCV, as they come, until ``running()`` turns false.
    Raises :class:`MediaError` when the camera cannot be opened or stops sending frames."""
    import cv2

    cap = cv2.VideoCapture(index)
    try:
        if not cap.isOpened():
            raise MediaError(f"No webcam could be opened (camera {index}): it is absent or busy.",
                             "Connect one or choose another; a video can be played live instead.")
        misses = 0
        while running():
            ok, bgr = cap.read()
            if not ok:
                misses += 1
                if misses > 30:
                    raise MediaError("The webcam stopped sending frames.")
                time.sleep(0.03)
                continue
            misses = 0
            yield np.ascontiguousarray(bgr[:, :, ::-1])
    finally:
        cap.release()
