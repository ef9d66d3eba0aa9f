"""The first-start welcome: what X2 Studio does, a check of this computer (with fixes), and one button
that opens the demo project (a talking-face clip and a piano clip) so every panel shows its work."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QHeaderView, QLabel, QPushButton, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from ..core.settings import Settings
from ..info import Check, environment_checks
from ..workers.jobs import JobRunner

__all__ = ["WelcomeDialog", "WELCOME_TEXT"]

WELCOME_TEXT = (
    "<h2>Welcome to X2 Studio</h2>"
    "<p>Faces and music from video, with models that learnt by watching.</p>"
    "<ul>"
    "<li><b>Reenact</b>, <b>Pose</b>, <b>Audio</b>, <b>Paint</b>: drive a face with another face, with head-pose "
    "sliders or with speech, and paint on a face so the paint follows it through a video.</li>"
    "<li><b>Retrieve</b>: read pose, landmarks and expression from a face and find faces alike in pose and "
    "expression.</li>"
    "<li><b>Piano</b>, <b>Violin</b>: the notes of a piano filmed from above or of a violinist, from the picture, "
    "the sound or both, with playback and MIDI/MusicXML export.</li>"
    "<li><b>Train</b>: train any of the models on your own footage.</li>"
    "</ul>"
    "<p><b>Open the demo project</b> loads a talking-face clip and a piano clip that come with X2 Studio; "
    "then click through the panels on the left.</p>"
)

_COLORS = {"ok": QColor(60, 170, 90), "warn": QColor(220, 160, 40), "fail": QColor(220, 70, 60)}


class WelcomeDialog(QDialog):
    openDemo = Signal()

    def __init__(self, settings: Settings, show_at_start: bool = True, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Welcome to X2 Studio")
        self.resize(760, 560)
        self.checks: list[Check] = []
        intro = QLabel(WELCOME_TEXT, self)
        intro.setWordWrap(True)
        intro.setTextFormat(Qt.TextFormat.RichText)
        self.check_label = QLabel("Checking this computer…", self)
        self.table = QTableWidget(0, 3, self)
        self.table.setHorizontalHeaderLabels(["", "Found", "What to do"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.show_box = QCheckBox("Show this window when X2 Studio starts", self)
        self.show_box.setChecked(show_at_start)
        buttons = QDialogButtonBox(self)
        self.demo_button = QPushButton("Open the demo project", self)
        self.demo_button.setDefault(True)
        buttons.addButton(self.demo_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.recheck_button = buttons.addButton("Check again", QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.demo_button.clicked.connect(self._on_demo)
        self.recheck_button.clicked.connect(self.run_checks)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.check_label)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.show_box)
        layout.addWidget(buttons)
        self._settings = settings
        self._jobs = JobRunner(self)
        self.run_checks()

    def run_checks(self) -> None:
        """The checks import torch and list sound devices: a worker does it, the dialog stays live."""
        self.recheck_button.setEnabled(False)
        self.check_label.setText("Checking this computer…")
        settings = self._settings
        self._jobs.start("Checking this computer", lambda job: environment_checks(settings),
                         on_success=self.set_checks, on_failure=self._on_check_failed)

    def _on_check_failed(self, message: str, details: str) -> None:
        self.recheck_button.setEnabled(True)
        self.check_label.setText(f"The check could not run: {message}")

    def set_checks(self, checks: list[Check]) -> None:
        self.checks = list(checks)
        self.recheck_button.setEnabled(True)
        bad = [c for c in checks if c.status != "ok"]
        self.check_label.setText("This computer is ready." if not bad else
                                 f"This computer: {len(bad)} thing{'s' if len(bad) > 1 else ''} to look at "
                                 "(X2 Studio works without them, except where marked 'fail').")
        self.table.setRowCount(len(checks))
        for row, c in enumerate(checks):
            name = QTableWidgetItem(f"{'✔' if c.status == 'ok' else '!' if c.status == 'warn' else '✘'} {c.name}")
            name.setForeground(_COLORS.get(c.status, QColor(200, 200, 200)))
            self.table.setItem(row, 0, name)
            self.table.setItem(row, 1, QTableWidgetItem(c.found))
            self.table.setItem(row, 2, QTableWidgetItem(c.fix))
        self.table.resizeRowsToContents()

    def _on_demo(self) -> None:
        self.openDemo.emit()
        self.accept()

    def shutdown(self) -> None:
        self._jobs.shutdown()
