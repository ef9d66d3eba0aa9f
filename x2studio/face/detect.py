"""Offline face detectors: mediapipe's BlazeFace (installed by the set-up script), or OpenCV's bundled
Haar cascades where mediapipe is missing.

Both return boxes in the *landmark-box* convention (the tight box of the 68 iBUG points, as the
synthetic ground truth defines it), so that the crop margin (``tracks.CROP_MARGIN``) means the same thing whichever
detector found the face.  Each detector's raw box is mapped with a scale and offset measured on
rendered faces where the landmark box is known (``benchmarks/face_detectors.py`` re-measures it).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from dataclasses import dataclass

import cv2
import numpy as np

from ..core.errors import DependencyError, InputError

__all__ = ["Detection", "FaceDetector", "HaarDetector", "MediaPipeDetector", "make_detector", "iou_matrix"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Detection:
    box: np.ndarray     # (4,) x0, y0, x1, y1 in pixels (landmark-box convention)
    score: float

    @property
    def size(self) -> float:
        return float(np.sqrt(max(self.box[2] - self.box[0], 0) * max(self.box[3] - self.box[1], 0)))


class FaceDetector:
    """``detect(rgb) → list[Detection]``, largest first."""

    name = "base"
    # raw box → landmark box: centre shift (fraction of raw width/height) and size scale
    calib = (0.0, 0.0, 1.0, 1.0)

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise InputError("A face detector needs an RGB image (H, W, 3) of uint8.")
        if min(rgb.shape[:2]) < 16:
            return []
        raw = self._detect(rgb)
        out = [Detection(self._calibrate(b), s) for b, s in raw]
        return sorted(out, key=lambda d: -d.size)

    def _calibrate(self, b: np.ndarray) -> np.ndarray:
        return _adjust(b, self.calib)

    def _detect(self, rgb: np.ndarray) -> list[tuple[np.ndarray, float]]:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        pass


class HaarDetector(FaceDetector):
    """Viola–Jones cascades shipped in ``opencv-python-headless`` 4.x: frontal + both profiles."""

    name = "haar"
    calib = (0.0, 0.11, 0.86, 0.82)       # face model 2 (benchmarks/face_detectors.py --calibrate; dy 0.103-0.106)

    def __init__(self, max_side: int = 480) -> None:
        base = cv2.data.haarcascades
        self.frontal = cv2.CascadeClassifier(base + "haarcascade_frontalface_alt2.xml")
        self.profile = cv2.CascadeClassifier(base + "haarcascade_profileface.xml")
        if self.frontal.empty() or self.profile.empty():
            raise DependencyError("OpenCV's face cascades are missing.",
                                  "Install opencv-python-headless 4.x (5.x no longer ships them).")
        self.max_side = max_side

    def _detect(self, rgb):
        h, w = rgb.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        if scale < 1.0:
            gray = cv2.resize(gray, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA)
        gray = cv2.equalizeHist(gray)
        min_size = max(20, int(min(gray.shape) * 0.08))
        found: list[tuple[np.ndarray, float]] = []
        boxes, _, weights = self.frontal.detectMultiScale3(gray, 1.1, 5, minSize=(min_size, min_size),
                                                           outputRejectLevels=True)
        for (x, y, bw, bh), s in zip(boxes, np.ravel(weights) if len(boxes) else []):
            found.append((np.array([x, y, x + bw, y + bh], np.float32), float(s)))
        frontal = [b for b, _ in found]
        for flip in (False, True):
            g = gray[:, ::-1].copy() if flip else gray
            boxes, _, weights = self.profile.detectMultiScale3(g, 1.1, 5, minSize=(min_size, min_size),
                                                               outputRejectLevels=True)
            for (x, y, bw, bh), s in zip(boxes, np.ravel(weights) if len(boxes) else []):
                x0 = g.shape[1] - (x + bw) if flip else x
                b = np.array([x0, y, x0 + bw, y + bh], np.float32)
                # the profile cascade also fires on half of a frontal face: a frontal hit wins
                if frontal and iou_matrix(b[None], np.stack(frontal))[0].max() > 0.0:
                    continue
                found.append((b, float(s) - 1.0))
        found = _nms(found, 0.3)
        return [(b / scale, s) for b, s in found]


class MediaPipeDetector(FaceDetector):
    """mediapipe 0.10.21's BlazeFace (requirements/nodeps.txt; an environment may lack it): the short-range model
    (faces filling a good part of the frame: crops, interviews, webcams) and, when it finds nothing,
    the full-range model (small faces).  Each model has its own box calibration (measured with
    ``benchmarks/face_detectors.py --calibrate``), applied here; ``calib`` stays the identity."""

    name = "mediapipe"
    MODEL_CALIB = {0: (0.0, -0.02, 0.87, 0.87), 1: (0.0, 0.01, 0.83, 0.82)}     # face model 2

    def __init__(self, min_confidence: float = 0.5, models: tuple[int, ...] = (0, 1)) -> None:
        try:
            from mediapipe.python.solutions import face_detection  # type: ignore[import-not-found]
        except ImportError as exc:
            raise DependencyError("mediapipe is not installed.",
                                  "Use --detector haar (the default without it), or install it into X2 Studio's "
                                  "environment: pip install --no-deps mediapipe==0.10.21 absl-py attrs "
                                  "'protobuf>=4.25.3,<5'.") from exc
        # the graphs set TensorFlow Lite up on their own threads and log it there, possibly after the
        # constructor returns: a first inference, which waits for the set-up, keeps it all inside
        with _quiet_stderr():
            self._fds = [(face_detection.FaceDetection(model_selection=m, min_detection_confidence=min_confidence),
                          self.MODEL_CALIB[m]) for m in models]
            for fd, _ in self._fds:
                fd.process(np.zeros((64, 64, 3), np.uint8))

    def _detect(self, rgb):
        h, w = rgb.shape[:2]
        rgb = np.ascontiguousarray(rgb)
        for fd, calib in self._fds:
            out = []
            for d in fd.process(rgb).detections or []:
                bb = d.location_data.relative_bounding_box
                b = np.array([bb.xmin * w, bb.ymin * h, (bb.xmin + bb.width) * w, (bb.ymin + bb.height) * h],
                             np.float32)
                out.append((_adjust(b, calib), float(d.score[0])))
            if out:
                return out
        return []

    def close(self) -> None:
        for fd, _ in self._fds:
            fd.close()


_STDERR_LOCK = threading.Lock()


@contextlib.contextmanager
def _quiet_stderr():
    """Silence file descriptor 2 for a moment: mediapipe's C++ side (absl, TensorFlow Lite) writes its
    set-up lines there, past Python's logging, and a CLI user should not see them.  One thread at a
    time: two detectors set up at once in two workers would otherwise save each other's null device
    as "the" stderr."""
    with _STDERR_LOCK:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), 2)
                yield
        finally:
            try:                     # lines still in C's stdio buffers go to the null device too
                import ctypes

                ctypes.CDLL(None).fflush(None)
            except (OSError, AttributeError):   # pragma: no cover - no C library to ask (not Linux/macOS)
                pass
            os.dup2(saved, 2)
            os.close(saved)


def _adjust(b: np.ndarray, calib) -> np.ndarray:
    """Shift a box by ``(dx, dy)`` of its size and scale it by ``(sx, sy)`` about its centre."""
    dx, dy, sx, sy = calib
    w, h = b[2] - b[0], b[3] - b[1]
    cx, cy = (b[0] + b[2]) / 2 + dx * w, (b[1] + b[3]) / 2 + dy * h
    return np.array([cx - w * sx / 2, cy - h * sy / 2, cx + w * sx / 2, cy + h * sy / 2], np.float32)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box in ``a (N, 4)`` with every box in ``b (M, 4)``."""
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (area_a[:, None] + area_b[None, :] - inter + 1e-9)


def _nms(found, thresh):
    found = sorted(found, key=lambda f: -f[1])
    keep = []
    for b, s in found:
        if not keep or iou_matrix(b[None], np.stack([k for k, _ in keep]))[0].max() < thresh:
            keep.append((b, s))
    return keep


def make_detector(name: str = "auto") -> FaceDetector:
    """``"haar"``, ``"mediapipe"`` or ``"auto"`` (mediapipe when installed, else Haar)."""
    if name == "haar":
        return HaarDetector()
    if name == "mediapipe":
        return MediaPipeDetector()
    if name == "auto":
        try:
            return MediaPipeDetector()
        except DependencyError:
            log.info("mediapipe not installed; using OpenCV's Haar cascades")
            return HaarDetector()
    raise InputError(f"Unknown face detector '{name}'.", "Use auto, mediapipe or haar.")
