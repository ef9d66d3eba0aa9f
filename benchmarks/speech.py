"""Speech → talking face: frames per second of the speech-driven X2Face on this machine.

    python benchmarks/speech.py [--device cpu|cuda] [--seconds 8]

Rows (frames/s, higher is better; 25 frames/s is real time):
- speech features, learned: the AV-sync audio stream on every frame's 0.2 s window;
- speech features, MFCC baseline: the same windows;
- talking face: features + f_a→v + generation + paste-back (``SpeechDriver.render_many``);
- talking-face export: ``speak_video`` to an MP4 with the speech (encode included).

Baseline, in the same process: X2Face driven by a face crop (``Reenactor.drive_crop`` + paste-back),
the per-frame work of reenactment that speech replaces.
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


def _rate(fn, frames: int, reps: int = 3) -> float:
    fn()
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return frames / best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--seconds", type=float, default=8.0, help="speech length (the demo's speech, looped)")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 1 s of speech")
    args = ap.parse_args(argv)
    if args.quick:
        args.seconds = 1.0
    from x2studio.media.audio import AudioClip, load_audio
    from x2studio.pipelines.reenact import Reenactor
    from x2studio.pipelines.speech import MfccFeatures, SpeechDriver, speak_video

    demo = load_audio(DEMO / "talking_3.mp4", mono=True)
    reps = int(np.ceil(args.seconds / demo.duration_s))
    samples = np.tile(demo.samples, (reps, 1))[: int(args.seconds * demo.sample_rate)]
    clip = AudioClip(samples, demo.sample_rate)
    r = Reenactor("x2face-lite", device=args.device, detector="haar")
    r.set_sources(r.load_sources([DEMO / "face_1.png"]))
    driver = SpeechDriver(r)
    n = driver.load(clip)
    mfcc = MfccFeatures()
    learned = _rate(lambda: driver.features(clip, 25.0), n)
    base_feats = _rate(lambda: mfcc(clip, 25.0), n)
    idx = list(range(n))
    talk = _rate(lambda: [r.composite(c) for c in driver.render_many(idx)], n, reps=2)
    crop = r.sources[0].crop
    m = min(n, 5 if args.quick else 50)
    drive = _rate(lambda: [r.composite(r.drive_crop(crop)) for _ in range(m)], m, reps=2)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "talk.mp4"
        export = _rate(lambda: speak_video(driver, clip, out), n, reps=1)
    rows = [("speech features, learned (AV-sync audio stream)", "frames/s", learned, drive),
            ("speech features, MFCC baseline", "frames/s", base_feats, drive),
            ("talking face: f_a→v + generate + paste-back", "frames/s", talk, drive),
            (f"talking-face export, {args.seconds:.0f} s of speech → MP4", "frames/s", export, drive)]
    print_table(rows, ["X2Face driven by a face crop + paste-back (Reenactor.drive_crop)"], args.device)
    print(f"{n} frames of speech; real time is 25 frames/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
