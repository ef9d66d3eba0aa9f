"""Visual piano transcription speed: frames/s on this machine (target: ≥ 25 fps, real time, for the
lite model on the 2-core CPU).

    python benchmarks/piano.py [--device cpu|cuda] [--seconds 20] [--paper]

Rows (frames/s, higher is better):
- whole transcription of the bundled piano demo looped to ``--seconds``: decoding, keyboard
  rectification, the network over every 5-frame window, post-processing;
- the live mode's model thread stepping on every frame, against 4 frames a step (and the note latency
  that gives);
- the network alone over the frame sequence (:meth:`PianoNet.forward_sequence`, each frame's first
  stage once), against the baseline of feeding each 5-frame window separately (:meth:`forward`);
- with ``--paper``: the same network rows at the paper's size (full ResNet-18, 145×800);
- with ``--network-only``: only the network rows (no video: runs where PyAV is absent, e.g. a GPU
  machine), plus training steps/s (forward + backward + Adam, batch 32 windows) in fp32 against the
  same step under bf16 autocast (CUDA) — the paper recipe's cost.

Baselines, in the same process: decoding the same video with ``VideoReader`` (the floor of the
whole transcription), and the per-window forward (the floor without frame sharing).
Uses the bundled ``piano-lite`` weights when present, else a randomly initialised model of the same
shape (speed does not depend on the weights).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from run import looped_video, print_table  # noqa: E402

DEMO = Path(__file__).resolve().parents[1] / "resources" / "demo"


def _net_rows(model, n: int, device: str, label: str) -> list[tuple[str, str, float, float]]:
    x = torch.rand(n + 4, model.height, model.width, device=device)
    model = model.to(device).eval()
    with torch.inference_mode():
        model.forward_sequence(x[:12])
        t0 = time.perf_counter()
        for s in range(0, n, 32):
            model.forward_sequence(x[s:s + 36])
        t_seq = time.perf_counter() - t0
        t0 = time.perf_counter()
        for s in range(0, n, 32):
            idx = torch.arange(min(32, n - s))[:, None] + torch.arange(5)[None] + s
            model(x[idx])
        t_win = time.perf_counter() - t0
    return [(f"network, {label}", "frames/s", n / t_seq, n / t_win)]


def _live_rows(tr, frames, corners, fps: float) -> list[tuple[str, str, float, float]]:
    """The live mode's model thread: frames/s when each frame is read as it comes (a step per frame,
    the lowest latency) against reading 4 frames a step (what a busy model does: the frames that
    came meanwhile, at once); and the note latency a step per frame gives at the video's rate."""
    from x2studio.pipelines.piano_live import LivePiano

    rates, lat = [], None
    for every in (1, 4):
        live = LivePiano(tr, corners, max_pending=1000, clock=time.perf_counter)
        t_read = 0.0
        for k, rgb in enumerate(frames):
            live.add(rgb, k / fps)
            if k % every == every - 1:
                t0 = time.perf_counter()
                live.step()
                t_read += time.perf_counter() - t0
        rates.append(len(frames) / t_read)
        if every == 1:
            lag = live.onsets.lag + tr.frames // 2
            lat = lag / fps + t_read / len(frames)
    print(f"live: a note is decided {lat * 1000:.0f} ms after its frame at {fps:g} fps (the window's 2 frames + "
          f"the smoothing's {lag - tr.frames // 2}, + the model's time per frame)")
    return [("live model thread, a step per frame", "frames/s", rates[0], rates[1])]


def _train_rows(model, device: str, label: str, batch: int = 32, steps: int = 10) -> list[tuple[str, str, float, float]]:
    from x2studio.models.piano import balanced_bce

    model = model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), 1e-4)
    x = torch.rand(batch, 5, model.height, model.width, device=device)
    y = (torch.rand(batch, 88, device=device) < 0.05).float()

    def step(amp: bool) -> None:
        with torch.autocast("cuda", torch.bfloat16, enabled=amp):
            out = model(x)
            loss = sum(balanced_bce(v.float(), y) for v in out.values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    rates = []
    for amp in (False, device.startswith("cuda")):
        step(amp)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(steps):
            step(amp)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        rates.append(steps / (time.perf_counter() - t0))
    return [(f"training step, {label}, batch {batch}", "steps/s", rates[0], rates[1])]


def network_only(args) -> int:
    from x2studio.models.piano import PianoNet

    rows = []
    lite = PianoNet("slope", base=16, height=72, width=400, head="columns")
    rows += _net_rows(lite, 500, args.device, "lite slope base 16, 72x400")
    rows += _train_rows(lite, args.device, "lite slope")
    if args.paper:
        for arch in ("resnet", "aggregation", "slope"):
            net = PianoNet(arch, base=64, height=145, width=800)
            rows += _net_rows(net, 256, args.device, f"paper {arch}, 145x800")
            rows += _train_rows(net, args.device, f"paper {arch}")
    print_table(rows, ["the network fed window by window (forward) for the network rows;",
                       "fp32 for the training rows: the ratio is fp32 / bf16 autocast (1.00 on a CPU)"], args.device)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--paper", action="store_true", help="also the paper-size network")
    ap.add_argument("--network-only", action="store_true", help="network and training rows only (no video)")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 2 s of video")
    args = ap.parse_args(argv)
    if args.quick:
        args.seconds = 2.0
    if args.network_only:
        return network_only(args)
    from x2studio.media.video import VideoReader
    from x2studio.models.piano import PianoNet
    from x2studio.pipelines.piano import PianoTranscriber, keyboard_of

    demo = sorted(DEMO.glob("piano_*.mp4"))[0]
    corners = keyboard_of(demo)
    try:
        tr = PianoTranscriber("piano-lite", args.device)
        which = "bundled piano-lite"
    except Exception:  # noqa: BLE001 - no bundled weights yet: a random model of the lite shape
        from training.tasks.piano import PianoTask

        task = PianoTask()
        tmp_w = Path(tempfile.mkdtemp()) / "piano-random.safetensors"
        from x2studio.weights.registry import ModelCard, save_weights

        model = task.build_model(task.recipes["lite"])
        entry = save_weights(model.state_dict(), ModelCard(name="piano-random", architecture="piano",
                                                            config=task.config(task.recipes["lite"])), tmp_w.parent)
        tr = PianoTranscriber(str(entry.weights_path), args.device)
        which = "random-init lite model"
    with VideoReader(demo) as rd:
        frames, fps, size = [f.image for f in rd.frames()], rd.fps, (rd.width, rd.height)
    n = int(args.seconds * fps)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "long.mp4"
        t_dec = looped_video(video, frames, fps, size, n)
        t0 = time.perf_counter()
        res = tr.transcribe_video(video, corners)
        t_all = time.perf_counter() - t0
    rows.append((f"transcribe {size[0]}x{size[1]} video ({which})", "frames/s", n / t_all, n / t_dec))
    rows += _live_rows(tr, frames, corners, fps)
    m = tr.model
    rows += _net_rows(m, min(n, 500), args.device, f"lite {m.arch} base {len(m.stem[0].weight)}, {m.height}x{m.width}")
    if args.paper:
        for arch in ("resnet", "aggregation", "slope"):
            rows += _net_rows(PianoNet(arch, base=64, height=145, width=800), 64, args.device, f"paper {arch}, 145x800")
    print_table(rows, ["decoding the same video (VideoReader) for the whole transcription;",
                       "4 frames a step for the live row;",
                       "the network fed window by window (forward) for the network rows"], args.device)
    print(f"{len(res.notes)} notes found in {n} frames at {fps:g} fps; real time needs {fps:g} frames/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
