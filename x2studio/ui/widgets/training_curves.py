"""A training run's loss and validation-metric curves over steps, redrawn at most five times a
second however fast the points come, with the run's messages under them (the Train panel)."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QPlainTextEdit, QSplitter, QWidget

__all__ = ["TrainingCurves"]

COLORS = ["#3b8eea", "#e5a50a", "#33b36b", "#d9534f", "#a070e0", "#20b2aa"]


class TrainingCurves(QSplitter):
    """Losses (names with "loss") on one plot, metrics on another; ``curves`` maps a name to its
    (steps, values)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Vertical, parent)
        self.curves: dict[str, tuple[list[int], list[float]]] = {}
        self._items: dict[str, pg.PlotDataItem] = {}
        self._dirty: set[str] = set()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(200)
        self._timer.timeout.connect(self.redraw)
        self.loss_plot = self._plot("loss")
        self.metric_plot = self._plot("validation metrics")
        self.log_view = QPlainTextEdit(self)
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(2000)
        self.log_view.setPlaceholderText("the training process's messages")
        for w in (self.loss_plot, self.metric_plot, self.log_view):
            self.addWidget(w)
        self.setSizes([300, 200, 120])

    def _plot(self, title: str) -> pg.PlotWidget:
        plot = pg.PlotWidget(self, title=title)
        plot.addLegend(offset=(-10, 10))
        plot.setLabel("bottom", "step")
        return plot

    def add_point(self, name: str, step: int, value: float) -> None:
        """Add a point to a curve; the plots are redrawn by a timer."""
        xs, ys = self.curves.setdefault(name, ([], []))
        while xs and xs[-1] >= step:   # a resumed run repeats no steps, but a replay may overlap
            xs.pop()
            ys.pop()
        xs.append(step)
        ys.append(float(value))
        self._dirty.add(name)
        if not self._timer.isActive():
            self._timer.start()

    def redraw(self) -> None:
        for name in sorted(self._dirty):
            item = self._items.get(name)
            if item is None:
                plot = self.loss_plot if "loss" in name else self.metric_plot
                color = COLORS[len(self._items) % len(COLORS)]
                symbol = None if name.startswith("train") else "o"
                item = plot.plot([], [], name=name, pen=pg.mkPen(color, width=2), symbol=symbol, symbolSize=5,
                                 symbolBrush=color)
                self._items[name] = item
            item.setData(*self.curves[name])
        self._dirty.clear()

    def clear(self) -> None:
        self._dirty.clear()
        self.curves.clear()
        self._items.clear()
        for plot in (self.loss_plot, self.metric_plot):
            plot.clear()
