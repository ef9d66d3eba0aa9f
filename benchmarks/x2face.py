"""X2Face speed: the driving path (driving frame → driving vector → sampler → generated frame from a
cached embedded face), frames/s, for the paper and lite configurations, batch 1 and batched, and
with 3 cached sources fused per frame (``matched``).

    python benchmarks/x2face.py [--device cpu|cuda] [--quick]

Baseline, in the same process: the whole model per frame (embedding network on the source too),
i.e. what reenactment would cost without caching the embedded face.  Weights are random: speed does
not depend on them.

End to end (``reenact_video`` on the bundled 256² demo clip: face tracking pass, decode, generate,
paste-back into the 256² source frame, H.264/AAC encode), frames/s, with the app's face detector
(``--detector``, default auto: mediapipe when installed, else OpenCV's Haar cascade, which alone costs
about 20 ms a frame here); baseline: decoding and re-encoding the same clip with nothing in between.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import print_table  # noqa: E402

from x2studio.models.x2face import X2Face  # noqa: E402

CONFIGS = {"paper 256²": dict(image_size=256, base=64, max_channels=512, dim=128),
           "lite 128²": dict(image_size=128, base=16, max_channels=128, dim=128)}


def _rate(fn, frames: int, reps: int, dev: str) -> float:
    fn()                                   # warm-up
    if dev.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    if dev.startswith("cuda"):
        torch.cuda.synchronize()
    return frames * reps / (time.perf_counter() - t0)


def bench(config: dict, batch: int, reps: int, dev: str) -> tuple[float, float]:
    m = X2Face(**config).to(dev).eval()
    s = config["image_size"]
    src = torch.rand(batch, 3, s, s, device=dev)
    drv = torch.rand(batch, 3, s, s, device=dev)
    with torch.inference_mode():
        emb = m.embed(src)
        ours = _rate(lambda: m.generate(emb, m.driving.vector(drv)), batch, reps, dev)
        base = _rate(lambda: m(src, drv), batch, reps, dev)
    return ours, base


def bench_matched(config: dict, batch: int, reps: int, dev: str) -> tuple[float, float]:
    """Three cached sources fused per driving frame (``matched``, the app's rule) vs one source."""
    m = X2Face(**config).to(dev).eval()
    s = config["image_size"]
    src = torch.rand(1, 3, 3, s, s, device=dev)
    drv = torch.rand(batch, 3, s, s, device=dev)
    with torch.inference_mode():
        parts = m.embed_sources(src, vectors=True)
        one = parts.faces[:, 0].expand(batch, -1, -1, -1)

        def matched():
            v = m.driving.vector(drv)
            return m.generate(m.fuse(parts, v, "matched"), v)

        ours = _rate(matched, batch, reps, dev)
        base = _rate(lambda: m.generate(one, m.driving.vector(drv)), batch, reps, dev)
    return ours, base


def bench_end_to_end(name: str, config: dict, folder: Path, detector: str = "auto") -> tuple[float, float]:
    from x2studio.media.video import VideoReader, VideoWriter
    from x2studio.pipelines.reenact import Reenactor
    from x2studio.pipelines.reenactment import reenact_video
    from x2studio.weights import ModelCard, WeightsRegistry, save_weights

    demo = Path(__file__).resolve().parents[1] / "resources" / "demo"
    wname = "bench-" + name.split()[0]
    save_weights(X2Face(**config).state_dict(), ModelCard(wname, "x2face", config=config), folder)
    r = Reenactor(wname, registry=WeightsRegistry([folder]), detector=detector)
    r.set_sources(r.load_sources([demo / "face_0.png"]))
    t0 = time.perf_counter()
    rep = reenact_video(r, demo / "talking_3.mp4", folder / f"{wname}.mp4")
    ours = rep.frames / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    n = 0
    with VideoReader(demo / "talking_3.mp4") as rd, VideoWriter(folder / "copy.mp4", rd.fps, (rd.width, rd.height)) as w:
        for fr in rd.frames():
            w.write(fr.image)
            n += 1
    return ours, n / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--quick", action="store_true", help="a smoke run: the lite model, batch 1, 2 repeats")
    ap.add_argument("--detector", default="auto", choices=["auto", "mediapipe", "haar"],
                    help="end to end: the face detector (default auto, the app's: mediapipe when installed)")
    args = ap.parse_args(argv)
    rows = []
    configs = {k: v for k, v in CONFIGS.items() if k.startswith("lite")} if args.quick else CONFIGS
    for name, cfg in configs.items():
        for batch in ((1,) if args.quick else (1, 8)):
            reps = 2 if args.quick else (10 if batch == 1 else 3)
            ours, base = bench(cfg, batch, reps, args.device)
            rows.append((f"X2Face {name} driving path, batch {batch}", "frames/s", ours, base))
        reps = 2 if args.quick else 10
        ours, base = bench_matched(cfg, 1, reps, args.device)
        rows.append((f"X2Face {name} driving path, 3 sources matched, batch 1", "frames/s", ours, base))
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for name, cfg in configs.items():
            ours, base = bench_end_to_end(name, cfg, Path(tmp), args.detector)
            rows.append((f"X2Face {name} end to end (demo clip, 256² frames, detector {args.detector})", "frames/s",
                         ours, base))
    print_table(rows, ["driving path: the whole model per frame (embedding network run again on the source);",
                       "3 sources matched: the driving path with 1 cached source;",
                       "end to end: decode + re-encode of the same clip, nothing in between"], args.device)
    for name, unit, ours, _ in rows:
        print(f"{name}: {1000.0 / ours:.1f} ms per frame")
    return 0


if __name__ == "__main__":
    sys.exit(main())
