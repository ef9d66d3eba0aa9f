"""Pose sliders: latency from a slider move to the updated preview, lite X2Face on this machine.

    python benchmarks/pose.py [--device cpu|cuda] [--moves 30]

Rows (milliseconds; the issue's target: ≤ 100 ms per preview with the lite model on the 2-core CPU):
- pose render: ``PoseController.render`` + paste-back (the work one preview costs);
- slider → preview: the Pose panel's path, ``PoseServer.want(pose)`` on the GUI thread to the
  ``result`` signal back on it (worker thread, QImage conversion, queued signals), one move at a time;
- a drag: 30 moves in a burst, until the preview of the last move arrives (latest wins: the
  moves in between are dropped, so the wait stays near one or two renders, not 30).

Baseline, in the same process: X2Face's driving path on the source crop (``Reenactor.drive_crop``,
what a driving frame costs), the work a pose preview replaces.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from run import print_table  # noqa: E402

DEMO = Path(__file__).resolve().parents[1] / "resources" / "demo"


def _median_ms(fn, reps: int) -> float:
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000.0 * float(np.median(times))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--moves", type=int, default=30)
    ap.add_argument("--quick", action="store_true", help="a smoke run: 3 moves, 3 renders per row")
    args = ap.parse_args(argv)
    reps = 3 if args.quick else 30
    if args.quick:
        args.moves = 3
    from PySide6.QtGui import QGuiApplication

    from x2studio.pipelines.pose import PoseController
    from x2studio.pipelines.reenact import Reenactor
    from x2studio.workers.pose import PoseServer

    app = QGuiApplication.instance() or QGuiApplication([])
    r = Reenactor("x2face-lite", device=args.device, detector="haar")
    r.set_sources(r.load_sources([DEMO / "face_2.png"]))
    ctl = PoseController(r)
    src = ctl.source_pose()
    crop = r.sources[0].crop
    rng = np.random.default_rng(0)
    poses = [src + rng.uniform(-20, 20, 3) for _ in range(64)]
    it = iter(poses * 100)
    render = _median_ms(lambda: r.composite(ctl.render(next(it))), reps)
    base = _median_ms(lambda: r.composite(r.drive_crop(crop)), reps)

    server = PoseServer()
    got: list[tuple[float, dict]] = []
    server.result.connect(lambda out: got.append((time.perf_counter(), out)))
    server.setup("x2face-lite", args.device, str(DEMO / "face_2.png"))

    def wait(pred, timeout=60.0):
        t0 = time.perf_counter()
        while not pred() and time.perf_counter() - t0 < timeout:
            app.processEvents()
            time.sleep(0.0005)

    ready = []
    server.ready.connect(ready.append)
    wait(lambda: ready)
    single = []
    for k in range(args.moves):
        n = len(got)
        t0 = time.perf_counter()
        server.want(poses[k % len(poses)])
        wait(lambda: len(got) > n)
        single.append(got[-1][0] - t0)
    drags = []
    for k in range(2 if args.quick else 5):
        t0 = time.perf_counter()
        last = None
        for j in range(args.moves):
            last = [float(src[0]) - 30 + 2 * j + 0.1 * k, float(src[1]), float(src[2])]
            server.want(last)
        wait(lambda: got and got[-1][1]["pose"] == last)
        drags.append(got[-1][0] - t0)
    server.shutdown()
    slider = 1000.0 * float(np.median(single))
    drag = 1000.0 * float(np.median(drags))
    rows = [("pose render + paste-back (lite 128², demo face)", "ms", render, base),
            ("slider move → preview shown (PoseServer round trip)", "ms", slider, base),
            (f"drag of {args.moves} moves → last preview shown", "ms", drag, base)]
    print_table(rows, ["X2Face's driving path on the source crop + paste-back (Reenactor.drive_crop)"], args.device)
    print(f"slider → preview: median {slider:.1f} ms, 90th percentile {1000 * np.percentile(single, 90):.1f} ms "
          f"(target ≤ 100 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
