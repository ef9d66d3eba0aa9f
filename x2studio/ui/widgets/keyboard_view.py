"""A video frame with a keyboard's outline (four draggable corners) and highlighted keys: the
Piano panel's view."""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QWidget

from .video_view import VideoView

__all__ = ["KeyboardView"]

_HANDLE = 7.0


class KeyboardView(VideoView):
    """A video frame with the keyboard's outline (four draggable corners) and highlighted keys."""

    cornersChanged = Signal(object)   # (4, 2) array, video pixels

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.corners: np.ndarray | None = None
        self.lit: list[np.ndarray] = []          # key polygons (video pixels) to highlight
        self._drag: int | None = None
        self.set_hint("Open a video of a keyboard filmed from above.")

    def set_corners(self, corners: np.ndarray | None) -> None:
        self.corners = None if corners is None else np.asarray(corners, np.float64).reshape(4, 2).copy()
        self.update()

    def set_lit(self, polygons: list[np.ndarray]) -> None:
        self.lit = polygons
        self.update()

    def _scale(self) -> tuple[float, float, float]:
        r, img = self.image_rect(), self.image()
        if img is None or r.isEmpty():
            return 0.0, 0.0, 0.0
        return r.x(), r.y(), r.width() / img.width()

    def to_widget(self, pts: np.ndarray) -> list[QPointF]:
        x0, y0, s = self._scale()
        return [QPointF(x0 + p[0] * s, y0 + p[1] * s) for p in pts]

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().paintEvent(event)
        if self.image() is None or self.corners is None:
            return
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QBrush(QColor(255, 170, 0, 150)))
        for poly in self.lit:
            p.drawPolygon(QPolygonF(self.to_widget(poly)))
        p.setPen(QPen(QColor(0, 200, 255), 2))
        p.setBrush(Qt.BrushStyle.NoBrush)
        pts = self.to_widget(self.corners)
        p.drawPolygon(QPolygonF(pts))
        p.setBrush(QBrush(QColor(0, 200, 255)))
        for q in pts:
            p.drawEllipse(q, _HANDLE * 0.7, _HANDLE * 0.7)
        p.end()

    def mousePressEvent(self, event) -> None:  # noqa: N802
        if self.corners is None:
            return
        pts = self.to_widget(self.corners)
        pos = event.position()
        d = [math.hypot(q.x() - pos.x(), q.y() - pos.y()) for q in pts]
        i = int(np.argmin(d))
        self._drag = i if d[i] <= 2 * _HANDLE else None

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        if self._drag is None:
            return
        x0, y0, s = self._scale()
        if s <= 0:
            return
        img = self.image()
        pos = event.position()
        self.corners[self._drag] = (min(max((pos.x() - x0) / s, 0), img.width()),
                                    min(max((pos.y() - y0) / s, 0), img.height()))
        self.update()

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        if self._drag is not None:
            self._drag = None
            self.cornersChanged.emit(self.corners.copy())
