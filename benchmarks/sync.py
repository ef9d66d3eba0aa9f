"""Audio-visual sync: seconds to check a 3-minute talking-face video and a 3-minute piano video on
this machine.

    python benchmarks/sync.py [--device cpu|cuda] [--minutes 3] [--kind face|piano|both]

The videos are the demo talking clip (256², 25 fps) and the demo piano clip (its keyboard known)
looped to the length asked, with their sound, made in a temporary folder.  Rows (seconds, lower is
better):
- check sync: ``estimate_offset`` — face tracking and mouth regions (face) or the rectified keyboard
  (piano), both streams of the AV-sync network, the distance curve over ±2 s and the 10-s sliding
  windows (drift);
- fix: ``fix_offset`` — the sound moved, the picture copied packet for packet.

Baseline, in the same process: decoding every frame of the same video with ``VideoReader`` (the
floor any picture-based check pays).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from run import print_table  # noqa: E402

DEMO = Path(__file__).resolve().parents[1] / "resources" / "demo"


def _looped(src: Path, out: Path, minutes: float) -> Path:
    from x2studio.media.audio import load_audio
    from x2studio.media.video import VideoReader, VideoWriter

    with VideoReader(src) as rd:
        frames, fps, size = [f.image for f in rd.frames()], rd.fps, (rd.width, rd.height)
    sound = load_audio(src)
    n = int(minutes * 60 * fps)
    with VideoWriter(out, fps, size, audio_rate=sound.sample_rate, audio_channels=sound.channels) as vw:
        for k in range(n):
            vw.write(frames[k % len(frames)])
        reps = int(np.ceil(n / len(frames)))
        per = int(round(len(frames) / fps * sound.sample_rate))
        one = sound.samples[:per] if len(sound.samples) >= per else np.pad(sound.samples, ((0, per - len(sound.samples)), (0, 0)))
        vw.write_audio(np.tile(one, (reps, 1))[: int(round(n / fps * sound.sample_rate))])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--kind", choices=["face", "piano", "both"], default="both")
    ap.add_argument("--quick", action="store_true", help="a smoke run: videos of 6 s")
    args = ap.parse_args(argv)
    if args.quick:
        args.minutes = 0.1
    from x2studio.media.video import VideoReader
    from x2studio.pipelines.piano import keyboard_of
    from x2studio.pipelines.sync import estimate_offset, fix_offset

    kinds = ["face", "piano"] if args.kind == "both" else [args.kind]
    rows, lines = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            src = DEMO / ("talking_3.mp4" if kind == "face" else "piano_4.mp4")
            video = _looped(src, Path(tmp) / f"long_{kind}.mp4", args.minutes)
            t0 = time.perf_counter()
            with VideoReader(video) as rd:
                for _ in rd.frames():
                    pass
            decode = time.perf_counter() - t0
            t0 = time.perf_counter()
            res = estimate_offset(video, kind=kind, device=args.device, detector="haar",
                                  corners=keyboard_of(src) if kind == "piano" else None)
            check = time.perf_counter() - t0
            t0 = time.perf_counter()
            fix_offset(video, 0.2, Path(tmp) / f"fixed_{kind}.mp4")
            fix = time.perf_counter() - t0
            rows += [(f"check sync of a {args.minutes:g}-minute {kind} video", "s", check, decode),
                     (f"fix ({kind}): move the sound, copy the picture", "s", fix, decode)]
            lines.append(f"{kind} estimate: {'; '.join(res.lines())} ({len(res.windows)} windows)")
    print_table(rows, ["decoding every frame of the same video (VideoReader)"], args.device)
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
