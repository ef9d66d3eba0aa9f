"""Live synthesis: notes played the moment they are decided (the live piano mode).

The synthesizer is the one offline renders use (FluidSynth, else TinySoundFont: :mod:`.synth`),
pulled block by block by a sounddevice output stream.  FluidSynth has audio drivers of its own,
but TinySoundFont has none, and going through sounddevice keeps one output path for both with the
user's output device from Settings and the same "no sound device" handling as playback.  The
callback holds the lock only while the synthesizer renders one block (a few hundred samples), and
note-on/off calls from the model's thread take the same lock, so they are heard at the next block.

Without a sound device :meth:`LiveSynth.start` raises :class:`AudioDeviceError` (the caller keeps
transcribing and says the live sound is off); :meth:`pull` renders without a device (tests, files).
"""

from __future__ import annotations

import logging
import os
import threading

import numpy as np

from ..core.errors import AudioDeviceError, DependencyError
from .synth import engine_class, resolve_soundfont

__all__ = ["LiveSynth"]

log = logging.getLogger(__name__)


class LiveSynth:
    """A synthesizer to play notes into as they come.

    Args:
        soundfont: a .sf2 path; ``None``/"" = the first one found.
        program: the General MIDI program (0 = acoustic grand piano).
        device: the output device (name, part of it, or index); ``None`` = the system default.
        sample_rate, gain: as for offline renders; ``blocksize``: samples per callback (latency).
    """

    def __init__(self, soundfont: str | os.PathLike[str] | None = None, program: int = 0,
                 device: str | int | None = None, sample_rate: int = 44100, gain: float = 0.5,
                 blocksize: int = 512) -> None:
        self.sample_rate = int(sample_rate)
        self.blocksize = int(blocksize)
        self.device = device if device not in ("", None) else None
        self._lock = threading.Lock()
        self._engine = engine_class()(self.sample_rate, gain)
        path = resolve_soundfont(soundfont)
        sfid = self._engine.sfload(path)
        if sfid == -1:
            raise DependencyError(f"{self._engine.name} could not load the soundfont '{path}'.",
                                  "Choose another soundfont in Settings.")
        self._engine.program_select(0, sfid, int(program))
        self._on: set[int] = set()
        self._stream = None
        self.notes_played = 0

    @property
    def engine(self) -> str:
        return self._engine.name

    @property
    def output_latency(self) -> float:
        """Seconds from a note-on to its sound leaving the output (0 without a stream)."""
        if self._stream is None:
            return 0.0
        try:
            return float(self._stream.latency) + self.blocksize / self.sample_rate
        except Exception:  # noqa: BLE001 - a nicety
            return self.blocksize / self.sample_rate

    # ------------------------------------------------------------------ notes (any thread)
    def noteon(self, pitch: int, velocity: int = 80) -> None:
        pitch = int(pitch)
        if not 0 <= pitch <= 127:
            return
        with self._lock:
            if self._engine is None:
                return
            if pitch in self._on:                   # struck again: the old one stops first
                self._engine.noteoff(0, pitch)
            self._engine.noteon(0, pitch, int(np.clip(velocity, 1, 127)))
            self._on.add(pitch)
            self.notes_played += 1

    def noteoff(self, pitch: int) -> None:
        with self._lock:
            if self._engine is not None and int(pitch) in self._on:
                self._engine.noteoff(0, int(pitch))
                self._on.discard(int(pitch))

    def strike(self, new: list[int], ended: list[int], held: list[int]) -> None:
        """Apply one live step's news (pitches): the notes that ended go off, the new ones sound, and a
        new one whose key is already up again (a short note, both new and ended) is struck and let go."""
        for p in ended:
            self.noteoff(p)
        for p in new:
            self.noteon(p)
        for p in (set(new) & set(ended)) - set(held):
            self.noteoff(p)

    def all_off(self) -> None:
        with self._lock:
            if self._engine is not None:
                for p in self._on:
                    self._engine.noteoff(0, p)
            self._on.clear()

    @property
    def sounding(self) -> set[int]:
        with self._lock:
            return set(self._on)

    def pull(self, n: int) -> np.ndarray:
        """Render the next ``n`` samples (n, 2) float32 — what the output stream plays."""
        with self._lock:
            if self._engine is None:
                return np.zeros((int(n), 2), np.float32)
            return np.asarray(self._engine.samples(int(n)), np.float32)

    # ------------------------------------------------------------------ the output stream
    def _callback(self, outdata, frames, time_info, status) -> None:  # real-time thread
        outdata[:] = self.pull(frames)

    def start(self) -> None:
        """Open the sound output and start playing what is struck."""
        from .playback import sounddevice_module, list_output_devices

        sd = sounddevice_module()
        if not list_output_devices():
            raise AudioDeviceError("No sound output device was found; the live notes are not heard.",
                                   "Connect a sound device; the transcription goes on.")
        try:
            self._stream = sd.OutputStream(samplerate=self.sample_rate, channels=2, dtype="float32",
                                           blocksize=self.blocksize, latency="low", device=self.device,
                                           callback=self._callback)
            self._stream.start()
        except Exception as exc:  # noqa: BLE001 - PortAudioError, ValueError for bad device names
            self._stream = None
            raise AudioDeviceError(f"The sound device cannot play the live notes ({exc}).",
                                   "Choose another audio output in Settings.") from exc

    def close(self) -> None:
        if self._stream is not None:
            try:
                self._stream.stop()
                self._stream.close()
            except Exception as exc:  # noqa: BLE001
                log.warning("closing the live synth's stream failed: %s", exc)
            self._stream = None
        with self._lock:
            if self._engine is not None:
                self._engine.delete()
                self._engine = None
