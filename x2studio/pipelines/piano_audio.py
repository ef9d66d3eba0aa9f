"""Piano transcription from sound: Spotify's Basic Pitch (ONNX model inside its wheel, run with
onnxruntime; no download).  It is the *teacher* whose notes become the visual model's pseudo labels,
as Onsets and Frames was the thesis' (ch. 6), and the "audio" mode of the Piano panel and the CLI.

Basic Pitch is installed without its declared TensorFlow dependency (the installer does
``pip install --no-deps basic-pitch`` beside onnxruntime and librosa): its ONNX model is the one it
picks when TensorFlow is absent.  Its thresholds here (onset 0.6, frame 0.4) are the ones measured
best on FluidSynth piano in ``STACK.md`` (onset F1 0.84 against 0.77 at its defaults).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from ..core.errors import DependencyError, InputError
from ..media.audio import AudioClip, load_audio, resample, to_mono
from ..media.midi import NoteEvent

__all__ = ["AudioTranscriber", "audio_available", "ONSET_THRESHOLD", "FRAME_THRESHOLD", "BP_FPS"]

log = logging.getLogger(__name__)

ONSET_THRESHOLD, FRAME_THRESHOLD = 0.6, 0.4
_RATE = 22050            # Basic Pitch's input rate
BP_FPS = _RATE / 256     # its posterior frames per second (hop 256)
_SILENCE_RMS = 1e-4


@contextlib.contextmanager
def _quiet():
    """Basic Pitch logs warnings about TensorFlow/CoreML/TFLite being absent and prints per file."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)


def _basic_pitch():
    try:
        with _quiet():
            from basic_pitch import ICASSP_2022_MODEL_PATH, inference
    except ImportError as exc:
        raise DependencyError("The audio transcription model (basic-pitch) is not installed.",
                              "Run the set-up command again (bash installer/go.sh env).") from exc
    return inference, ICASSP_2022_MODEL_PATH


def audio_available() -> bool:
    try:
        _basic_pitch()
        return True
    except DependencyError:
        return False


class AudioTranscriber:
    """Notes from piano audio (Basic Pitch), the model loaded once."""

    def __init__(self, onset_threshold: float = ONSET_THRESHOLD, frame_threshold: float = FRAME_THRESHOLD) -> None:
        inference, model_path = _basic_pitch()
        self._inference = inference
        with _quiet():
            self._model = inference.Model(model_path)
        self.onset_threshold, self.frame_threshold = float(onset_threshold), float(frame_threshold)

    def _run(self, audio: AudioClip | str | os.PathLike[str]) -> dict:
        """Basic Pitch's raw output on a clip or a media file's sound: ``onset``, ``note`` (frames, 88)
        and ``contour`` posteriors at :data:`BP_FPS` frames a second.

        Raises :class:`InputError` for silent or empty audio (nothing to transcribe)."""
        clip = load_audio(audio) if not isinstance(audio, AudioClip) else audio
        mono = to_mono(clip.samples) if clip.samples.ndim == 2 else clip.samples
        if mono.size == 0 or clip.duration_s < 0.1:
            raise InputError("The audio is empty.", "Use a recording with sound, or transcribe from the picture.")
        if float(np.sqrt(np.mean(np.square(mono, dtype=np.float64)))) < _SILENCE_RMS:
            raise InputError("The audio is silent, so there are no notes to hear.",
                             "Transcribe from the picture (visual mode) instead.")
        if clip.sample_rate != _RATE:
            mono = resample(mono, clip.sample_rate, _RATE)
        import soundfile as sf

        with tempfile.TemporaryDirectory(prefix="x2studio-bp-") as tmp:
            wav = Path(tmp) / "audio.wav"
            sf.write(str(wav), mono.astype(np.float32), _RATE)
            with _quiet():
                return self._inference.run_inference(str(wav), self._model)

    def posteriors(self, audio: AudioClip | str | os.PathLike[str], fps: float, frames: int) -> np.ndarray:
        """``(frames, 2, 88)``: Basic Pitch's onset and note probabilities per key for each video frame
        (frame ``k`` shown at ``k / fps``: the highest of its posterior frames within half a video frame
        either side) — the audio features of the audio-visual fusion."""
        return self._per_frame(self._run(audio), fps, frames)

    def notes_and_posteriors(self, audio: AudioClip | str | os.PathLike[str], fps: float, frames: int
                             ) -> tuple[list[NoteEvent], np.ndarray]:
        """:meth:`transcribe` and :meth:`posteriors` from one pass of the model."""
        out = self._run(audio)
        return self._notes(out), self._per_frame(out, fps, frames)

    @staticmethod
    def _per_frame(out: dict, fps: float, frames: int) -> np.ndarray:
        post = np.stack([out["onset"], out["note"]], 1).astype(np.float32)     # (F, 2, 88)
        t = np.arange(len(post)) / BP_FPS
        res = np.zeros((int(frames), 2, 88), np.float32)
        if not len(post):
            return res
        edges = (np.arange(int(frames) + 1) - 0.5) / float(fps)
        idx = np.searchsorted(t, edges)
        for k in range(int(frames)):
            a, b = idx[k], max(idx[k + 1], idx[k] + 1)
            if a < len(post):
                res[k] = post[a:b].max(0)
        return res

    def transcribe(self, audio: AudioClip | str | os.PathLike[str]) -> list[NoteEvent]:
        """Notes of a clip or a media file's sound (a video's audio track works).

        Raises :class:`InputError` for silent or empty audio (nothing to transcribe)."""
        return self._notes(self._run(audio))

    def _notes(self, out: dict) -> list[NoteEvent]:
        from basic_pitch.note_creation import model_output_to_notes

        with _quiet():
            min_len = int(np.round(127.70 / 1000 * (_RATE / 256)))
            _, events = model_output_to_notes(out, onset_thresh=self.onset_threshold,
                                              frame_thresh=self.frame_threshold, min_note_len=min_len,
                                              multiple_pitch_bends=False, melodia_trick=True)
        notes = []
        for start, end, pitch, amp, _bends in events:
            if end > start and 21 <= int(pitch) <= 108:
                notes.append(NoteEvent(float(start), float(end), int(pitch), int(np.clip(round(float(amp) * 127), 1, 127))))
        return sorted(notes)
