"""The Piano panel's live mode (its Live button): frames from the webcam, or the
open video played in real time, → notes as they are played, on the ``piano-live`` worker thread.
The notes are struck on a live synthesizer as soon as they are decided, drawn on the scrolling roll
and lit on the keyboard; the status line shows the latency (from the frame the note began in to the
note being decided, plus the sound output's own), the model's time and the frames dropped.  The
keyboard is the open video's (Video) or found in the camera's picture (Webcam; drag the
corners to correct it).  Stopping keeps the take as a transcription that re-thresholds, plays and
exports like a video's.  Mixed into :class:`~.piano_panel.PianoPanel`, whose widgets it uses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg

__all__ = ["PianoLiveMixin"]

_SEARCH_HINT_S = 3.0        # after this long without a keyboard, corners to drag are offered


class PianoLiveMixin:
    def _init_piano_live(self) -> None:
        self.piano_live = None            # LivePianoServer, made the first time
        self._live_notes: list[list] = []   # [onset, pitch, end or None] of the take's notes
        self._live_bar_item = None
        self._live_info = None            # the worker's LiveReady
        self._live_last = None            # the last LiveStep

    def _live_source_is_video(self) -> bool:
        return self.live_source.currentIndex() == 1

    def set_live(self, on: bool) -> None:
        """Start or stop the live mode: the webcam's frames (or the open video's, in real time) → the
        notes as they are played."""
        from ...workers.piano_live import LivePianoServer

        if self.live_button.isChecked() != on:
            self.live_button.setChecked(on)          # re-enters through toggled
            return
        if on:
            weights = self.weights_box.currentText()
            from_video = self._live_source_is_video()
            if not weights:
                self.live_button.setChecked(False)
                self._fail("No piano weights for the live mode: train some with 'x2studio train piano'.")
                return
            if from_video and (self.video is None or self.view.corners is None):
                self.live_button.setChecked(False)
                self._fail("Open a piano video first (or choose Webcam).")
                return
            self.cancel()
            self.pause()
            if self.piano_live is None:
                self.piano_live = LivePianoServer(self)
                self.piano_live.result.connect(self._on_piano_live_result)
                self.piano_live.failed.connect(self._on_live_failed)
                self.piano_live.ready.connect(self._on_piano_live_ready)
            corners = self.view.corners.copy() if from_video else None
            sound = {"soundfont": self.settings.soundfont or "", "device": self.settings.audio_output or ""}
            self._live_ready = False
            self.piano_live.setup(weights, self.device, corners, None, sound)
            if not from_video:        # the camera's keyboard is not the video's
                self.result, self.notes, self.reference = None, [], None
                self.view.set_corners(None)
                self._polys = {}
            else:
                self.result, self.notes = None, []
            self._live_notes, self._live_last, self._live_started = [], None, None
            self._draw_roll()
            self.status.setText("Loading the model and the sound…")
            self._live_pending_source = str(self.video) if from_video else 0
        else:
            was = self.camera.is_running() or bool(self._live_notes) or self._live_last is not None
            self.camera.stop()
            take = None
            if self.piano_live is not None:
                self.piano_live.stop_sound()
                take = self.piano_live.take() if was else None
            self._clear_live_bars()
            self._live_notes, self._live_last = [], None
            self.view.set_lit([])
            if take is not None and len(take.onset) >= 2:
                from ...pipelines.transcribe_piano import PianoResult

                self.result = PianoResult(self.video or Path("webcam"), "live", tuple(take.notes), take)
                self._show_threshold(take.threshold)     # the slider shows (and re-thresholds) the take's
                self._set_notes(take.notes)
                self.status.setText(self.result.take_line() + " " + self.status.text())
            elif was:
                self.status.setText("Live mode stopped before any frame was read.")
        self._update_buttons()

    def _on_piano_live_ready(self, info) -> None:
        if not self.live_button.isChecked():
            return
        self._live_info = info
        source = getattr(self, "_live_pending_source", 0)
        self.status.setText("Opening the webcam…" if source == 0 else "Playing the video live…")
        self.camera.start(source)

    def _on_camera_frame(self, rgb: np.ndarray, t: float | None = None) -> None:
        """A webcam frame (``t`` is not used: the live piano times frames as they arrive)."""
        from ...workers.media import to_qimage

        if not self.live_button.isChecked() or self.piano_live is None:
            return
        if getattr(self, "_live_started", None) is None:
            import time

            self._live_started = time.perf_counter()
        self.piano_live.push(rgb)                  # a frame that is no picture is reported (and stops) here
        if self.live_button.isChecked() and np.ndim(rgb) == 3:
            self.view.set_image(to_qimage(rgb))

    def _clear_live_bars(self) -> None:
        if self._live_bar_item is not None:
            self.roll.removeItem(self._live_bar_item)
            self._live_bar_item = None

    def _on_piano_live_result(self, out) -> None:
        import time

        from ...pipelines.piano import key_polygons

        if not self.live_button.isChecked():
            return
        self._live_last = out
        if out.searching:
            waited = time.perf_counter() - (self._live_started or time.perf_counter())
            if waited > _SEARCH_HINT_S and self.view.corners is None and self.view.image() is not None:
                img = self.view.image()
                w, h = img.width(), img.height()
                self.view.set_corners(np.array([[0.05 * w, 0.4 * h], [0.95 * w, 0.4 * h],
                                                [0.95 * w, 0.6 * h], [0.05 * w, 0.6 * h]]))
            self.status.setText("Live: looking for the keyboard in the picture… (or drag the four blue corners onto "
                                "its corners, A0 at the left)" if self.view.corners is not None else
                                "Live: looking for the keyboard in the picture…")
            return
        if out.found and out.corners is not None:
            self.view.set_corners(out.corners)
            self._polys = key_polygons(out.corners)
        t = float(out.t)
        for p in out.ended:
            for n in reversed(self._live_notes):
                if n[1] == p and n[2] is None:
                    n[2] = t
                    break
        for n in out.new:
            self._live_notes.append([n.onset, n.pitch, None if n.pitch in out.held else n.onset + 0.1])
        keep = next((i for i, n in enumerate(self._live_notes) if (n[2] or t) >= t - 20.0), len(self._live_notes))
        del self._live_notes[:keep]                     # the last 20 s are drawn
        self._draw_live_bars(t)
        self.view.set_lit([self._polys[p] for p in out.held if p in self._polys])
        self.time_label.setText(f"{t:.2f} s")
        self.status.setText(self._live_message(out))

    def _draw_live_bars(self, t: float) -> None:
        self._clear_live_bars()
        if self._live_notes:
            n = self._live_notes
            self._live_bar_item = pg.BarGraphItem(
                x0=[x[0] for x in n], y0=[x[1] - 0.4 for x in n], width=[max(0.04, (x[2] or t) - x[0]) for x in n],
                height=0.8, brush=pg.mkBrush(255, 170, 0, 200), pen=pg.mkPen(None))
            self.roll.addItem(self._live_bar_item)
        self.roll.setXRange(max(0.0, t - 10.0), max(10.0, t), padding=0)

    def _live_message(self, out) -> str:
        live = self.piano_live.live if self.piano_live is not None else None
        count = len(live.notes) if live is not None else 0
        lat = live.latency if live is not None else None
        sound = self._live_info.sound if self._live_info is not None else "off"
        out_lat = self._live_info.output_latency if self._live_info is not None else None
        msg = f"Live: {count} notes"
        if lat is not None:
            msg += f", heard {1000 * lat:.0f} ms after they are played"
            if out_lat:
                msg += f" (+{1000 * out_lat:.0f} ms sound output)"
        msg += f"; the model read the last frames in {out.ms:.0f} ms; {out.dropped} frames dropped"
        msg += f"; sound: {sound}. Press Live again to stop and keep the take."
        return msg

    def _shutdown_piano_live(self) -> None:
        if self.piano_live is not None:
            self.piano_live.shutdown()
