"""A canvas for painting on the embedded face: the face with the paint layer over it, scaled to
fit; a drag is one stroke (drawn live as a line, handed over on release), a click in stamp mode
places the stamp.  Coordinates handed over are layer pixels."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

__all__ = ["PaintCanvas"]


class PaintCanvas(QWidget):
    strokeFinished = Signal(list)        # [(x, y), …] in layer pixels
    stampAt = Signal(float, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.background: QImage | None = None
        self.layer: QImage | None = None
        self.size_px = 128
        self.mode = "brush"                  # "brush" | "eraser" | "stamp"
        self.brush_px = 6.0
        self.color = QColor(200, 30, 30)
        self._points: list[tuple[float, float]] = []
        self.setMinimumSize(160, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setMouseTracking(False)

    def set_images(self, background: QImage | None, layer: QImage | None) -> None:
        self.background, self.layer = background, layer
        if background is not None:
            self.size_px = background.width()
        self.update()

    def _target(self) -> QRectF:
        side = min(self.width(), self.height()) - 4
        return QRectF((self.width() - side) / 2, (self.height() - side) / 2, side, side)

    def to_layer(self, pos: QPointF) -> tuple[float, float]:
        r = self._target()
        k = self.size_px / r.width()
        return (pos.x() - r.x()) * k, (pos.y() - r.y()) * k

    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(32, 32, 36))
        r = self._target()
        if self.background is None:
            p.setPen(QColor(170, 170, 170))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "embedded face")
            return
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        p.drawImage(r, self.background)
        if self.layer is not None:
            p.drawImage(r, self.layer)
        if len(self._points) > 0 and self.mode != "stamp":
            k = r.width() / self.size_px
            color = QColor(255, 255, 255, 160) if self.mode == "eraser" else QColor(self.color)
            if self.mode != "eraser":
                color.setAlpha(200)
            pen = QPen(color, max(self.brush_px * k, 1.0), Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap,
                       Qt.PenJoinStyle.RoundJoin)
            p.setPen(pen)
            pts = [QPointF(r.x() + x * k, r.y() + y * k) for x, y in self._points]
            if len(pts) == 1:
                p.drawPoint(pts[0])
            else:
                p.drawPolyline(pts)
        p.end()

    def mousePressEvent(self, event) -> None:  # noqa: N802
        if event.button() != Qt.MouseButton.LeftButton or self.background is None:
            return
        x, y = self.to_layer(event.position())
        if self.mode == "stamp":
            self.stampAt.emit(x, y)
            return
        self._points = [(x, y)]
        self.update()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        if self._points:
            self._points.append(self.to_layer(event.position()))
            self.update()

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton and self._points:
            pts, self._points = self._points, []
            self.strokeFinished.emit(pts)
            self.update()
