"""Visual piano transcription: a top-view piano video → notes (thesis ch. 6; PAPERS.md §5).

Flow: the keyboard's four corners (remembered for the video, from its sidecar JSON, the user,
``--crop``, or found automatically by :mod:`.keyboard`) →
each frame rectified to the model's keyboard crop (grayscale, A0 at the left, C8 at the right) →
5-frame windows → per-key onset and key-down probabilities → Gaussian smoothing over time,
threshold and peak picking → :class:`~x2studio.media.midi.NoteEvent` s.

Note durations: the thesis predicts onsets only.  X2 Studio's model also says, per frame, whether
each key is held down, so a note ends when its key comes up in the video (:data:`DURATION_RULE`);
where that signal is missing (a model without it) a note lasts until the next onset of its key or
0.5 s, whichever is sooner.

Time convention: frame ``k`` is shown at ``k / fps``.  A note that starts between two frames is
first seen down in the later one, so an onset detected in frame ``k`` is placed at ``(k − ½) / fps``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from ..core.errors import InputError, MediaError
from ..core.jobs import Job, progress_of
from ..core.keyboard import LOWEST, N_KEYS
from ..media.midi import NoteEvent

__all__ = ["corners_from_crop", "parse_crop", "rectify", "Rectifier", "probabilities_to_notes", "PianoTranscriber",
           "Transcription", "keyboard_of", "DURATION_RULE", "FALLBACK_RULE", "DEFAULT_WEIGHTS", "smooth",
           "note_metrics", "sequence_probabilities", "remember_keyboard", "key_polygons", "key_rules", "PRESS_FRAMES",
           "rules_of", "KeyRules", "LiveStats"]

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS = "piano-lite"
DURATION_RULE = "from the video: a note lasts while its key is seen down"
FALLBACK_RULE = "until the key's next onset or 0.5 s, whichever is sooner"


def corners_from_crop(y0: float, y1: float, x0: float, x1: float) -> np.ndarray:
    """A PianoYT-style crop box (min y, max y, min x, max x) as four corners TL, TR, BR, BL."""
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)


def parse_crop(text: str) -> np.ndarray:
    """``"Y0,Y1,X0,X1"`` (a crop box) or ``"X,Y,X,Y,X,Y,X,Y"`` (corners TL, TR, BR, BL) → corners."""
    try:
        vals = [float(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        vals = []
    if len(vals) == 4:
        y0, y1, x0, x1 = vals
        if y1 <= y0 or x1 <= x0:
            raise InputError(f"The crop '{text}' is empty.", "Give it as min y, max y, min x, max x (pixels).")
        return corners_from_crop(y0, y1, x0, x1)
    if len(vals) == 8:
        return np.array(vals, np.float64).reshape(4, 2)
    raise InputError(f"Cannot read the keyboard position '{text}'.",
                     "Give a crop box 'Y0,Y1,X0,X1' or four corners 'X,Y,X,Y,X,Y,X,Y' (top-left, top-right, "
                     "bottom-right, bottom-left), in pixels.")


def _remembered(video: Path) -> Path:
    from ..core import paths

    key = hashlib.sha1(str(video.expanduser().resolve()).encode()).hexdigest()[:16]
    return paths.data_dir() / "keyboards" / f"{key}.json"


def remember_keyboard(video: str | os.PathLike[str], corners: np.ndarray) -> Path:
    """Remember the keyboard corners of a video (in X2 Studio's data folder, not beside the video,
    which may be read-only); :func:`keyboard_of` finds them next time."""
    from ..core.atomic import atomic_write_text

    c = np.asarray(corners, np.float64).reshape(4, 2)
    path = _remembered(Path(video))
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(path, json.dumps({"video": str(Path(video).resolve()), "corners": c.round(2).tolist()}))


def keyboard_of(video: str | os.PathLike[str]) -> np.ndarray | None:
    """The keyboard corners known for a video: remembered by :func:`remember_keyboard`, else
    ``<video>.json`` or ``<stem>.json`` beside it with ``corners`` (or a ``crop`` box); ``None`` if
    there is none."""
    v = Path(video)
    for side in (_remembered(v), v.with_name(v.name + ".json"), v.with_suffix(".json")):
        if side.is_file():
            try:
                data = json.loads(side.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            if isinstance(data, dict) and "corners" in data:
                c = np.asarray(data["corners"], np.float64)
                if c.shape == (4, 2):
                    return c
            if isinstance(data, dict) and "crop" in data and len(data["crop"]) == 4:
                return corners_from_crop(*data["crop"])
    return None


class Rectifier:
    """Frames → the model's keyboard crop: (H, W) grayscale uint8, A0 left, C8 right."""

    def __init__(self, corners: np.ndarray, size: tuple[int, int], frame_size: tuple[int, int] | None = None) -> None:
        c = np.asarray(corners, np.float32).reshape(4, 2)
        w, h = int(size[0]), int(size[1])
        if frame_size is not None:
            fw, fh = frame_size
            if (c[:, 0] < -0.05 * fw).any() or (c[:, 0] > 1.05 * fw).any() or (c[:, 1] < -0.05 * fh).any() \
                    or (c[:, 1] > 1.05 * fh).any():
                raise InputError("The keyboard corners lie outside the video frame.",
                                 f"The frame is {fw}x{fh}; adjust the corners or the crop.")
        d1, d2 = c[2] - c[0], c[3] - c[1]
        area = 0.5 * abs(float(d1[0] * d2[1] - d1[1] * d2[0]))
        if area < 100:
            raise InputError("The keyboard area is too small to read keys from.", "Mark the whole keyboard.")
        dst = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
        self.matrix = cv2.getPerspectiveTransform(c, dst)
        self.size = (w, h)
        self.corners = c

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb
        return cv2.warpPerspective(gray, self.matrix, self.size, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


def rectify(rgb: np.ndarray, corners: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return Rectifier(corners, size)(rgb)


def key_polygons(corners: np.ndarray) -> dict[int, np.ndarray]:
    """Each key's top surface as a 4-point polygon in video pixels, for a keyboard at ``corners``
    (TL, TR, BR, BL): pitch → (4, 2)."""
    from ..core.keyboard import WHITE_L, WIDTH, keys

    src = np.array([[0, 0], [WIDTH, 0], [WIDTH, WHITE_L], [0, WHITE_L]], np.float32)
    m = cv2.getPerspectiveTransform(src, np.asarray(corners, np.float32).reshape(4, 2))
    out = {}
    for k in keys():
        x0, y0, x1, y1 = k.rect
        quad = np.array([[[x0, y0], [x1, y0], [x1, y1], [x0, y1]]], np.float32)
        out[k.pitch] = cv2.perspectiveTransform(quad, m)[0]
    return out


def smooth(prob: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing over time (axis 0), σ in frames (the thesis: 5)."""
    from scipy.ndimage import gaussian_filter1d

    if sigma <= 0:
        return prob
    return gaussian_filter1d(prob.astype(np.float32), sigma, axis=0, mode="nearest")


def probabilities_to_notes(onset: np.ndarray, fps: float, down: np.ndarray | None = None, threshold: float = 0.4,
                           sigma: float = 1.0, min_gap_frames: int = 2, velocity: int = 80,
                           times: np.ndarray | None = None, release: float | None = None,
                           press: float | None = None) -> list[NoteEvent]:
    """Per-frame, per-key onset probabilities (T, 88) → notes.

    Smoothing (σ frames) → local maxima above ``threshold`` at least ``min_gap_frames`` apart per key
    → onsets at ``(k − ½) / fps``.  Offsets from ``down`` (T, 88) when given (the key comes up:
    ``down < 0.5``), else :data:`FALLBACK_RULE`.  Velocity is not seen in video: a constant.
    ``times`` (T,): each frame's presentation time, for variable-frame-rate video (then a "half
    frame" is half the real gap between the two frames).

    Two rules from the key-down probabilities (:func:`key_rules`), used when ``down`` is given:
    ``release`` — a key struck again must have come up in between (its down probability fell below
    ``release`` somewhere since its last onset), else the peak is the same press seen twice;
    ``press`` — an onset counts only if the key is then seen down (``down ≥ press`` within
    :data:`PRESS_FRAMES` frames from the onset).  ``None`` turns a rule off.
    """
    from scipy.signal import find_peaks

    onset = np.asarray(onset, np.float32)
    if onset.ndim != 2 or onset.shape[1] != N_KEYS:
        raise InputError(f"Onset probabilities must be (frames, {N_KEYS}), not {onset.shape}.")
    if fps <= 0:
        raise InputError(f"Frame rate {fps} is not valid.")
    if not 0.0 < threshold < 1.0:
        raise InputError(f"The onset threshold {threshold} is out of range.", "Use a threshold between 0 and 1.")
    t_frames = onset.shape[0]
    if times is None:
        times = np.arange(t_frames) / fps
    times = np.asarray(times, np.float64)
    if times.shape != (t_frames,):
        raise InputError(f"{len(times)} frame times for {t_frames} frames.")
    # the moment half-way before each frame (and after the last one)
    edges = np.concatenate([[times[0] - 0.5 / fps], 0.5 * (times[1:] + times[:-1]), [times[-1] + 0.5 / fps]])
    p = smooth(onset, sigma)
    notes: list[NoteEvent] = []
    for key in range(N_KEYS):
        col = np.concatenate([[0.0], p[:, key], [0.0]])
        peaks, _ = find_peaks(col, height=threshold, distance=max(1, int(min_gap_frames)))
        peaks = peaks - 1
        if down is not None and (release is not None or press is not None):
            peaks = key_rules(peaks, down[:, key], release, press)
        for i, k in enumerate(peaks):
            start = max(0.0, float(edges[k]))
            nxt = peaks[i + 1] if i + 1 < len(peaks) else t_frames
            if down is not None:
                j = k + 1
                while j < nxt and down[j, key] >= 0.5:
                    j += 1
                end = float(edges[min(j, nxt)])
            else:
                end = min(float(edges[nxt]), start + 0.5)
            end = max(end, start + 1.0 / fps)
            notes.append(NoteEvent(round(start, 6), round(end, 6), LOWEST + key, int(velocity)))
    return sorted(notes)


def rules_of(metrics: dict) -> dict:
    """The key rules (``release``, ``press``) a model card's metrics chose (absent: off)."""
    return {k: (float(metrics[k]) if metrics.get(k) is not None else None) for k in ("release", "press")}


PRESS_FRAMES = 4       # an onset's key must be seen down within this many frames (the onset's own included)


def key_rules(peaks: Sequence[int], down: np.ndarray, release: float | None, press: float | None) -> list[int]:
    """The onset peaks (frame indices, ascending) of one key that the key's down probabilities
    ``down`` (T,) confirm: see :func:`probabilities_to_notes`.  A peak ``release`` turns away is
    not an onset, so the next peak is compared with the last kept one.  Why: most of a visual
    model's false onsets are a key seen struck twice while it is held (docs/measurements.md#piano-key-rules)."""
    kept: list[int] = []
    t = len(down)
    for k in peaks:
        k = int(k)
        if release is not None and kept and k - kept[-1] > 1 and float(down[kept[-1] + 1:k].min()) >= release:
            continue
        if press is not None and float(down[k:min(t, k + PRESS_FRAMES)].max()) < press:
            continue
        kept.append(k)
    return kept


def sequence_probabilities(model, crops, chunk: int = 32, job: Job | None = None, total: int | None = None
                           ) -> tuple[np.ndarray, np.ndarray]:
    """Onset and key-down probabilities ``(T, 88)`` of every frame of ``crops``: a ``(T, H, W)`` uint8
    array, or any iterable of ``(H, W)`` crops (a video read frame by frame: only ``chunk`` + 4
    crops are held at a time, so a long video does not have to fit in memory).

    Frame ``k``'s window is frames ``k − 2 … k + 2`` (the first and last frames repeat at the edges).
    Runs in chunks of ``chunk`` windows, each frame's first stage computed once per chunk."""
    import torch

    frames = int(model.frames)
    half = frames // 2
    if total is None and hasattr(crops, "__len__"):
        total = len(crops)
    dev = next(model.parameters()).device
    model.eval()
    onsets: list[np.ndarray] = []
    downs: list[np.ndarray] = []
    done = 0

    def run(window: list[np.ndarray]) -> None:
        nonlocal done
        x = torch.from_numpy(np.ascontiguousarray(np.stack(window))).to(dev).float().div_(255.0)
        out = model.forward_sequence(x)
        onsets.append(torch.sigmoid(out["onset"]).float().cpu().numpy())
        downs.append(torch.sigmoid(out["down"]).float().cpu().numpy())
        done += len(window) - frames + 1
        progress_of(job, done, total, "transcribing")

    buf: list[np.ndarray] = []
    t = 0
    with torch.inference_mode():
        for crop in crops:
            if t == 0:
                buf.extend([crop] * half)        # the first frame repeats before the start
            buf.append(crop)
            t += 1
            if len(buf) >= chunk + frames - 1:
                run(buf[:chunk + frames - 1])
                buf = buf[chunk:]
        if t < frames:
            raise InputError(f"The video has {t} frames; transcription needs at least {frames}.",
                             "Use a longer video.")
        buf.extend([buf[-1]] * half)             # and the last after the end
        while len(buf) >= frames:
            m = min(chunk, len(buf) - frames + 1)
            run(buf[:m + frames - 1])
            buf = buf[m:]
    return np.concatenate(onsets), np.concatenate(downs)


@dataclass(frozen=True)
class KeyRules:
    """The two rules from the key-down probabilities (:func:`key_rules`); ``None`` turns a rule off."""

    release: float | None = None
    press: float | None = None

    @classmethod
    def of_card(cls, metrics: dict) -> "KeyRules":
        """The rules a model card's metrics chose (absent: off)."""
        return cls(**rules_of(metrics))

    @property
    def on(self) -> bool:
        return self.release is not None or self.press is not None

    def as_kwargs(self) -> dict:
        return {"release": self.release, "press": self.press}


@dataclass(frozen=True)
class LiveStats:
    """How a live take went: frames received and dropped, the notes decided live and their latency."""

    received: int
    dropped: int
    live_notes: int
    latency_s: float | None


@dataclass(frozen=True, eq=False)
class Transcription:
    """The notes of a video and the per-frame probabilities they were decided from.

    ``threshold``, ``sigma`` and ``rules`` are the post-processing that made ``notes``:
    :meth:`renotes` at ``threshold`` gives ``notes`` again."""

    notes: list[NoteEvent]
    onset: np.ndarray            # (T, 88) onset probabilities, one row per frame
    down: np.ndarray             # (T, 88) key-down probabilities
    fps: float
    corners: np.ndarray
    weights: str = ""
    threshold: float = 0.4
    sigma: float = 1.0
    rules: KeyRules = KeyRules()
    mode: str = "visual"         # "visual", "fused" or "live"
    duration_rule: str = DURATION_RULE
    times: np.ndarray | None = None    # (T,) frame times when the frame rate varies
    visual_weights: str | None = None  # fused: the visual model under the fusion
    picture_notes: tuple[NoteEvent, ...] = ()    # fused: what the picture alone finds
    sound_notes: tuple[NoteEvent, ...] = ()      # fused: what the sound alone finds
    live: LiveStats | None = None                # a live take's

    @property
    def frames(self) -> int:
        return len(self.onset)

    @property
    def variable_frame_rate(self) -> bool:
        return self.times is not None

    def renotes(self, threshold: float | None = None, sigma: float | None = None) -> list[NoteEvent]:
        """The notes again at another threshold (the panel's live slider): no network pass; the
        smoothing and key rules stay those of the transcription."""
        return probabilities_to_notes(self.onset, self.fps, self.down, self.threshold if threshold is None else threshold,
                                      self.sigma if sigma is None else sigma, times=self.times,
                                      **self.rules.as_kwargs())


class PianoTranscriber:
    """The visual transcription model, loaded once.

    Args:
        weights: a registry name (default :data:`DEFAULT_WEIGHTS`) or a .safetensors file.
        device: ``"cpu"``, ``"cuda"``… (default: CUDA when present).
    """

    def __init__(self, weights: str = DEFAULT_WEIGHTS, device: str | None = None, batch: int = 32) -> None:
        from ..core.device import resolve_device
        from ..models.registry import model_from_card
        from ..weights.registry import resolve_entry

        entry = resolve_entry(weights)
        self.device = str(device or resolve_device().torch_device)
        self.model = model_from_card(entry, self.device, allowed=("piano",))
        self.entry = entry
        self.size = (self.model.width, self.model.height)
        self.frames = self.model.frames
        self.batch = int(batch)
        # the post-processing chosen on validation data when the weights were made
        self.threshold = float(entry.card.metrics.get("threshold", 0.4))
        self.sigma = float(entry.card.metrics.get("sigma", 1.0))
        self.rules = KeyRules.of_card(entry.card.metrics)

    def probabilities(self, crops: np.ndarray, job: Job | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(T, H, W) uint8 keyboard crops → onset and key-down probabilities, (T, 88) each."""
        return sequence_probabilities(self.model, crops, self.batch, job)

    def transcribe_video(self, video: str | os.PathLike[str], corners: np.ndarray | None = None,
                         threshold: float | None = None, sigma: float | None = None,
                         job: Job | None = None) -> Transcription:
        """Transcribe a video file.  ``corners`` default to the video's remembered keyboard."""
        from ..media.video import VideoReader

        if corners is None:
            corners = keyboard_of(video)
        if corners is None:
            from .keyboard import detect_in_video

            progress_of(job, 0, None, "looking for the keyboard")
            corners = detect_in_video(video)
        if corners is None:
            raise InputError(f"No keyboard was found in '{Path(video).name}'.",
                             "Mark its corners in the Piano panel, or pass --crop Y0,Y1,X0,X1.")
        times: list[float] = []
        with VideoReader(video) as rd:
            rect = Rectifier(corners, self.size, (rd.width, rd.height))
            fps = float(rd.fps)

            def crops():        # read, rectified and fed to the network frame by frame
                for f in rd.frames():
                    times.append(float(f.time_s))
                    yield rect(f.image)

            try:
                onset, down = sequence_probabilities(self.model, crops(), self.batch, job, rd.frame_count or None)
            except InputError:
                if not times:
                    raise MediaError(f"'{Path(video).name}' has no video frames.") from None
                raise
        t = np.asarray(times)
        gaps = np.diff(t)
        # a constant frame rate: use index / fps (immune to rounded timestamps); else the real times
        vfr = len(gaps) > 1 and (gaps.max() - gaps.min()) > 0.25 / fps
        return self._result(onset, down, fps, np.asarray(corners), threshold, sigma, t - t[0] if vfr else None)

    def transcribe_crops(self, crops: np.ndarray, fps: float, corners: np.ndarray | None = None,
                         threshold: float | None = None, sigma: float | None = None,
                         job: Job | None = None, times: np.ndarray | None = None) -> Transcription:
        onset, down = self.probabilities(crops, job)
        return self._result(onset, down, fps, corners, threshold, sigma, times)

    def _result(self, onset: np.ndarray, down: np.ndarray, fps: float, corners: np.ndarray | None,
                threshold: float | None, sigma: float | None, times: np.ndarray | None) -> Transcription:
        thr = self.threshold if threshold is None else float(threshold)
        sg = self.sigma if sigma is None else float(sigma)
        notes = probabilities_to_notes(onset, fps, down, thr, sg, times=times, **self.rules.as_kwargs())
        return Transcription(notes, onset, down, fps, np.zeros((4, 2)) if corners is None else corners,
                             weights=self.entry.name, threshold=thr, sigma=sg, rules=self.rules, times=times)


def note_metrics(reference: Sequence[NoteEvent], estimate: Sequence[NoteEvent], onset_tolerance: float = 0.05) -> dict:
    """Note-level precision, recall, F1 and accuracy (TP / (TP + FP + FN)) on onsets and pitch,
    offsets ignored — mir_eval's transcription metrics, as the thesis reports them."""
    import mir_eval

    def arrays(notes):
        if not notes:
            return np.zeros((0, 2)), np.zeros(0)
        iv = np.array([[n.onset, n.offset] for n in notes], float)
        hz = np.array([440.0 * 2 ** ((n.pitch - 69) / 12) for n in notes], float)
        return iv, hz

    ri, rp = arrays(list(reference))
    ei, ep = arrays(list(estimate))
    if len(ri) == 0 and len(ei) == 0:
        return {"precision": 1.0, "recall": 1.0, "f1": 1.0, "accuracy": 1.0, "tp": 0, "ref": 0, "est": 0}
    if len(ri) == 0 or len(ei) == 0:
        return {"precision": 0.0 if len(ei) else 1.0, "recall": 0.0 if len(ri) else 1.0, "f1": 0.0, "accuracy": 0.0,
                "tp": 0, "ref": len(ri), "est": len(ei)}
    matched = mir_eval.transcription.match_notes(ri, rp, ei, ep, onset_tolerance=onset_tolerance, offset_ratio=None)
    tp = len(matched)
    p, r = tp / len(ei), tp / len(ri)
    f = 0.0 if tp == 0 else 2 * p * r / (p + r)
    return {"precision": p, "recall": r, "f1": f, "accuracy": tp / (len(ri) + len(ei) - tp), "tp": tp,
            "ref": len(ri), "est": len(ei)}
