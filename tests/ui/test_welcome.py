"""Issue 11 in the app: the first-start welcome with the check of this computer, the demo project,
Import Weights…, and the self-test the installer runs on a built bundle (pytest-qt, offscreen)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from x2studio.app import SelfTest
from x2studio.ui.main_window import MainWindow
from x2studio.weights.registry import WeightsRegistry

pytestmark = pytest.mark.gui
BUNDLED = Path(__file__).resolve().parents[2] / "resources" / "weights"


@pytest.fixture
def window(qtbot):
    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: bool(win.system), timeout=30000)
    yield win
    win.close()


def test_welcome_checks_this_computer_and_opens_the_demo_project(qtbot, window: MainWindow) -> None:
    dialog = window.open_welcome()
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 6, timeout=60000)
    names = [dialog.table.item(r, 0).text() for r in range(6)]
    assert any("Bundled weights" in n for n in names) and any("Synthesizer" in n for n in names)
    assert dialog.check_label.text() != "Checking this computer…"
    dialog.show_box.setChecked(False)                  # remembered: no welcome at the next start
    assert window.store.value_int("welcome/show", 1) == 0
    with qtbot.waitSignal(window.media_panel.mediaOpened, timeout=20000) as opened:
        dialog.demo_button.click()
    assert Path(opened.args[0]).name.startswith("talking_")
    piano = window.panels["piano"]
    assert piano.video is not None and Path(piano.video).name.startswith("piano_")
    qtbot.waitUntil(lambda: not piano.jobs.active(), timeout=60000)


def test_import_weights_from_the_menu_path(qtbot, window: MainWindow, tmp_path: Path, monkeypatch) -> None:
    for ext in (".safetensors", ".json"):
        shutil.copy(BUNDLED / f"x2face-lite-p2v{ext}", tmp_path / f"x2face-lite-p2v{ext}")
    handle = window.import_weights(tmp_path / "x2face-lite-p2v.safetensors")
    qtbot.waitUntil(lambda: not window.jobs.active(), timeout=30000)
    assert handle is not None
    assert not WeightsRegistry().get("x2face-lite-p2v").bundled      # the user's copy now wins

    shown: list[str] = []
    monkeypatch.setattr("x2studio.ui.main_window.show_error", lambda parent, msg, details="": shown.append(msg))
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"\x80\x04pickle")
    window.import_weights(bad)
    qtbot.waitUntil(lambda: bool(shown), timeout=30000)
    assert "never opens pickled" in shown[0] or "not a weights file" in shown[0]


@pytest.mark.slow
def test_self_test_shows_every_panel_and_reports(qtbot, window: MainWindow, tmp_path: Path) -> None:
    test = SelfTest(window, shots=tmp_path / "shots", settle_s=1.0, timeout_s=240)
    test.start()
    qtbot.waitUntil(lambda: test.exit_code is not None, timeout=600000)
    assert test.exit_code == 0, test.errors
    assert [r[0] for r in test.rows] == list(window.panels)
    assert len(list((tmp_path / "shots").glob("*.png"))) == len(window.panels)


def test_self_test_fails_when_a_panel_shows_an_error(qtbot, window: MainWindow, monkeypatch) -> None:
    monkeypatch.setattr(QMessageBox, "exec", lambda self: 0)
    test = SelfTest(window, settle_s=0.5)
    test.order = ["media"]
    test.start()
    window.show_error("Something went wrong in the media panel.")
    qtbot.waitUntil(lambda: test.exit_code is not None, timeout=60000)
    assert test.exit_code == 1 and test.errors[0][1].startswith("Something went wrong")
