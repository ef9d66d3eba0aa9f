"""Settings, About and error dialogs."""

from __future__ import annotations

import PySide6
from PySide6.QtCore import Qt, qVersion
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                               QMessageBox, QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout,
                               QWidget)

from ..core.errors import X2Error
from ..core.settings import DEVICE_CHOICES, THEMES, Settings
from ..info import package_versions

__all__ = ["SettingsDialog", "AboutDialog", "show_error"]


def show_error(parent: QWidget | None, message: str, details: str = "", title: str = "X2 Studio") -> QMessageBox:
    """A non-blocking error box (``open()``, not ``exec()``), details collapsible."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, parent)
    box.setObjectName("errorDialog")
    if details:
        box.setDetailedText(details)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box


class SettingsDialog(QDialog):
    """Compute device, soundfont, audio output device and theme."""

    def __init__(self, settings: Settings, devices: list[str], soundfonts: list[str], audio_outputs: list[str],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self._settings = settings
        form = QFormLayout()

        self.device_combo = QComboBox(self)
        for choice in DEVICE_CHOICES:
            label = {"auto": "Automatic (CUDA → MPS → CPU)", "cuda": "CUDA GPU", "mps": "Apple GPU (MPS)", "cpu": "CPU"}[choice]
            available = choice in ("auto", "cpu") or choice in devices
            self.device_combo.addItem(label if available else f"{label} — not available", choice)
        self.device_combo.setCurrentIndex(max(0, self.device_combo.findData(settings.device)))
        form.addRow("Compute device", self.device_combo)

        self.soundfont_edit = QComboBox(self)
        self.soundfont_edit.setEditable(True)
        self.soundfont_edit.addItem("Automatic (first soundfont found)", "")
        for sf in soundfonts:
            self.soundfont_edit.addItem(sf, sf)
        if settings.soundfont and self.soundfont_edit.findData(settings.soundfont) < 0:
            self.soundfont_edit.addItem(settings.soundfont, settings.soundfont)
        self.soundfont_edit.setCurrentIndex(max(0, self.soundfont_edit.findData(settings.soundfont)))
        browse = QPushButton("Browse…", self)
        browse.clicked.connect(self._on_browse_clicked)
        row = QHBoxLayout()
        row.addWidget(self.soundfont_edit, 1)
        row.addWidget(browse)
        form.addRow("Soundfont", row)

        self.audio_combo = QComboBox(self)
        self.audio_combo.addItem("System default", "")
        for name in audio_outputs:
            self.audio_combo.addItem(name, name)
        if not audio_outputs:
            self.audio_combo.setItemText(0, "System default (no sound device found: playback disabled)")
        self.audio_combo.setCurrentIndex(max(0, self.audio_combo.findData(settings.audio_output)))
        form.addRow("Audio output", self.audio_combo)

        self.theme_combo = QComboBox(self)
        for theme in THEMES:
            self.theme_combo.addItem(theme.capitalize(), theme)
        self.theme_combo.setCurrentIndex(max(0, self.theme_combo.findData(settings.theme)))
        form.addRow("Theme", self.theme_combo)

        self.message = QLabel("", self)
        self.message.setStyleSheet("color: #d04040")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self._on_ok_clicked)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(buttons)

    def _on_browse_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a soundfont", "", "SoundFont (*.sf2 *.sf3)")
        if path:
            if self.soundfont_edit.findData(path) < 0:
                self.soundfont_edit.addItem(path, path)
            self.soundfont_edit.setCurrentIndex(self.soundfont_edit.findData(path))

    def result_settings(self) -> Settings:
        sf = self.soundfont_edit.currentData()
        if sf is None or self.soundfont_edit.currentText() != self.soundfont_edit.itemText(self.soundfont_edit.currentIndex()):
            sf = self.soundfont_edit.currentText().strip()
        return Settings(device=self.device_combo.currentData(), soundfont=sf or "",
                        audio_output=self.audio_combo.currentData() or "", theme=self.theme_combo.currentData()).validated()

    def _on_ok_clicked(self) -> None:
        chosen = self.result_settings()
        if chosen.soundfont:
            from ..media.synth import resolve_soundfont

            try:
                resolve_soundfont(chosen.soundfont)
            except X2Error as exc:
                self.message.setText(str(exc))
                return
        self.accept()


class AboutDialog(QDialog):
    """Versions of X2 Studio, Python, torch, CUDA, Qt and the media libraries."""

    def __init__(self, extra: dict[str, str] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About X2 Studio")
        versions = package_versions()
        rows = [("X2 Studio", versions.pop("x2studio")), ("Python", versions.pop("python")),
                ("Qt", qVersion()), ("PySide6", PySide6.__version__)]
        rows += list((extra or {}).items())
        rows += sorted(versions.items())
        table = QTableWidget(len(rows), 2, self)
        table.setHorizontalHeaderLabels(["Component", "Version"])
        for i, (k, v) in enumerate(rows):
            table.setItem(i, 0, QTableWidgetItem(k))
            table.setItem(i, 1, QTableWidgetItem(v))
        table.verticalHeader().setVisible(False)
        table.resizeColumnsToContents()
        table.horizontalHeader().setStretchLastSection(True)
        self.table = table
        text = QLabel("<b>X2 Studio</b> — face reenactment, face embeddings and music transcription from video, "
                      "after the self-supervised and cross-modal methods of the thesis it is built on.", self)
        text.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(table, 1)
        layout.addWidget(buttons)
        self.resize(520, 460)

    def versions(self) -> dict[str, str]:
        return {self.table.item(i, 0).text(): self.table.item(i, 1).text() for i in range(self.table.rowCount())}
