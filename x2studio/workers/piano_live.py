"""The piano's live mode on a thread of its own: frames (webcam, or a video played in real time) are
rectified and queued on the caller's thread (a bounded queue: the oldest frames are dropped when the
model falls behind), the visual model reads everything queued on the worker's thread ("latest
wins": one request stands for all frames waiting), the notes it decides are struck on the live
synthesizer right there (not via the GUI's event loop), and each answer comes back as ``result``:
the dict of :meth:`~x2studio.pipelines.piano_live.LivePiano.step`."""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot

from .latest import LatestWins, LatestWinsServer
from .messages import LiveReady

__all__ = ["LivePianoServer"]


class _Live(LatestWins):
    ready = Signal(object)                   # {"weights", "sound": the synthesizer's name or why it is off}

    def __init__(self) -> None:
        super().__init__()
        self.live = None
        self.synth = None

    @Slot(str, str, object, float, object)
    def setup(self, weights: str, device: str, corners, threshold: float, sound) -> None:
        self._guard(self._setup, weights, device, corners, threshold, sound)

    def _setup(self, weights: str, device: str, corners, threshold: float, sound) -> None:
        from ..core.errors import X2Error
        from ..media.live_synth import LiveSynth
        from ..pipelines.piano import PianoTranscriber
        from ..pipelines.piano_live import LivePiano

        self.close_synth()
        old = self.live.tr if self.live is not None else None
        tr = old if old is not None and old.entry.name == weights else PianoTranscriber(weights, device or None)
        self.live = LivePiano(tr, corners, threshold=threshold if threshold > 0 else None)
        note = "off"
        if sound is not None:                # the soundfont loads here, not on the GUI's thread
            try:
                synth = LiveSynth(sound.get("soundfont") or None, device=sound.get("device") or None)
                try:
                    synth.start()
                except X2Error:
                    synth.close()
                    raise
                self.synth, note = synth, synth.engine
            except X2Error as exc:
                note = f"off ({exc.message})"
        self.ready.emit(LiveReady(tr.entry.name, note, self.synth.output_latency if self.synth is not None else None))

    @Slot()
    def close_synth(self) -> None:
        synth, self.synth = self.synth, None
        if synth is not None:
            synth.close()

    def release(self) -> None:
        self.close_synth()

    def apply_offers(self, offers: dict) -> None:
        if "corners" in offers and self.live is not None:
            self.live.set_corners(offers["corners"])

    def ready_to_serve(self) -> bool:
        return self.live is not None

    def handle(self, _req) -> dict | None:
        out = self.live.step()
        synth = self.synth
        if out is not None and synth is not None:      # struck here, not via the GUI's event loop
            synth.strike([n.pitch for n in out.new], out.ended, out.held)
        return out


class LivePianoServer(LatestWinsServer):
    """The GUI's handle: :meth:`setup` loads the weights (and the synthesizer) and starts a take,
    :meth:`push` hands over a frame, :meth:`take` returns the take, :meth:`stop_sound` silences."""

    ready = Signal(object)
    _setup = Signal(str, str, object, float, object)
    _close_synth = Signal()
    forwarded = ("ready",)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(_Live(), "piano-live", parent)
        self._live = self._worker
        self._setup.connect(self._live.setup)
        self._close_synth.connect(self._live.close_synth)
        self._clock = time.perf_counter
        self._start()

    def setup(self, weights: str, device: str = "", corners: np.ndarray | None = None,
              threshold: float | None = None, sound: dict | None = None) -> None:
        """Start a take: the weights (loaded once), the keyboard (None: found in the picture), and the
        live sound (``{"soundfont", "device"}``; None: silent)."""
        self._setup.emit(weights, device or "", None if corners is None else np.asarray(corners, float).copy(),
                         -1.0 if threshold is None else float(threshold), sound)

    def stop_sound(self) -> None:
        """Silence and close the live synthesizer (on the worker's thread)."""
        self._close_synth.emit()

    def set_corners(self, corners: np.ndarray | None) -> None:
        self._live.offer("corners", None if corners is None else np.asarray(corners, float).copy())
        self._want("step")

    def push(self, rgb: np.ndarray, t: float | None = None) -> None:
        """A frame seen at ``t`` (``time.perf_counter`` seconds; now if None)."""
        live = self._live.live
        if live is None:                     # the weights are still loading: this frame is dropped
            return
        try:
            live.add(rgb, self._clock() if t is None else float(t))
        except Exception as exc:  # noqa: BLE001 - a bad frame is reported, not raised into Qt
            self.failed.emit(str(exc))
            return
        self._want("step")

    @property
    def live(self):
        """The :class:`~x2studio.pipelines.piano_live.LivePiano` being served (None until its weights load)."""
        return self._live.live

    def take(self):
        live = self._live.live
        return None if live is None else live.take()
