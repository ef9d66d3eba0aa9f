"""The Train panel: train any task of the training module on a folder of face tracks.

Training runs as a child process (``python -m training train … --events stdout``, the same as
``x2studio train``), read by :class:`~x2studio.workers.process.EventProcess`: the GUI never waits
for it, and when it dies the panel shows its last lines.  Live loss and metric curves (pyqtgraph),
the latest sample image, ETA; cancel (the run saves a checkpoint), resume; when it finishes, "Use
these weights" copies the exported entry into the user's weights folder where the other panels
find it.  Choosing an output folder that holds a run replays its curves from ``progress.jsonl``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QComboBox, QFileDialog, QFormLayout, QGridLayout, QGroupBox, QHBoxLayout, QLabel,
                               QLineEdit, QProgressBar, QScrollArea, QSpinBox, QSplitter, QVBoxLayout, QWidget)

from ...core import paths
from ...core.settings import Settings
from ...workers.jobs import JobRunner
from ...workers.process import EventProcess
from ..widgets.training_curves import TrainingCurves
from .base import Panel
from .common import make_button

__all__ = ["TrainPanel", "format_eta"]

log = logging.getLogger(__name__)
REPLAY_POINTS = 5000


def parse_task_list(stdout_lines: list[str]) -> dict:
    """The ``train list --json`` answer: its last JSON object line (anything else printed before it is ignored)."""
    for text in reversed(stdout_lines):
        if text.lstrip().startswith("{"):
            try:
                value = json.loads(text)
            except ValueError:
                return {}
            return value if isinstance(value, dict) else {}
    return {}


def format_eta(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "–"
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds // 60 % 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"


def _has_checkpoint(folder: Path) -> bool:
    return folder.is_dir() and any(folder.glob("ckpt-*.pt"))


class TrainPanel(Panel):
    panel_id = "train"
    title = "Train"

    weightsRegistered = Signal(str)   # name

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(settings, parent)
        self.recipes: dict[str, dict[str, dict]] = {}
        self.result: dict | None = None   # the "done" event of the last run
        self._mode = "idle"                # idle | list | generate | train
        self._sample_pix: QPixmap | None = None
        self.jobs = JobRunner(self)

        self.proc = EventProcess(self)
        self.proc.event.connect(self._on_event)
        self.proc.line.connect(self._on_line)
        self.proc.ended.connect(self._on_ended)

        self.charts = TrainingCurves(self)
        self.curves = self.charts.curves          # name -> (steps, values), as drawn
        self.log_view = self.charts.log_view
        split = QSplitter(Qt.Orientation.Horizontal, self)
        split.addWidget(self._form_column())
        split.addWidget(self.charts)
        split.setSizes([480, 620])
        split.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(split)
        default_root = paths.data_dir() / "training"
        self.data_edit.setText(str(default_root / "faces-synth"))
        self.out_edit.setText(str(default_root / "runs" / "run-1"))
        self._update_buttons()

    # ------------------------------------------------------------------ layout
    def _form_column(self) -> QScrollArea:
        """The form, the buttons, the progress and the samples (scrolling in a short window)."""
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 1000)
        self.status = QLabel("", self)
        self.status.setObjectName("trainStatus")
        self.status.setWordWrap(True)
        self.sample = QLabel("samples appear here at each evaluation", self)
        self.sample.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.sample.setMinimumHeight(100)
        box = QGroupBox("Samples", self)
        QVBoxLayout(box).addWidget(self.sample)
        left = QWidget(self)
        column = QVBoxLayout(left)
        column.addLayout(self._form())
        for w in (self._buttons(), self.progress, self.status):
            column.addWidget(w)
        column.addWidget(box, 1)
        scroll = QScrollArea(self)      # the form scrolls in a short window instead of forcing its height
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(left)
        return scroll

    def _form(self) -> QFormLayout:
        self.task_box = QComboBox(self)
        self.task_box.currentTextChanged.connect(self._fill_recipes)
        self.recipe_box = QComboBox(self)
        self.recipe_box.currentTextChanged.connect(self._describe_recipe)
        self.recipe_info = QLabel("", self)
        self.recipe_info.setWordWrap(True)
        self.data_edit = self._line("a folder of face tracks (x2studio dataset)")
        self.out_edit = self._line("run folder: checkpoints, logs, weights")
        self.out_edit.editingFinished.connect(self._on_out_changed)
        self.device_box = QComboBox(self)
        self.device_box.addItems(["auto", "cpu", "cuda"])
        self.steps_spin = QSpinBox(self)
        self.steps_spin.setRange(0, 10_000_000)
        self.steps_spin.setSpecialValueText("recipe's")
        self.name_edit = self._line("name for the weights (default TASK-RECIPE-FOLDER)")
        self.init_edit = self._line("the recipe's (weights name or .safetensors to start from)")
        self.options_edit = self._line("the recipe's (KEY=VALUE …, e.g. identity=identity-lite)")
        form = QFormLayout()
        for label, field in (("Task", self.task_box), ("Recipe", self.recipe_box), ("", self.recipe_info),
                             ("Data", self._row(self.data_edit, make_button(self, "Browse…", "", self._browse_data))),
                             *self._generate_fields(),
                             ("Output", self._row(self.out_edit, make_button(self, "Browse…", "", self._browse_out))),
                             ("Device", self.device_box), ("Steps", self.steps_spin), ("Start from", self.init_edit),
                             ("Options", self.options_edit), ("Weights name", self.name_edit)):
            form.addRow(label, field)
        return form

    def _line(self, placeholder: str) -> QLineEdit:
        edit = QLineEdit(self)
        edit.setPlaceholderText(placeholder)
        return edit

    def _generate_fields(self) -> tuple:
        """The synthetic data generator's fields (form rows)."""
        self.gen_tracks = QSpinBox(self)
        self.gen_tracks.setRange(3, 100000)
        self.gen_tracks.setValue(60)
        self.gen_size = QComboBox(self)
        self.gen_size.addItems(["64", "128", "256"])
        self.gen_size.setCurrentText("128")
        self.gen_reframe = QSpinBox(self)
        self.gen_reframe.setRange(0, 100)
        self.gen_reframe.setSuffix(" %")
        self.gen_reframe.setToolTip("Share of tracks whose background slides once through the face crop, as when a "
                                    "person shifts in the frame (0: static backgrounds)")
        self.gen_button = make_button(self, "Generate synthetic data", "Render talking faces with ground truth into "
                                      "the data folder", self.generate_data)
        return (("", self._row(QLabel("tracks", self), self.gen_tracks, QLabel("size", self), self.gen_size,
                               QLabel("reframed", self), self.gen_reframe)), ("", self.gen_button))

    def _buttons(self) -> QWidget:
        self.start_button = make_button(self, "Start", "Train from the start", lambda: self.start(resume=False))
        self.resume_button = make_button(self, "Resume", "Go on from the run's last checkpoint",
                                         lambda: self.start(resume=True))
        self.cancel_button = make_button(self, "Cancel", "Stop the run (it saves a checkpoint first)", self.cancel)
        self.use_button = make_button(self, "Use these weights", "Install the run's weights for the other panels",
                                      self.use_weights)
        buttons = QWidget(self)
        grid = QGridLayout(buttons)
        grid.setContentsMargins(0, 0, 0, 0)
        for i, b in enumerate((self.start_button, self.resume_button, self.cancel_button, self.use_button)):
            grid.addWidget(b, i // 2, i % 2)
        return buttons

    def showEvent(self, event) -> None:  # noqa: N802
        """The task list comes from the training module (a child process): asked for on first show."""
        super().showEvent(event)
        if not self.recipes and self._mode == "idle":
            self.load_tasks()

    def _row(self, *widgets: QWidget) -> QWidget:
        w = QWidget(self)
        h = QHBoxLayout(w)
        h.setContentsMargins(0, 0, 0, 0)
        for x in widgets:
            h.addWidget(x, 1 if isinstance(x, QLineEdit) else 0)
        return w

    # ------------------------------------------------------------------ tasks
    def load_tasks(self) -> None:
        self.status.setText("Loading the tasks…")
        self._mode = "list"
        self.proc.start(["train", "list", "--json"])
        self._update_buttons()

    def _fill_recipes(self, task: str) -> None:
        self.recipe_box.clear()
        names = list(self.recipes.get(task, {}))
        self.recipe_box.addItems(names)
        if "lite" in names:
            self.recipe_box.setCurrentText("lite")

    def _describe_recipe(self, name: str) -> None:
        r = self.recipes.get(self.task_box.currentText(), {}).get(name)
        if not r:
            self.recipe_info.setText("")
            return
        extra = ""
        if r.get("init"):
            extra += f"; starts from {r['init']}"
        if r.get("options"):
            extra += "; " + " ".join(f"{k}={v}" for k, v in r["options"].items())
        if r["optimizer"] == "lstsq":   # a linear read-out set to its loss' minimum: no steps to run
            self.recipe_info.setText(f"exact fit (least squares, L1 or logistic), no steps{extra}")
            return
        self.recipe_info.setText(f"{r['steps']} steps, batch {r['batch_size']}, {r['image_size']}² images, "
                                 f"{r['optimizer']} lr {r['lr']:g}, {r['precision']}{extra}")

    # ------------------------------------------------------------------ folders
    def _browse_data(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Face-track dataset", self.data_edit.text())
        if path:
            self.data_edit.setText(path)

    def _browse_out(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Run folder", self.out_edit.text())
        if path:
            self.out_edit.setText(path)
            self._on_out_changed()

    def _on_out_changed(self) -> None:
        """A folder holding a run: replay its curves, offer Resume."""
        out = Path(self.out_edit.text().strip())
        self._clear_curves()
        self.result = None
        events = out / "progress.jsonl"
        if events.is_file():
            try:
                lines = events.read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                lines = []
                self.status.setText(f"Cannot read {events}: {exc}")
            # a long run has one line per step: keep about REPLAY_POINTS of its training points
            thin = max(1, len(lines) // REPLAY_POINTS)
            for k, text in enumerate(lines):
                if thin > 1 and k % thin and text.startswith('{"event": "train"'):
                    continue
                try:
                    self._on_event(json.loads(text), replay=True)
                except (ValueError, KeyError, TypeError):
                    continue
            self.charts.redraw()
        self._update_buttons()

    # ------------------------------------------------------------------ actions
    def start(self, resume: bool = False) -> None:
        if self.proc.is_running():
            return
        task, recipe = self.task_box.currentText(), self.recipe_box.currentText()
        data, out = self.data_edit.text().strip(), self.out_edit.text().strip()
        if not task or not recipe:
            self.errorRaised.emit("No training task is available.", "\n".join(self.proc.tail))
            return
        if not data or not (Path(data) / "manifest.json").is_file():
            self.errorRaised.emit(f"'{data}' is not a face-track dataset (it has no manifest.json).",
                                  "Choose a dataset folder, or generate synthetic data into it first.")
            return
        if not out:
            self.errorRaised.emit("Choose an output folder for the run.", "")
            return
        if not resume and _has_checkpoint(Path(out)):
            self.errorRaised.emit(f"'{out}' already holds a run.", "Resume it, or choose a new output folder.")
            return
        args = ["train", task, "--recipe", recipe, "--data", data, "--out", out, "--events", "stdout"]
        if resume:
            args.append("--resume")
        if self.device_box.currentText() != "auto":
            args += ["--device", self.device_box.currentText()]
        if self.steps_spin.value() > 0:
            args += ["--steps", str(self.steps_spin.value())]
        if self.init_edit.text().strip():
            args += ["--init", self.init_edit.text().strip()]
        for pair in self.options_edit.text().split():
            if "=" not in pair:
                self.errorRaised.emit(f"The option '{pair}' is not KEY=VALUE.", "For example: identity=identity-lite")
                return
            args += ["--option", pair]
        if not resume:
            self._clear_curves()
        else:
            self._on_out_changed()
        self.result = None
        self.log_view.appendPlainText(f"$ x2studio {' '.join(args)}")
        self._mode = "train"
        self.proc.start(args)
        self.status.setText("Starting…" if not resume else "Resuming…")
        self._update_buttons()

    def cancel(self) -> None:
        if self.proc.is_running():
            self.status.setText("Stopping: saving a checkpoint…")
            self.proc.cancel()

    def generate_data(self) -> None:
        if self.proc.is_running():
            return
        data = self.data_edit.text().strip()
        if not data:
            self.errorRaised.emit("Choose a data folder to generate into.", "")
            return
        args = ["faces", data, "--tracks", str(self.gen_tracks.value()), "--size", self.gen_size.currentText(),
                "--max-seconds", "6", "--events", "stdout"]
        if self.gen_reframe.value():
            args += ["--reframe", f"{self.gen_reframe.value() / 100:g}"]
        self.log_view.appendPlainText(f"$ x2studio data synth {' '.join(args)}")
        self._mode = "generate"
        self.proc.start(args)
        self.status.setText("Rendering synthetic talking faces…")
        self._update_buttons()

    def use_weights(self) -> None:
        if not self.result or "card" not in self.result:
            return
        card = Path(self.result["card"])
        name = self.name_edit.text().strip() or f"{self.task_box.currentText()}-{self.recipe_box.currentText()}-" \
                                                f"{Path(self.out_edit.text().strip()).name}"

        def work(job):
            from ...weights.registry import load_entry, register_weights

            return register_weights(load_entry(card), name=name).name

        self.jobs.start("Registering weights", work, on_success=self._on_registered,
                        on_failure=lambda msg, details: self.errorRaised.emit(f"The weights were not registered: {msg}",
                                                                              details))

    def _on_registered(self, name: str) -> None:
        self.status.setText(f"The weights '{name}' are registered: the other panels can use them now.")
        self.statusMessage.emit(f"Weights '{name}' registered")
        self.weightsRegistered.emit(name)

    # ------------------------------------------------------------------ process output
    def _on_line(self, text: str) -> None:
        if self._mode != "list":      # the task list is data, not a message
            self.log_view.appendPlainText(text)

    def _on_event(self, ev: dict, replay: bool = False) -> None:
        kind = ev.get("event")
        if self._mode == "generate" and not replay:
            if kind == "progress" and ev.get("total"):
                self.progress.setValue(int(1000 * ev["done"] / ev["total"]))
                self.status.setText(f"{ev.get('message', '')} — {format_eta(ev.get('eta_s'))} left")
            return
        if kind == "train":
            self.charts.add_point("train loss", ev["step"], ev["losses"]["loss"])
            self.progress.setValue(int(1000 * ev["step"] / max(ev["total"], 1)))
            if not replay:
                self.status.setText(f"step {ev['step']} / {ev['total']} · epoch {ev.get('epoch', 0) + 1} · "
                                    f"{ev.get('samples_per_s', 0):.1f} samples/s · lr {ev.get('lr', 0):.2g} · "
                                    f"{format_eta(ev.get('eta_s'))} left")
        elif kind == "eval":
            for name, value in ev.get("metrics", {}).items():
                self.charts.add_point(name.replace("_", " "), ev["step"], value)
            sample = ev.get("sample_image")
            if sample and Path(sample).is_file():
                pix = QPixmap(sample)
                if not pix.isNull():
                    self._sample_pix = pix
                    self._show_sample()
        elif kind == "done":
            self.result = ev
            self.progress.setValue(1000)
            best = ", ".join(f"{k} {v:.4g}" for k, v in ev.get("best", {}).items() if isinstance(v, (int, float)))
            self.status.setText(f"Finished: weights '{ev.get('name', '')}' exported ({best}).")
        elif kind == "stopped" and replay:
            self.status.setText(f"Stopped at step {ev['step']} of {ev['total']}: Resume continues it.")
        elif kind == "resume" and not replay:
            self.log_view.appendPlainText(f"resumed from {ev.get('checkpoint')} (step {ev['step']})")
        self._update_buttons()

    def _show_sample(self) -> None:
        if self._sample_pix is None:
            return
        w = max(64, min(self.sample.width() - 8, 3 * self._sample_pix.width()))
        h = max(64, min(self.sample.height() - 8, 3 * self._sample_pix.height()))
        self.sample.setPixmap(self._sample_pix.scaled(w, h, Qt.AspectRatioMode.KeepAspectRatio,
                                                      Qt.TransformationMode.SmoothTransformation))

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._show_sample()

    def _clear_curves(self) -> None:
        self.charts.clear()
        self.progress.setValue(0)
        self._sample_pix = None
        self.sample.setPixmap(QPixmap())
        self.sample.setText("samples appear here at each evaluation")

    def _on_ended(self, code: int, outcome: str) -> None:
        mode, self._mode = self._mode, "idle"
        if mode == "list":
            self.recipes = parse_task_list(self.proc.stdout_lines)
            if self.recipes and outcome != "ok":
                # the list came whole; what went wrong after it (the child dying at exit) costs the user nothing
                log.warning("the task list arrived but the child then ended with code %s (%s)", code, outcome)
            if not self.recipes:
                self.status.setText("The training module could not be loaded.")
                self.errorRaised.emit(f"The training module could not be loaded (exit code {code}, {outcome}): "
                                      f"{self.proc.last_error()}", "\n".join(self.proc.tail))
            else:
                self.task_box.clear()
                self.task_box.addItems(list(self.recipes))
                self.status.setText("Pick a task, a dataset and an output folder, then Start.")
                self._on_out_changed()
        elif mode == "generate":
            if outcome == "ok":
                self.progress.setValue(1000)
                self.status.setText(f"Synthetic data ready in {self.data_edit.text()}.")
            elif outcome == "cancelled":
                self.status.setText("Generation cancelled: generating again into the same folder resumes it.")
            else:
                self.status.setText("Generating the data failed.")
                self.errorRaised.emit(f"Generating synthetic data failed: {self.proc.last_error()}",
                                      "\n".join(self.proc.tail))
        elif mode == "train":
            if outcome == "ok" and self.result is not None:
                self.statusMessage.emit("Training finished")
            elif outcome == "ok":
                self.status.setText("The run stopped before its last step: Resume continues it.")
            elif outcome == "cancelled":
                self.status.setText("Cancelled; the last checkpoint is kept: Resume continues the run.")
            else:
                self.status.setText(f"The training process stopped with an error (exit code {code}); "
                                    "its last lines are in the log. Resume continues from the last checkpoint.")
                self.errorRaised.emit(f"Training failed: {self.proc.last_error()}",
                                      "\n".join(list(self.proc.tail)[-40:]))
        self._update_buttons()

    def _update_buttons(self) -> None:
        busy = self.proc.is_running()
        out = Path(self.out_edit.text().strip()) if self.out_edit.text().strip() else None
        ready = bool(self.recipes) and not busy
        self.start_button.setEnabled(ready)
        self.resume_button.setEnabled(ready and out is not None and _has_checkpoint(out) and self.result is None)
        self.cancel_button.setEnabled(busy and self._mode in ("train", "generate"))
        self.gen_button.setEnabled(not busy)
        self.use_button.setEnabled(not busy and self.result is not None and "card" in self.result)
        for w in (self.task_box, self.recipe_box, self.data_edit, self.out_edit):
            w.setEnabled(not busy)

    def shutdown(self) -> None:
        """The app is closing: ask a running child to save and stop, and wait a little for it."""
        if self.proc.is_running():
            self.proc.cancel()
            self.proc.wait(15000)
        self.jobs.shutdown()
