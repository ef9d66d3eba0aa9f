"""Training-module benchmarks: the data loader and each task's training speed.

    python benchmarks/training.py [--data DIR] [--device cpu|cuda] [--quick]

Rows (every one measured in this process, with its baseline next to it):
- loader, face tracks at 256²: samples/s that ``FaceFrames`` + the training ``DataLoader`` deliver
  alone (no model), cold (first pass: PyAV decode, resize, write the ``.npy`` cache) and warm
  (memory-mapped cache, three epochs, after the first batch) with 0, 2 and 4 worker processes;
  baseline: a bare PyAV decode loop over the same videos (frames/s).
- tasks: training samples/s of ``training.loop.train`` for each task under its ``lite`` recipe and
  under the ``paper`` recipe's model and image size (a few steps: 2 for ``paper`` on a CPU);
  baseline: forward + backward + optimiser step of the same model on one real batch held on the
  device (so the ratio is the loop's and loader's overhead).

Without ``--data`` a dataset of 8 rendered tracks at 256² is generated in a temporary folder.
"""

from __future__ import annotations

import argparse
import sys
import warnings
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import av
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import print_table  # noqa: E402

from training.synth.render import preload_torch_compiler  # noqa: E402

preload_torch_compiler()

from training.data.faces import FaceFrames  # noqa: E402
from training.loop import train  # noqa: E402
from training.run_support import Batches, collate, make_loader, on_device  # noqa: E402
from training.tasks import TASKS  # noqa: E402
from training.tasks.baselines import FrameTensors  # noqa: E402
from x2studio.face.dataset import load_manifest  # noqa: E402


QUICK_TASKS = ("autoencoder", "x2face")


def bench_decode(root: Path) -> float:
    n = 0
    t0 = time.perf_counter()
    for t in load_manifest(root)["tracks"]:
        with av.open(str(root / t["video"])) as c:
            s = c.streams.video[0]
            s.thread_type = "AUTO"
            for f in c.decode(s):
                f.to_ndarray(format="rgb24")
                n += 1
    return n / (time.perf_counter() - t0)


def bench_loader(root: Path, cache: Path, workers: int, batch: int, split: str = "train") -> tuple[float, float]:
    """(cold samples/s: first pass that decodes and caches, warm samples/s: three epochs from the
    cache, timed from the first batch on, so worker start-up is not counted)."""
    t0 = time.perf_counter()
    frames = FaceFrames(root, split, 256, cache, 1)
    cold_t = time.perf_counter() - t0
    ds = FrameTensors(frames)
    task = TASKS["autoencoder"]
    per_epoch = len(ds) // batch
    sampler = Batches(len(ds), batch, 1, 0, 0, 0, limit=3 * per_epoch, endless=True)
    it = iter(make_loader(task, ds, sampler, workers, torch.device("cpu"), 0, 0))
    next(it)
    n = 0
    t0 = time.perf_counter()
    for b in it:
        n += b.shape[0]
    warm = n / (time.perf_counter() - t0)
    return len(ds) / cold_t, warm


def bench_task(name: str, recipe_name: str, root: Path, out: Path, dev: str, steps: int) -> tuple[float, float, str]:
    task = TASKS[name]
    recipe = task.recipes[recipe_name]
    # steps + 3 with a stop after steps + 2: no evaluation or export at the end falls into the timing
    recipe = replace(recipe, steps=steps + 3, eval_every=10**9, ckpt_every=10**9, num_workers=0,
                     frame_step=max(1, recipe.frame_step // 5))
    rates: list[float] = []
    t_mark: dict[str, float] = {}

    def on_step(step: int) -> None:   # skip 2 warm-up steps
        if dev.startswith("cuda"):
            torch.cuda.synchronize()
        if step == 2:
            t_mark["t"] = time.perf_counter()
        t_mark["end"] = time.perf_counter()   # the last step's end, before the final checkpoint

    train(task, recipe, root, out, device=dev, on_step=on_step, max_steps=steps + 2)
    rates.append(steps * recipe.batch_size / (t_mark["end"] - t_mark["t"]))
    # baseline: the bare model stepping on one batch held on the device (no loader, no logging)
    ds = task.dataset(root, "train", recipe, out / "cache")
    x = on_device(task, collate(task, [ds[i] for i in range(recipe.batch_size)]), torch.device(dev))
    model = task.build_model(recipe).to(dev)
    opt = torch.optim.Adam(model.parameters()) if recipe.optimizer == "adam" else torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    model.train()
    for i in range(steps + 2):
        if i == 2:
            if dev.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        loss, _ = task.loss(model, x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    if dev.startswith("cuda"):
        torch.cuda.synchronize()
    base = steps * recipe.batch_size / (time.perf_counter() - t0)
    return rates[0], base, f"{recipe.image_size}px, batch {recipe.batch_size}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help="a face-track dataset at 256² (default: generate 8 tracks)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 3 short tracks, no workers, two tasks' lite recipes")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore", message=".*worker processes in total.*")   # 4 workers on 2 cores: on purpose
    rows: list[tuple[str, str, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        root = args.data
        if root is None:
            from training.synth.faces import generate_faces

            root = generate_faces(tmp / "faces", tracks=3 if args.quick else 8, size=256, seed=5,
                                  max_seconds=0.8 if args.quick else 5.0)
        dec = bench_decode(root)
        for workers in ((0,) if args.quick else (0, 2, 4)):
            cold, warm = bench_loader(root, tmp / f"cache{workers}", workers, 8)
            if workers == 0:
                rows.append(("loader 256², first pass (decode + cache)", "samples/s", cold, dec))
            rows.append((f"loader 256², cached, {workers} workers, batch 8", "samples/s", warm, dec))
        for name in (QUICK_TASKS if args.quick else TASKS):
            for recipe in (("lite",) if args.quick else ("lite", "paper")):
                steps = 2 if args.quick or (recipe == "paper" and args.device == "cpu") else 10
                ours, base, what = bench_task(name, recipe, root, tmp / f"run-{name}-{recipe}", args.device, steps)
                rows.append((f"train {name} ({recipe}: {what})", "samples/s", ours, base))
    print_table(rows, ["a bare PyAV decode loop over the same videos (loader rows);",
                       "the bare model's forward + backward + step on one batch held on the device (task rows)"],
                args.device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
