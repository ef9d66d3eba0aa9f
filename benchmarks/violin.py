"""Violin pitch speed: frames/s of the student (1 and 5 frames) and of the sound's pitch trackers.

    python benchmarks/violin.py [--device cpu|cuda] [--frames 300] [--paper]

Rows (higher is better):
- the student network, 5 frames → pitch (lite: 200×100, base 16; ``--paper``: 400×200, base 96),
  against the 1-frame student of the same size in the same process (the baseline: what the 3-D
  fusion of five frames costs);
- the sound's pitch per video frame (``track_pitch``) with the app's tracker (yin) against pYIN, over
  the demo clip's sound, in × real time.

Uses random weights (speed does not depend on them).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from run import print_table  # noqa: E402

DEMO = Path(__file__).resolve().parents[1] / "resources" / "demo"


def _fps(model, n: int, device: str, batch: int = 32) -> float:
    model = model.to(device).eval()
    shape = (batch, model.frames, 3, model.height, model.width) if model.frames > 1 else (batch, 3, model.height, model.width)
    x = torch.rand(shape, device=device)
    with torch.inference_mode():
        model(x[:4])
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        done = 0
        while done < n:
            model(x)
            done += batch
        if device.startswith("cuda"):
            torch.cuda.synchronize()
    return done / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    from x2studio.models.violin import PitchStudent

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--frames", type=int, default=300, help="frames per network row (default 300)")
    ap.add_argument("--paper", action="store_true", help="also the paper-size student (400×200, base 96)")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 20 frames per network row")
    args = ap.parse_args(argv)
    if args.quick:
        args.frames = 20
    rows = []
    sizes = [("lite 200x100 base 16", dict(height=100, width=200, base=16, fc=256))]
    if args.paper:
        sizes.append(("paper 400x200 base 96", dict(height=200, width=400, base=96, fc=1024)))
    for label, cfg in sizes:
        five = _fps(PitchStudent(frames=5, **cfg), args.frames, args.device)
        one = _fps(PitchStudent(frames=1, **cfg), args.frames, args.device)
        rows.append((f"student 5 frames -> pitch, {label}", "frames/s", five, one))
    demo = sorted(DEMO.glob("violin_*.mp4"))
    if demo:
        from x2studio.media.audio import load_audio
        from x2studio.pipelines.violin_audio import track_pitch

        clip = load_audio(demo[0])
        secs = len(clip.samples) / clip.sample_rate
        n = int(secs * 30)
        rates = []
        for tracker in ("yin", "pyin"):
            t0 = time.perf_counter()
            track_pitch(clip.samples, clip.sample_rate, n, 30.0, tracker)
            rates.append(secs / (time.perf_counter() - t0))
        rows.append((f"sound's pitch per frame, {secs:.0f} s (yin)", "x real time", rates[0], rates[1]))
    print_table(rows, ["the 1-frame student of the same size for the network rows;",
                       "pYIN for the sound's pitch"], args.device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
