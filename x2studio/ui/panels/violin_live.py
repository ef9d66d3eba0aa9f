"""The Violin panel's live mode (its Live button; the piano's is in :mod:`.piano_live`): webcam frames
(or the open video's, played in real time) → the picture's pitch
as they come, on the ``violin-live`` worker thread; the note name and confidence in the status line,
the track scrolling over the roll; stopping keeps the take as a transcription (times as they came)
whose notes play and export like a video's.  Mixed into :class:`~.violin_panel.ViolinPanel`, whose widgets
(``live_button``, ``roll``, ``view``, ``status``, ``threshold``, ``weights_box``) it uses."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

__all__ = ["ViolinLiveMixin"]


class ViolinLiveMixin:
    def _init_live(self) -> None:
        self.live = None                  # LiveViolinServer, made the first time the webcam is used
        self._live_t: list[float] = []
        self._live_y: list[float] = []
        self._live_curve = pg.PlotDataItem(pen=pg.mkPen("#33c8ff", width=2), connect="finite")

    def set_live(self, on: bool) -> None:
        """Start or stop the live mode: the webcam's frames (or the open video's, in real time) → the
        violin's pitch, as it comes."""
        from ...workers.violin_live import LiveViolinServer

        if self.live_button.isChecked() != on:
            self.live_button.setChecked(on)          # re-enters through toggled
            return
        if on and self.live_source.currentIndex() == 1 and self.video is None:
            self.live_button.setChecked(False)
            self._fail("Open a violin video first (or choose Webcam).")
            return
        if on:
            weights = self.weights_box.currentText()
            if not weights:
                self.live_button.setChecked(False)
                self._fail("No violin weights for the live mode: train some with 'x2studio train violin'.")
                return
            self.cancel()
            self.pause()
            if self.live is None:
                self.live = LiveViolinServer(self)
                self.live.result.connect(self._on_live_result)
                self.live.failed.connect(self._on_live_failed)
            self.live.setup(weights, self.device, self.threshold.value() / 100)
            # the roll is the camera's now: the open video's notes and true MIDI are not what it plays
            self.result, self.notes, self.reference = None, [], None
            self._draw_roll()
            self._live_t, self._live_y = [], []
            self._live_curve.setData([], [])
            if self._live_curve not in self.roll.listDataItems():
                self.roll.addItem(self._live_curve)
            from_video = self.live_source.currentIndex() == 1
            self.status.setText("Playing the video live…" if from_video else "Opening the webcam…")
            self.camera.start(str(self.video) if from_video else 0)
        else:
            was = self.camera.is_running() or bool(self._live_t)
            self.camera.stop()
            if self._live_curve in self.roll.listDataItems():
                self.roll.removeItem(self._live_curve)
            take = self.live.take() if (self.live is not None and was) else None
            self._live_t, self._live_y = [], []
            if take is not None:
                self.result = take
                self._set_notes(take.notes)
                self.status.setText(f"Live take of {take.frame_times()[-1]:.1f} s: " + " ".join(self._summary()))
        self._update_buttons()

    def _on_camera_frame(self, rgb: np.ndarray, t: float | None = None) -> None:
        """A webcam frame (``t``: when it was seen, in seconds; the arrival time if None)."""
        from ...workers.media import to_qimage

        if not self.live_button.isChecked():
            return
        if self.live is None:
            return
        self.view.set_image(to_qimage(rgb))
        self.live.push(rgb, t)

    def _on_live_result(self, out: dict) -> None:
        if not self.live_button.isChecked():
            return
        t = float(out["t"])
        self._live_t.append(t)
        self._live_y.append(out["midi"] if out["midi"] > 0 else np.nan)
        keep = next((i for i, x in enumerate(self._live_t) if x >= t - 20.0), 0)    # the last 20 s are drawn
        del self._live_t[:keep], self._live_y[:keep]
        self._live_curve.setData(np.asarray(self._live_t), np.asarray(self._live_y, float))
        self.roll.setXRange(max(0.0, t - 10.0), max(10.0, t), padding=0)
        note = f"{out['note']} ({out['midi']:.1f})" if out["note"] else "no note"
        self.status.setText(f"Live: {note}, confidence {out['confidence']:.2f}; the picture read in {out['ms']:.0f} ms. "
                            "Press Live again to stop and keep the take.")

    def _shutdown_live(self) -> None:
        super()._shutdown_live()
        if self.live is not None:
            self.live.shutdown()
