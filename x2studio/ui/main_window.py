"""The main window: panel bar, menus, status bar (device, jobs), drag and drop, state restore."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QAction, QColor, QKeySequence, QPalette
from PySide6.QtWidgets import (QApplication, QFileDialog, QHBoxLayout, QLabel, QListWidget, QListWidgetItem,
                               QMainWindow, QMenu, QProgressBar, QPushButton, QStackedWidget, QStyleFactory, QWidget)

from .. import APP_NAME
from ..core.choices import AUDIO_SUFFIXES, VIDEO_SUFFIXES, dialog_filter
from ..core.errors import X2Error
from ..core.jobs import Job, ProgressEvent
from ..core.settings import Settings, load_settings, save_settings
from ..workers.jobs import JobHandle, JobRunner
from .dialogs import AboutDialog, SettingsDialog, show_error
from .panels import PANEL_CLASSES
from .settings_store import SettingsStore
from .welcome import WelcomeDialog

__all__ = ["MainWindow", "MEDIA_FILTER"]

log = logging.getLogger(__name__)

MEDIA_FILTER = dialog_filter("Media files", VIDEO_SUFFIXES, AUDIO_SUFFIXES)


def _probe_system(job: Job) -> dict[str, object]:
    """Runs on a worker at start-up: torch's import and device discovery take seconds."""
    from ..core.device import describe_devices, resolve_device
    from ..core.errors import X2Error as _X2Error
    from ..info import torch_build
    from ..media.playback import list_output_devices
    from ..media.synth import find_soundfonts

    job.progress(0, 3, "detecting compute device")
    info: dict[str, object] = {}
    try:
        resolved = resolve_device(load_settings().device)
        info["device"], info["torch_device"] = resolved.label, resolved.torch_device
    except _X2Error as exc:
        info["device"], info["torch_device"] = f"CPU (setting ignored: {exc.message})", "cpu"
    info["devices"] = [d.kind for d in describe_devices()]
    info["torch"] = torch_build()
    job.progress(1, 3, "listing audio devices")
    try:
        info["audio_outputs"] = [d.name for d in list_output_devices()]
    except _X2Error:
        info["audio_outputs"] = []
    job.progress(2, 3, "finding soundfonts")
    info["soundfonts"] = [str(p) for p in find_soundfonts()]
    return info


class JobStatusWidget(QWidget):
    """Status-bar view of the running jobs: title, progress, ETA and a cancel button."""

    def __init__(self, runner: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.label = QLabel("", self)
        self.bar = QProgressBar(self)
        self.bar.setMaximumWidth(180)
        self.bar.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.clicked.connect(self.runner.cancel_all)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button)
        runner.jobStarted.connect(self._on_runner_job_started)
        runner.jobEnded.connect(lambda _h: self._refresh())
        self._refresh()

    def _on_runner_job_started(self, handle: JobHandle) -> None:
        handle.progress.connect(lambda _ev: self._refresh())
        self._refresh()

    def _refresh(self) -> None:
        jobs = self.runner.active()
        self.setVisible(bool(jobs))
        if not jobs:
            return
        job = jobs[-1]
        ev: ProgressEvent | None = job.last_progress
        more = f" (+{len(jobs) - 1} more)" if len(jobs) > 1 else ""
        eta = f", {ev.eta_s:.0f} s left" if ev is not None and ev.eta_s is not None else ""
        self.label.setText(f"{job.title}{': ' + ev.message if ev and ev.message else ''}{eta}{more}")
        if ev is None or ev.fraction is None:
            self.bar.setRange(0, 0)  # busy indicator
        else:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(ev.fraction * 1000))


class MainWindow(QMainWindow):
    settingsChanged = Signal(object)  # Settings

    def __init__(self, store: SettingsStore | None = None) -> None:
        super().__init__()
        self.setWindowTitle(APP_NAME)
        self.setAcceptDrops(True)
        self.store = store or SettingsStore()
        self.settings: Settings = load_settings()
        self.error_sink = None
        self.system: dict[str, object] = {}
        self.jobs = JobRunner(self)
        self.jobs.jobFailed.connect(lambda title, msg, details: self.show_error(f"{title} failed: {msg}", details))

        # ---------------------------------------------------------- panels
        self.panel_list = QListWidget(self)
        self.panel_list.setObjectName("panelBar")
        self.panel_list.setFixedWidth(120)
        self.panel_list.setIconSize(QSize(24, 24))
        self.stack = QStackedWidget(self)
        self.panels: dict[str, QWidget] = {}
        for cls in PANEL_CLASSES:
            panel = cls(self.settings, parent=self.stack)
            self.panels[cls.panel_id] = panel
            self.stack.addWidget(panel)
            item = QListWidgetItem(cls.title)
            item.setData(Qt.ItemDataRole.UserRole, cls.panel_id)
            self.panel_list.addItem(item)
            if hasattr(panel, "errorRaised"):
                panel.errorRaised.connect(self.show_error)
            if hasattr(panel, "statusMessage"):
                panel.statusMessage.connect(lambda text: self.statusBar().showMessage(text, 5000))
        self.panel_list.currentRowChanged.connect(self.stack.setCurrentIndex)
        self.panel_list.setCurrentRow(0)
        self.media_panel = self.panels["media"]
        self.media_panel.mediaOpened.connect(self._on_media_opened)
        self._pending_seek: tuple[str, int] | None = None
        if "retrieve" in self.panels:
            self.panels["retrieve"].openRequested.connect(self.open_at)
        central = QWidget(self)
        layout = QHBoxLayout(central)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.panel_list)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)

        # ---------------------------------------------------------- menus
        file_menu = self.menuBar().addMenu("&File")
        self.open_action = QAction("&Open…", self, shortcut=QKeySequence.StandardKey.Open, triggered=self.open_dialog)
        file_menu.addAction(self.open_action)
        self.recent_menu = QMenu("Open &Recent", self)
        file_menu.addMenu(self.recent_menu)
        self.export_action = QAction("&Export Frame as PNG…", self, shortcut="Ctrl+E",
                                     triggered=lambda: self.media_panel.export_frame())
        file_menu.addAction(self.export_action)
        file_menu.addAction(QAction("Open the &Demo Project", self, triggered=self.open_demo_project))
        file_menu.addSeparator()
        self.import_weights_action = QAction("&Import Weights…", self, triggered=self.import_weights_dialog)
        file_menu.addAction(self.import_weights_action)
        file_menu.addSeparator()
        file_menu.addAction(QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit, triggered=self.close))
        edit_menu = self.menuBar().addMenu("&Edit")
        edit_menu.addAction(QAction("&Settings…", self, shortcut="Ctrl+,", triggered=self.open_settings))
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(QAction("&Welcome and Check This Computer…", self, triggered=self.open_welcome))
        help_menu.addAction(QAction("&About X2 Studio", self, triggered=self.open_about))
        self.welcome: WelcomeDialog | None = None

        # ---------------------------------------------------------- status bar
        self.device_label = QLabel("Device: detecting…", self)
        self.device_label.setObjectName("deviceLabel")
        self.job_status = JobStatusWidget(self.jobs, self)
        self.statusBar().addPermanentWidget(self.job_status)
        self.statusBar().addPermanentWidget(self.device_label)

        self._rebuild_recent_menu()
        self.apply_theme(self.settings.theme)
        self.restore_state()
        self.jobs.start("Checking this computer", _probe_system, on_success=self._on_system_probed,
                        on_failure=lambda msg, details: self.device_label.setText(f"Device: unknown ({msg})"))

    # ------------------------------------------------------------------ files
    def open_dialog(self) -> None:
        start = str(Path(self.store.recent_files()[0]).parent) if self.store.recent_files() else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Open video or audio", start, MEDIA_FILTER)
        if path:
            self.open_path(path)

    def open_path(self, path: str | Path) -> None:
        path = Path(path)
        if not path.is_file():
            self.show_error(f"The file '{path}' does not exist or is not a file.")
            if str(path) in self.store.recent_files():
                self.store.remove_recent_file(str(path))
                self._rebuild_recent_menu()
            return
        self.panel_list.setCurrentRow(list(self.panels).index("media"))
        self.media_panel.open_file(path)

    def open_demo_project(self) -> None:
        """The demo project: the talking-face clip in the Media panel (the face panels drive their demo faces
        with it when first shown) and the piano clip in the Piano panel."""
        from .widgets.image_view import demo_file

        piano = sorted(demo_file("").glob("piano_*.mp4"))
        piano_panel = self.panels.get("piano")
        if piano_panel is not None and piano and piano_panel.video is None:
            piano_panel.open_video(piano[0])
        talking = sorted(demo_file("").glob("talking_*.mp4"))
        if talking:
            self.open_path(talking[0])
        else:
            self.show_error("The demo media are missing from this installation.", "Reinstall X2 Studio.")

    def open_welcome(self) -> WelcomeDialog:
        """The welcome window with the check of this computer (first start, and Help > Welcome)."""
        if self.welcome is None:
            self.welcome = WelcomeDialog(self.settings, self.store.value_int("welcome/show", 1) != 0, self)
            self.welcome.openDemo.connect(self.open_demo_project)
            self.welcome.show_box.toggled.connect(lambda on: self.store.set_value("welcome/show", int(on)))
        else:
            self.welcome.run_checks()
        self.welcome.open()
        return self.welcome

    def import_weights_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import weights", str(Path.home()),
                                              "Weights (*.safetensors *.json);;All files (*)")
        if path:
            self.import_weights(path)

    def import_weights(self, path: str | Path) -> JobHandle:
        """Check (checksum, architecture, shapes) and install a weights entry, in a job."""
        from ..pipelines.weights_import import import_weights

        def done(entry) -> None:
            self.statusBar().showMessage(f"Imported the weights '{entry.name}' ({entry.card.architecture}).", 8000)
            for panel in self.panels.values():
                if hasattr(panel, "refresh_weights"):
                    panel.refresh_weights()

        return self.jobs.start("Importing weights", lambda job: import_weights(path, job=job), on_success=done)

    def open_at(self, path: str, frame: int) -> None:
        """Open a video in the Media panel and go to ``frame`` once it is open (a retrieved face in context)."""
        self._pending_seek = (str(Path(path)), int(frame))
        self.open_path(path)

    def _on_media_opened(self, path: str) -> None:
        if self._pending_seek is not None and Path(self._pending_seek[0]) == Path(path):
            self.media_panel.seek_frame(self._pending_seek[1])
        self._pending_seek = None
        self.store.add_recent_file(path)
        self._rebuild_recent_menu()
        self.setWindowTitle(f"{Path(path).name} — {APP_NAME}")

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        files = self.store.recent_files()
        for f in files:
            self.recent_menu.addAction(QAction(f, self.recent_menu, triggered=lambda _=False, f=f: self.open_path(f)))
        if files:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction(QAction("Clear list", self.recent_menu, triggered=self._on_clear_recent))
        self.recent_menu.setEnabled(bool(files))

    def _on_clear_recent(self) -> None:
        self.store.clear_recent_files()
        self._rebuild_recent_menu()

    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        files = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if files:
            self.open_path(files[0])
            event.acceptProposedAction()

    # ------------------------------------------------------------------ dialogs
    def show_error(self, message: str, details: str = "") -> None:
        log.warning("error shown to the user: %s", message)
        if self.error_sink is not None:   # the self-test collects errors instead of opening message boxes
            self.error_sink(message, details)
            return
        self.statusBar().showMessage(message, 8000)
        show_error(self, message, details)

    def open_settings(self) -> SettingsDialog:
        dialog = SettingsDialog(self.settings, list(self.system.get("devices", [])), list(self.system.get("soundfonts", [])),
                                list(self.system.get("audio_outputs", [])), self)
        dialog.accepted.connect(lambda: self.apply_settings(dialog.result_settings()))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def apply_settings(self, settings: Settings) -> None:
        try:
            save_settings(settings)
        except X2Error as exc:
            self.show_error(f"Settings were not saved: {exc}")
            return
        old = self.settings
        self.settings = settings
        if settings.theme != old.theme:
            self.apply_theme(settings.theme)
        if settings.audio_output != old.audio_output:
            self.media_panel.set_audio_output(settings.audio_output)
        if settings.device != old.device:
            self.jobs.start("Checking this computer", _probe_system, on_success=self._on_system_probed)
        self.settingsChanged.emit(settings)

    def open_about(self) -> AboutDialog:
        torch_info = dict(self.system.get("torch", {}) or {})
        extra = {"CUDA (torch build)": torch_info.get("cuda (build)", "…"), "cuDNN": torch_info.get("cudnn", "…"),
                 "Compute device": str(self.system.get("device", "detecting…"))}
        dialog = AboutDialog(extra, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def _on_system_probed(self, info: dict[str, object]) -> None:
        self.system = info
        self.device_label.setText(f"Device: {info['device']}")
        for panel in self.panels.values():
            if hasattr(panel, "set_device"):
                panel.set_device(str(info.get("torch_device", "cpu")))

    def apply_theme(self, theme: str) -> None:
        app = QApplication.instance()
        if app is None:
            return
        if theme == "system":
            app.setPalette(QPalette())
            return
        app.setStyle(QStyleFactory.create("Fusion"))
        if theme == "light":
            app.setPalette(app.style().standardPalette())
            return
        p = QPalette()
        dark, base, text = QColor(45, 45, 48), QColor(30, 30, 32), QColor(220, 220, 225)
        for role, color in ((QPalette.ColorRole.Window, dark), (QPalette.ColorRole.WindowText, text),
                            (QPalette.ColorRole.Base, base), (QPalette.ColorRole.AlternateBase, dark),
                            (QPalette.ColorRole.Text, text), (QPalette.ColorRole.Button, dark),
                            (QPalette.ColorRole.ButtonText, text), (QPalette.ColorRole.ToolTipBase, dark),
                            (QPalette.ColorRole.ToolTipText, text), (QPalette.ColorRole.Highlight, QColor(42, 130, 218)),
                            (QPalette.ColorRole.HighlightedText, QColor(255, 255, 255))):
            p.setColor(role, color)
        app.setPalette(p)

    # ------------------------------------------------------------------ state
    def restore_state(self) -> None:
        geometry = self.store.value_bytes("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1100, 720)
        state = self.store.value_bytes("window/state")
        if state is not None:
            self.restoreState(state)
        panel = self.store.value_str("window/panel", "media")
        panel = {"transcribe": "piano"}.get(panel, panel)       # the Transcribe panel became Piano and Violin
        if panel in self.panels:
            self.panel_list.setCurrentRow(list(self.panels).index(panel))

    def save_state(self) -> None:
        self.store.set_value("window/geometry", self.saveGeometry())
        self.store.set_value("window/state", self.saveState())
        item = self.panel_list.currentItem()
        if item is not None:
            self.store.set_value("window/panel", item.data(Qt.ItemDataRole.UserRole))
        self.store.sync()

    def closeEvent(self, event) -> None:  # noqa: N802
        self.save_state()
        self.jobs.shutdown()
        if self.welcome is not None:
            self.welcome.shutdown()
        for panel in self.panels.values():
            if hasattr(panel, "shutdown"):
                panel.shutdown()
        super().closeEvent(event)
