"""Live piano transcription: frames from a webcam (or a video played in real time) → notes as they
are played, with a bounded delay.

:meth:`LivePiano.add` (any thread: the camera's or the GUI's) rectifies each frame to the model's
keyboard crop and queues it; the queue holds at most ``max_pending`` frames, and when the model is
slower than the camera the oldest waiting frames are dropped (and counted), never queued without
bound.  :meth:`LivePiano.step` (the model's thread) runs the network on every queued frame at once
(each frame's first stage computed once, as for a video), appends their onset and key-down
probabilities, and decides the notes whose peak is settled.

Why a note is heard late — the latency the panel and the CLI show, measured per note as the time
from the moment its onset frame was seen to the moment the note was decided:

* the network's window is 5 frames centred on the frame it answers for: 2 frames later;
* the onset curve is smoothed (σ frames, the kernel cut at 2σ for live use instead of the 4σ of a
  whole video) and a peak is only a peak once the next smoothed value is lower: ⌈2σ⌉ + 1 frames;
* plus the time the frame waited in the queue and the network's own time.

At 25 fps and σ = 1 that is 5 frames (200 ms) plus compute.  :meth:`LivePiano.take` re-reads the
whole take the offline way (:func:`~.piano.probabilities_to_notes` on every probability row), so
the saved take is the same as transcribing a recording of it.

Keyboard: given corners (a video's known keyboard, or the panel's), else found in the picture
(:func:`~.keyboard.detect_keyboard`), retried on the newest frame at most every ``search_every_s``.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from ..core.errors import InputError, MediaError
from ..core.keyboard import LOWEST, N_KEYS
from .piano import PRESS_FRAMES, LiveStats, PianoTranscriber, Rectifier, Transcription, probabilities_to_notes

__all__ = ["LivePiano", "LiveNote", "LiveStep", "StreamingOnsets"]


@dataclass(frozen=True)
class LiveNote:
    """A note decided live: its onset (seconds since the take began), pitch and latency (s)."""

    onset: float
    pitch: int
    latency: float


@dataclass(frozen=True, eq=False)
class LiveStep:
    """What one read of the queued frames decided."""

    t: float                              # the newest frame read, s since the take began
    new: tuple = ()                       # LiveNote: the notes that began
    ended: tuple = ()                     # pitches whose notes ended
    held: tuple = ()                      # pitches held down now
    latency: float | None = None          # the new notes' mean latency (s)
    ms: float = 0.0                       # the model's time for this read
    dropped: int = 0                      # frames dropped so far (the model fell behind)
    frames: int = 0                       # frames in the take
    corners: np.ndarray | None = None     # the keyboard's
    found: bool = False                   # the keyboard was just found in the picture
    searching: bool = False               # no keyboard yet


class StreamingOnsets:
    """Peak picking on an onset-probability stream, each frame decided as soon as it is settled.

    The rule of :func:`~.piano.probabilities_to_notes` (Gaussian smoothing over time, a local maximum
    above the threshold, at least ``min_gap`` frames after the key's previous onset, zero before the
    first and after the last frame), with the kernel cut at 2σ instead of 4σ so that a frame is
    settled ⌈2σ⌉ + 1 rows later; only the last 2·⌈2σ⌉ + 4 rows are kept.  With the key-down rows
    (``push(row, down)``) and ``release`` / ``press`` set, the key rules of :func:`~.piano.key_rules`
    then confirm each peak, ``press`` needing the next :data:`~.piano.PRESS_FRAMES` − 1 down rows;
    :attr:`lag` is how many rows after its frame an onset is known."""

    def __init__(self, threshold: float, sigma: float, min_gap: int = 2, release: float | None = None,
                 press: float | None = None) -> None:
        if not 0.0 < threshold < 1.0:
            raise InputError(f"The onset threshold {threshold} is out of range.", "Use a threshold between 0 and 1.")
        self.threshold = float(threshold)
        self.sigma = max(0.0, float(sigma))
        self.min_gap = max(1, int(min_gap))
        self.release = None if release is None else float(release)
        self.press = None if press is None else float(press)
        self.radius = int(math.ceil(2 * self.sigma)) if self.sigma > 0 else 0
        self._look = PRESS_FRAMES - 1 if self.press is not None else 0
        self.lag = max(self.radius + 1, self._look)
        if self.sigma > 0:
            x = np.arange(-self.radius, self.radius + 1, dtype=np.float64)
            k = np.exp(-0.5 * (x / self.sigma) ** 2)
            self._kernel = (k / k.sum()).astype(np.float32)
        else:
            self._kernel = np.ones(1, np.float32)
        self._raw: deque = deque(maxlen=2 * self.radius + 4)
        self._seen = 0          # rows pushed
        self.decided = 0        # rows the peak rule has decided
        self._last = np.full(N_KEYS, -10 ** 9, np.int64)
        # the key rules: peaks waiting for their down rows, the down rows from the first frame not yet
        # confirmed on, and per key the lowest down value since its last kept onset (inf: no row yet,
        # −1: no onset kept yet)
        self._peaks: deque = deque()            # (frame, keys) in frame order
        self._downs: deque = deque()
        self._down_base = 0
        self.confirmed = 0
        self._low = np.full(N_KEYS, -1.0, np.float32)
        self._ruled = False

    def push(self, row: np.ndarray, down: np.ndarray | None = None) -> list[tuple[int, int]]:
        """The next frame's onset probabilities (88,) and key-down probabilities (88,) → the onsets
        settled now, as (frame, key index)."""
        self._raw.append(np.asarray(row, np.float32).reshape(N_KEYS))
        self._seen += 1
        if down is not None and (self.release is not None or self.press is not None):
            self._ruled = True
            self._downs.append(np.asarray(down, np.float32).reshape(N_KEYS))
        return self._decide(final=False)

    def flush(self) -> list[tuple[int, int]]:
        """The stream has ended: decide the last rows (the last frame repeats, as offline)."""
        return self._decide(final=True)

    def _smoothed(self, i: int) -> np.ndarray:
        if i < 0 or i >= self._seen:
            return np.zeros(N_KEYS, np.float32)
        base = self._seen - len(self._raw)
        idx = np.clip(np.arange(i - self.radius, i + self.radius + 1), 0, self._seen - 1) - base
        rows = np.stack([self._raw[max(0, int(j))] for j in idx])
        return self._kernel @ rows

    def _decide(self, final: bool) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        while self.decided < self._seen and (final or self.decided + 1 + self.radius < self._seen):
            k = self.decided
            prev, cur, nxt = self._smoothed(k - 1), self._smoothed(k), self._smoothed(k + 1)
            hit = (cur >= self.threshold) & (cur > prev) & (cur >= nxt) & (k - self._last >= self.min_gap)
            keys = np.flatnonzero(hit)
            self._last[keys] = k
            if self._ruled:
                self._peaks.append((k, keys))
            else:
                out += [(k, int(key)) for key in keys]
            self.decided += 1
        if self._ruled:
            out += self._confirm(final)
        return out

    def _confirm(self, final: bool) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        n_down = self._down_base + len(self._downs)
        while self.confirmed < self.decided and (final or self.confirmed + self._look < n_down):
            c = self.confirmed
            keys = self._peaks.popleft()[1] if self._peaks and self._peaks[0][0] == c else ()
            row = self._downs[c - self._down_base] if c < n_down else None
            kept = []
            for key in keys:
                if self.release is not None and np.isfinite(self._low[key]) and self._low[key] >= self.release:
                    continue      # not come up since its last onset: the same press seen again
                if self.press is not None:
                    ahead = [self._downs[j - self._down_base][key] for j in range(c, min(n_down, c + PRESS_FRAMES))]
                    if not ahead or max(ahead) < self.press:
                        continue  # never seen down: not a press
                kept.append(int(key))
            if row is not None:
                self._low = np.minimum(self._low, row)
            self._low[kept] = np.inf
            out += [(c, key) for key in kept]
            self.confirmed += 1
            if self._downs and self._down_base < self.confirmed:
                self._downs.popleft()
                self._down_base += 1
        return out


class LivePiano:
    """Live transcription of a keyboard seen from above.

    Args:
        transcriber: the loaded visual model.
        corners: the keyboard's corners in the camera's pixels (TL, TR, BR, BL); ``None``: found in
            the picture.
        threshold, sigma: onset threshold and smoothing (default: the weights' own).
        max_pending: frames that may wait for the model; older ones are dropped.
        max_s: the take keeps at most this many seconds of probabilities (the oldest go).
        clock: the clock of the ``t`` given to :meth:`add` (for the latency), ``time.perf_counter``.
    """

    def __init__(self, transcriber: PianoTranscriber, corners: np.ndarray | None = None,
                 threshold: float | None = None, sigma: float | None = None, max_pending: int = 12,
                 max_s: float = 1800.0, clock=time.perf_counter, search_every_s: float = 0.5) -> None:
        self.tr = transcriber
        self.threshold = transcriber.threshold if threshold is None else float(threshold)
        self.sigma = transcriber.sigma if sigma is None else float(sigma)
        self.rules = transcriber.rules
        self.onsets = StreamingOnsets(self.threshold, self.sigma, **self.rules.as_kwargs())
        self.max_pending = max(transcriber.frames, int(max_pending))
        self.max_s = float(max_s)
        self.clock = clock
        self.search_every_s = float(search_every_s)
        self._lock = threading.Lock()
        self._pending: deque = deque()
        self._search: tuple[np.ndarray, float] | None = None
        self._searched_at = -1e9
        self._rect: Rectifier | None = None
        self._frame_size: tuple[int, int] | None = None
        self.corners: np.ndarray | None = None
        if corners is not None:
            self.corners = np.asarray(corners, np.float64).reshape(4, 2)
        self._step_lock = threading.Lock()             # one step (or take) at a time
        self._half = transcriber.frames // 2
        self._context: list = []                       # (crop, clock time): the window's past frames
        self._clock_t: deque = deque()                 # per frame read: when it was seen (clock)
        self._base = 0                                 # frames read that the bounded take let go
        self._t0: float | None = None
        self.dropped = 0
        self.received = 0
        self.times: deque = deque()                    # per frame read: seconds since the take began
        self.onset: deque = deque()
        self.down: deque = deque()
        self._held: dict[int, LiveNote] = {}           # key index → the note sounding
        self.notes: list[LiveNote] = []               # every note decided live
        self.latencies: deque = deque(maxlen=200)

    # ------------------------------------------------------------------ input (any thread)
    def set_corners(self, corners: np.ndarray | None) -> None:
        """Move the keyboard (the user dragged a corner); ``None`` looks for it again."""
        with self._lock:
            self.corners = None if corners is None else np.asarray(corners, np.float64).reshape(4, 2)
            self._rect = None
            if self.corners is not None and self._frame_size is not None:
                self._rect = Rectifier(self.corners, self.tr.size, self._frame_size)

    def add(self, rgb: np.ndarray, t: float) -> None:
        """A frame (RGB, any size) seen at ``t`` (seconds on :attr:`clock`)."""
        img = np.asarray(rgb)
        if img.ndim != 3 or img.shape[2] < 3 or img.shape[0] < 8 or img.shape[1] < 8:
            raise MediaError(f"A camera frame of shape {img.shape} is not an RGB picture.")
        size = (img.shape[1], img.shape[0])
        with self._lock:
            self.received += 1
            if self._t0 is None:
                self._t0 = float(t)
            if size != self._frame_size:
                self._frame_size = size
                self._rect = None
            if self._rect is None and self.corners is not None:
                self._rect = Rectifier(self.corners, self.tr.size, size)
            rect = self._rect
            if rect is None:                           # no keyboard yet: the newest frame is searched
                self._search = (img, float(t))
                return
        crop = rect(img[..., :3])                     # outside the lock: the camera is not held up
        with self._lock:
            if self._rect is not rect:                 # the keyboard moved meanwhile
                return
            self._pending.append((crop, float(t)))
            while len(self._pending) > self.max_pending:
                self._pending.popleft()
                self.dropped += 1

    @property
    def pending(self) -> int:
        """Frames waiting for the model."""
        with self._lock:
            return len(self._pending)

    # ------------------------------------------------------------------ the model's thread
    def _find_keyboard(self) -> bool:
        from .keyboard import detect_keyboard

        now = self.clock()
        with self._lock:
            search = self._search
            if search is None or now - self._searched_at < self.search_every_s:
                return False
            self._search, self._searched_at = None, now
        corners = detect_keyboard(search[0][..., :3])
        if corners is None:
            return False
        self.set_corners(corners)
        return True

    def _report(self, t_start: float, new=(), ended=(), **kw) -> LiveStep:
        return LiveStep(self.times[-1] if self.times else 0.0, tuple(new), tuple(ended),
                        tuple(sorted(LOWEST + k for k in self._held)), dropped=self.dropped, frames=len(self.times),
                        corners=kw.pop("corners", self.corners), ms=(time.perf_counter() - t_start) * 1000, **kw)

    def step(self) -> LiveStep | None:
        """Read what is queued (the model's thread): what it decided, or ``None`` when there was
        nothing new."""
        t_start = time.perf_counter()
        with self._step_lock:
            found = False
            if self.corners is None:
                found = self._find_keyboard()
                if not found:
                    return self._report(t_start, searching=True, corners=None)
            with self._lock:
                batch, self._pending = list(self._pending), deque()
            if not batch:
                return self._report(t_start, found=True) if found else None
            seq = self._context + batch
            if len(seq) < self.tr.frames - (0 if self._context else self._half):
                with self._lock:                        # not a whole window yet: wait for more
                    self._pending.extendleft(reversed(batch))
                return None
            if not self._context:                       # the first frame repeats before the start
                seq = [(batch[0][0], None)] * self._half + seq
            return self._read(seq, t_start, found)

    def _read(self, seq: list, t_start: float, found: bool = False) -> LiveStep:
        """Run the network on ``seq`` ((crop, clock time) pairs; the first frames already answered for
        are context) and decide what is settled."""
        import torch

        f = self.tr.frames
        n_out = len(seq) - f + 1
        m = self.tr.model
        x = torch.from_numpy(np.ascontiguousarray(np.stack([c for c, _ in seq]))).to(self.tr.device).float().div_(255.0)
        m.eval()
        with torch.inference_mode():
            out = m.forward_sequence(x)
        onset = torch.sigmoid(out["onset"]).float().cpu().numpy()
        down = torch.sigmoid(out["down"]).float().cpu().numpy()
        answered = [t for _, t in seq[self._half:self._half + n_out]]
        self._context = seq[-(f - 1):]
        now = self.clock()
        new: list[LiveNote] = []
        ended: list[int] = []
        for o, d, t in zip(onset, down, answered):
            self._push_row(o, d, t, now, new, ended)
        lat = [n.latency for n in new]
        self.latencies.extend(lat)
        return self._report(t_start, new=new, ended=ended, latency=float(np.mean(lat)) if lat else None, found=found)

    def _push_row(self, o: np.ndarray, d: np.ndarray, t: float, now: float, new: list, ended: list) -> None:
        self.times.append(self._since(t))
        self._clock_t.append(float(t))
        self.onset.append(o)
        self.down.append(d)
        for k, key in self.onsets.push(o, d):
            i = k - self._base
            if i < 0:
                continue
            if key in self._held:                      # played again while held: the old note ends
                del self._held[key]
                ended.append(LOWEST + key)
            before = self.times[i - 1] if i > 0 else self.times[i] - 1.0 / max(self.fps, 1e-3)
            note = LiveNote(max(0.0, 0.5 * (before + self.times[i])), LOWEST + key, max(0.0, now - self._clock_t[i]))
            new.append(note)
            self.notes.append(note)
            downs = np.asarray([self.down[j][key] for j in range(i + 1, len(self.down))])
            if len(downs) and (downs < 0.5).any():     # already up again: a short note
                ended.append(note.pitch)
            else:
                self._held[key] = note
        for key in [key for key in self._held if d[key] < 0.5]:     # a held key came up: its note ends
            del self._held[key]
            ended.append(LOWEST + key)
        while len(self.times) > 2 and self.times[-1] - self.times[0] > self.max_s:   # a bounded take
            self.times.popleft(), self._clock_t.popleft(), self.onset.popleft(), self.down.popleft()
            self._base += 1

    def _since(self, t: float) -> float:
        return 0.0 if self._t0 is None else float(t) - self._t0

    @property
    def fps(self) -> float:
        """The frame rate of the frames read so far (frames per second of clock time)."""
        if len(self.times) < 2 or self.times[-1] <= self.times[0]:
            return 25.0
        return (len(self.times) - 1) / (self.times[-1] - self.times[0])

    @property
    def latency(self) -> float | None:
        """The median latency of the last notes decided (s), or None."""
        return float(np.median(self.latencies)) if self.latencies else None

    def take(self) -> Transcription | None:
        """The take so far as a :class:`~.piano.Transcription` (the frames still in the window read
        with the last frame repeated, as at a video's end; notes found the offline way, so they are
        the ones a recording of the take would give); ``None`` before any frame was read."""
        with self._step_lock:
            with self._lock:
                batch, self._pending = list(self._pending), deque()
            if self._context or batch:
                seq = self._context + batch
                if not self._context:
                    seq = [(batch[0][0], None)] * self._half + seq
                seq = seq + [seq[-1]] * self._half
                if len(seq) >= self.tr.frames:
                    self._read(seq, time.perf_counter())
                self._context = []
            if len(self.times) < 1:
                return None
            times = np.asarray(self.times, np.float64)      # seconds since the take's first frame
            onset, down = np.stack(self.onset), np.stack(self.down)
        fps = self.fps
        notes = probabilities_to_notes(onset, fps, down, self.threshold, self.sigma, times=times,
                                       **self.rules.as_kwargs())
        stats = LiveStats(received=self.received, dropped=self.dropped, live_notes=len(self.notes),
                          latency_s=self.latency)
        return Transcription(notes, onset, down, fps, self.corners if self.corners is not None else np.zeros((4, 2)),
                             weights=self.tr.entry.name, threshold=self.threshold, sigma=self.sigma, rules=self.rules,
                             mode="live", times=times, live=stats)
