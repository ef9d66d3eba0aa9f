"""What the face panels (Reenact, Pose, Paint) share: the weights chooser and the export job."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtWidgets import QComboBox, QFileDialog, QLabel, QWidget

__all__ = ["fill_weights_box", "start_export", "choose_photo", "SOURCE_FILTER", "PHOTO_FILTER"]

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


def choose_photo(parent: QWidget, title: str = "Source photo") -> str | None:
    """Ask for a photo; None when cancelled."""
    path, _ = QFileDialog.getOpenFileName(parent, title, "", PHOTO_FILTER)
    return path or None
