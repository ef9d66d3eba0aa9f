"""Streaming audio playback through sounddevice (PortAudio).

The PortAudio callback only copies the next block of a prepared float32 buffer into the output
(no allocation, no locks held for long): the real-time path runs no Python beyond that.  With no
sound device (servers, CI) every entry point raises :class:`AudioDeviceError`, which the app shows
as "playback disabled"; offline rendering is unaffected.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..core.errors import AudioDeviceError
from .audio import AudioClip

__all__ = ["OutputDevice", "list_output_devices", "portaudio_version", "AudioPlayer", "AudioRecorder"]

log = logging.getLogger(__name__)


def sounddevice_module():
    try:
        import sounddevice as sd
    except (ImportError, OSError) as exc:
        raise AudioDeviceError("Sound output is unavailable: the PortAudio library is missing.",
                               "Install Debian's libportaudio2; playback stays disabled until then.") from exc
    return sd


@dataclass(frozen=True)
class OutputDevice:
    index: int
    name: str
    hostapi: str
    channels: int
    default_rate: float
    is_default: bool


def list_output_devices() -> list[OutputDevice]:
    """Sound output devices (empty list when there are none)."""
    sd = sounddevice_module()
    try:
        devices = sd.query_devices()
        hostapis = sd.query_hostapis()
        default_out = sd.default.device[1]
    except Exception as exc:  # noqa: BLE001 - PortAudio raises PortAudioError and others
        log.info("no sound devices: %s", exc)
        return []
    out = []
    for i, d in enumerate(devices):
        if d.get("max_output_channels", 0) > 0:
            api = hostapis[d["hostapi"]]["name"] if 0 <= d["hostapi"] < len(hostapis) else "?"
            out.append(OutputDevice(i, d["name"], api, int(d["max_output_channels"]), float(d["default_samplerate"]), i == default_out))
    return out


def portaudio_version() -> str:
    try:
        return sounddevice_module().get_portaudio_version()[1]
    except AudioDeviceError:
        return "not installed"


class AudioPlayer:
    """Play an :class:`AudioClip` from any position; query the position for A/V sync.

    Args:
        device: output device name (or part of it) or index; ``None``/"" = the system default.

    Raises:
        AudioDeviceError: on :meth:`load`/:meth:`play` when no usable output device exists.
    """

    def __init__(self, device: str | int | None = None) -> None:
        self.device = device if device not in ("", None) else None
        self._buffer = np.zeros((0, 2), np.float32)
        self._rate = 44100
        self._pos = 0  # next frame to play; written by the callback, read by the GUI
        self._stream = None
        self._playing = False
        self.volume = 1.0

    # -------------------------------------------------------------- setup
    def load(self, clip: AudioClip) -> None:
        """Prepare ``clip`` for playback (stops what was playing)."""
        self.stop()
        samples = np.asarray(clip.samples, dtype=np.float32)
        if samples.shape[1] == 1:
            samples = np.repeat(samples, 2, axis=1)
        self._buffer = np.ascontiguousarray(samples[:, :2])
        self._rate = int(clip.sample_rate)
        self._pos = 0
        self._open()

    def _open(self) -> None:
        sd = sounddevice_module()
        devices = list_output_devices()
        if not devices:
            raise AudioDeviceError("No sound output device was found; playback is disabled.",
                                   "Connect a sound device or check the system's audio settings. Export still works.")
        self._close_stream()
        try:
            self._stream = sd.OutputStream(samplerate=self._rate, channels=2, dtype="float32",
                                           device=self.device, callback=self._callback)
        except Exception as exc:  # noqa: BLE001 - PortAudioError, ValueError for bad device names
            self._stream = None
            raise AudioDeviceError(f"The sound device cannot play audio ({exc}).",
                                   "Choose another audio output in Settings.") from exc

    def _callback(self, outdata, frames, time_info, status) -> None:  # real-time thread
        pos = self._pos
        chunk = self._buffer[pos:pos + frames]
        n = len(chunk)
        outdata[:n] = chunk
        if self.volume != 1.0:
            outdata[:n] *= self.volume
        outdata[n:] = 0.0
        self._pos = pos + n

    # -------------------------------------------------------------- transport
    @property
    def duration_s(self) -> float:
        return len(self._buffer) / self._rate

    @property
    def playing(self) -> bool:
        return self._playing and self._stream is not None and self._pos < len(self._buffer)

    @property
    def position_s(self) -> float:
        """Seconds into the clip of the sample now being heard (output latency taken off)."""
        latency = 0.0
        if self._stream is not None and self._playing:
            try:
                latency = float(self._stream.latency)
            except Exception:  # noqa: BLE001 - latency is a nicety
                latency = 0.0
        return max(0.0, self._pos / self._rate - latency)

    def seek(self, seconds: float) -> None:
        self._pos = int(min(max(0.0, seconds), self.duration_s) * self._rate)

    def play(self, from_s: float | None = None) -> None:
        if self._stream is None:
            self._open()
        if from_s is not None:
            self.seek(from_s)
        try:
            if not self._stream.active:
                self._stream.start()
        except Exception as exc:  # noqa: BLE001 - PortAudioError
            raise AudioDeviceError(f"Playback could not start ({exc}).", "Choose another audio output in Settings.") from exc
        self._playing = True

    def pause(self) -> None:
        self._playing = False
        if self._stream is not None:
            try:
                self._stream.stop()
            except Exception as exc:  # noqa: BLE001
                log.warning("stopping the audio stream failed: %s", exc)

    def stop(self) -> None:
        self.pause()
        self._pos = 0

    def _close_stream(self) -> None:
        if self._stream is not None:
            try:
                self._stream.close()
            except Exception as exc:  # noqa: BLE001
                log.warning("closing the audio stream failed: %s", exc)
            self._stream = None

    def close(self) -> None:
        self._playing = False
        self._close_stream()


class AudioRecorder:
    """Record mono audio from an input device (the microphone) into a preallocated buffer.

    The PortAudio callback only copies each block into the buffer (no allocation); recording stops
    by itself when ``max_seconds`` are filled.  ``level`` is the peak of the last block (a meter).

    Raises:
        AudioDeviceError: on :meth:`start` when no input device can record.
    """

    def __init__(self, sample_rate: int = 16000, max_seconds: float = 120.0, device: str | int | None = None) -> None:
        self.sample_rate = int(sample_rate)
        self.device = device if device not in ("", None) else None
        self._buffer = np.zeros(int(max_seconds * self.sample_rate), np.float32)
        self._pos = 0
        self._stream = None
        self.level = 0.0

    def _callback(self, indata, frames, time_info, status) -> None:  # real-time thread
        pos = self._pos
        n = min(frames, len(self._buffer) - pos)
        if n > 0:
            self._buffer[pos:pos + n] = indata[:n, 0]
            self.level = float(np.abs(indata[:n, 0]).max())
        self._pos = pos + max(n, 0)

    @property
    def seconds(self) -> float:
        return self._pos / self.sample_rate

    @property
    def full(self) -> bool:
        return self._pos >= len(self._buffer)

    @property
    def recording(self) -> bool:
        return self._stream is not None and not self.full

    def start(self) -> None:
        sd = sounddevice_module()
        self._pos, self.level = 0, 0.0
        try:
            self._stream = sd.InputStream(samplerate=self.sample_rate, channels=1, dtype="float32",
                                          device=self.device, callback=self._callback)
            self._stream.start()
        except Exception as exc:  # noqa: BLE001 - PortAudioError, ValueError for bad device names
            self._stream = None
            raise AudioDeviceError(f"The microphone cannot record ({exc}).",
                                   "Connect a microphone or choose another input device; loading a file works.") from exc

    def stop(self) -> AudioClip:
        """Stop and return what was recorded."""
        if self._stream is not None:
            try:
                self._stream.stop()
                self._stream.close()
            except Exception as exc:  # noqa: BLE001
                log.warning("stopping the recording failed: %s", exc)
            self._stream = None
        # some drivers (ALSA's null device, broken USB microphones) deliver garbage: keep the
        # samples finite and in range so that nothing downstream overflows
        samples = np.nan_to_num(self._buffer[:self._pos], nan=0.0, posinf=0.0, neginf=0.0)
        return AudioClip(np.clip(samples, -1.0, 1.0)[:, None].astype(np.float32), self.sample_rate)
