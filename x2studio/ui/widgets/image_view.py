"""A titled image view that scales with its box, and the bundled demo media's paths."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

__all__ = ["ImageView", "demo_file"]


def demo_file(name: str) -> Path:
    """A file of the bundled demo media."""
    from ...core.resources import demo_dir

    return demo_dir() / name


class ImageView(QLabel):
    """A titled image that scales with its box."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self._image: QImage | None = None
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(96, 96)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setStyleSheet("background: #202024; color: #aaa;")
        self.setText(title)

    def set_image(self, image: QImage | None) -> None:
        self._image = image
        self._rescale()

    def image(self) -> QImage | None:
        return self._image

    def _rescale(self) -> None:
        if self._image is None or self._image.isNull():
            self.setPixmap(QPixmap())
            self.setText(self.title)
            return
        self.setPixmap(QPixmap.fromImage(self._image).scaled(self.width() - 4, self.height() - 4,
                                                             Qt.AspectRatioMode.KeepAspectRatio,
                                                             Qt.TransformationMode.SmoothTransformation))

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._rescale()
