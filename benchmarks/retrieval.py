"""Face retrieval speed (issue 7): embedding throughput, gallery build time, query latency.

    python benchmarks/retrieval.py [--device cpu|cuda] [--faces 10000] [--million 1000000] [--quick]

Rows (higher is better; the ratio is X2 Studio against the baseline of the same row):
- embedding: faces/s of ``FaceEmbedder.embed`` on face crops, batches of 256, against the same
  encoder fed one face at a time;
- gallery build: faces/s of ``Gallery.add`` over a video of the demo faces sampled at every frame
  (decode, detect, crop, embed, write), against decoding the same video alone; the total seconds for
  ``--faces`` faces are printed below the table;
- query at ``--faces`` faces, exact: queries/s of ``Gallery.search`` (one matrix product and a
  partial sort), against a full sort of all similarities;
- query at ``--million`` faces, approximate: queries/s of the faiss IVF index (its ``nprobe`` tuned
  at build time to recall@10 ≥ 0.97), against exact search of the same gallery; the recall@10
  against exact search on fresh queries is printed below.  The vectors are synthetic (as the issue
  allows): clustered in a 32-D latent space mapped to 256-D plus noise, unit length.

Targets: ≤ 5 ms exact at 10 k (≥ 200 queries/s); ≤ 20 ms at 1 M approximate (≥ 50 queries/s) with
recall@10 ≥ 0.95.
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

from run import looped_video, print_table  # noqa: E402

DEMO = Path(__file__).resolve().parents[1] / "resources" / "demo"


def synthetic_vectors(n: int, dim: int = 256, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(4000, 32)).astype(np.float32)
    proj = (rng.normal(size=(32, dim)) / np.sqrt(32)).astype(np.float32)
    out = np.empty((n, dim), np.float32)
    for s in range(0, n, 100_000):
        m = min(100_000, n - s)
        z = centres[rng.integers(0, len(centres), m)] + 0.6 * rng.normal(size=(m, 32)).astype(np.float32)
        out[s:s + m] = z @ proj + 0.15 * rng.normal(size=(m, dim)).astype(np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def _qps(fn, queries) -> float:
    fn(queries[0])
    t0 = time.perf_counter()
    for q in queries:
        fn(q)
    return len(queries) / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--faces", type=int, default=10_000, help="gallery size for the build and exact rows (0: skip them)")
    ap.add_argument("--million", type=int, default=1_000_000, help="gallery size for the approximate row")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 40 faces and 20 000 vectors")
    args = ap.parse_args(argv)
    if args.quick:
        args.faces, args.million = 40, 20_000
    from x2studio.media.video import VideoReader
    from x2studio.pipelines.retrieval import FaceEmbedder

    emb = FaceEmbedder("fabnet-lite", device=args.device, detector="haar")
    rows, notes = [], []

    # embedding throughput
    with VideoReader(DEMO / "talking_3.mp4") as rd:
        frames = [f.image for f in rd.frames()]
        fps, size = rd.fps, (rd.width, rd.height)
    crops = [f.image for f in emb.faces(frames[0])] * 256
    emb.embed(crops[:8])
    t0 = time.perf_counter()
    for _ in range(1 if args.quick else 4):
        emb.embed(crops)
    batched = (1 if args.quick else 4) * len(crops) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for c in crops[:128]:
        emb.embed([c])
    single = 128 / (time.perf_counter() - t0)
    rows.append((f"embedding ({emb.model['name']}, {emb.size}x{emb.size} input)", "faces/s", batched, single))

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.faces > 0:
            _build_rows(emb, frames, fps, size, tmp, args.faces, rows, notes)
        _approximate_rows(emb, tmp, args.million, rows, notes)
    print_table(rows, ["the encoder fed one face at a time (embedding); decoding the same video (build);",
                       "a full sort of all similarities (exact); exact search of the same gallery (approximate)"],
                args.device)
    for line in notes:
        print(line)
    return 0


def _build_rows(emb, frames, fps, size, tmp: Path, faces: int, rows: list, notes: list) -> None:
    from x2studio.pipelines.retrieval import Gallery

    # gallery build: a video of ``faces`` frames, one face each, every frame sampled
    video = tmp / "faces.mp4"
    t_dec = looped_video(video, frames, fps, size, faces)
    g = Gallery(tmp / "idx", emb, create=True, fps=fps, max_faces=1)
    t0 = time.perf_counter()
    rep = g.add([video])
    t_build = time.perf_counter() - t0
    rows.append((f"gallery build, {rep.faces} faces from a {size[0]}x{size[1]} video", "faces/s",
                 rep.faces / t_build, faces / t_dec))
    notes.append(f"gallery build: {rep.faces} faces in {t_build:.1f} s")

    # exact query at args.faces
    x = g.vectors
    qs = x[np.random.default_rng(1).choice(len(x), 200)]
    exact = _qps(lambda q: g.search(q, 10, exact=True), qs)
    full_sort = _qps(lambda q: np.argsort(-(x @ q))[:10], qs)
    rows.append((f"query, exact, {len(x)} faces", "queries/s", exact, full_sort))
    notes.append(f"exact query at {len(x)} faces: {1000 / exact:.2f} ms")


def _approximate_rows(emb, tmp: Path, million: int, rows: list, notes: list) -> None:
    import x2studio.pipelines.retrieval as retrieval
    from x2studio.pipelines.retrieval import Gallery

    big = Gallery(tmp / "big", create=True, model=emb.model)
    vec = synthetic_vectors(million + 200, seed=2)
    fresh, vec = vec[:200], vec[200:]
    for i in range(0, len(vec), 250_000):
        big.add_vectors(f"/synthetic/part{i // 250_000}.mp4", vec[i:i + 250_000])
    big = Gallery(tmp / "big")
    t0 = time.perf_counter()
    info = big.build_ann()
    t_ann = time.perf_counter() - t0
    retrieval.ANN_MIN = min(retrieval.ANN_MIN, million)
    approx = _qps(lambda q: big.search(q, 10), fresh)
    ex = _qps(lambda q: big.search(q, 10, exact=True), fresh[:40])
    rec = np.mean([len({h.row for h in big.search(q, 10)} & {h.row for h in big.search(q, 10, exact=True)}) / 10
                   for q in fresh[:100]])
    rows.append((f"query, approximate (faiss IVF), {million} faces", "queries/s", approx, ex))
    notes.append(f"approximate query at {million}: {1000 / approx:.2f} ms, recall@10 {rec:.3f} on fresh "
                 f"queries (nlist {info['nlist']}, nprobe {info['nprobe']}); index built in {t_ann:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
