"""What every feature panel shares: the two signals the main window listens to, the device it
computes on, its weights list refreshed from the registry, and a demo opened the first time it
is shown (so that a new user sees each feature work before bringing footage)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget

from ...core.settings import Settings

__all__ = ["Panel"]


class Panel(QWidget):
    """The base of the feature panels.  A panel that lists weights has ``weights_box`` and ``status``
    and overrides :meth:`weight_names`; one with a demo overrides :meth:`start_demo`."""

    errorRaised = Signal(str, str)       # message, details: shown by the main window as a dialog
    statusMessage = Signal(str)          # a line for the main window's status bar

    preferred_weights: str | None = None  # selected when present
    no_weights_message: str = ""          # said in the status line when no weights are installed

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.device = "cpu"
        self._started = False

    def showEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        if not self._started:
            self._started = True
            self.refresh_weights()
            self.start_demo()

    def start_demo(self) -> None:
        """Open the bundled demo (the first time the panel is shown)."""

    def weight_names(self) -> list[str]:
        """The installed weights this panel can use (registry names)."""
        return []

    def refresh_weights(self) -> None:
        """Fill the weights list again (after training or importing weights)."""
        from .common import fill_weights_box

        if not hasattr(self, "weights_box"):
            return
        names = self.weight_names()
        fill_weights_box(self.weights_box, names, preferred=self.preferred_weights)
        if not names and self.no_weights_message:
            self.status.setText(self.no_weights_message)

    def set_device(self, device: str) -> None:
        self.device = device
