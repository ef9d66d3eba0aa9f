"""The Violin panel: the pitch of every frame of a violin video from the picture (the student
network), the sound (a pitch tracker) or both, drawn as lines over the notes segmented from them;
the threshold slider is the picture's confidence below which a frame is left unvoiced; under the
roll, the **intonation view**: how many cents the sound is off the note played.  Live
(:mod:`.violin_live`) reads the webcam or the open video in real time; the roll, playback and export
are :class:`~.notes_panel.NotesPanel`'s."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from ...core.settings import Settings
from .notes_panel import NotesPanel, dark_plot
from .violin_live import ViolinLiveMixin

__all__ = ["ViolinPanel"]


class ViolinPanel(ViolinLiveMixin, NotesPanel):
    panel_id = "violin"
    title = "Violin"
    instrument = "violin"
    preferred_weights = "violin-lite"
    open_tip = "Open a video of a violinist"
    sources_tip = "The pitch from the video's picture (the visual model), its sound (a pitch tracker) or both"
    threshold_tip = "Confidence below which a frame is left unvoiced"
    live_tip = "Live: the pitch a violinist plays, from the picture, as it comes"

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(settings, parent)
        self._tracks: list = []
        self._init_live()
        self._build()

    def weight_names(self) -> list[str]:
        from ...weights.registry import WeightsRegistry

        return WeightsRegistry().names("violin-student")

    def _more_plots(self) -> tuple:
        self.intonation = dark_plot(self, "cents off")
        self.intonation.setYRange(-50, 50)
        self.intonation.setXLink(self.roll)
        self.intonation.addItem(pg.InfiniteLine(0.0, angle=0, pen=pg.mkPen("#7fd07f", width=1)))
        self.cents_curve = pg.PlotDataItem(pen=None, symbol="o", symbolSize=3, symbolPen=None,
                                           symbolBrush=pg.mkBrush(255, 110, 200, 220))
        self.intonation.addItem(self.cents_curve)
        return (self.intonation,)

    def _after_opening(self) -> None:
        self.status.setText(f"{self.video.name}: {self.n_frames} frames at {self.fps:g} fps. Transcribe finds the "
                            "pitch of every frame (the fingerboard, left hand and bow in view).")

    def _transcription_work(self):
        from ...pipelines.violin import transcribe_video

        mode = self._source_mode()
        weights = self.weights_box.currentText()
        if mode != "audio" and not weights:
            return None
        video, device = self.video, self.device
        return lambda job: transcribe_video(video, mode, None, job, weights=weights, device=device)

    def _can_rethreshold(self) -> bool:
        return self.result.probs is not None          # the sound alone has no confidence to threshold

    def _summary(self) -> list[str]:
        return self.result.lines(self.threshold.value() / 100)

    def _draw_extras(self) -> None:
        """The pitch tracks (picture, sound) over the roll, and the cents in the intonation view."""
        for item in self._tracks:
            self.roll.removeItem(item)
        self._tracks = []
        self.cents_curve.setData([], [])
        r = self.result
        if r is None:
            return
        t = r.frame_times()
        for name, track, colour in (("picture", r.visual, "#33c8ff"), ("sound", r.audio, "#ff6ec8")):
            if track is None:
                continue
            y = np.where(track > 0, track, np.nan)
            item = pg.PlotDataItem(t, y, pen=pg.mkPen(colour, width=1.5), connect="finite", name=name)
            self.roll.addItem(item)
            self._tracks.append(item)
        cents = r.cents()
        ok = np.isfinite(cents)
        self.cents_curve.setData(t[ok], cents[ok])
