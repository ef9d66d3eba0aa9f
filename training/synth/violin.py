"""Rendered violin videos with ground truth: MP4 (H.264 + AAC violin audio), the true MIDI and the
true pitch of every frame.  Three subsets as in the thesis (ch. 5): ``single`` (one string, fixed
camera, one player), ``all`` (all strings, fixed camera, one player) and ``varied`` (all strings;
camera rotation, scale and perspective, backgrounds, lighting, player looks, violins, objects in
front: the VnYT analog).

Dataset layout (``generate_violin(out, subset, minutes=M, seed=K)``)::

    OUT/manifest.json          kind "violin": config, one entry per video (split, piece, fps, frames…)
    OUT/videos/<id>.mp4        the video with its audio
    OUT/midi/<id>.mid          the notes played (General MIDI violin)
    OUT/labels/<id>.json       the entry with per-frame truth: pitch (fractional MIDI with vibrato and
                               intonation; 0 = silent), midi (the note, 0 = none), string (−1 = none);
                               written last, so its presence marks the video done

Audio: the same notes through the soundfont's violin with the performance's vibrato and intonation
as pitch-wheel moves (100 per second) and its dynamics as velocities.  Everything is a function of
(seed, subset, index); splits are by piece (a held-out tune is never in training); a rerun resumes.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np

from x2studio.core.atomic import atomic_write_text
from x2studio.core.errors import InputError
from x2studio.core.jobs import Job
from x2studio.media.midi import save_midi
from x2studio.media.synth import find_soundfonts, render_notes
from x2studio.media.video import VideoWriter

from .violin_music import SUBSETS, VIOLIN, Performance, sample_performance, vibrato_curve
from .violin_render import ViolinRenderer, fixed_camera, fixed_style, frame_truth, sample_camera, sample_style

__all__ = ["generate_violin", "write_clip", "plan_clip", "violin_audio", "make_violin_demo", "load_violin_manifest",
           "SAMPLE_RATE"]

log = logging.getLogger(__name__)

SAMPLE_RATE = 44100
# video i's split: every ten videos hold eight train, one val and one test (the first three cover all splits)
_SPLIT_OF = ("train", "val", "test") + ("train",) * 7
_SUBSET_CODE = {"single": 1, "all": 2, "varied": 3}


def load_violin_manifest(root: str | Path) -> dict:
    root = Path(root)
    path = root / "manifest.json"
    if not path.is_file():
        raise InputError(f"'{root}' is not a violin dataset (no manifest.json).",
                         "Make one with 'x2studio data synth violin OUT --subset varied'.")
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"'{path}' cannot be read ({exc}).") from exc
    if data.get("kind") != "violin":
        raise InputError(f"'{root}' is a {data.get('kind') or 'face-track'} dataset, not a violin dataset.",
                         "Use a folder made by 'x2studio data synth violin'.")
    return data


def violin_audio(perf: Performance, n_samples: int, soundfont: Path | None = None, seed: tuple = (0,)) -> np.ndarray:
    """The performance's sound (stereo float32, ``n_samples`` long): the soundfont's violin with
    vibrato and intonation as pitch-wheel moves."""
    bends = []
    for n in perf.notes:
        t = np.arange(n.note.onset, n.note.offset, 0.01)
        semis = n.cents / 100.0 + vibrato_curve(n, t)
        bends += [(float(a), VIOLIN, float(b)) for a, b in zip(t, semis)]
    audio = render_notes(perf.events, sample_rate=SAMPLE_RATE, soundfont=soundfont, tail_s=0.0, bends=bends).samples
    out = np.zeros((n_samples, 2), np.float32)
    out[:min(n_samples, len(audio))] = audio[:n_samples]
    peak = float(np.abs(out).max())
    if peak > 0:
        out *= np.random.default_rng([*seed, 0xA0D]).uniform(0.3, 0.9) / peak
    return out


def plan_clip(seed: int, subset: str, index: int, seconds: float = 15.0, split: str | None = None) -> dict:
    """Video ``index`` of dataset (seed, subset): its split, performance and frame rate (deterministic)."""
    if subset not in SUBSETS:
        raise InputError(f"Unknown violin subset '{subset}'.", f"Use one of: {', '.join(SUBSETS)}.")
    rng = np.random.default_rng([int(seed), _SUBSET_CODE[subset], int(index), 0x7101])
    split = split or _SPLIT_OF[int(index) % len(_SPLIT_OF)]
    fps = float(rng.choice([25.0, 30.0])) if subset == "varied" else 25.0
    perf = sample_performance(rng, float(seconds), subset=subset, split=split)
    return {"id": f"v{subset[0]}{int(seed):03d}_{int(index):05d}", "split": split, "perf": perf, "fps": fps,
            "subset": subset, "seed": (int(seed), _SUBSET_CODE[subset], int(index))}


def write_clip(clip: dict, video: Path, midi: Path, size: tuple[int, int] = (400, 200), job: Job | None = None) -> dict:
    """Render ``clip`` to ``video`` (MP4 with audio) and ``midi``; returns its entry with per-frame truth."""
    rng = np.random.default_rng([*clip["seed"], 0x5C3])
    perf: Performance = clip["perf"]
    varied = clip["subset"] == "varied"
    style = sample_style(rng) if varied else fixed_style()
    camera = sample_camera(rng, size) if varied else fixed_camera(size, seed=clip["seed"][0])
    fonts = find_soundfonts()
    if not fonts:
        raise InputError("No soundfont was found, so the violin audio cannot be rendered.",
                         "Install Debian's fluid-soundfont-gm (the set-up command does this).")
    font = fonts[int(rng.integers(0, len(fonts)))] if varied else fonts[0]
    renderer = ViolinRenderer(perf, style, camera, clip["fps"], plain_background=not varied,
                              seed=int(rng.integers(0, 2**31)))
    n = renderer.n_frames
    audio = violin_audio(perf, int(round(n / clip["fps"] * SAMPLE_RATE)), font, clip["seed"])
    video.parent.mkdir(parents=True, exist_ok=True)
    with VideoWriter(video, clip["fps"], camera.size, audio_rate=SAMPLE_RATE, audio_channels=2, crf=camera.crf) as vw:
        for k in range(n):
            vw.write(renderer.frame(k))
            if job is not None and k % 25 == 0:
                job.check()
        vw.write_audio(audio)
    midi.parent.mkdir(parents=True, exist_ok=True)
    save_midi(midi, perf.events, tempo_bpm=perf.tempo_bpm)
    truth = frame_truth(perf, n, clip["fps"])
    return {
        "id": clip["id"], "split": clip["split"], "subset": clip["subset"], "piece": perf.piece,
        "source": perf.info.get("source"), "fps": clip["fps"], "frames": n, "size": list(camera.size),
        "tempo_bpm": round(perf.tempo_bpm, 2), "notes": len(perf.notes), "soundfont": font.name,
        "occluded": bool(camera.occluders),
        "video": f"videos/{clip['id']}.mp4", "midi": f"midi/{clip['id']}.mid",
        "truth": {"pitch": np.round(truth["pitch"], 3).tolist(), "midi": truth["midi"].tolist(),
                  "string": truth["string"].tolist()},
    }


def generate_violin(out: str | Path, subset: str = "varied", *, minutes: float, seed: int = 0,
                    clip_seconds: float = 15.0, size: tuple[int, int] = (400, 200), job: Job | None = None) -> Path:
    """Write about ``minutes`` of rendered violin video of ``subset`` to ``out`` (resumable)."""
    if subset not in SUBSETS:
        raise InputError(f"Unknown violin subset '{subset}'.", f"Use one of: {', '.join(SUBSETS)}.")
    if not 0 < minutes <= 10_000:
        raise InputError(f"Cannot render {minutes} minutes.", "Ask for a positive number of minutes (--minutes).")
    if not 3.0 <= clip_seconds <= 600:
        raise InputError(f"Clips of {clip_seconds} s are not supported.", "Use 3 to 600 seconds per clip.")
    w, h = size
    if not (100 <= w <= 3840 and 50 <= h <= 2160):
        raise InputError(f"A {w}x{h} video is out of range.", "Use 100x50 to 3840x2160.")
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    n = max(1, math.ceil(minutes * 60.0 / clip_seconds))
    config = {"generator": "training.synth.violin", "subset": subset, "seed": int(seed), "minutes": float(minutes),
              "clip_seconds": float(clip_seconds), "size": [int(w), int(h)], "videos": n}
    if (root / "manifest.json").is_file():
        prev = load_violin_manifest(root)
        keep = {k: prev["config"].get(k) for k in ("subset", "seed", "clip_seconds", "size")}
        if keep != {k: config[k] for k in keep}:
            raise InputError(f"'{root}' holds a violin dataset made with other settings ({keep}).",
                             "Use a new folder, or the same --subset/--seed/--clip-seconds/--size to extend it.")
    job = job or Job()
    entries = []
    for i in range(n):
        job.progress(i, n, f"video {i + 1}/{n}")
        clip = plan_clip(seed, subset, i, clip_seconds)
        label = root / "labels" / f"{clip['id']}.json"
        if label.is_file():
            entries.append(json.loads(label.read_text()))
            continue
        entry = write_clip(clip, root / "videos" / f"{clip['id']}.mp4", root / "midi" / f"{clip['id']}.mid", (w, h), job)
        label.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(label, json.dumps(entry))
        entries.append(entry)
    manifest = {"kind": "violin", "version": 1, "config": config,
                "splits": {s: sum(e["split"] == s for e in entries) for s in ("train", "val", "test")},
                "videos": [{k: v for k, v in e.items() if k != "truth"} for e in entries]}
    atomic_write_text(root / "manifest.json", json.dumps(manifest, indent=1))
    job.progress(n, n, "done")
    return root


def make_violin_demo(out: str | Path, seed: int = 0, seconds: float = 12.0, size: tuple[int, int] = (640, 320)) -> list[Path]:
    """The app's violin demo: ``violin_<seed>.mp4`` (a held-out tune from the varied-views subset, with
    audio) and ``violin_<seed>.mid`` (its true notes)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    index = 0
    while True:       # a tune, not an exercise, and no object hiding the fingerboard
        clip = plan_clip(seed, "varied", 10_000 + index, seconds, split="test")
        rng = np.random.default_rng([*clip["seed"], 0x5C3])
        sample_style(rng)
        if clip["perf"].info.get("source") == "corpus" and not sample_camera(rng, size).occluders:
            break
        index += 1
    video, midi = out / f"violin_{seed}.mp4", out / f"violin_{seed}.mid"
    entry = write_clip(clip, video, midi, size)
    atomic_write_text(out / f"violin_{seed}.json", json.dumps({k: v for k, v in entry.items()
                                                              if k not in ("video", "midi", "truth")}, indent=1))
    return [video, midi, out / f"violin_{seed}.json"]
