"""The Retrieve panel, driven as a user would (pytest-qt, offscreen): the demo gallery is built on
first show and queried; results open in context; bad input reaches the user as a message."""

from __future__ import annotations

from pathlib import Path

import pytest

from x2studio.core.settings import Settings
from x2studio.ui.panels.retrieve_panel import RetrievePanel

pytestmark = pytest.mark.gui
DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo"


@pytest.fixture
def panel(qtbot):
    p = RetrievePanel(Settings())
    qtbot.addWidget(p)
    with qtbot.waitSignal(p.resultsShown, timeout=120000):
        p.show()
    yield p
    p.shutdown()


def test_demo_gallery_is_built_and_queried_on_show(qtbot, panel: RetrievePanel) -> None:
    hits = panel.results
    assert panel.grid.count() == len(hits) >= 5
    assert all(not h.source.endswith("face_2.png") for h in hits)          # the query's own file left out
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert panel.query_view.image() is not None and "pose" in panel.result.query_attributes
    assert "nearest of" in panel.status.text()
    # a result in context: its picture with the face's box, and its attributes
    panel.grid.setCurrentRow(0)
    qtbot.waitUntil(lambda: panel.context_view.image() is not None, timeout=30000)
    assert "similarity" in panel.context_text.text()
    # a video result opens in the Media panel at its frame
    row = next(i for i, h in enumerate(hits) if h.source.endswith(".mp4"))
    with qtbot.waitSignal(panel.openRequested, timeout=5000) as sig:
        panel.grid.itemDoubleClicked.emit(panel.grid.item(row))
    assert sig.args == [hits[row].source, hits[row].frame]


def test_query_a_video_frame_and_keep_its_own_file(qtbot, panel: RetrievePanel) -> None:
    panel.exclude_box.blockSignals(True)
    panel.exclude_box.setChecked(False)
    panel.exclude_box.blockSignals(False)
    with qtbot.waitSignal(panel.resultsShown, timeout=60000):
        panel.query_file(str(DEMO / "talking_3.mp4"), time_s=2.0)
    own = [h for h in panel.results if h.source.endswith("talking_3.mp4")]
    assert own and own[0].score > 0.99 and own[0].time_s == pytest.approx(2.0, abs=0.05)


def test_bad_gallery_and_query_reach_the_user(qtbot, panel: RetrievePanel, tmp_path: Path) -> None:
    errors = []
    panel.errorRaised.connect(lambda m, d: errors.append(m))
    panel.gallery_edit.setText(str(tmp_path / "no-index-here"))
    panel.query_file(str(DEMO / "face_1.png"))
    qtbot.waitUntil(lambda: bool(errors), timeout=30000)
    assert "No gallery index" in errors[-1]
    blank = tmp_path / "blank.png"
    import cv2
    import numpy as np

    cv2.imwrite(str(blank), np.full((80, 80, 3), 128, np.uint8))
    panel.gallery_edit.setText(str(Path(panel.settings.__class__ and tmp_path / "g")))
    qtbot.waitUntil(lambda: not (panel._busy and panel._busy.is_running()), timeout=30000)
    panel.build_gallery([blank])
    qtbot.waitUntil(lambda: len(errors) >= 2, timeout=30000)
    assert "No face" in errors[-1]


def test_the_demo_query_runs_though_the_build_thread_is_slow_to_end(qtbot, monkeypatch) -> None:
    """The query starts from the gallery build's success slot, while the build's thread may still be
    winding down: it must not be refused as "busy" (a slow wind-down made this fail every time)."""
    import time

    import x2studio.workers.jobs as jobs

    hand_back = jobs.hand_back
    monkeypatch.setattr(jobs, "hand_back", lambda worker: (time.sleep(0.5), hand_back(worker)))
    p = RetrievePanel(Settings())
    qtbot.addWidget(p)
    with qtbot.waitSignal(p.resultsShown, timeout=60000):
        p.show()
    assert p.results and "nearest of" in p.status.text()
    p.shutdown()


def test_a_demo_gallery_built_with_earlier_weights_is_built_again(qtbot) -> None:
    """After an update replaces the bundled embedding (fabnet-lite became 128²), the demo gallery that an
    earlier start built must not turn the panel's first show into an error."""
    import json

    from x2studio.core import paths

    demo = paths.data_dir() / "galleries" / "demo"
    first = RetrievePanel(Settings())
    qtbot.addWidget(first)
    with qtbot.waitSignal(first.resultsShown, timeout=120000):
        first.show()
    first.shutdown()
    meta = json.loads((demo / "index.json").read_text())
    meta["model"]["sha256"] = "0" * 64                     # as if built by the earlier weights
    (demo / "index.json").write_text(json.dumps(meta))
    errors = []
    p = RetrievePanel(Settings())
    qtbot.addWidget(p)
    p.errorRaised.connect(lambda m, d: errors.append(m))
    with qtbot.waitSignal(p.resultsShown, timeout=120000):
        p.show()
    assert not errors and p.results and "nearest of" in p.status.text()
    assert json.loads((demo / "index.json").read_text())["model"]["sha256"] != "0" * 64
    p.shutdown()


def test_a_demo_gallery_holding_another_installs_faces_is_built_again(qtbot, tmp_path: Path) -> None:
    """Two copies of the app share the user's data folder: the demo gallery one built must not add the other's
    demo faces to its own (each face listed twice, the query's own copy first at similarity 1)."""
    import json
    import shutil

    from x2studio.core import paths

    other = tmp_path / "other-install"
    shutil.copytree(DEMO, other)
    demo = paths.data_dir() / "galleries" / "demo"
    first = RetrievePanel(Settings())
    qtbot.addWidget(first)
    with qtbot.waitSignal(first.resultsShown, timeout=120000):
        first.show()
    with qtbot.waitSignal(first.resultsShown, timeout=120000):     # the other install's faces join the index
        first.build_gallery(sorted(other.glob("face_*.png")), then_query=str(other / "face_2.png"))
    first.shutdown()
    assert any(k.startswith(str(other)) for k in json.loads((demo / "index.json").read_text())["files"])
    p = RetrievePanel(Settings())
    qtbot.addWidget(p)
    with qtbot.waitSignal(p.resultsShown, timeout=120000):
        p.show()
    assert p.results and not any(h.source.startswith(str(other)) for h in p.results)
    assert all(h.score < 0.999 for h in p.results)
    assert not any(k.startswith(str(other)) for k in json.loads((demo / "index.json").read_text())["files"])
    p.shutdown()
