"""X2 Studio benchmarks: one command, one table.

    python benchmarks/run.py [--quick]

Each row measures X2 Studio's code and a baseline in the same process (so machine load affects both)
and prints the ratio ours/baseline:
- video decode, frames/s: ``VideoReader`` (frame-indexed RGB frames) vs. a bare PyAV decode loop;
- video encode, frames/s: ``VideoWriter`` (atomic H.264 MP4) vs. a bare PyAV encode loop, same settings;
- synthesis real-time factor (audio seconds per wall second): ``render_notes`` vs. pretty_midi's
  ``fluidsynth()`` on the same notes and soundfont;
- rendered talking faces, frames/s at 128 and 256 px (``training.synth``): the full per-frame work
  vs. the rasteriser alone.  (Face-detector speed and accuracy: ``benchmarks/face_detectors.py``;
  third-party realism judges: ``benchmarks/face_judge.py``.)

``--all`` then runs the feature benchmarks, each printing its own table: X2Face, the pose sliders,
speech → talking face, audio-visual sync, the training loop.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# the media stack is imported where it is used, so that print_table/machine/device also work on a
# machine without it (a GPU machine running only the network benchmarks)


def _frames(w: int, h: int, n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    return [np.roll(base, 3 * i, axis=1) for i in range(n)]


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench_encode(w: int, h: int, n: int, folder: Path) -> tuple[float, float, Path]:
    import av

    from x2studio.media.video import VideoWriter

    frames = _frames(w, h, n)
    ours = folder / f"ours_{w}x{h}.mp4"

    def run_ours() -> None:
        with VideoWriter(ours, 25, (w, h), crf=18, preset="veryfast") as vw:
            for f in frames:
                vw.write(f)

    def run_base() -> None:
        with av.open(str(folder / f"base_{w}x{h}.mp4"), "w") as c:
            s = c.add_stream("libx264", rate=25)
            s.width, s.height, s.pix_fmt = w, h, "yuv420p"
            s.options = {"crf": "18", "preset": "veryfast"}
            for i, f in enumerate(frames):
                vf = av.VideoFrame.from_ndarray(f, format="rgb24")
                vf.pts = i
                c.mux(s.encode(vf))
            c.mux(s.encode(None))

    t_base = _timed(run_base)
    t_ours = _timed(run_ours)
    return n / t_ours, n / t_base, ours


def bench_decode(path: Path, n: int) -> tuple[float, float]:
    import av

    from x2studio.media.video import VideoReader

    def run_ours() -> None:
        with VideoReader(path) as r:
            for _ in r:
                pass

    def run_base() -> None:
        with av.open(str(path)) as c:
            s = c.streams.video[0]
            s.thread_type = "AUTO"
            for f in c.decode(s):
                f.to_ndarray(format="rgb24")

    t_base = _timed(run_base)
    t_ours = _timed(run_ours)
    return n / t_ours, n / t_base


def bench_synth(seconds: float) -> tuple[float, float]:
    from x2studio.media.midi import NoteEvent, notes_to_pretty_midi
    from x2studio.media.synth import render_notes, resolve_soundfont

    import pretty_midi  # noqa: F401

    rng = np.random.default_rng(1)
    notes = []
    t = 0.0
    while t < seconds:
        for _ in range(int(rng.integers(1, 4))):  # chords of 1-3 notes
            notes.append(NoteEvent(t, t + float(rng.uniform(0.2, 0.8)), int(rng.integers(48, 84)), int(rng.integers(50, 110))))
        t += 0.25
    sf2 = str(resolve_soundfont())
    clip = None

    def run_ours() -> None:
        nonlocal clip
        clip = render_notes(notes, sample_rate=44100, soundfont=sf2)

    pm = notes_to_pretty_midi(notes)
    t_base = _timed(lambda: pm.fluidsynth(fs=44100, synthesizer=sf2))
    t_ours = _timed(run_ours)
    dur = clip.duration_s
    return dur / t_ours, dur / t_base


def bench_faces(size: int, seconds: float) -> tuple[float, float]:
    """Rendered talking faces, frames/s: the whole per-frame work of ``render_track`` (mesh
    deformation, normals, landmarks, rasterising) vs. the rasteriser alone redrawing one frame's
    vertex buffer (the floor the per-frame numpy work sits on)."""
    from training.synth.faces import plan_track, render_track
    from training.synth.render import Renderer

    r = Renderer(size)
    plan = plan_track(7, 0, 0, size, max_seconds=seconds)
    n = 0

    def run_ours() -> None:
        nonlocal n
        for _ in render_track(r, plan, 7):
            n += 1

    t_ours = _timed(run_ours)
    captured = {}
    real = r.render

    def grab(camera, light, data, *rest):
        captured["args"] = (camera, light, data.copy(), *rest)
        return real(camera, light, data, *rest)

    r.render = grab
    next(render_track(r, plan, 7))
    r.render = real
    args = captured["args"]
    t_base = _timed(lambda: [r.render(*args) for _ in range(n)])
    r.release()
    return n / t_ours, n / t_base


def bench_piano(seconds: float, folder: Path) -> tuple[float, float]:
    """Rendered top-view piano video 960x540 with audio, × real time: the whole ``write_clip`` (hands,
    keys, camera, FluidSynth audio, H.264/AAC) vs. encoding the same number of frames of one
    rendered image (the encoder floor)."""
    from training.synth.piano import plan_clip, write_clip
    from x2studio.media.video import VideoWriter
    from training.synth.piano_render import PianoRenderer, sample_camera, sample_style

    clip = plan_clip(7, 0, seconds, (960, 540))
    t_ours = _timed(lambda: write_clip(clip, folder / "piano.mp4", folder / "piano.mid"))
    rng = np.random.default_rng(0)
    frame = PianoRenderer(clip.perf, sample_style(rng), sample_camera(rng), clip.fps).frame(0)
    n = int(seconds * clip.fps)

    def run_base() -> None:
        with VideoWriter(folder / "base.mp4", clip.fps, (960, 540)) as vw:
            for _ in range(n):
                vw.write(frame)

    return seconds / t_ours, seconds / _timed(run_base)


def looped_video(path: Path, frames: list, fps: float, size: tuple[int, int], n: int) -> float:
    """Write ``n`` frames (``frames`` over and over) to ``path``; return the seconds to decode it
    (``VideoReader``), the floor of any whole-video benchmark."""
    from x2studio.media.video import VideoReader, VideoWriter

    with VideoWriter(path, fps, size) as vw:
        for k in range(n):
            vw.write(frames[k % len(frames)])
    t0 = time.perf_counter()
    with VideoReader(path) as rd:
        for _ in rd.frames():
            pass
    return time.perf_counter() - t0


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def device() -> str:
    try:
        from x2studio.core.device import resolve_device

        return resolve_device().label
    except Exception as exc:  # noqa: BLE001 - a benchmark reports, it does not fail
        return f"unknown ({exc})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer frames (a smoke run)")
    ap.add_argument("--all", action="store_true",
                    help=f"then run the feature benchmarks too ({', '.join(FEATURES)}; minutes on a CPU)")
    args = ap.parse_args(argv)
    n_small, n_big, synth_s = (30, 5, 1.0) if args.quick else (300, 60, 60.0)
    rows: list[tuple[str, str, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for (w, h, n) in ((256, 256, n_small), (1920, 1080, n_big)):
            enc, enc_b, path = bench_encode(w, h, n, folder)
            dec, dec_b = bench_decode(path, n)
            rows.append((f"decode {w}x{h} H.264", "frames/s", dec, dec_b))
            rows.append((f"encode {w}x{h} H.264 (veryfast, crf 18)", "frames/s", enc, enc_b))
    rtf, rtf_b = bench_synth(synth_s)
    rows.append((f"synthesis, {synth_s:.0f} s of piano chords (FluidSynth)", "x real time", rtf, rtf_b))
    for size in ((128,) if args.quick else (128, 256)):
        fps, fps_b = bench_faces(size, 1.0 if args.quick else 6.0)
        rows.append((f"rendered talking face {size}x{size}", "frames/s", fps, fps_b))
    if not args.quick:          # planning a piece (music21) alone takes ~20 s: not a smoke run's
        with tempfile.TemporaryDirectory() as tmp:
            rtf, rtf_b = bench_piano(60.0, Path(tmp))
        rows.append(("rendered piano video 960x540 + audio, 60 s", "x real time", rtf, rtf_b))
    print_table(rows, ["bare PyAV decode/encode loops; pretty_midi.PrettyMIDI.fluidsynth() for synthesis;",
                       "the rasteriser alone redrawing one frame's vertices for the rendered faces;",
                       "encoding one rendered piano frame over and over for the piano video"])
    failed = 0
    if args.all:
        import subprocess

        for name in FEATURES:
            print(f"\n== benchmarks/{name}.py")
            script = [sys.executable, str(Path(__file__).with_name(f"{name}.py"))] + (["--quick"] if args.quick else [])
            failed |= subprocess.run(script).returncode
    return 1 if failed else 0


# the feature benchmarks, each a script of its own with its own table (run them alone for their options)
FEATURES = ("x2face", "pose", "speech", "sync", "training", "piano", "violin", "retrieval", "hierarchical")


def print_table(rows: list[tuple[str, str, float, float]], baselines: list[str], running_on: str = "") -> None:
    """The machine, the device, then one row per benchmark: ours, the baseline, and their ratio."""
    width = max([48] + [len(r[0]) for r in rows])
    print(f"machine: {machine()}")
    print(f"device:  {device()}{f' (running on {running_on})' if running_on else ''}")
    print(f"{'benchmark':<{width}} {'unit':<12} {'X2 Studio':>10} {'baseline':>10} {'ratio':>7}")
    print("-" * (width + 43))
    for name, unit, ours, base in rows:
        print(f"{name:<{width}} {unit:<12} {ours:>10.1f} {base:>10.1f} {ours / base:>7.2f}")
    for i, line in enumerate(baselines):
        print(("baselines: " if i == 0 else "           ") + line)


if __name__ == "__main__":
    sys.exit(main())
