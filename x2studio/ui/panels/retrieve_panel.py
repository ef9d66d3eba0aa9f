"""The Retrieve panel: build a gallery of faces from images and videos, then find the faces most
alike in pose and expression to a query face (an image, a video frame or the webcam), with the
attributes read from the embedding drawn on the query and the results.

Everything that touches the model or the disk runs as a job (:class:`~x2studio.workers.jobs.JobRunner`):
building the gallery (progress and cancel; an interrupted build resumes where it stopped), the
query, and reading a result's frame in context.  On first show the panel builds a small gallery of
the bundled demo faces and queries it with one of them, so it shows what it does at once.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFileDialog, QHBoxLayout, QLabel, QLineEdit,
                               QListView, QListWidget, QListWidgetItem, QSpinBox, QSplitter, QVBoxLayout,
                               QWidget)

from ...core.settings import Settings
from ...media.image import IMAGE_SUFFIXES
from ...workers.jobs import JobRunner
from ...workers.media import to_qimage
from ..widgets.face_attributes import ExpressionBars, attributes_html, draw_attributes
from ..widgets.image_view import ImageView, demo_file
from .base import Panel
from .common import SOURCE_FILTER, hrow, make_button, make_check

__all__ = ["RetrievePanel"]

log = logging.getLogger(__name__)
TILE = 112
DEMO_FILES = ("face_0.png", "face_1.png", "face_2.png", "face_3.png", "face_4.png", "talking_3.mp4")


class RetrievePanel(Panel):
    panel_id = "retrieve"
    title = "Retrieve"
    preferred_weights = "fabnet-lite"
    no_weights_message = "No face embedding is installed: train 'fabnet' in the Train panel."

    resultsShown = Signal(object)          # the list of hits (dicts)
    galleryBuilt = Signal(object)          # the build report
    openRequested = Signal(str, int)       # a video to open in the Media panel at this frame

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(settings, parent)
        self.jobs = JobRunner(self)
        self._embedder = None                # built in a job, used by one job at a time
        self._busy = None                    # the running JobHandle
        self.query_path: str | None = None
        self.result = None                   # the last RetrieveResult
        self.results: tuple = ()             # its hits (retrieval.Hit), best first
        self._camera = None

        self.status = QLabel("", self)
        self.status.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addLayout(self._gallery_row())
        layout.addLayout(self._query_row())
        layout.addWidget(self._results(), 1)
        layout.addWidget(self.status)
        self._update_buttons()

    # ------------------------------------------------------------------ layout
    def _gallery_row(self) -> QHBoxLayout:
        from ...core import paths

        self.gallery_edit = QLineEdit(str(paths.data_dir() / "galleries" / "demo"), self)
        self.gallery_edit.setToolTip("The gallery index folder (made by 'Add to gallery' or 'x2studio embed')")
        self.gallery_edit.setMinimumWidth(60)
        self.gallery_button = make_button(self, "Gallery…", "Choose a gallery folder", self._choose_gallery)
        self.add_button = make_button(self, "Add faces…", "Embed the faces of a folder of images and videos (only "
                                      "new or changed files)", self._choose_add)
        self.fps_spin = QDoubleSpinBox(self)
        self.fps_spin.setRange(0.1, 30.0)
        self.fps_spin.setValue(1.0)
        self.fps_spin.setSuffix(" fps")
        self.fps_spin.setToolTip("Video frames sampled per second when a new gallery is built")
        self.weights_box = QComboBox(self)
        self.weights_box.setToolTip("The face embedding (a new gallery is built with it; a gallery keeps its own)")
        self.cancel_button = make_button(self, "Cancel", "Stop building the gallery", self.cancel)
        row = QHBoxLayout()
        for w in (self.gallery_button, self.gallery_edit, self.add_button, self.fps_spin, self.weights_box,
                  self.cancel_button):
            row.addWidget(w, 1 if w is self.gallery_edit else 0)
        return row

    def _query_row(self) -> QHBoxLayout:
        self.query_button = make_button(self, "Query…", "Find the faces most alike to the face of an image or of "
                                        "a video's frame", self._choose_query)
        self.time_spin = QDoubleSpinBox(self)
        self.time_spin.setRange(0.0, 99999.0)
        self.time_spin.setDecimals(2)
        self.time_spin.setSuffix(" s")
        self.time_spin.setToolTip("For a video query: the frame at this time")
        self.time_spin.editingFinished.connect(self._requery)
        self.camera_button = make_button(self, "Webcam", "Query with a frame from the webcam", self.query_webcam)
        self.k_spin = QSpinBox(self)
        self.k_spin.setRange(1, 200)
        self.k_spin.setValue(12)
        self.k_spin.setToolTip("How many neighbours to show")
        self.k_spin.editingFinished.connect(self._requery)
        self.exclude_box = make_check(self, "Other files only", "Leave out the faces of the query's own file "
                                      "(results across videos)", lambda _c: self._requery(), checked=True)
        self.overlay_box = make_check(self, "Attributes", "Draw the landmarks and pose read from the embedding",
                                      lambda _c: self._show_results(), checked=True)
        return hrow(self.query_button, self.time_spin, self.camera_button, self.k_spin, self.exclude_box,
                    self.overlay_box)

    def _column(self, title: str, view: ImageView, text: QLabel, bars: ExpressionBars) -> QWidget:
        """A picture under its title, with its attributes as text and bars under it."""
        view.setMinimumSize(150, 120)
        text.setTextFormat(Qt.TextFormat.RichText)
        text.setWordWrap(True)
        column = QVBoxLayout()
        column.addWidget(QLabel(title, self))
        column.addWidget(view, 1)
        column.addWidget(text)
        column.addWidget(bars)
        widget = QWidget(self)
        widget.setLayout(column)
        return widget

    def _results(self) -> QSplitter:
        """The query (left), the faces found (middle) and the one picked in its picture (right)."""
        self.query_view = ImageView("query face", self)
        self.query_attrs = QLabel("", self)
        self.query_bars = ExpressionBars(self)
        self.context_view = ImageView("a result in its picture", self)
        self.context_text = QLabel("Click a result to see it in its picture; double-click a video's to open it "
                                   "in the Media panel.", self)
        self.context_bars = ExpressionBars(self)
        self.grid = QListWidget(self)
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setIconSize(QSize(TILE, TILE))
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setMovement(QListView.Movement.Static)
        self.grid.setSpacing(6)
        self.grid.setWordWrap(True)
        self.grid.setGridSize(QSize(TILE + 24, TILE + 44))
        self.grid.currentRowChanged.connect(self._on_pick)
        self.grid.itemDoubleClicked.connect(self._on_open)
        split = QSplitter(Qt.Orientation.Horizontal, self)
        split.addWidget(self._column("Query", self.query_view, self.query_attrs, self.query_bars))
        split.addWidget(self.grid)
        split.addWidget(self._column("In context", self.context_view, self.context_text, self.context_bars))
        for k, stretch in enumerate((2, 5, 3)):
            split.setStretchFactor(k, stretch)
        split.setSizes([270, 620, 330])
        return split

    # ------------------------------------------------------------------ start-up
    def weight_names(self) -> list[str]:
        from ...models.fabnet import EMBEDDERS
        from ...weights.registry import WeightsRegistry

        reg = WeightsRegistry()
        return [n for a in EMBEDDERS for n in reg.names(a)]

    def set_device(self, device: str) -> None:
        if device != self.device:
            self.device = device
            self._embedder = None

    def start_demo(self) -> None:
        """Build (or reuse) the gallery of the bundled demo faces and query it with one of them."""
        files = [demo_file(n) for n in DEMO_FILES]
        files = [f for f in files if f.is_file()]
        if not files or not self.weights_box.count():
            return
        query = demo_file("face_2.png")
        self._drop_stale_demo(files)
        self.build_gallery(files, then_query=str(query) if query.is_file() else None)

    def _drop_stale_demo(self, files: list[Path]) -> None:
        """The demo gallery is the app's own index of its bundled faces: when the weights it was built
        with were updated (as when fabnet-lite changed its input size), or it indexes another install's demo
        files (a second copy of the app shares the user's data folder: each face was then listed twice,
        the query's own copy first at similarity 1 past "other files only"), it is built again instead.
        A gallery the user made is never touched."""
        import json
        import shutil

        from ...core import paths
        from ...pipelines.retrieval import weights_changed

        root = Path(self.gallery_edit.text().strip()).expanduser()
        demo = paths.data_dir() / "galleries" / "demo"
        if root.resolve() != demo.resolve():
            return
        try:
            indexed = set(json.loads((demo / "index.json").read_text())["files"])
        except (OSError, ValueError, KeyError, TypeError):
            indexed = set()
        if weights_changed(demo) or {str(Path(p).resolve()) for p in indexed} - {str(f.resolve()) for f in files}:
            log.info("the demo gallery was built with other weights or files; building it again")
            shutil.rmtree(demo, ignore_errors=True)

    # ------------------------------------------------------------------ jobs
    def _embedder_for(self, weights: str):
        """(Job thread) the embedder, kept between jobs while weights and device stay the same."""
        from ...pipelines.find_faces import embedder_for

        self._embedder = embedder_for(weights, self.device, loaded=self._embedder)
        return self._embedder

    def _gallery_weights(self, root: Path) -> str:
        from ...pipelines.find_faces import index_model

        return index_model(root) or self.weights_box.currentText() or "fabnet-lite"

    def _run(self, title: str, work, on_success, status: str) -> None:
        if self._busy is not None and self._busy.is_working():     # (a query started from a build's success
            self.status.setText("Busy: wait for the current job, or cancel it.")   # slot must not be refused)
            return
        self.status.setText(status)
        handle = self.jobs.start(title, work, on_success=on_success, on_failure=self._on_failed)
        handle.progress.connect(lambda ev: self.status.setText(
            f"{status} {100 * (ev.fraction or 0):.0f}% {ev.message}"))
        handle.cancelled.connect(lambda: self.status.setText(f"{title}: cancelled. Adding the same files again "
                                                             "continues where it stopped."))
        handle.ended.connect(lambda _h: self._update_buttons())
        self._busy = handle
        self._update_buttons()

    def cancel(self) -> None:
        if self._busy is not None:
            self._busy.cancel()

    def _on_failed(self, message: str, details: str = "") -> None:
        self.status.setText(message)
        self.errorRaised.emit(message, details)
        self._update_buttons()

    # ------------------------------------------------------------------ gallery
    def _choose_gallery(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Gallery index folder", self.gallery_edit.text())
        if path:
            self.gallery_edit.setText(path)
            self._requery()

    def _choose_add(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Add the faces of this folder's images and videos")
        if path:
            self.build_gallery([Path(path)])

    def build_gallery(self, inputs: list[Path], then_query: str | None = None) -> None:
        """Embed the faces of ``inputs`` into the gallery folder (new or changed files only), as a job."""
        from ...pipelines.find_faces import GalleryRequest, build_gallery

        root = Path(self.gallery_edit.text().strip()).expanduser()
        new = not (root / "index.json").is_file()
        weights = self.weights_box.currentText() if new else self._gallery_weights(root)
        request = GalleryRequest(root, tuple(inputs), weights, self.fps_spin.value(), device=self.device)

        def work(job):
            return build_gallery(request, job, self._embedder_for(weights)).report

        def done(rep) -> None:
            self.status.setText(f"Gallery {root.name}: " + "; ".join(rep.lines()))
            self.galleryBuilt.emit(rep)
            if then_query:
                self.query_file(then_query)
            else:
                self._requery()

        self._run("Building the gallery", work, done, f"Gallery {root.name}:")

    # ------------------------------------------------------------------ queries
    def _choose_query(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Query image or video", "", SOURCE_FILTER)
        if path:
            self.query_file(path)

    def _requery(self) -> None:
        if self.query_path:
            self.query_file(self.query_path)

    def query_file(self, path: str, time_s: float | None = None) -> None:
        """Query with the face of an image, or of a video's frame at ``time_s`` (the time field)."""
        self.query_path = str(path)
        is_video = Path(path).suffix.lower() not in IMAGE_SUFFIXES
        self.time_spin.setEnabled(is_video)
        if time_s is not None:
            self.time_spin.setValue(time_s)
        self._query(dict(query=Path(path), time_s=self.time_spin.value() if is_video else None))

    def query_rgb(self, rgb: np.ndarray, label: str = "webcam frame") -> None:
        """Query with the largest face of a picture (the webcam's, say)."""
        self.query_path = None
        self._query(dict(picture=np.asarray(rgb), label=label))

    def query_webcam(self, index: int = 0) -> None:
        from ...workers.reenact import CameraReader

        if self._camera is None:
            self._camera = CameraReader(self)
            self._camera.frame.connect(self._on_camera_frame)
            self._camera.failed.connect(lambda m: self._on_failed(f"Webcam: {m}"))
        self.status.setText("Grabbing a webcam frame…")
        self._camera.start(index)

    def _on_camera_frame(self, rgb) -> None:
        if self._camera is not None:
            self._camera.stop()
        self.query_rgb(np.asarray(rgb), "webcam frame")

    def _query(self, query: dict) -> None:
        """Search the gallery for the face of ``query`` (a file and time, or a picture and its label)."""
        from ...core.errors import X2Error
        from ...pipelines.find_faces import RetrieveRequest, retrieve

        root = Path(self.gallery_edit.text().strip()).expanduser()
        weights = self._gallery_weights(root)
        try:
            request = RetrieveRequest(root, **query, k=self.k_spin.value(), exclude_own=self.exclude_box.isChecked(),
                                      attributes=True, thumbnails=True, model=weights, device=self.device)
        except X2Error as exc:
            self._on_failed(str(exc))
            return
        self._run("Searching the gallery", lambda job: retrieve(request, job, self._embedder_for(weights)),
                  self._on_results, f"Searching for {request.name}…")

    def _on_results(self, result) -> None:
        self.result = result
        self.results = result.hits
        self._show_results()
        self.status.setText(f"{len(result.hits)} nearest of {result.faces} faces to the face in "
                            f"{result.request.name} (embedding {result.model}, cosine similarity).")
        self.resultsShown.emit(self.results)

    def _show_results(self) -> None:
        r = self.result
        if r is None:
            return
        overlay = self.overlay_box.isChecked()
        self.query_view.set_image(to_qimage(draw_attributes(r.face.image, r.query_attributes if overlay else None,
                                                            256)))
        self.query_attrs.setText(attributes_html(r.query_attributes, r.expression_source))
        self.query_bars.set_values(r.query_attributes.get("expression"))
        self.grid.clear()
        for h, thumb, attrs in zip(r.hits, r.thumbs, r.hit_attributes):
            img = draw_attributes(thumb, attrs if overlay else None, TILE, pose_text=False)
            item = QListWidgetItem(QIcon(QPixmap.fromImage(to_qimage(img))), f"{h.score:.3f}\n{_short(h)}")
            item.setToolTip(h.source + ("" if _is_image(h.source) else f"\n{h.time_s:.2f} s (frame {h.frame})"))
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter)
            self.grid.addItem(item)

    # ------------------------------------------------------------------ context
    def _on_pick(self, row: int) -> None:
        if not 0 <= row < len(self.results):
            return
        h, attrs = self.results[row], self.result.hit_attributes[row]
        where = "" if _is_image(h.source) else f" at {h.time_s:.2f} s (frame {h.frame})"

        def done(rgb) -> None:
            self.context_view.set_image(to_qimage(rgb))
            self.context_text.setText(f"<b>{Path(h.source).name}</b>{where} — similarity {h.score:.3f}<br>"
                                      + attributes_html(attrs, self.result.expression_source))
            self.context_bars.set_values(attrs.get("expression"))
            self.status.setText(f"Result {row + 1}: {Path(h.source).name}{where}.")

        self._run("Reading the frame", lambda job: _in_context(h), done, "Reading the frame…")

    def _on_open(self, item: QListWidgetItem) -> None:
        row = self.grid.row(item)
        if 0 <= row < len(self.results) and not _is_image(self.results[row].source):
            self.openRequested.emit(self.results[row].source, int(self.results[row].frame))

    # ------------------------------------------------------------------ state
    def _update_buttons(self) -> None:
        busy = self._busy is not None and self._busy.is_working()
        for w in (self.add_button, self.query_button, self.camera_button, self.gallery_button):
            w.setEnabled(not busy and bool(self.weights_box.count()))
        self.cancel_button.setEnabled(busy)

    def shutdown(self) -> None:
        if self._camera is not None:
            self._camera.stop()
        self.jobs.shutdown()


def _is_image(source: str) -> bool:
    return Path(source).suffix.lower() in IMAGE_SUFFIXES


def _short(h) -> str:
    name = Path(h.source).name
    name = name if len(name) <= 16 else name[:13] + "…"
    return name if _is_image(h.source) else f"{name} {h.time_s:.1f}s"


def _in_context(h) -> np.ndarray:
    """(Job thread) the picture a hit's face came from, its box drawn."""
    from ...media.image import read_image
    from ...media.video import VideoReader

    if _is_image(h.source):
        rgb = read_image(h.source)
    else:
        with VideoReader(h.source) as rd:
            rgb = rd.read(int(h.frame)).image
    rgb = np.ascontiguousarray(rgb)
    x0, y0, x1, y1 = (int(round(v)) for v in h.box)
    cv2.rectangle(rgb, (x0, y0), (x1, y1), (255, 200, 0), max(2, rgb.shape[1] // 300), cv2.LINE_AA)
    return rgb
