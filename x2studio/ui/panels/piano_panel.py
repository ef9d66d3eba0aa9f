"""The Piano panel: notes from a piano filmed from above, with a roll, playback and export.

Open a video → the keyboard's corners (remembered for the video, from a sidecar JSON, or found in
the picture, or a default quad to drag onto the keyboard) → Transcribe from the picture, the sound
(Basic Pitch, the audio teacher) or both fused, each fused note coloured by the source(s) that also
find it alone → the keys being played lit on the keyboard as the video plays.  Check sync / Fix /
Save fixed… (:mod:`.sync_check`) and Live (:mod:`.piano_live`) are the piano's own; the rest is
:class:`~.notes_panel.NotesPanel`'s."""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget

from ...core.errors import X2Error
from ...core.settings import Settings
from ..widgets.keyboard_view import KeyboardView
from .common import compact
from .notes_panel import NotesPanel
from .piano_live import PianoLiveMixin
from .sync_check import PianoSyncMixin

__all__ = ["PianoPanel"]

log = logging.getLogger(__name__)

# the fused mode's per-note marks: found by both sources, the picture only, the sound only, neither alone
SOURCE_COLOURS = {"both": (255, 170, 0, 200), "picture": (51, 200, 255, 220), "sound": (255, 110, 200, 220),
                  "fused": (160, 160, 160, 220)}


class PianoPanel(PianoSyncMixin, PianoLiveMixin, NotesPanel):
    panel_id = "piano"
    title = "Piano"
    instrument = "piano"
    preferred_weights = "piano-lite"
    open_tip = "Open a video of a keyboard filmed from above"
    sources_tip = ("Transcribe from the video's picture (the visual model), its sound (Basic Pitch, the audio "
                   "teacher) or both fused (best when the sound is noisy or mixed with other instruments)")
    threshold_tip = "Onset threshold: lower finds more notes (and more false ones)"
    live_tip = "Live: the notes played on a keyboard seen from above, as they come, synthesized as they are found"

    keyboardFound = Signal(object)      # corners, or None

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(settings, parent)
        self._sources: list[str] | None = None       # the fused mode's per-note marks
        self._polys: dict[int, np.ndarray] = {}
        self._corners_known = None
        self._init_piano_live()
        self._init_sync()
        self._build(extra_rows=(self.sync_plot,))

    def weight_names(self) -> list[str]:
        from ...weights.registry import WeightsRegistry

        return WeightsRegistry().names("piano")

    def _make_view(self) -> KeyboardView:
        view = KeyboardView(self)
        view.cornersChanged.connect(self._on_corners)
        return view

    def _more_exports(self) -> tuple:
        compact(*self._sync_widgets())          # the export row still fits a 700-px window
        return self._sync_widgets()

    # ------------------------------------------------------------------ the keyboard
    def _before_opening(self, path) -> None:
        from ...pipelines.piano import keyboard_of

        self._reset_sync()
        self._corners_known = keyboard_of(path)
        self.view.set_corners(None)          # the last video's keyboard is not this one's
        self._polys = {}

    def _after_opening(self) -> None:
        corners = self._corners_known
        if corners is None:
            w, h = self.width_px, self.height_px
            corners = np.array([[0.05 * w, 0.4 * h], [0.95 * w, 0.4 * h], [0.95 * w, 0.6 * h], [0.05 * w, 0.6 * h]])
            hint = "Looking for the keyboard…"
            self._find_keyboard()
        else:
            hint = "The keyboard position is known for this video; drag the corners to adjust it, then Transcribe."
        self._set_corners(corners)
        self.status.setText(f"{self.video.name}: {self.n_frames} frames at {self.fps:g} fps. {hint}")

    def _find_keyboard(self) -> None:
        from ...pipelines.keyboard import detect_in_video

        video = self.video

        def done(corners) -> None:
            if video != self.video:
                return
            if corners is None:
                self.status.setText("No keyboard was found automatically: drag the four blue corners onto the "
                                    "keyboard's corners (A0 at the left), then Transcribe.")
            else:
                self._set_corners(corners)
                self.status.setText("Keyboard found: check the blue outline (drag a corner to adjust), then Transcribe.")
            self.keyboardFound.emit(corners)

        self.jobs.start("Finding the keyboard", lambda job: detect_in_video(video), on_success=done,
                        on_failure=lambda m, d: self.status.setText(f"Finding the keyboard failed: {m}"))

    def _set_corners(self, corners: np.ndarray) -> None:
        from ...pipelines.piano import key_polygons

        self.view.set_corners(corners)
        self._polys = key_polygons(corners)
        self._show_lit()

    def _on_corners(self, corners: np.ndarray) -> None:
        self._set_corners(corners)
        if self.live_button.isChecked() and self.piano_live is not None:
            self.piano_live.set_corners(corners)
            return
        self.status.setText("Keyboard moved: Transcribe again to use the new position.")

    def _show_lit(self) -> None:
        if not self.notes or not self._polys:
            self.view.set_lit([])
            return
        t = self.frame / self.fps
        self.view.set_lit([self._polys[n.pitch] for n in self.notes if n.onset <= t < n.offset and n.pitch in self._polys])

    # ------------------------------------------------------------------ transcription
    def _transcription_work(self):
        from ...pipelines.piano import remember_keyboard
        from ...pipelines.transcribe_piano import PianoRequest, transcribe_piano

        mode = self._source_mode()
        if mode != "audio" and (self.view.corners is None or not self.weights_box.currentText()):
            return None
        if self.view.corners is not None:
            try:
                remember_keyboard(self.video, self.view.corners)
            except (OSError, X2Error) as exc:
                log.warning("could not remember the keyboard of %s: %s", self.video, exc)
        try:
            corners = None if self.view.corners is None else self.view.corners.copy()
            request = PianoRequest(self.video, mode, corners, weights=self.weights_box.currentText(),
                                   device=self.device, audio_shift_s=self.audio_shift)
        except X2Error as exc:
            self._fail(f"Transcription failed: {exc}")
            return None
        return lambda job: transcribe_piano(request, job)

    def _after_notes(self, dragging: bool) -> None:
        # the fused mode marks each note by its source (not during a drag: it matches every note again)
        self._sources = None if dragging else self.result.marks(tuple(self.notes))

    def _summary(self) -> list[str]:
        counts = {} if self._sources is None else {k: self._sources.count(k) for k in SOURCE_COLOURS}
        return self.result.lines(tuple(self.notes), self.threshold.value() / 100, counts)

    def _note_groups(self) -> list[tuple[str | None, tuple, list]]:
        """The notes by source where the fused mode marked them."""
        from ...pipelines.piano_fusion import SOURCE_NAMES

        marks = self._sources if self._sources is not None and len(self._sources) == len(self.notes) else None
        if marks is None:
            return super()._note_groups()
        return [(SOURCE_NAMES[k], colour, [n for n, m in zip(self.notes, marks) if m == k])
                for k, colour in SOURCE_COLOURS.items() if k in marks]

    # ------------------------------------------------------------------ state
    def _update_more_buttons(self, has_video: bool, busy: bool) -> None:
        self._update_sync_buttons(has_video, busy)

    def _shutdown_live(self) -> None:
        super()._shutdown_live()
        self._shutdown_piano_live()
