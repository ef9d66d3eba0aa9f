"""Violin transcription: the pitch being played in every frame of a video — from the picture (the
student network), the sound (a pitch tracker) or both — segmented into notes, with the intonation
(cents off the note) where the sound is heard.

- ``visual``: frames resized to the student's input; per frame a distribution over "no note" and
  MIDI 55–88.  Frames whose best class is below the confidence threshold (no violin in view, hands
  hidden, a chord the monophonic model cannot hear) are unvoiced, not guessed.
- ``audio``: the sound's pitch per frame (:mod:`x2studio.pipelines.violin_audio`).
- ``fused``: the sound's pitch where the sound and the picture agree to within a semitone (the ear is
  finer), the picture's where they disagree and the picture is sure, and where the sound is silent
  or missing; a frame both doubt is unvoiced.

:func:`segment_notes` turns a pitch track into :class:`~x2studio.media.midi.NoteEvent`s (violin, GM
program 41 → 40 zero-based): a median filter over 5 frames so vibrato does not split notes, runs of
one semitone, gaps of one frame bridged, runs shorter than ``min_s`` dropped.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import InputError, MediaError
from ..core.jobs import Job, progress_of
from ..media.midi import NoteEvent

__all__ = ["ViolinTranscriber", "ViolinTranscription", "LiveViolin", "segment_notes", "DEFAULT_WEIGHTS", "MODES", "VIOLIN_PROGRAM",
           "save_pitch_csv", "AUDIO_TRACKER"]

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS = "violin-lite"
MODES = ("visual", "audio", "fused")
VIOLIN_PROGRAM = 40
SOUND_FPS = 100.0              # pitch frames per second of a recording with no picture (10-ms steps)
AUDIO_TRACKER = "yin"          # the best of the trackers measured on our data, and the fastest
_DEFAULT_THRESHOLD = 0.5


def segment_notes(midi: np.ndarray, voiced: np.ndarray, fps: float, min_s: float = 0.08, velocity: int = 80,
                  times: np.ndarray | None = None) -> list[NoteEvent]:
    """Notes from a per-frame pitch track (fractional MIDI; ``voiced`` False = no note)."""
    from scipy.ndimage import median_filter

    midi = np.asarray(midi, np.float64)
    voiced = np.asarray(voiced, bool) & (midi > 0)
    n = len(midi)
    if n == 0:
        return []
    if fps <= 0:
        raise InputError("The frame rate must be positive.")
    semis = np.where(voiced, np.round(midi), 0).astype(int)
    if n >= 5:
        # a 5-frame median: vibrato and one-frame flickers do not split a note; silence is kept
        filt = median_filter(semis, size=5, mode="nearest")
        semis = np.where(voiced, np.where(filt > 0, filt, semis), 0)
    # bridge one-frame gaps inside a note
    for k in range(1, n - 1):
        if semis[k] == 0 and semis[k - 1] > 0 and semis[k - 1] == semis[k + 1]:
            semis[k] = semis[k - 1]
    t = np.arange(n + 1) / fps if times is None else np.append(np.asarray(times, float), times[-1] + 1 / fps)
    notes = []
    k = 0
    while k < n:
        p = semis[k]
        j = k
        while j < n and semis[j] == p:
            j += 1
        if p > 0 and t[j] - t[k] >= min_s and 0 <= p <= 127:
            notes.append(NoteEvent(float(t[k]), float(t[j]), int(p), int(velocity), VIOLIN_PROGRAM))
        k = j
    return notes


@dataclass
class ViolinTranscription:
    """A video's pitch tracks (one value per frame; 0 = no note) and its notes."""

    fps: float
    mode: str
    notes: list[NoteEvent]
    visual: np.ndarray | None = None           # (T,) MIDI from the picture (fractional), 0 = none
    visual_conf: np.ndarray | None = None      # (T,) the picture's confidence in its class
    probs: np.ndarray | None = None            # (T, 35) the student's class probabilities
    audio: np.ndarray | None = None            # (T,) MIDI from the sound, 0 = unvoiced
    fused: np.ndarray | None = None            # (T,) the track the notes come from
    times: np.ndarray | None = None            # (T,) each frame's time in s when not k / fps (a live take)
    weights: str | None = None                 # the picture's model (None: from the sound alone)
    threshold: float | None = None             # the picture's confidence below which a frame is unvoiced
    warnings: tuple[str, ...] = ()             # what the user should know about the result
    live: bool = False                         # a live take

    @property
    def track(self) -> np.ndarray:
        return {"visual": self.visual, "audio": self.audio, "fused": self.fused}[self.mode]

    @property
    def frames(self) -> int:
        return len(self.track)

    def cents(self) -> np.ndarray:
        """(T,) the sound's deviation from the note being played, in cents (NaN where either is missing):
        the intonation view."""
        out = np.full(self.frames, np.nan)
        if self.audio is None:
            return out
        note = np.zeros(self.frames)
        t = self.frame_times()
        for n in self.notes:
            note[(t >= n.onset - 0.5 / self.fps) & (t < n.offset - 0.5 / self.fps)] = n.pitch
        ok = (note > 0) & (self.audio > 0)
        out[ok] = 100.0 * (self.audio[ok] - note[ok])
        out[np.abs(out) > 100] = np.nan     # a different note, not intonation
        return out

    def intonation(self) -> float | None:
        """The sound's median distance from the notes, in cents (None without the sound)."""
        cents = self.cents()
        return float(np.nanmedian(np.abs(cents))) if np.isfinite(cents).any() else None

    def lines(self, threshold: float | None = None) -> list[str]:
        """The summary a user reads (the CLI prints it; the panel shows it)."""
        src = {"visual": "the picture", "audio": "the sound", "fused": "the picture and the sound"}[self.mode]
        line = f"{len(self.notes)} notes from {self.frames} frames at {self.fps:g} fps, from {src}"
        thr = self.threshold if threshold is None else threshold
        if self.weights and self.mode != "audio":
            line += f" ({self.weights}, confidence ≥ {thr:.2f})"
        out = [line + "."]
        cents = self.intonation()
        if cents is not None:
            out.append(f"Intonation: the sound is a median {cents:.0f} cents off the notes.")
        return out + list(self.warnings)

    def summary(self) -> dict:
        """The JSON summary of ``transcribe violin --json``."""
        return {"notes": len(self.notes), "frames": self.frames, "fps": self.fps, "mode": self.mode,
                "weights": self.weights, "threshold": self.threshold, "median_cents_off": self.intonation(),
                "warnings": list(self.warnings)}

    def renotes(self, threshold: float) -> list[NoteEvent]:
        """The notes again at another confidence threshold (the panel's slider): no network pass."""
        self.threshold = float(threshold)
        self._build(float(threshold))
        return self.notes

    def _build(self, threshold: float) -> None:
        vis = vis_v = None
        if self.probs is not None:
            vis, vis_v = _visual_track(self.probs, threshold)
            self.visual = np.where(vis_v, vis, 0.0)
            self.visual_conf = self.probs.max(1)
        if self.mode == "fused":
            self.fused = _fuse(self.visual, self.visual_conf, self.audio, threshold)
        track = self.track
        self.notes = segment_notes(track, track > 0, self.fps, times=self.times)

    def frame_times(self) -> np.ndarray:
        """(T,) each frame's time in seconds."""
        return np.arange(self.frames) / self.fps if self.times is None else np.asarray(self.times, float)


def _visual_track(probs: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Fractional MIDI (probability-weighted over the best class and its neighbours) and voicing."""
    from ..models.violin import LOWEST

    best = probs.argmax(1)
    conf = probs.max(1)
    voiced = (best > 0) & (conf >= threshold)
    midi = np.zeros(len(probs))
    for k in np.nonzero(voiced)[0]:
        c = best[k]
        lo, hi = max(1, c - 1), min(probs.shape[1] - 1, c + 1)
        w = probs[k, lo:hi + 1]
        midi[k] = float(np.dot(w, np.arange(lo, hi + 1)) / w.sum()) + LOWEST - 1
    return midi, voiced


def _fuse(visual: np.ndarray | None, conf: np.ndarray | None, audio: np.ndarray | None, threshold: float) -> np.ndarray:
    if audio is None:
        return visual.copy()
    if visual is None:
        return audio.copy()
    out = np.zeros(len(visual))
    both = (visual > 0) & (audio > 0)
    agree = both & (np.abs(visual - audio) < 1.0)
    out[agree] = audio[agree]
    # an octave or string slip in the sound (or a second instrument) against a sure picture
    sure = both & ~agree & (conf >= max(threshold, 0.7))
    out[sure] = np.round(visual[sure])
    only_audio = (audio > 0) & (visual <= 0)
    out[only_audio] = audio[only_audio]
    only_video = (visual > 0) & (audio <= 0)
    out[only_video] = visual[only_video]
    return out


class ViolinTranscriber:
    """The student network (for the visual and fused modes), loaded once."""

    def __init__(self, weights: str = DEFAULT_WEIGHTS, device: str | None = None, batch: int = 32) -> None:
        from ..core.device import resolve_device
        from ..models.registry import model_from_card
        from ..weights.registry import resolve_entry

        entry = resolve_entry(weights)
        self.device = str(device or resolve_device().torch_device)
        self.model = model_from_card(entry, self.device, allowed=("violin-student",))
        self.entry = entry
        self.batch = int(batch)
        self.threshold = float(entry.card.metrics.get("threshold", _DEFAULT_THRESHOLD))

    def transcribe_frames(self, frames: np.ndarray, fps: float, mode: str = "visual", audio: np.ndarray | None = None,
                          threshold: float | None = None, job: Job | None = None) -> ViolinTranscription:
        """Transcribe decoded frames (T, H, W, 3) and, for audio/fused, a per-frame audio pitch track."""
        probs = self.probabilities(frames, job) if mode != "audio" else None
        return self._result(probs, audio, fps, mode, threshold)

    def probabilities(self, frames, job: Job | None = None) -> np.ndarray:
        """RGB frames (any size) → (T, 35) class probabilities; 5-frame windows repeat the edge frames."""
        import cv2
        import torch

        m = self.model
        size = (m.width, m.height)
        half = m.frames // 2
        small = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]
        if not small:
            raise MediaError("The video has no frames.")
        arr = np.stack(small)
        n = len(arr)
        out = []
        for s in range(0, n, self.batch):
            idx = np.arange(s, min(n, s + self.batch))
            if m.frames == 1:
                x = arr[idx]
            else:
                win = np.clip(idx[:, None] + np.arange(-half, half + 1)[None], 0, n - 1)
                x = arr[win]
            x = torch.from_numpy(x.astype(np.float32) / 255.0).to(self.device)
            x = x.permute(0, 1, 4, 2, 3) if x.dim() == 5 else x.permute(0, 3, 1, 2)
            with torch.inference_mode():
                out.append(torch.softmax(m(x), 1).cpu().numpy())
            progress_of(job, int(idx[-1]) + 1, n, "looking at the fingerboard")
        return np.concatenate(out)

    def _result(self, probs, audio, fps: float, mode: str, threshold: float | None) -> ViolinTranscription:
        thr = self.threshold if threshold is None else float(threshold)
        res = ViolinTranscription(fps=float(fps), mode=mode, notes=[], probs=probs, audio=audio,
                                  weights=self.entry.name, threshold=thr)
        res._build(thr)
        return res

    def transcribe_video(self, video: str | os.PathLike[str], mode: str = "visual", threshold: float | None = None,
                         job: Job | None = None) -> ViolinTranscription:
        return transcribe_video(video, mode, threshold, job, transcriber=self)


def transcribe_video(video: str | os.PathLike[str], mode: str = "visual", threshold: float | None = None,
                     job: Job | None = None, transcriber: ViolinTranscriber | None = None,
                     weights: str = DEFAULT_WEIGHTS, device: str | None = None) -> ViolinTranscription:
    """Transcribe a violin video from its picture, its sound, or both (see the module's doc)."""
    from ..media.video import VideoReader, probe
    from .violin_audio import audio_pitch_of_video

    if mode not in MODES:
        raise InputError(f"Unknown mode '{mode}'.", f"Use one of: {', '.join(MODES)}.")
    path = Path(video)
    info = probe(path)
    warnings: list[str] = []
    if info.video is None:                   # a recording: its pitch from its sound, whatever the mode
        if info.audio is None:
            raise InputError(f"'{path.name}' has neither a picture nor a sound.",
                             "Open a video of a violinist, or a recording.")
        if mode != "audio":
            warnings.append(f"'{path.name}' has no picture: its pitch comes from its sound.")
        mode = "audio"
    probs = None
    fps = (float(info.video.fps) or 25.0) if info.video is not None else SOUND_FPS
    frames = None
    if mode != "audio":
        tr = transcriber or ViolinTranscriber(weights, device)
        progress_of(job, 0, None, "reading the video")
        with VideoReader(path) as rd:
            fps = float(rd.fps)
            frames = [f.image for f in rd.frames()]
        if not frames:
            raise MediaError(f"'{path.name}' has no video frames.")
        probs = tr.probabilities(frames, job)
    if probs is not None:
        n = len(probs)
    else:
        n = int(info.video.frames) if info.video is not None else max(1, int(round(info.duration_s * fps)))
    audio = None
    if mode != "visual":
        progress_of(job, 0, None, "listening")
        if info.audio is None:
            if mode == "audio":
                raise InputError(f"'{path.name}' has no sound, so its pitch cannot be heard.", "Use --mode visual.")
            warnings.append("The video has no sound: the pitch comes from the picture alone.")
        else:
            try:
                audio = audio_pitch_of_video(path, n, fps, AUDIO_TRACKER).midi.astype(np.float64)
            except InputError as exc:
                if mode == "audio":
                    raise
                warnings.append(f"{exc} The pitch comes from the picture alone.")
    if probs is None:
        res = ViolinTranscription(fps=fps, mode="audio", notes=[], audio=audio)
        res._build(0.0)
    else:
        res = tr._result(probs, audio, fps, mode, threshold)
    # the models are monophonic: many unsure frames while the sound plays suggest chords or no violin
    if probs is not None:
        sounding = (audio > 0) if audio is not None else np.ones(len(probs), bool)
        unsure = sounding & (res.visual_conf < res.threshold)
        if sounding.sum() and unsure.sum() / sounding.sum() > 0.25:
            warnings.append(f"{100 * unsure.sum() / sounding.sum():.0f}% of the frames were uncertain and are left "
                            "unvoiced: the violin may be hidden, or several notes sound at once (the model hears one "
                            "note at a time).")
    res.warnings = tuple(warnings)
    return res


def save_pitch_csv(path: str | os.PathLike[str], res: ViolinTranscription) -> Path:
    """The per-frame pitch tracks as CSV (time, picture, its confidence, sound, the mode's track, cents), atomically."""
    import csv
    import io

    from ..core.atomic import atomic_write_text

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(("time_s", "visual_midi", "visual_confidence", "audio_midi", "midi", "cents_off_note"))
    cents = res.cents()
    n = res.frames

    def col(a, k, fmt="{:.3f}"):
        return "" if a is None or not a[k] > 0 else fmt.format(a[k])

    for k in range(n):
        w.writerow((f"{k / res.fps:.4f}", col(res.visual, k), "" if res.visual_conf is None else f"{res.visual_conf[k]:.3f}",
                    col(res.audio, k), col(res.track, k), "" if np.isnan(cents[k]) else f"{cents[k]:.1f}"))
    target = Path(path).expanduser()
    atomic_write_text(target, buf.getvalue())
    return target


class LiveViolin:
    """Live pitch from the picture alone, frame by frame (a webcam): :meth:`add` takes each new
    frame (any thread; it is only resized and kept, the last ``frames`` of them); :meth:`estimate`
    (the model's thread) gives the pitch of the newest complete window and records it, so a slow
    model skips moments instead of falling behind.  A 5-frame window's answer is its centre frame's,
    two frames late.  :meth:`take` turns what was recorded into a :class:`ViolinTranscription`
    (times as they came), whose notes can be exported like a video's."""

    def __init__(self, transcriber: ViolinTranscriber, threshold: float | None = None, max_s: float = 1800.0) -> None:
        import threading
        from collections import deque

        self.tr = transcriber
        self.threshold = transcriber.threshold if threshold is None else float(threshold)
        self.max_s = float(max_s)
        self._lock = threading.Lock()
        self._window: deque = deque(maxlen=transcriber.model.frames)
        self._times: deque = deque(maxlen=transcriber.model.frames)
        self._t0: float | None = None
        self.times: list[float] = []
        self.probs: list[np.ndarray] = []

    def add(self, rgb: np.ndarray, t: float) -> None:
        """A new frame (RGB, any size) seen at ``t`` seconds (any clock)."""
        import cv2

        img = np.asarray(rgb)
        if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] < 8 or img.shape[1] < 8:
            raise MediaError(f"A camera frame of shape {img.shape} is not an RGB picture.")
        m = self.tr.model
        small = cv2.resize(np.ascontiguousarray(img[..., :3], np.uint8), (m.width, m.height), interpolation=cv2.INTER_AREA)
        with self._lock:
            if self._t0 is None:
                self._t0 = float(t)
            self._window.append(small)
            self._times.append(float(t) - self._t0)

    def estimate(self) -> dict | None:
        """The pitch of the newest window: ``{"t", "midi" (0 = none), "confidence", "note"}``, or None
        until enough frames have come."""
        import torch

        from ..core.keyboard import pitch_name

        m = self.tr.model
        with self._lock:
            if len(self._window) < m.frames:
                return None
            win = np.stack(self._window)
            t = self._times[len(self._times) // 2]
        if self.times and t <= self.times[-1]:
            return None                               # nothing new since the last answer
        x = torch.from_numpy(win.astype(np.float32) / 255.0).permute(0, 3, 1, 2).to(self.tr.device)
        x = x[None] if m.frames > 1 else x[-1:]
        with torch.inference_mode():
            p = torch.softmax(m(x), 1)[0].cpu().numpy()
        midi, voiced = _visual_track(p[None], self.threshold)
        with self._lock:
            self.times.append(t)
            self.probs.append(p)
            if self.times[-1] - self.times[0] > self.max_s:     # a bounded take: the oldest moments go
                del self.times[0], self.probs[0]
        note = float(midi[0]) if voiced[0] else 0.0
        return {"t": t, "midi": note, "confidence": float(p.max()), "note": pitch_name(int(round(note))) if note else ""}

    def take(self) -> ViolinTranscription | None:
        """What was recorded so far as a transcription (None if nothing was); times count from the
        take's first frame."""
        with self._lock:
            if len(self.times) < 2:
                return None
            times, probs = np.asarray(self.times), np.stack(self.probs)
        fps = float((len(times) - 1) / max(times[-1] - times[0], 1e-6))
        res = ViolinTranscription(fps=fps, mode="visual", notes=[], probs=probs, times=times,
                                  weights=self.tr.entry.name, threshold=self.threshold, live=True)
        res._build(self.threshold)
        return res

