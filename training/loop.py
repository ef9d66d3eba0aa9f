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

import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Protocol

import torch
import torch.distributed as dist
from torch import nn

from x2studio.core.atomic import atomic_write_text
from x2studio.core.errors import InputError
from x2studio.weights.registry import WeightsEntry

from .run_support import (Batches, Events, RunLock, Stop, agree, dist_info, global_batches, make_loader,
                          mean_loss, on_device, reduce_mean, save_best, save_checkpoint, seed_all, train_device,
                          write_samples, export_weights)

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


def latest_checkpoint(out: Path) -> Path | None:
    found = sorted(Path(out).glob("ckpt-*.pt"))
    return found[-1] if found else None


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
    _, rank, _ = dist_info()
    _make_folder(Path(out))
    with RunLock(Path(out), rank == 0):
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
    world, rank, distributed = dist_info()
    dev = _start_process(device, distributed)
    is_main = rank == 0
    ckpts = _prepare_folder(out, resume, is_main)
    seed_all(recipe.seed + rank)
    ev = Events(out, is_main, events == "stdout", on_event)
    if is_main:
        atomic_write_text(out / "run.json", json.dumps({"task": task.name, "recipe": recipe.to_dict(),
                                                        "data": str(data), "world_size": world}, indent=2))
    train_ds = task.dataset(data, "train", recipe, out / "cache")
    val_ds = task.dataset(data, "val", recipe, out / "cache")
    model = task.build_model(recipe)
    if recipe.init and not ckpts:
        _init_from(task, model, recipe.init)
        if is_main:
            log.info("initialised from %s", recipe.init)
    model = model.to(dev)
    if recipe.optimizer == "lstsq":
        return _solve(task, recipe, model, train_ds, val_ds, data, out, dev, ev, is_main, weights_dir, weights_name)
    run = _Run(task, recipe, model, (train_ds, val_ds), out, dev, ev)
    if ckpts:
        run.load(ckpts)
    interrupted = run.loop(max_steps, on_step)
    return run.finish(interrupted, data, weights_dir, weights_name)


def _start_process(device: str | None, distributed: bool) -> torch.device:
    """Join the process group (under torchrun) and pick this process's device."""
    if distributed and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() and device != "cpu" else "gloo")
    dev = train_device(device, int(os.environ.get("LOCAL_RANK", 0)), torch.cuda.is_available())
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"The device '{device}' was asked for, but CUDA is not available here.",
                             "Use --device cpu.")
        torch.cuda.set_device(dev)
    return dev


def _make_folder(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(f"The run folder '{out}' is a file.", "Give --out a folder (it is made when new).")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"Cannot make the run folder '{out}': {exc.strerror or exc}.",
                         "Choose a folder you can write to.") from exc


def _prepare_folder(out: Path, resume: bool, is_main: bool) -> list[Path]:
    """The run folder made, a killed writer's temp files dropped; the checkpoints to resume from,
    newest first (none: a new run)."""
    _make_folder(out)
    if is_main:
        for stale in out.glob(".ckpt-*.part*"):
            stale.unlink(missing_ok=True)
    if not resume and latest_checkpoint(out) is not None:
        raise InputError(f"'{out}' already holds a training run.", "Add --resume to continue it, or choose a new folder.")
    return sorted(out.glob("ckpt-*.pt"), reverse=True) if resume else []


def _optimiser(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                               weight_decay=recipe.weight_decay)
    if recipe.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    raise InputError(f"Unknown optimiser '{recipe.optimizer}'.", "Use 'sgd', 'adam' or 'lstsq'.")


class _Run:
    """One gradient-descent run: the model, its optimiser, plateau schedule and AMP scaler, and the
    counters a checkpoint saves (step, epoch, position in the epoch, best validation)."""

    def __init__(self, task: Task, recipe: Recipe, model: nn.Module, splits: tuple, out: Path, dev, ev) -> None:
        self.task, self.recipe, self.model, self.out, self.dev, self.ev = task, recipe, model, out, dev, ev
        self.train_ds, self.val_ds = splits
        self.world, self.rank, self.distributed = dist_info()
        self.is_main = self.rank == 0
        self.opt = _optimiser(model, recipe)
        self.sched = torch.optim.lr_scheduler.ReduceLROnPlateau(self.opt, factor=0.1, patience=recipe.plateau_patience,
                                                                min_lr=recipe.min_lr)
        self.amp = recipe.precision == "amp" and dev.type == "cuda"
        self.amp_dtype = torch.bfloat16 if self.amp and torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp and self.amp_dtype == torch.float16)
        self.step, self.epoch, self.pos = 0, 0, 0
        self.best: dict = {"val_loss": math.inf, "step": 0}
        self.net = nn.parallel.DistributedDataParallel(model) if self.distributed else model
        self.per_epoch = len(self.train_ds) // (recipe.batch_size * self.world)
        if self.per_epoch == 0:
            raise InputError(f"The training split has {len(self.train_ds)} samples, fewer than one batch of "
                             f"{recipe.batch_size * self.world}.", "Use more data or a smaller batch.")
        # a validation split smaller than a batch is evaluated in smaller batches, never skipped
        self.val_batch = min(recipe.batch_size, len(self.val_ds) // self.world)
        if self.val_batch == 0:
            raise InputError(f"The validation split has {len(self.val_ds)} samples, fewer than one per process "
                             f"({self.world}).", "Use more data (every split needs at least one person).")
        self.t0 = time.perf_counter()

    # ------------------------------------------------------------------ checkpoints
    def load(self, ckpts: list[Path]) -> None:
        """Resume from the newest checkpoint that can be read (a damaged one is skipped, and said)."""
        for ckpt in ckpts:
            try:
                state = torch.load(ckpt, map_location=self.dev, weights_only=True)
                self._restore(state)
            except Exception as exc:  # noqa: BLE001 - a truncated or foreign file: try the one before
                log.warning("checkpoint %s cannot be read (%s); trying the one before", ckpt.name, exc)
                self.ev.emit("damaged", checkpoint=ckpt.name, error=str(exc)[:200])
                continue
            self.ev.emit("resume", step=self.step, checkpoint=ckpt.name)
            return
        raise InputError(f"None of the checkpoints in '{self.out}' can be read.",
                         "Start the run again in a new folder (or without --resume in an empty one).")

    def _restore(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.step, self.epoch, self.pos = int(state["step"]), int(state["epoch"]), int(state["position"])
        self.best = dict(state["best"])
        torch.set_rng_state(state["rng_cpu"])
        if hasattr(self.task, "load_task_state"):
            self.task.load_task_state(json.loads(state.get("task_state", "{}")))

    def checkpoint(self) -> None:
        if self.is_main:
            task_state = self.task.task_state() if hasattr(self.task, "task_state") else {}
            save_checkpoint(self.out, {"model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
                                       "scheduler": self.sched.state_dict(), "scaler": self.scaler.state_dict(),
                                       "step": self.step, "epoch": self.epoch, "position": self.pos,
                                       "best": self.best, "rng_cpu": torch.get_rng_state(),
                                       "recipe": self.recipe.to_dict(), "task_state": json.dumps(task_state)},
                            self.recipe.keep)
        if self.distributed:
            dist.barrier()

    # ------------------------------------------------------------------ the loop
    def loop(self, max_steps: int | None, on_step: Callable[[int], None] | None) -> bool:
        """Train up to the recipe's steps (or ``max_steps``); True when a signal stopped it."""
        recipe, total = self.recipe, self.recipe.steps
        stop_at = min(total, max_steps) if max_steps is not None else total
        s0 = self.step
        with Stop() as stopper:
            self.net.train()
            self.ev.emit("start", step=self.step, total=total, epoch=self.epoch, samples=len(self.train_ds),
                         world_size=self.world, task=self.task.name, recipe=recipe.name)
            sampler = Batches(len(self.train_ds), recipe.batch_size, self.world, self.rank, recipe.seed + 1,
                              self.epoch, self.pos, endless=True)
            batches = iter(make_loader(self.task, self.train_ds, sampler, recipe.num_workers, self.dev,
                                       recipe.seed + 1, self.epoch))
            while self.step < stop_at:
                self._train_step(next(batches), s0)
                if self.step % recipe.eval_every == 0 or self.step == total:
                    self._evaluate()
                if on_step is not None:
                    on_step(self.step)
                stop_now = agree(stopper.flag, self.distributed, self.dev)
                if self.step % recipe.ckpt_every == 0 or self.step >= stop_at or stop_now:
                    self.checkpoint()
                if stop_now:
                    return True
            del batches   # ends the loader's worker processes
        return False

    def _train_step(self, batch, s0: int) -> None:
        recipe = self.recipe
        batch = on_device(self.task, batch, self.dev)
        with torch.autocast(self.dev.type, dtype=self.amp_dtype, enabled=self.amp):
            loss, logs = self.task.loss(self.net, batch)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"The loss became {float(loss)} at step {self.step}.")
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if recipe.clip_grad:
            self.scaler.unscale_(self.opt)
            nn.utils.clip_grad_norm_(self.model.parameters(), recipe.clip_grad)
        self.scaler.step(self.opt)
        self.scaler.update()
        self.step += 1
        self.pos += 1
        if self.pos == self.per_epoch:
            self.epoch, self.pos = self.epoch + 1, 0
        losses = reduce_mean({"loss": float(loss.detach()), **logs}, self.distributed, self.dev)
        rate = (self.step - s0) / max(time.perf_counter() - self.t0, 1e-9)
        self.ev.emit("train", step=self.step, total=recipe.steps, epoch=self.epoch, lr=self.opt.param_groups[0]["lr"],
                     losses=losses, samples_per_s=rate * recipe.batch_size * self.world,
                     eta_s=(recipe.steps - self.step) / max(rate, 1e-9))

    def _evaluate(self) -> None:
        """Validation metrics, the plateau schedule, the best weights, a sample image and the event."""
        recipe = self.recipe
        sampler = Batches(len(self.val_ds), self.val_batch, self.world, self.rank, recipe.seed, 0,
                          limit=recipe.eval_batches)
        loader = make_loader(self.task, self.val_ds, sampler, recipe.num_workers, self.dev, recipe.seed, 0)
        metrics = mean_loss(self.task, self.net, loader, self.dev, self.amp, self.amp_dtype)
        self.net.train()
        sample = None
        if self.is_main and hasattr(self.task, "samples") and len(self.val_ds) > 0:
            sample = write_samples(self.out, self.step, self.task, self.model, self.val_ds, recipe, self.dev)
        metrics = reduce_mean(metrics, self.distributed, self.dev)
        # a task whose curriculum changes the objective (another level, say) returns True: the losses
        # before are not comparable, so the plateau schedule and the best weights start afresh (and
        # the learning rate is not cut for the jump)
        changed = bool(self.task.on_eval(self.step, metrics)) if hasattr(self.task, "on_eval") else False
        if changed:
            self.sched.best, self.sched.num_bad_epochs = self.sched.mode_worse, 0
            self.best = {"val_loss": math.inf, "step": self.step}
            if self.is_main:
                (self.out / "best.safetensors").unlink(missing_ok=True)
        else:
            self.sched.step(metrics["val_loss"])
        if not changed and metrics["val_loss"] < self.best["val_loss"]:
            self.best = {**metrics, "step": self.step}
            if self.is_main:
                save_best(self.out, self.model)
        self.ev.emit("eval", step=self.step, total=recipe.steps, epoch=self.epoch, lr=self.opt.param_groups[0]["lr"],
                     metrics=metrics, **({"sample_image": sample} if sample else {}))

    def finish(self, interrupted: bool, data: Path, weights_dir, weights_name) -> TrainResult:
        """Export the best weights when the run is complete; the closing event."""
        step, total = self.step, self.recipe.steps
        weights = None
        if step >= total and not interrupted and self.is_main:
            weights = export_weights(self.task, self.recipe, self.model, self.out, data, self.best, weights_dir, weights_name)
            self.ev.emit("done", step=step, total=total, weights=str(weights.weights_path),
                         card=str(weights.card_path), name=weights.name, best=self.best,
                         wall_s=round(time.perf_counter() - self.t0, 1))
        elif self.is_main:
            self.ev.emit("stopped", step=step, total=total, interrupted=interrupted)
        self.ev.close()
        return TrainResult(step, self.best, interrupted or step < total, weights, self.out)


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
    sampler = Batches(len(ds), bs, 1, 0, recipe.seed, 0, limit=batches)
    t0 = time.perf_counter()
    metrics = mean_loss(task, model, make_loader(task, ds, sampler, 0, dev, recipe.seed, 0), dev)
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
    sampler = Batches(len(val_ds), batch, 1, 0, recipe.seed, 0, limit=recipe.eval_batches)
    metrics = mean_loss(task, model, make_loader(task, val_ds, sampler, 0, dev, recipe.seed, 0), dev)
    best = {**metrics, "step": 0}
    weights = None
    if is_main:
        save_best(out, model)
        weights = export_weights(task, recipe, model, out, data, best, weights_dir, weights_name)
        ev.emit("eval", step=0, total=0, epoch=0, lr=0.0, metrics=metrics)
        ev.emit("done", step=0, total=0, weights=str(weights.weights_path), card=str(weights.card_path),
                name=weights.name, best=best, wall_s=round(time.perf_counter() - t0, 1))
    ev.close()
    return TrainResult(0, best, False, weights, out)
