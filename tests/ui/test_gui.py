"""The main window and the Media panel, offscreen (pytest-qt)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent, QImage
from PySide6.QtWidgets import QMessageBox

from x2studio.core.settings import Settings, load_settings
from x2studio.ui.main_window import MainWindow
from x2studio.ui.panels.media_panel import timecode
from x2studio.ui.settings_store import SettingsStore

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot):
    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: bool(win.system), timeout=30000)  # the start-up probe ended
    yield win
    win.close()


def _open(qtbot, win: MainWindow, path: Path) -> None:
    panel = win.media_panel
    with qtbot.waitSignal(panel.mediaOpened, timeout=10000):
        win.open_path(path)
    qtbot.waitUntil(lambda: panel.current_index == 0 or not panel.has_video, timeout=10000)


def test_window_shows_only_existing_panels_and_device(window: MainWindow) -> None:
    titles = [window.panel_list.item(i).text() for i in range(window.panel_list.count())]
    assert titles == ["Media", "Reenact", "Pose", "Audio", "Paint", "Retrieve", "Piano", "Violin", "Train"]
    assert window.device_label.text().startswith("Device: ")
    assert "detecting" not in window.device_label.text()


def test_media_panel_plays_a_clip(qtbot, window: MainWindow, clip: Path) -> None:
    _open(qtbot, window, clip)
    panel = window.media_panel
    assert panel.frame_count == 50 and panel.has_video
    assert panel.frame_label.text() == "Frame 1 / 50"
    assert panel.view.image() is not None and panel.view.image().width() == 128
    assert panel.audio_status  # either playing through the null device or "playback disabled"
    panel.play()
    assert panel.is_playing
    qtbot.waitUntil(lambda: panel.current_index >= 10, timeout=5000)
    qtbot.waitUntil(lambda: not panel.is_playing, timeout=8000)  # stops at the end
    assert panel.slider.value() == 49
    qtbot.waitUntil(lambda: panel.current_index == 49, timeout=5000)


def test_frame_accurate_seek_and_export(qtbot, window: MainWindow, clip: Path, tmp_path: Path) -> None:
    _open(qtbot, window, clip)
    panel = window.media_panel
    panel.slider.setValue(30)
    qtbot.waitUntil(lambda: panel.current_index == 30, timeout=5000)
    assert panel.frame_label.text() == "Frame 31 / 50"
    assert panel.time_label.text().startswith("00:00:01:05")
    panel.step(1)
    qtbot.waitUntil(lambda: panel.current_index == 31, timeout=5000)
    out = panel.export_frame(tmp_path / "frame.png")
    assert out is not None and out.exists()
    img = QImage(str(out))
    assert (img.width(), img.height()) == (128, 96)
    assert abs(QImage(str(out)).pixelColor(2, 2).red() - 4 * 31) <= 4


def test_bad_file_shows_error_dialog(qtbot, window: MainWindow, tmp_path: Path) -> None:
    fake = tmp_path / "fake.mp4"
    fake.write_text("not a video\n" * 20)
    window.open_path(fake)
    qtbot.waitUntil(lambda: window.findChild(QMessageBox, "errorDialog") is not None, timeout=10000)
    box = window.findChild(QMessageBox, "errorDialog")
    assert "not a media file" in box.text()
    box.close()
    window.open_path(tmp_path / "missing.mp4")
    assert "does not exist" in window.statusBar().currentMessage()


def test_audio_only_file(qtbot, window: MainWindow, tmp_path: Path) -> None:
    from x2studio.media.audio import AudioClip, save_audio

    t = np.arange(16000) / 16000
    wav = save_audio(tmp_path / "tone.wav", AudioClip((0.3 * np.sin(2 * np.pi * 440 * t))[:, None].astype(np.float32), 16000))
    _open(qtbot, window, wav)
    panel = window.media_panel
    assert not panel.has_video and panel.frame_label.text() == "Audio only"
    assert panel.wave.isVisible()


def test_drop_opens_file(qtbot, window: MainWindow, clip: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(clip))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                       Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.media_panel.mediaOpened, timeout=10000):
        window.dropEvent(event)


def test_state_and_recent_files_are_restored(qtbot, clip: Path) -> None:
    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    win.resize(700, 500)
    win.move(40, 30)
    _open(qtbot, win, clip)
    qtbot.waitUntil(lambda: bool(win.system), timeout=30000)
    win.close()
    assert SettingsStore().recent_files()[0] == str(clip.resolve())
    again = MainWindow()
    qtbot.addWidget(again)
    assert (again.width(), again.height()) == (700, 500)
    actions = [a.text() for a in again.recent_menu.actions()]
    assert str(clip.resolve()) in actions
    qtbot.waitUntil(lambda: bool(again.system), timeout=30000)
    again.close()


def test_settings_dialog_persists(qtbot, window: MainWindow) -> None:
    dialog = window.open_settings()
    dialog.device_combo.setCurrentIndex(dialog.device_combo.findData("cpu"))
    dialog.theme_combo.setCurrentIndex(dialog.theme_combo.findData("dark"))
    dialog._on_ok_clicked()
    assert load_settings().device == "cpu" and load_settings().theme == "dark"
    assert window.settings.theme == "dark"
    bad = window.open_settings()
    bad.soundfont_edit.setEditText("/nonexistent.sf2")
    bad._on_ok_clicked()
    assert "does not exist" in bad.message.text() and bad.isVisible()
    bad.reject()
    window.apply_theme("system")
    qtbot.waitUntil(lambda: not window.jobs.active(), timeout=30000)


def test_about_lists_versions(window: MainWindow) -> None:
    dialog = window.open_about()
    versions = dialog.versions()
    for key in ("Python", "Qt", "PySide6", "torch", "CUDA (torch build)"):
        assert key in versions
    dialog.close()


def test_timecode() -> None:
    assert timecode(0, 25) == "00:00:00:00"
    assert timecode(61.48, 25) == "00:01:01:12"
    assert timecode(3600 + 1 / 30, 30) == "01:00:00:01"


def test_demo_clip_is_bundled() -> None:
    from x2studio.app import demo_media
    from x2studio.media.video import probe

    clips = demo_media()
    assert clips, "x2studio/resources/demo has no demo clip"
    info = probe(clips[0])
    assert info.video is not None and info.audio is not None and info.duration_s > 3


def test_no_display_is_a_sentence_not_a_qt_abort() -> None:
    """``x2studio app`` with no screen: one line saying how to run it (xvfb-run, or the CLI), exit 2,
    instead of Qt's "could not load the Qt platform plugin" abort."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    r = subprocess.run([sys.executable, "-m", "x2studio", "app"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "no display" in r.stderr and "xvfb-run" in r.stderr, r.stderr
    assert "Qt platform plugin" not in r.stderr
    from x2studio.app import check_display

    check_display({"QT_QPA_PLATFORM": "offscreen"})        # a headless platform needs no display
    check_display({"DISPLAY": ":0"})
