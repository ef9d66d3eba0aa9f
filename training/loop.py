"""The one training loop: a *task* (model + data + loss) under a *recipe* (optimiser, schedule, sizes).

- Optimisers: SGD with momentum or Adam; the learning rate is divided by 10 when the validation
  loss stops improving (``ReduceLROnPlateau``, as in the thesis); gradient clipping; mixed precision
  (bf16/fp16 autocast) on CUDA; deterministic seeding.
- Data order is a function of ``(seed, epoch)`` only: a global permutation per epoch, cut into
  global batches of ``batch_size × world_size``; rank ``r`` takes its slice of each.  So a resumed
  run sees exactly the batches the uninterrupted run would have seen, and 2 processes see the same
  samples per step as 1 process with twice the batch.
- One run per folder: ``out/.lock`` holds the writing process's pid (a second run into it is refused).
- Checkpoints (``ckpt-<step>.pt``: model, optimiser, scheduler, scaler, step, epoch, position,
  best, history, RNG states) every ``ckpt_every`` steps, at the end and on SIGINT/SIGTERM; written
  atomically (temp file + rename), the last ``keep`` kept.  Only our own files are loaded, with
  ``torch.load(weights_only=True)``.
- Distributed: under ``torchrun`` (``WORLD_SIZE`` > 1) the model is wrapped in DDP (gloo on CPU,
  NCCL on CUDA); rank 0 writes logs, events and checkpoints; evaluation metrics are averaged over
  ranks.
- Progress: JSON lines (``progress.jsonl`` and, with ``events="stdout"``, standard output), a CSV
  log ``metrics.csv``, TensorBoard when installed, a terminal bar otherwise.
- Data: one ``DataLoader`` for the run, whose batch sampler is that order (from the resume
  position on, across epochs), with ``num_workers`` worker processes (started once) and pinned
  memory on CUDA; its workers' seeds come from a generator seeded by ``(seed, epoch)``, never from
  the global RNG.  (A task that augments should draw from its sample index and epoch, so that a
  resumed run augments alike.)
- Curriculum: a task may keep state that changes as training goes (``task_state()`` /
  ``load_task_state(state)``, advanced by ``on_eval(step, metrics)``, which returns True when the
  objective itself changed: the plateau schedule and the best weights then start afresh); it is saved in every
  checkpoint and restored on resume.
- Samples: a task may draw sample images (``samples(model, batch)`` → RGB ``uint8``); they are
  written to ``samples/step-<step>.png`` at every evaluation and named in the ``eval`` event.
- Export: the best checkpoint's model becomes a weights entry (safetensors + model card with the
  recipe, the data manifest's hash and the metrics) via :func:`x2studio.weights.registry.save_weights`.
- :func:`evaluate_weights` measures exported weights on a split of a dataset (``train eval``).
"""

from __future__ import annotations

import csv
import functools
import json
import logging
import math
import os
import random
import signal
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from x2studio.core.atomic import atomic_path, atomic_write_text
from x2studio.core.errors import InputError
from x2studio.media.image import write_image
from x2studio.weights.registry import ModelCard, WeightsEntry, save_weights

__all__ = ["Recipe", "Task", "TrainResult", "train", "evaluate_weights", "global_batches", "latest_checkpoint"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recipe:
    name: str
    steps: int
    batch_size: int
    image_size: int = 64
    optimizer: str = "adam"          # "adam" | "sgd" | "lstsq" (a linear task's exact fit, no steps)
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    clip_grad: float | None = 5.0
    precision: str = "fp32"          # "fp32" | "amp" (autocast on CUDA; fp32 on CPU)
    eval_every: int = 100
    eval_batches: int = 8
    ckpt_every: int = 100
    keep: int = 3
    plateau_patience: int = 3
    min_lr: float = 1e-6
    frame_step: int = 1
    num_workers: int = 0
    seed: int = 0
    export_dtype: str = "float32"    # "float32" | "float16" (halves the bundled file; loads as float32)
    init: str = ""                   # start from these weights (registry name or .safetensors; same task)
    model: dict = field(default_factory=dict)    # extra model constructor arguments
    options: dict = field(default_factory=dict)  # task options (e.g. X2Face's stage and identity network)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Recipe":
        """A recipe from a model card or checkpoint (unknown keys are ignored, missing ones default)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class Task(Protocol):
    """What the loop needs from a task (see ``training/tasks/``).

    Optional: ``collate(items)``; ``on_device(batch)`` (finish a batch on the device);
    ``samples(model, batch) -> np.ndarray``; curriculum state with
    ``task_state() -> dict`` (JSON-able), ``load_task_state(state)`` and ``on_eval(step, metrics)``.
    """

    name: str
    architecture: str
    recipes: dict[str, Recipe]

    def build_model(self, recipe: Recipe) -> nn.Module: ...

    def model_from_config(self, config: dict) -> nn.Module: ...

    def dataset(self, data: Path, split: str, recipe: Recipe, cache: Path, job=None) -> Any: ...

    def loss(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, float]]: ...

    def export(self, model: nn.Module, recipe: Recipe) -> tuple[dict[str, torch.Tensor], dict]: ...


@dataclass
class TrainResult:
    step: int
    best: dict
    interrupted: bool
    weights: WeightsEntry | None
    out: Path


def global_batches(n: int, batch: int, world: int, rank: int, seed: int, epoch: int, start: int = 0):
    """Indices of rank ``rank``'s share of each global batch of epoch ``epoch`` from global batch
    ``start`` on (the last incomplete global batch is dropped)."""
    g = np.random.default_rng([seed, epoch, 0xDA7A])
    perm = g.permutation(n)
    size = batch * world
    for b in range(start, n // size):
        yield perm[b * size + rank * batch: b * size + (rank + 1) * batch]


class _Batches(torch.utils.data.Sampler):
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


def _loader(task, ds, sampler: _Batches, workers: int, dev, seed: int, epoch: int):
    g = torch.Generator()
    g.manual_seed(seed * 1000003 + epoch)
    return torch.utils.data.DataLoader(ds, batch_sampler=sampler, num_workers=workers, generator=g,
                                       collate_fn=functools.partial(_collate, task),
                                       pin_memory=dev.type == "cuda")


def latest_checkpoint(out: Path) -> Path | None:
    found = sorted(Path(out).glob("ckpt-*.pt"))
    return found[-1] if found else None


class _Stop:
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


class _Events:
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


def _dist_info() -> tuple[int, int, bool]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    return world, rank, world > 1


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _collate(task, items):
    return task.collate(items) if hasattr(task, "collate") else torch.utils.data.default_collate(items)


def _reduce_mean(values: dict[str, float], distributed: bool, device) -> dict[str, float]:
    if not distributed or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    t /= dist.get_world_size()
    return {k: float(v) for k, v in zip(keys, t.tolist())}


def _save_checkpoint(out: Path, state: dict, keep: int) -> Path:
    path = out / f"ckpt-{state['step']:08d}.pt"
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    for old in sorted(out.glob("ckpt-*.pt"))[:-keep]:
        old.unlink(missing_ok=True)
    return path


class _RunLock:
    """``out/.lock`` holding the writing process's pid: a second run into the same folder (which
    would interleave checkpoints and logs) is refused; a lock left by a dead process is taken over."""

    def __init__(self, out: Path, enabled: bool) -> None:
        self.path, self.enabled, self.held = out / ".lock", enabled, False

    def __enter__(self) -> "_RunLock":
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
                if pid and pid != os.getpid() and _alive(pid):
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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def train(task: Task, recipe: Recipe, data: str | Path, out: str | Path, *, resume: bool = False,
          device: str | None = None, events: str = "file", weights_dir: str | Path | None = None,
          weights_name: str | None = None, max_steps: int | None = None,
          on_step: Callable[[int], None] | None = None,
          on_event: Callable[[dict], None] | None = None) -> TrainResult:
    """Train ``task`` under ``recipe`` on the dataset folder ``data``; write into ``out``.

    ``events``: "file" (``progress.jsonl`` only) or "stdout" (also print the JSON lines).
    ``max_steps`` stops early (the run can be resumed); ``on_step`` is called after every step and
    ``on_event`` with every progress event (rank 0).  One process writes to ``out`` at a time.
    """
    _, rank, _ = _dist_info()
    with _RunLock(Path(out), rank == 0):
        return _train(task, recipe, data, out, resume=resume, device=device, events=events,
                      weights_dir=weights_dir, weights_name=weights_name, max_steps=max_steps,
                      on_step=on_step, on_event=on_event)


def _train(task: Task, recipe: Recipe, data: str | Path, out: str | Path, *, resume: bool,
           device: str | None, events: str, weights_dir: str | Path | None, weights_name: str | None,
           max_steps: int | None, on_step: Callable[[int], None] | None,
           on_event: Callable[[dict], None] | None) -> TrainResult:
    data, out = Path(data), Path(out)
    if recipe.optimizer == "lstsq" and not hasattr(task, "solve"):
        raise InputError(f"The task '{task.name}' has no closed-form solution.", "Use a recipe with 'adam' or 'sgd'.")
    world, rank, distributed = _dist_info()
    if distributed and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() and device != "cpu" else "gloo")
    dev = train_device(device, int(os.environ.get("LOCAL_RANK", 0)), torch.cuda.is_available())
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"The device '{device}' was asked for, but CUDA is not available here.",
                             "Use --device cpu.")
        torch.cuda.set_device(dev)
    is_main = rank == 0
    out.mkdir(parents=True, exist_ok=True)
    if is_main:   # a process killed while writing a checkpoint leaves its temp file: drop it
        for stale in out.glob(".ckpt-*.part*"):
            stale.unlink(missing_ok=True)
    ckpt = latest_checkpoint(out) if resume else None
    if not resume and latest_checkpoint(out) is not None:
        raise InputError(f"'{out}' already holds a training run.", "Add --resume to continue it, or choose a new folder.")
    _seed_all(recipe.seed + rank)
    ev = _Events(out, is_main, events == "stdout", on_event)
    if is_main:
        atomic_write_text(out / "run.json", json.dumps({"task": task.name, "recipe": recipe.to_dict(),
                                                        "data": str(data), "world_size": world}, indent=2))
    train_ds = task.dataset(data, "train", recipe, out / "cache")
    val_ds = task.dataset(data, "val", recipe, out / "cache")
    model = task.build_model(recipe)
    if recipe.init and ckpt is None:
        _init_from(task, model, recipe.init)
        if is_main:
            log.info("initialised from %s", recipe.init)
    model = model.to(dev)
    if recipe.optimizer == "lstsq":
        return _solve(task, recipe, model, train_ds, val_ds, data, out, dev, ev, is_main, weights_dir, weights_name)
    if recipe.optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                              weight_decay=recipe.weight_decay)
    elif recipe.optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    else:
        raise InputError(f"Unknown optimiser '{recipe.optimizer}'.", "Use 'sgd', 'adam' or 'lstsq'.")
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.1, patience=recipe.plateau_patience,
                                                       min_lr=recipe.min_lr)
    amp = recipe.precision == "amp" and dev.type == "cuda"
    amp_dtype = torch.bfloat16 if amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=amp and amp_dtype == torch.float16)
    step, epoch, pos = 0, 0, 0
    best: dict = {"val_loss": math.inf, "step": 0}
    if ckpt is not None:
        state = torch.load(ckpt, map_location=dev, weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        step, epoch, pos = int(state["step"]), int(state["epoch"]), int(state["position"])
        best = dict(state["best"])
        torch.set_rng_state(state["rng_cpu"])
        if hasattr(task, "load_task_state"):
            task.load_task_state(json.loads(state.get("task_state", "{}")))
        ev.emit("resume", step=step, checkpoint=ckpt.name)
    net = nn.parallel.DistributedDataParallel(model) if distributed else model
    n_train = len(train_ds)
    per_epoch = n_train // (recipe.batch_size * world)
    if per_epoch == 0:
        raise InputError(f"The training split has {n_train} samples, fewer than one batch of "
                         f"{recipe.batch_size * world}.", "Use more data or a smaller batch.")
    # a validation split smaller than a batch is evaluated in smaller batches, never skipped
    val_batch = min(recipe.batch_size, len(val_ds) // world)
    if val_batch == 0:
        raise InputError(f"The validation split has {len(val_ds)} samples, fewer than one per process "
                         f"({world}).", "Use more data (every split needs at least one person).")
    total = recipe.steps
    stop_at = min(total, max_steps) if max_steps is not None else total
    t0, s0 = time.perf_counter(), step
    interrupted = False

    def checkpoint() -> None:
        if is_main:
            task_state = task.task_state() if hasattr(task, "task_state") else {}
            _save_checkpoint(out, {"model": model.state_dict(), "optimizer": opt.state_dict(),
                                   "scheduler": sched.state_dict(), "scaler": scaler.state_dict(),
                                   "step": step, "epoch": epoch, "position": pos, "best": best,
                                   "rng_cpu": torch.get_rng_state(), "recipe": recipe.to_dict(),
                                   "task_state": json.dumps(task_state)}, recipe.keep)
        if distributed:
            dist.barrier()

    def evaluate() -> tuple[dict[str, float], str | None]:
        sampler = _Batches(len(val_ds), val_batch, world, rank, recipe.seed, 0, limit=recipe.eval_batches)
        metrics = _evaluate(task, net, _loader(task, val_ds, sampler, recipe.num_workers, dev, recipe.seed, 0),
                            dev, amp, amp_dtype)
        net.train()
        sample = None
        if is_main and hasattr(task, "samples") and len(val_ds) > 0:
            sample = _write_samples(out, step, task, model, val_ds, recipe, dev)
        return _reduce_mean(metrics, distributed, dev), sample

    with _Stop() as stopper:
        net.train()
        ev.emit("start", step=step, total=total, epoch=epoch, samples=n_train, world_size=world,
                task=task.name, recipe=recipe.name)
        sampler = _Batches(n_train, recipe.batch_size, world, rank, recipe.seed + 1, epoch, pos, endless=True)
        batches = iter(_loader(task, train_ds, sampler, recipe.num_workers, dev, recipe.seed + 1, epoch))
        while step < stop_at:
            batch = _on_device(task, next(batches), dev)
            with torch.autocast(dev.type, dtype=amp_dtype, enabled=amp):
                loss, logs = task.loss(net, batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"The loss became {float(loss)} at step {step}.")
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if recipe.clip_grad:
                scaler.unscale_(opt)
                nn.utils.clip_grad_norm_(model.parameters(), recipe.clip_grad)
            scaler.step(opt)
            scaler.update()
            step += 1
            pos += 1
            if pos == per_epoch:
                epoch, pos = epoch + 1, 0
            losses = _reduce_mean({"loss": float(loss.detach()), **logs}, distributed, dev)
            rate = (step - s0) / max(time.perf_counter() - t0, 1e-9)
            ev.emit("train", step=step, total=total, epoch=epoch, lr=opt.param_groups[0]["lr"],
                    losses=losses, samples_per_s=rate * recipe.batch_size * world,
                    eta_s=(total - step) / max(rate, 1e-9))
            if step % recipe.eval_every == 0 or step == total:
                metrics, sample = evaluate()
                # a task whose curriculum changes the objective (another level, say) returns True: the
                # losses before are not comparable, so the plateau schedule and the best weights start
                # afresh (and the learning rate is not cut for the jump)
                changed = bool(task.on_eval(step, metrics)) if hasattr(task, "on_eval") else False
                if changed:
                    sched.best, sched.num_bad_epochs = sched.mode_worse, 0
                    best = {"val_loss": math.inf, "step": step}
                    if is_main:
                        (out / "best.safetensors").unlink(missing_ok=True)
                else:
                    sched.step(metrics["val_loss"])
                if not changed and metrics["val_loss"] < best["val_loss"]:
                    best = {**metrics, "step": step}
                    if is_main:
                        _save_best(out, model)
                ev.emit("eval", step=step, total=total, epoch=epoch, lr=opt.param_groups[0]["lr"],
                        metrics=metrics, **({"sample_image": sample} if sample else {}))
            if on_step is not None:
                on_step(step)
            stop_now = _agree(stopper.flag, distributed, dev)
            if step % recipe.ckpt_every == 0 or step >= stop_at or stop_now:
                checkpoint()
            if stop_now:
                interrupted = True
                break
        del batches   # ends the loader's worker processes
    weights = None
    if step >= total and not interrupted and is_main:
        weights = _export(task, recipe, model, out, data, best, weights_dir, weights_name)
        ev.emit("done", step=step, total=total, weights=str(weights.weights_path), card=str(weights.card_path),
                name=weights.name, best=best, wall_s=round(time.perf_counter() - t0, 1))
    elif is_main:
        ev.emit("stopped", step=step, total=total, interrupted=interrupted)
    ev.close()
    return TrainResult(step, best, interrupted or step < total, weights, out)


def _evaluate(task, net, loader, dev, amp: bool = False, amp_dtype=torch.float16) -> dict[str, float]:
    """Mean loss and logged metrics over ``loader`` (``val_``-prefixed), in eval mode."""
    net.eval()
    sums: dict[str, float] = {}
    n = 0
    with torch.no_grad():
        for batch in loader:
            with torch.autocast(dev.type, dtype=amp_dtype, enabled=amp):
                loss, logs = task.loss(net, _on_device(task, batch, dev))
            for k, v in {"val_loss": float(loss.detach()), **{f"val_{k}": v for k, v in logs.items()}}.items():
                sums[k] = sums.get(k, 0.0) + v
            n += 1
    return {k: v / max(n, 1) for k, v in sums.items()}


def _write_samples(out: Path, step: int, task, model, val_ds, recipe: Recipe, dev) -> str | None:
    """The task's sample image for the first validation batch → ``samples/step-<step>.png`` (last 20 kept)."""
    idx = next(global_batches(len(val_ds), min(recipe.batch_size, len(val_ds), 8), 1, 0, recipe.seed, 0), None)
    if idx is None:
        return None
    model.eval()
    with torch.no_grad():
        image = task.samples(model, _on_device(task, _collate(task, [val_ds[int(i)] for i in idx]), dev))
    model.train()
    folder = out / "samples"
    folder.mkdir(exist_ok=True)
    path = folder / f"step-{step:08d}.png"
    write_image(path, image)
    for old in sorted(folder.glob("step-*.png"))[:-20]:
        old.unlink(missing_ok=True)
    return str(path)


def evaluate_weights(task: Task, weights: str | Path, data: str | Path, *, split: str = "test",
                     device: str = "cpu", batches: int | None = None, batch_size: int | None = None,
                     cache: str | Path | None = None, options: dict | None = None,
                     samples: int | None = None) -> dict[str, Any]:
    """Measure exported weights (a registry name, or a ``.safetensors`` file with its ``.json`` card)
    on ``split`` of the dataset ``data``: the task's loss and metrics, averaged over batches.

    The items come in one seeded order whatever the batch size, so ``samples=N`` measures the first
    N of them: the same items for any weights (``batches`` counts batches of the card's batch size,
    which differs between recipes: weights trained with batch 8 and 16 would be measured on different
    items)."""
    from x2studio.core import paths

    entry = resolve_weights(weights)
    if entry.card.architecture != task.architecture:
        raise InputError(f"The weights '{entry.name}' are a '{entry.card.architecture}' model, not "
                         f"'{task.architecture}' (task '{task.name}').", "Pick weights of that task.")
    recipe = Recipe.from_dict({**entry.card.recipe, "name": entry.card.recipe.get("name", "eval"),
                               "steps": 0, "batch_size": batch_size or entry.card.recipe.get("batch_size", 16),
                               "options": {**entry.card.recipe.get("options", {}), **(options or {})}})
    dev = torch.device(device)
    model = task.model_from_config(entry.card.config)
    model.load_state_dict(entry.load_state_dict())
    model.to(dev)
    cache = Path(cache) if cache is not None else paths.cache_dir() / "training"
    ds = task.dataset(Path(data), split, recipe, cache)
    bs = min(recipe.batch_size, len(ds))
    if samples is not None:
        if samples < 1:
            raise InputError(f"Cannot measure {samples} samples.", "Give --samples 1 or more.")
        samples = min(samples, len(ds))
        bs = math.gcd(bs, samples)          # whole batches covering exactly the first `samples` items
        batches = samples // bs
    sampler = _Batches(len(ds), bs, 1, 0, recipe.seed, 0, limit=batches)
    t0 = time.perf_counter()
    metrics = _evaluate(task, model, _loader(task, ds, sampler, 0, dev, recipe.seed, 0), dev)
    return {"weights": entry.name, "split": split, "samples": len(sampler) * bs,
            "metrics": {k.removeprefix("val_"): v for k, v in metrics.items()},
            "seconds": round(time.perf_counter() - t0, 2)}


def resolve_weights(weights: str | Path):
    """A weights entry from a registry name, or from a ``.safetensors`` / ``.json`` file."""
    from x2studio.weights.registry import resolve_entry

    return resolve_entry(weights)


def _init_from(task, model: nn.Module, weights: str) -> None:
    entry = resolve_weights(weights)
    if entry.card.architecture != task.architecture:
        raise InputError(f"Cannot start '{task.name}' from '{entry.name}': it is a '{entry.card.architecture}' model.",
                         f"Give weights of a '{task.architecture}' model.")
    state = entry.load_state_dict()
    if hasattr(task, "adapt_init"):     # e.g. a 5-frame violin student from 1-frame weights
        state = task.adapt_init(model, entry, state)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise InputError(f"The weights '{entry.name}' do not fit this recipe's model ({str(exc).splitlines()[0]}).",
                         "Use weights trained with the same model settings.") from exc


def _agree(flag: bool, distributed: bool, dev) -> bool:
    """Any rank asked to stop → all stop (so no rank waits in a collective forever)."""
    if not distributed:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=dev)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def _solve(task, recipe: Recipe, model: nn.Module, train_ds, val_ds, data: Path, out: Path, dev, ev, is_main: bool,
           weights_dir, weights_name) -> TrainResult:
    """``optimizer="lstsq"``: the task sets a linear model to the exact minimiser of its loss
    (``task.solve(model, train_ds, val_ds, recipe)``, e.g. least squares with a ridge strength chosen on
    ``val_ds``); the result is measured on ``val_ds`` and exported like a trained run's best step."""
    if len(train_ds) == 0 or len(val_ds) == 0:
        raise InputError(f"A closed-form fit needs training and validation samples ({len(train_ds)} and "
                         f"{len(val_ds)} here).", "Use more data (every split needs at least one person).")
    t0 = time.perf_counter()
    ev.emit("start", step=0, total=0, epoch=0, samples=len(train_ds), world_size=1, task=task.name,
            recipe=recipe.name)
    task.solve(model, train_ds, val_ds, recipe)
    model.eval()
    batch = max(1, min(recipe.batch_size, len(val_ds)))
    sampler = _Batches(len(val_ds), batch, 1, 0, recipe.seed, 0, limit=recipe.eval_batches)
    metrics = _evaluate(task, model, _loader(task, val_ds, sampler, 0, dev, recipe.seed, 0), dev)
    best = {**metrics, "step": 0}
    weights = None
    if is_main:
        _save_best(out, model)
        weights = _export(task, recipe, model, out, data, best, weights_dir, weights_name)
        ev.emit("eval", step=0, total=0, epoch=0, lr=0.0, metrics=metrics)
        ev.emit("done", step=0, total=0, weights=str(weights.weights_path), card=str(weights.card_path),
                name=weights.name, best=best, wall_s=round(time.perf_counter() - t0, 1))
    ev.close()
    return TrainResult(0, best, False, weights, out)


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


def _on_device(task, batch, dev):
    """Move a batch to the device, then let the task finish it there (``task.on_device``: e.g. uint8
    → float, so loader workers ship a quarter of the bytes and the GPU does the conversion)."""
    batch = _to(batch, dev)
    return task.on_device(batch) if hasattr(task, "on_device") else batch


def _to(batch, dev):
    if isinstance(batch, torch.Tensor):
        return batch.to(dev, non_blocking=True)
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to(b, dev) for b in batch)
    if isinstance(batch, dict):
        return {k: _to(v, dev) for k, v in batch.items()}
    return batch


def _save_best(out: Path, model: nn.Module) -> None:
    from safetensors.torch import save_file

    with atomic_path(out / "best.safetensors") as tmp:
        save_file({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}, str(tmp))


def _export(task, recipe, model, out, data, best, weights_dir, weights_name) -> WeightsEntry:
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

