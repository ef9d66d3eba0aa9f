"""What the training loop stands on: the data order (global batches as a ``DataLoader`` sampler),
the stop flag set by SIGINT/SIGTERM, progress events (JSON lines, CSV, TensorBoard), the run lock,
checkpoints written atomically, the few collectives of a distributed run, the device and the batch
moved onto it, and the mean loss over a loader.  :mod:`training.loop` explains the design."""

from __future__ import annotations

import csv
import functools
import json
import math
import os
import random
import signal
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from x2studio.core.atomic import atomic_path
from x2studio.core.errors import InputError
from x2studio.media.image import write_image
from x2studio.weights.registry import ModelCard, WeightsEntry, save_weights

__all__ = ["global_batches", "Batches", "make_loader", "collate", "Stop", "Events", "dist_info", "seed_all",
           "reduce_mean", "save_checkpoint", "RunLock", "agree", "train_device", "on_device", "mean_loss",
           "write_samples", "save_best", "export_weights"]


def global_batches(n: int, batch: int, world: int, rank: int, seed: int, epoch: int, start: int = 0):
    """Indices of rank ``rank``'s share of each global batch of epoch ``epoch`` from global batch
    ``start`` on (the last incomplete global batch is dropped)."""
    g = np.random.default_rng([seed, epoch, 0xDA7A])
    perm = g.permutation(n)
    size = batch * world
    for b in range(start, n // size):
        yield perm[b * size + rank * batch: b * size + (rank + 1) * batch]


class Batches(torch.utils.data.Sampler):
    """:func:`global_batches` as a ``DataLoader`` batch sampler: from batch ``start`` of ``epoch`` on,
    through the following epochs too when ``endless`` (one loader, and one set of worker processes,
    for the whole run), at most ``limit`` batches."""

    def __init__(self, n, batch, world, rank, seed, epoch, start=0, limit=None, endless=False) -> None:
        self.args = (n, batch, world, rank, seed, epoch, start)
        self.limit, self.endless = limit, endless

    def __iter__(self):
        n, batch, world, rank, seed, epoch, start = self.args
        b = 0
        while True:
            for idx in global_batches(n, batch, world, rank, seed, epoch, start):
                if self.limit is not None and b >= self.limit:
                    return
                yield [int(i) for i in idx]
                b += 1
            if not self.endless or n // (batch * world) == 0:
                return
            epoch, start = epoch + 1, 0

    def __len__(self) -> int:
        n, batch, world, _, _, _, start = self.args
        per_epoch = n // (batch * world)
        k = (2**62 if per_epoch else 0) if self.endless else max(per_epoch - start, 0)
        return k if self.limit is None else min(k, self.limit)


def make_loader(task, ds, sampler: Batches, workers: int, dev, seed: int, epoch: int):
    g = torch.Generator()
    g.manual_seed(seed * 1000003 + epoch)
    return torch.utils.data.DataLoader(ds, batch_sampler=sampler, num_workers=workers, generator=g,
                                       collate_fn=functools.partial(collate, task),
                                       pin_memory=dev.type == "cuda")


class Stop:
    """SIGINT/SIGTERM set a flag; the loop saves and exits at the next step boundary."""

    def __init__(self) -> None:
        self.flag = False
        self._old = {}

    def __enter__(self):
        for s in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[s] = signal.signal(s, self._handle)
            except ValueError:   # not the main thread (tests): no handler
                pass
        return self

    def _handle(self, signum, frame) -> None:
        self.flag = True

    def __exit__(self, *exc) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)


class Events:
    """JSON-lines progress events, a CSV metrics log and (when installed) TensorBoard; rank 0 only."""

    def __init__(self, out: Path, enabled: bool, stdout: bool, callback: Callable[[dict], None] | None = None) -> None:
        self.enabled, self.stdout, self.callback = enabled, stdout, callback
        self.out = out
        self.tb = None
        if enabled:
            out.mkdir(parents=True, exist_ok=True)
            self.jsonl = open(out / "progress.jsonl", "a", encoding="utf-8")
            try:
                from torch.utils.tensorboard import SummaryWriter  # optional
                self.tb = SummaryWriter(str(out / "tensorboard"))
            except Exception:  # noqa: BLE001 - tensorboard is optional; absent or broken means no TB logs
                self.tb = None

    def emit(self, kind: str, **data) -> None:
        if not self.enabled:
            return
        ev = {"event": kind, "time": round(time.time(), 3), **data}
        line = json.dumps(ev)
        self.jsonl.write(line + "\n")
        self.jsonl.flush()
        if self.stdout:
            print(line, flush=True)
        if self.callback is not None:
            self.callback(ev)
        if kind in ("train", "eval"):
            self._log_csv(ev)
            if self.tb is not None:
                for k, v in {**ev.get("losses", {}), **ev.get("metrics", {})}.items():
                    self.tb.add_scalar(f"{kind}/{k}", v, ev["step"])

    def _log_csv(self, ev: dict) -> None:
        """Long format (one row per value), so new metric names never break the header."""
        path = self.out / "metrics.csv"
        new = not path.exists()
        with open(path, "a", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            if new:
                w.writerow(["event", "step", "epoch", "lr", "name", "value"])
            for name, value in {**ev.get("losses", {}), **ev.get("metrics", {})}.items():
                w.writerow([ev["event"], ev["step"], ev.get("epoch"), ev.get("lr"), name, value])

    def close(self) -> None:
        if self.enabled:
            self.jsonl.close()
            if self.tb is not None:
                self.tb.close()


def dist_info() -> tuple[int, int, bool]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    return world, rank, world > 1


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def collate(task, items):
    return task.collate(items) if hasattr(task, "collate") else torch.utils.data.default_collate(items)


def reduce_mean(values: dict[str, float], distributed: bool, device) -> dict[str, float]:
    if not distributed or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    t /= dist.get_world_size()
    return {k: float(v) for k, v in zip(keys, t.tolist())}


def save_checkpoint(out: Path, state: dict, keep: int) -> Path:
    path = out / f"ckpt-{state['step']:08d}.pt"
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    for old in sorted(out.glob("ckpt-*.pt"))[:-keep]:
        old.unlink(missing_ok=True)
    return path


class RunLock:
    """``out/.lock`` holding the writing process's pid: a second run into the same folder (which
    would interleave checkpoints and logs) is refused; a lock left by a dead process is taken over."""

    def __init__(self, out: Path, enabled: bool) -> None:
        self.path, self.enabled, self.held = out / ".lock", enabled, False

    def __enter__(self) -> "RunLock":
        if not self.enabled:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                try:
                    pid = int(self.path.read_text().strip() or 0)
                except (OSError, ValueError):
                    pid = 0
                if pid and pid != os.getpid() and alive(pid):
                    raise InputError(f"Another training process (pid {pid}) is writing to '{self.path.parent}'.",
                                     "Wait for it to finish, stop it, or choose another folder.") from None
                self.path.unlink(missing_ok=True)       # stale: its process is gone
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(str(os.getpid()))
            self.held = True
            return self
        raise InputError(f"Could not lock '{self.path.parent}' for training.")

    def __exit__(self, *exc) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def mean_loss(task, net, loader, dev, amp: bool = False, amp_dtype=torch.float16) -> dict[str, float]:
    """Mean loss and logged metrics over ``loader`` (``val_``-prefixed), in eval mode."""
    net.eval()
    sums: dict[str, float] = {}
    n = 0
    with torch.no_grad():
        for batch in loader:
            with torch.autocast(dev.type, dtype=amp_dtype, enabled=amp):
                loss, logs = task.loss(net, on_device(task, batch, dev))
            for k, v in {"val_loss": float(loss.detach()), **{f"val_{k}": v for k, v in logs.items()}}.items():
                sums[k] = sums.get(k, 0.0) + v
            n += 1
    return {k: v / max(n, 1) for k, v in sums.items()}


def agree(flag: bool, distributed: bool, dev) -> bool:
    """Any rank asked to stop → all stop (so no rank waits in a collective forever)."""
    if not distributed:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=dev)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def train_device(device: str | None, local_rank: int = 0, cuda: bool = False) -> torch.device:
    """The device a training process uses: ``cuda:LOCAL_RANK`` by default when CUDA is there, and
    always an indexed one for CUDA (``torch.cuda.set_device`` refuses a bare ``cuda`` since torch
    2.11: ``--device cuda`` failed on a GPU machine before this)."""
    if device is None:
        device = "cuda" if cuda else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", local_rank)
    return dev


def on_device(task, batch, dev):
    """Move a batch to the device, then let the task finish it there (``task.on_device``: e.g. uint8
    → float, so loader workers ship a quarter of the bytes and the GPU does the conversion)."""
    batch = to_device(batch, dev)
    return task.on_device(batch) if hasattr(task, "on_device") else batch


def to_device(batch, dev):
    if isinstance(batch, torch.Tensor):
        return batch.to(dev, non_blocking=True)
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(b, dev) for b in batch)
    if isinstance(batch, dict):
        return {k: to_device(v, dev) for k, v in batch.items()}
    return batch


def write_samples(out: Path, step: int, task, model, val_ds, recipe, dev) -> str | None:
    """The task's sample image for the first validation batch → ``samples/step-<step>.png`` (last 20 kept)."""
    idx = next(global_batches(len(val_ds), min(recipe.batch_size, len(val_ds), 8), 1, 0, recipe.seed, 0), None)
    if idx is None:
        return None
    model.eval()
    with torch.no_grad():
        image = task.samples(model, on_device(task, collate(task, [val_ds[int(i)] for i in idx]), dev))
    model.train()
    folder = out / "samples"
    folder.mkdir(exist_ok=True)
    path = folder / f"step-{step:08d}.png"
    write_image(path, image)
    for old in sorted(folder.glob("step-*.png"))[:-20]:
        old.unlink(missing_ok=True)
    return str(path)


def save_best(out: Path, model: nn.Module) -> None:
    from safetensors.torch import save_file

    with atomic_path(out / "best.safetensors") as tmp:
        save_file({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}, str(tmp))


def export_weights(task, recipe, model, out, data, best, weights_dir, weights_name) -> WeightsEntry:
    from safetensors.torch import load_file

    from .data.faces import manifest_hash

    best_path = out / "best.safetensors"
    if best_path.exists():
        model.load_state_dict(load_file(str(best_path)))
    tensors, config = task.export(model, recipe)
    if recipe.export_dtype == "float16":
        tensors = {k: v.half() if v.is_floating_point() else v for k, v in tensors.items()}
    name = weights_name or f"{task.name}-{recipe.name}"
    try:
        manifest = json.loads((data / "manifest.json").read_text(encoding="utf-8"))
        data_info = {"path": str(data), "manifest_sha256": manifest_hash(data), "source": manifest.get("source"),
                     "generator": manifest.get("config"), "tracks": len(manifest.get("tracks", [])),
                     "videos": len(manifest.get("videos", [])),
                     "size": manifest.get("size")}
    except (OSError, ValueError, AttributeError):
        data_info = {"path": str(data)}
    metrics = {k: v for k, v in best.items() if not (isinstance(v, float) and not math.isfinite(v))}
    if hasattr(task, "export_metrics"):     # e.g. post-processing settings picked on validation data
        metrics.update(task.export_metrics(model, recipe))
    card = ModelCard(name=name, architecture=task.architecture, config=config, data=data_info,
                     recipe=recipe.to_dict(), metrics=metrics)
    folder = Path(weights_dir) if weights_dir is not None else out / "weights"
    folder.mkdir(parents=True, exist_ok=True)
    return save_weights(tensors, card, folder)
