"""A sound's waveform on which a click or a drag asks to seek (the Audio panel's speech)."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QWidget

__all__ = ["Waveform"]


class Waveform(pg.PlotWidget):
    """The waveform; a click or drag on it asks to seek (seconds)."""

    seekRequested = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMenuEnabled(False)
        self.setMouseEnabled(False, False)
        self.hideButtons()
        self.getPlotItem().hideAxis("left")
        self.setMaximumHeight(110)

    def _seek(self, event) -> None:
        x = self.getPlotItem().vb.mapSceneToView(self.mapToScene(event.position().toPoint())).x()
        self.seekRequested.emit(float(x))

    def mousePressEvent(self, event) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton:
            self._seek(event)
        event.accept()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._seek(event)
