"""Audio-visual sync: seconds to check a 3-minute talking-face video on this machine.

    python benchmarks/sync.py [--device cpu|cuda] [--minutes 3]

The video is the demo talking clip looped to the length asked (256², 25 fps, with its sound), made
in a temporary folder.  Rows (seconds, lower is better):
- check sync: ``estimate_offset`` — face tracking, mouth regions, both streams of the AV-sync
  network, the distance curve over ±2 s and the 10-s sliding windows (drift);
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

DEMO = Path(__file__).resolve().parents[1] / "x2studio" / "resources" / "demo"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--minutes", type=float, default=3.0)
    args = ap.parse_args(argv)
    from x2studio.media.audio import load_audio
    from x2studio.media.video import VideoReader, VideoWriter
    from x2studio.pipelines.sync import estimate_offset, fix_offset

    talk = DEMO / "talking_3.mp4"
    with VideoReader(talk) as rd:
        frames, fps, size = [f.image for f in rd.frames()], rd.fps, (rd.width, rd.height)
    sound = load_audio(talk)
    n = int(args.minutes * 60 * fps)
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "long.mp4"
        with VideoWriter(video, fps, size, audio_rate=sound.sample_rate, audio_channels=sound.channels) as vw:
            for k in range(n):
                vw.write(frames[k % len(frames)])
            reps = int(np.ceil(n / len(frames)))
            per = int(round(len(frames) / fps * sound.sample_rate))
            one = sound.samples[:per] if len(sound.samples) >= per else np.pad(sound.samples, ((0, per - len(sound.samples)), (0, 0)))
            vw.write_audio(np.tile(one, (reps, 1))[: int(round(n / fps * sound.sample_rate))])
        t0 = time.perf_counter()
        with VideoReader(video) as rd:
            for _ in rd.frames():
                pass
        decode = time.perf_counter() - t0
        t0 = time.perf_counter()
        res = estimate_offset(video, device=args.device, detector="haar")
        check = time.perf_counter() - t0
        t0 = time.perf_counter()
        fix_offset(video, 0.2, Path(tmp) / "fixed.mp4")
        fix = time.perf_counter() - t0
    rows = [(f"check sync of a {args.minutes:g}-minute face video", "s", check, decode),
            ("fix: move the sound, copy the picture", "s", fix, decode)]
    print_table(rows, ["decoding every frame of the same video (VideoReader)"], args.device)
    print(f"estimate: {'; '.join(res.lines())} ({len(res.windows)} windows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
