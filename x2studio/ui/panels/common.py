"""What the face panels (Reenact, Pose, Paint) share: the weights chooser and the export job."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtWidgets import QComboBox, QFileDialog, QLabel

__all__ = ["fill_weights_box", "start_export", "PhotoSource", "SOURCE_FILTER", "PHOTO_FILTER"]

PHOTO_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.webp *.tif *.tiff);;All files (*)"
SOURCE_FILTER = "Images and videos (*.png *.jpg *.jpeg *.bmp *.webp *.mp4 *.mov *.mkv *.avi *.webm *.m4v);;All files (*)"


def fill_weights_box(box: QComboBox, names: list[str], preferred: str = "x2face-lite") -> None:
    """Offer ``names``, keeping the current choice when it is still there (else ``preferred``),
    without emitting a change while the list is rebuilt."""
    current = box.currentText()
    box.blockSignals(True)
    box.clear()
    box.addItems(names)
    if current in names:
        box.setCurrentText(current)
    elif preferred in names:
        box.setCurrentText(preferred)
    box.blockSignals(False)


def start_export(panel, out: Path, work: Callable, on_success: Callable, status: QLabel,
                 on_failed: Callable[[str], None]):
    """Run ``work(job)`` as the panel's job "Exporting <name>", with progress and cancel in ``status``."""
    status.setText(f"Exporting {out.name}…")
    handle = panel.jobs.start(f"Exporting {out.name}", work, on_success=on_success,
                              on_failure=lambda m, d: on_failed(f"Export failed: {m}"))
    handle.progress.connect(lambda ev: status.setText(f"Exporting: {100 * (ev.fraction or 0):.0f}%"))
    handle.cancelled.connect(lambda: status.setText("Export cancelled; nothing was written."))
    return handle


class PhotoSource:
    """What the panels driving one source face share (mixed into Pose, Audio and Paint): choose the
    source, and (re)start their worker's set-up when the source, the weights or the device change.
    Needs ``weights_box``, ``server`` (with ``setup(weights, device, source)``), ``status``, ``ready``
    and ``_update_buttons``."""

    setup_message = "Finding the face…"
    source_title, source_filter = "Source photo", PHOTO_FILTER
    source: str | None = None
    device = "cpu"

    def set_device(self, device: str) -> None:
        self.device = device
        self._setup()

    def _choose_source(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, self.source_title, "", self.source_filter)
        if path:
            self.set_source(path)

    def _source_arg(self):
        """What the worker's ``setup`` takes as the source."""
        return self.source

    def set_source(self, path: str) -> None:
        self.source = str(path)
        self._setup()

    def _setup(self) -> None:
        if not self.source or not self.weights_box.currentText():
            return
        self.ready = False
        self.status.setText(self.setup_message)
        self.server.setup(self.weights_box.currentText(), self.device, self._source_arg())
        self._update_buttons()
