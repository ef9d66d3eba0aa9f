"""Rendered top-view piano videos with ground truth: MP4 (H.264 + AAC piano audio), the true MIDI,
and the keyboard's crop box per video (PianoYT's (min y, max y, min x, max x)).

Dataset layout (``generate_piano(out, minutes=M, seed=K)``)::

    OUT/manifest.json            config, one entry per video (split, piece, fps, frames, crop…)
    OUT/videos/<id>.mp4          the video with its audio
    OUT/midi/<id>.mid            the notes played (program 0), the ground truth
    OUT/labels/<id>.json         the video's entry (written last: its presence marks the video done)

Everything is a function of the seed: video ``i`` of seed ``K`` is the same in every dataset made
with ``K``.  Splits are by piece (:func:`~training.synth.piano_music.piece_split`): video ``i`` draws
its split first (8 : 1 : 1) and then a piece of that split, so the test videos — the "MIDI test
set" — are pieces never seen in training.  A rerun resumes; a cancelled video leaves no partial file.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from x2studio.core.atomic import atomic_write_text
from x2studio.core.errors import InputError
from x2studio.core.jobs import Job
from x2studio.media.midi import NoteEvent, save_midi
from x2studio.media.synth import find_soundfonts, render_notes
from x2studio.media.video import VideoWriter

from ..data.piano import load_manifest as load_piano_manifest
from .piano_music import Performance, sample_performance
from .piano_render import PianoRenderer, sample_camera, sample_style

__all__ = ["PianoClip", "plan_clip", "write_clip", "generate_piano", "load_piano_manifest", "piano_sounds", "make_piano_demo",
           "SAMPLE_RATE"]

log = logging.getLogger(__name__)

SAMPLE_RATE = 44100
_SPLIT_OF = ("train",) * 8 + ("val", "test")
# General MIDI pianos: acoustic grand, bright acoustic, electric grand, honky-tonk
_PROGRAMS = (0, 1, 2, 3)


def piano_sounds() -> list[tuple[Path, int]]:
    """(soundfont, program) pairs — more than one piano sound when a second soundfont or program exists."""
    fonts = find_soundfonts()
    if not fonts:
        raise InputError("No soundfont was found, so the piano audio cannot be rendered.",
                         "Install Debian's fluid-soundfont-gm (the set-up command does this).")
    return [(f, p) for f in fonts for p in _PROGRAMS]


@dataclass
class PianoClip:
    """Everything needed to render one video."""

    id: str
    split: str
    perf: Performance
    fps: float
    size: tuple[int, int]
    sound: tuple[Path, int]
    seed: tuple[int, int]


def plan_clip(seed: int, index: int, seconds: float = 20.0, size: tuple[int, int] = (960, 540),
              split: str | None = None) -> PianoClip:
    """Video ``index`` of dataset ``seed`` (deterministic)."""
    rng = np.random.default_rng([int(seed), int(index), 0x9A10])
    split = split or _SPLIT_OF[int(rng.integers(0, len(_SPLIT_OF)))]
    fps = float(rng.choice([25.0, 30.0]))
    perf = sample_performance(rng, float(seconds), split=split)
    sounds = piano_sounds()
    sound = sounds[int(rng.integers(0, len(sounds)))]
    return PianoClip(id=f"p{int(seed):03d}_{int(index):05d}", split=split, perf=perf, fps=fps, size=size,
                     sound=sound, seed=(int(seed), int(index)))


def _audio(clip: PianoClip, n_samples: int) -> np.ndarray:
    font, program = clip.sound
    played = [NoteEvent(h.note.onset, h.note.offset, h.note.pitch, h.note.velocity, program) for h in clip.perf.notes]
    audio = render_notes(played, sample_rate=SAMPLE_RATE, soundfont=font, tail_s=0.0).samples
    out = np.zeros((n_samples, 2), np.float32)
    out[:min(n_samples, len(audio))] = audio[:n_samples]
    peak = float(np.abs(out).max())
    if peak > 0:
        rng = np.random.default_rng([*clip.seed, 0xA0D])
        out *= rng.uniform(0.3, 0.9) / peak
    return out


def write_clip(clip: PianoClip, video: Path, midi: Path, job: Job | None = None) -> dict:
    """Render ``clip`` to ``video`` (MP4 with audio) and ``midi``; returns its manifest entry."""
    rng = np.random.default_rng([*clip.seed, 0x5C3])
    style = sample_style(rng)
    camera = sample_camera(rng, clip.size)
    renderer = PianoRenderer(clip.perf, style, camera, clip.fps, seed=int(rng.integers(0, 2**31)))
    n = renderer.n_frames
    audio = _audio(clip, int(round(n / clip.fps * SAMPLE_RATE)))
    video.parent.mkdir(parents=True, exist_ok=True)
    with VideoWriter(video, clip.fps, clip.size, audio_rate=SAMPLE_RATE, audio_channels=2, crf=camera.crf) as vw:
        for k in range(n):
            vw.write(renderer.frame(k))
            if job is not None and k % 25 == 0:
                job.check()
        vw.write_audio(audio)
    midi.parent.mkdir(parents=True, exist_ok=True)
    save_midi(midi, clip.perf.events, tempo_bpm=clip.perf.tempo_bpm)
    y0, y1, x0, x1 = renderer.crop_box()
    return {
        "id": clip.id, "split": clip.split, "piece": clip.perf.piece, "source": clip.perf.info.get("source"),
        "fps": clip.fps, "frames": n, "size": list(clip.size), "crop": [y0, y1, x0, x1],
        "corners": np.round(camera.corners, 2).tolist(), "tempo_bpm": round(clip.perf.tempo_bpm, 2),
        "notes": len(clip.perf.notes), "soundfont": clip.sound[0].name, "program": clip.sound[1],
        "hands": [h.hand for h in clip.perf.notes], "fingers": [h.finger for h in clip.perf.notes],
        "video": f"videos/{clip.id}.mp4", "midi": f"midi/{clip.id}.mid",
    }


def generate_piano(out: str | Path, *, minutes: float, seed: int = 0, clip_seconds: float = 20.0,
                   size: tuple[int, int] = (960, 540), job: Job | None = None) -> Path:
    """Write about ``minutes`` of rendered piano video to ``out`` (resumable)."""
    if not 0 < minutes <= 10_000:
        raise InputError(f"Cannot render {minutes} minutes.", "Ask for a positive number of minutes (--minutes).")
    if not 3.0 <= clip_seconds <= 600:
        raise InputError(f"Clips of {clip_seconds} s are not supported.", "Use 3 to 600 seconds per clip.")
    w, h = size
    if not (160 <= w <= 3840 and 90 <= h <= 2160):
        raise InputError(f"A {w}x{h} video is out of range.", "Use 160x90 to 3840x2160.")
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    n = max(1, math.ceil(minutes * 60.0 / clip_seconds))
    config = {"generator": "training.synth.piano", "seed": int(seed), "minutes": float(minutes),
              "clip_seconds": float(clip_seconds), "size": [int(w), int(h)], "videos": n}
    old = root / "manifest.json"
    if old.is_file():
        prev = load_piano_manifest(root)
        keep = {k: prev["config"].get(k) for k in ("seed", "clip_seconds", "size")}
        if keep != {k: config[k] for k in keep}:
            raise InputError(f"'{root}' holds a piano dataset made with other settings ({keep}).",
                             "Use a new folder, or the same --seed/--clip-seconds/size to extend it.")
    job = job or Job()
    entries = []
    for i in range(n):
        job.progress(i, n, f"video {i + 1}/{n}")
        vid = f"p{int(seed):03d}_{i:05d}"
        label = root / "labels" / f"{vid}.json"
        if label.is_file():
            entries.append(json.loads(label.read_text()))
            continue
        clip = plan_clip(seed, i, clip_seconds, (w, h))
        entry = write_clip(clip, root / "videos" / f"{vid}.mp4", root / "midi" / f"{vid}.mid", job)
        label.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(label, json.dumps(entry))
        entries.append(entry)
    manifest = {"kind": "piano", "version": 1, "config": config,
                "splits": {s: sum(e["split"] == s for e in entries) for s in ("train", "val", "test")},
                "videos": [{k: v for k, v in e.items() if k not in ("hands", "fingers")} for e in entries]}
    atomic_write_text(root / "manifest.json", json.dumps(manifest, indent=1))
    job.progress(n, n, "done")
    return root


def make_piano_demo(out: str | Path, seed: int = 0, seconds: float = 10.0) -> list[Path]:
    """The app's piano demo: ``piano_<seed>.mp4`` (≈10 s with audio, a held-out piece — the test
    split — so the bundled models never trained on it) and ``piano_<seed>.mid`` (its true notes)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clip = plan_clip(seed, 0, seconds, (960, 540), split="test")
    video, midi = out / f"piano_{seed}.mp4", out / f"piano_{seed}.mid"
    entry = write_clip(clip, video, midi)
    atomic_write_text(out / f"piano_{seed}.json", json.dumps({k: v for k, v in entry.items()
                                                             if k not in ("video", "midi")}, indent=1))
    return [video, midi, out / f"piano_{seed}.json"]
