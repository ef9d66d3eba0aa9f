"""Memory of the hierarchical decoder (issue 7, appendix A): peak memory of a training step
(forward + backward) of the paper-size model at its top level, 128² (input 256², levels 32² → 64² →
128², K = 9), against the dense alternative: a full 128²×128² match distribution at the top level.

    python benchmarks/hierarchical.py [--device cpu|cuda] [--batch 1]

Each configuration runs in a process of its own; on a CPU the peak is the process's maximum resident
memory above what the same process held before the step, on CUDA ``torch.cuda.max_memory_allocated``.
Rows (MB, lower is better; the ratio is X2 Studio / dense): the whole hierarchical step, and the top
level alone in both forms (the same decoder features, 4K = 36 gathered candidates per pixel against
16 384 dense ones).  Also the step's time.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402


def _rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(kind: str, device: str, batch: int, size: int = 256) -> dict:
    import torch.nn.functional as F

    from x2studio.models.hierarchical import HierarchicalEmbedding, first_level, refine

    torch.manual_seed(0)
    dev = torch.device(device)
    w3, k = size // 2, 9
    src = torch.rand(batch, 3, size, size, device=dev) * 2 - 1
    if kind == "model":
        model = HierarchicalEmbedding(size, size, 32, 256, base_res=size // 8, levels=3, k=k).to(dev)
    feats = torch.randn(batch, 32, w3, w3, device=dev, requires_grad=True)
    if kind != "model":
        head = torch.nn.Conv2d(32, (w3 * w3) if kind == "dense" else 4 * k, 5, padding=2).to(dev)
    source = F.interpolate(src, size=(w3, w3), mode="area")
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated() / 2**20
    else:
        before = _rss_mb()
    t0 = time.perf_counter()
    if kind == "model":
        out = model(src, src.flip(0) if batch > 1 else src)
        loss = sum(o["generated"].mean() + o["sigma"].mean() for o in out)
    elif kind == "dense":        # the naive top level: every source pixel for every target pixel
        _, gen = first_level(head(feats), source)
        loss = gen.mean()
    else:                        # the top level as the hierarchy computes it: 4K gathered candidates
        w2 = w3 // 2
        prob = torch.softmax(torch.randn(batch, k, w2, w2, device=dev), 1)
        idx = torch.randint(0, w2 * w2, (batch, k, w2, w2), device=dev)
        _, _, gen = refine(prob, idx, w2, head(feats), source)
        loss = gen.mean()
    loss.backward()
    if dev.type == "cuda":
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() / 2**20 - before
    else:
        peak = _rss_mb() - before
    return {"peak_mb": peak, "seconds": time.perf_counter() - t0}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="a smoke run: 128² input (a 64² top level), not the paper's 256²")
    args = ap.parse_args(argv)
    size = 128 if args.quick else 256
    if args.child:
        print(json.dumps(child(args.child, args.device, args.batch, size)))
        return 0
    from run import print_table

    res = {}
    for kind in ("model", "topk", "dense"):
        p = subprocess.run([sys.executable, __file__, "--child", kind, "--device", args.device, "--batch",
                            str(args.batch)] + (["--quick"] if args.quick else []), capture_output=True, text=True)
        if p.returncode != 0:
            print(p.stderr[-2000:], file=sys.stderr)
            res[kind] = {"peak_mb": float("nan"), "seconds": float("nan")}
        else:
            res[kind] = json.loads(p.stdout.strip().splitlines()[-1])
    d = res["dense"]
    top = size // 2
    what = "paper size" if size == 256 else "quick"
    rows = [(f"hierarchical step, {what} ({size}² in, 3 levels to {top}², K 9), batch {args.batch}", "MB peak",
             res["model"]["peak_mb"], d["peak_mb"]),
            (f"top level {top}² only: 4K = 36 candidates per pixel, batch {args.batch}", "MB peak",
             res["topk"]["peak_mb"], d["peak_mb"])]
    print_table(rows, [f"the dense top level: a {top}²×{top}² match distribution (softmax over {top * top} sources)"],
                args.device)
    for k, v in res.items():
        print(f"{k}: {v['seconds']:.2f} s for forward + backward")
    return 0


if __name__ == "__main__":
    sys.exit(main())
