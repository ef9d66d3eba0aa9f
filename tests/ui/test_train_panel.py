"""The Train panel: a real training child process, driven as a user would (pytest-qt)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

render = pytest.importorskip("training.synth.render")
if not render.gl_available():  # pragma: no cover
    pytest.skip("no OpenGL context", allow_module_level=True)

from x2studio.core.settings import Settings  # noqa: E402
from x2studio.ui.panels.train_panel import TrainPanel, format_eta, parse_task_list  # noqa: E402
from x2studio.weights.registry import WeightsRegistry  # noqa: E402

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def faces(tiny_faces):
    return tiny_faces


@pytest.fixture
def panel(qtbot):
    p = TrainPanel(Settings())
    qtbot.addWidget(p)
    p.show()
    errors: list[str] = []
    p.errorRaised.connect(lambda m, d: errors.append(f"{m}\n{d}"))
    try:
        qtbot.waitUntil(lambda: p.task_box.count() > 0 or bool(errors), timeout=180000)
    except Exception:   # the child's last words, so that a failure far away (CI) can be read
        pytest.fail(f"no task list after 180 s; status: {p.status.text()!r}; running: {p.proc.is_running()}; "
                    f"child output: {list(p.proc.tail)[-30:]}")
    assert not errors, errors
    yield p
    p.shutdown()


def _setup(panel: TrainPanel, data: Path, out: Path, steps: int) -> None:
    panel.task_box.setCurrentText("autoencoder")
    panel.recipe_box.setCurrentText("tiny")
    panel.data_edit.setText(str(data))
    panel.out_edit.setText(str(out))
    panel.steps_spin.setValue(steps)


def test_train_panel_trains_cancels_resumes_and_registers(qtbot, panel: TrainPanel, faces: Path, tmp_path: Path) -> None:
    assert set(panel.recipes) >= {"autoencoder", "rotation"}
    assert {"tiny", "lite", "paper"} <= set(panel.recipes["autoencoder"])
    panel.task_box.setCurrentText("attributes")           # heads fitted exactly: the recipe says so, no steps
    panel.recipe_box.setCurrentText("lite")
    assert "exact fit" in panel.recipe_info.text() and "steps," not in panel.recipe_info.text()
    panel.recipe_box.setCurrentText("adam")
    assert panel.recipe_info.text().startswith("1000 steps")
    errors = []
    panel.errorRaised.connect(lambda m, d: errors.append(m))
    out = tmp_path / "run"
    _setup(panel, faces, out, 100000)
    panel.start_button.click()
    assert panel.proc.is_running() and not panel.start_button.isEnabled()
    qtbot.waitUntil(lambda: len(panel.curves.get("train loss", ([], []))[0]) >= 3, timeout=120000)
    assert "samples/s" in panel.status.text() and panel.progress.value() >= 0
    panel.cancel_button.click()
    qtbot.waitUntil(lambda: not panel.proc.is_running(), timeout=60000)
    assert "Cancelled" in panel.status.text(), panel.status.text()
    assert not errors
    ckpts = sorted(out.glob("ckpt-*.pt"))
    assert ckpts, "cancelling saves a checkpoint"
    stopped_at = int(ckpts[-1].stem.split("-")[1])
    assert panel.resume_button.isEnabled()

    # a new panel on the same folder replays the curves; resume finishes a few steps later
    panel.out_edit.setText(str(out))
    panel._on_out_changed()
    assert panel.curves["train loss"][0][-1] >= stopped_at
    panel.steps_spin.setValue(stopped_at + 3)
    panel.name_edit.setText("my-autoencoder")
    panel.resume_button.click()
    qtbot.waitUntil(lambda: not panel.proc.is_running(), timeout=120000)
    assert panel.result is not None, "\n".join(panel.proc.tail)
    steps = panel.curves["train loss"][0]
    assert steps == sorted(set(steps)) and steps[-1] == stopped_at + 3   # continued, not restarted
    assert "val loss" in panel.curves and panel.sample.pixmap() is not None and not panel.sample.pixmap().isNull()
    assert panel.use_button.isEnabled()
    with qtbot.waitSignal(panel.weightsRegistered, timeout=30000):
        panel.use_button.click()
    entry = WeightsRegistry().get("my-autoencoder")
    assert entry.card.architecture == "fabnet-autoencoder" and not entry.bundled
    assert entry.load_state_dict()
    assert not errors


def test_train_panel_survives_the_child_dying(qtbot, panel: TrainPanel, faces: Path, tmp_path: Path) -> None:
    errors = []
    panel.errorRaised.connect(lambda m, d: errors.append((m, d)))
    # 1. the child refuses bad data: its one-line error reaches the user
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "manifest.json").write_text("{not json")
    _setup(panel, bad, tmp_path / "run-bad", 0)
    panel.start_button.click()
    qtbot.waitUntil(lambda: not panel.proc.is_running(), timeout=120000)
    assert errors and errors[-1][0].startswith("Training failed:"), errors
    assert "manifest" in errors[-1][0].lower() or "manifest" in errors[-1][1].lower()
    # 2. the child is killed (kill -9) mid-run: the panel reports it and stays usable
    _setup(panel, faces, tmp_path / "run-kill", 100000)
    panel.start_button.click()
    qtbot.waitUntil(lambda: len(panel.curves.get("train loss", ([], []))[0]) >= 1, timeout=120000)
    os.kill(panel.proc._proc.processId(), signal.SIGKILL)
    qtbot.waitUntil(lambda: not panel.proc.is_running(), timeout=30000)
    assert len(errors) == 2 and "error" in panel.status.text()
    assert panel.start_button.isEnabled()
    # 3. a malformed option is refused before starting anything
    _setup(panel, faces, tmp_path / "run-opt", 0)
    panel.options_edit.setText("identity")
    panel.start_button.click()
    assert not panel.proc.is_running() and "KEY=VALUE" in errors[-1][0]
    panel.options_edit.setText("")
    # 4. no dataset at all: refused before starting anything
    panel.data_edit.setText(str(tmp_path / "nowhere"))
    panel.out_edit.setText(str(tmp_path / "run-3"))
    panel.start_button.click()
    assert not panel.proc.is_running() and "not a face-track dataset" in errors[-1][0]


def test_train_panel_generates_synthetic_data(qtbot, panel: TrainPanel, tmp_path: Path) -> None:
    target = tmp_path / "gen"
    panel.data_edit.setText(str(target))
    panel.gen_tracks.setValue(3)
    panel.gen_size.setCurrentText("64")
    panel.gen_reframe.setValue(30)
    panel.gen_button.click()
    qtbot.waitUntil(lambda: not panel.proc.is_running(), timeout=180000)
    manifest = json.loads((target / "manifest.json").read_text())
    assert len(manifest["tracks"]) == 3 and manifest["size"] == 64
    assert manifest["config"]["reframe"] == 0.3
    assert "ready" in panel.status.text()


def test_format_eta() -> None:
    assert format_eta(None) == "–" and format_eta(42) == "42 s"
    assert format_eta(125) == "2 min 05 s" and format_eta(3725) == "1 h 02 min"


def test_task_list_is_read_from_the_last_json_line() -> None:
    good = json.dumps({"autoencoder": {"tiny": {"steps": 12}}})
    assert parse_task_list(["some library said hello", good]) == {"autoencoder": {"tiny": {"steps": 12}}}
    assert parse_task_list(["", good, ""]) == {"autoencoder": {"tiny": {"steps": 12}}}
    assert parse_task_list([good[:-3]]) == {}          # cut short: no list, not a crash
    assert parse_task_list(["[1, 2]"]) == {}
    assert parse_task_list([]) == {}
