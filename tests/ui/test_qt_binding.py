"""The Qt binding itself: PySide6 6.12.0 on Python 3.11 drops a reference to None on every call of
a void method (QPainter.setPen, drawLine, …), so a plot that repaints a few thousand times aborts
the app ("none_dealloc: deallocating None").  This pins the fix (the lock file's 6.11.2)."""

from __future__ import annotations

import sys

import pytest

pytestmark = pytest.mark.gui


def test_void_qt_calls_keep_none_alive(qapp) -> None:
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QColor, QImage, QPainter, QPen

    img = QImage(32, 32, QImage.Format.Format_RGB32)
    painter = QPainter(img)
    pen = QPen(QColor(255, 0, 0))
    try:
        before = sys.getrefcount(None)
        for _ in range(2000):
            painter.setPen(pen)
            painter.drawLine(QPointF(0, 0), QPointF(5, 5))
        lost = before - sys.getrefcount(None)
    finally:
        painter.end()
    # a healthy binding leaves None's count alone (give or take a few unrelated references)
    assert lost < 100, f"{lost} references to None lost in 4000 void calls: a broken PySide6 build"
