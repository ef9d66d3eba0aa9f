"""``train``: a task under a recipe, ``train list``, and the commands routed from ``train`` (eval and
the fits and checks)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from .common import options_of, task_named
from .evaluate import cmd_eval
from .fits import (cmd_attribute_table, cmd_audio_map, cmd_piano_labels, cmd_pose_check, cmd_speech_check,
                   cmd_violin_labels)

__all__ = ["add_parser"]


# what 'train WORD' runs when WORD is not a task
ROUTES = {"pose-check": cmd_pose_check, "audio-map": cmd_audio_map, "speech-check": cmd_speech_check,
          "piano-labels": cmd_piano_labels, "violin-labels": cmd_violin_labels,
          "attributes-table": cmd_attribute_table, "eval": cmd_eval, "list": lambda args: _list_tasks(args.json)}


def cmd_train(args: argparse.Namespace) -> int:
    from x2studio.core.errors import InputError

    if args.task in ROUTES:
        return ROUTES[args.task](args)
    if args.what is not None:
        raise InputError(f"Unexpected argument '{args.what}'.", "Usage: train TASK --recipe R --data DIR --out DIR.")
    task = task_named(args.task)
    if args.recipe not in task.recipes:
        raise InputError(f"The task '{args.task}' has no recipe '{args.recipe}'.",
                         f"Recipes: {', '.join(task.recipes)}.")
    if args.data is None or args.out is None:
        raise InputError("Training needs --data DIR and --out DIR.")
    recipe = _recipe_of(task, args)
    from x2studio.core.terminal import TerminalProgress
    from x2studio.core.jobs import ProgressEvent

    from ..loop import train

    bar = TerminalProgress()
    started = time.monotonic()

    def show(ev: dict) -> None:
        if ev["event"] == "train" and ev["step"] % 5 == 0 or ev["event"] == "eval":
            text = " ".join(f"{k} {v:.4g}" for k, v in {**ev.get("losses", {}), **ev.get("metrics", {})}.items())
            bar(ProgressEvent(ev["step"], ev["total"], f"step {ev['step']} {text}", time.monotonic() - started))

    try:
        res = train(task, recipe, args.data, args.out, resume=args.resume, device=args.device,
                    events="stdout" if args.events == "stdout" else "file", weights_dir=args.weights_dir,
                    weights_name=args.name, max_steps=args.max_steps,
                    on_event=show if args.events != "stdout" else None)
    finally:
        bar.close()
    if res.weights is not None:
        print(f"done: step {res.step}; weights '{res.weights.name}' in {res.weights.weights_path.parent}")
        return 0
    print(f"stopped at step {res.step}; continue with --resume")
    return 130 if res.interrupted and args.max_steps is None else 0


def _list_tasks(as_json: bool) -> int:
    """``train list``: every task's recipes, as a table or JSON."""
    from ..tasks import TASKS

    if as_json:
        print(json.dumps({name: {r.name: r.to_dict() for r in task.recipes.values()}
                          for name, task in TASKS.items()}))
        return 0
    for name, task in TASKS.items():
        for r in task.recipes.values():
            if r.optimizer == "lstsq":
                print(f"{name:<14} {r.name:<7} {'no steps':>14}  exact fit (least squares, L1 or logistic)")
                continue
            print(f"{name:<14} {r.name:<7} {r.steps:>8} steps  batch {r.batch_size:<3} {r.image_size}px  "
                  f"{r.optimizer} lr {r.lr:g}")
    return 0


def _recipe_of(task, args: argparse.Namespace):
    """The recipe named by ``--recipe`` with the command line's overrides."""
    from dataclasses import replace

    from x2studio.core.errors import InputError

    recipe = task.recipes[args.recipe]
    # integer overrides of the recipe: (flag, value, recipe field, smallest allowed)
    for flag, value, field, least in (("--steps", args.steps, "steps", 1), ("--workers", args.workers, "num_workers", 0),
                                      ("--batch-size", args.batch_size, "batch_size", 1),
                                      ("--patience", args.patience, "plateau_patience", 1)):
        if value is not None:
            if value < least:
                raise InputError(f"{flag} must be {'at least 1' if least else '0 or more'}.")
            recipe = replace(recipe, **{field: value})
    if args.init is not None:
        recipe = replace(recipe, init=args.init)
    if args.seed is not None:
        recipe = replace(recipe, seed=args.seed)
    if args.lr is not None:
        if not args.lr > 0 or recipe.optimizer == "lstsq":
            raise InputError("--lr must be a positive number, for a recipe that takes steps.",
                             f"The recipe '{recipe.name}' uses {recipe.optimizer} at lr {recipe.lr:g}.")
        recipe = replace(recipe, lr=args.lr)
    if args.option:
        recipe = replace(recipe, options={**recipe.options, **options_of(args.option)})
    return recipe


def add_parser(sub) -> None:
    p = sub.add_parser("train", prog="x2studio train", help="train a model ('train list' shows tasks and recipes)",
                       description="train TASK --recipe R --data DIR --out DIR [--resume]  |  train list [--json]  |  "
                                   "train eval TASK --weights W --data DIR [--split test]  |  "
                                   "train pose-check --data STILLS [--weights X2FACE] (closed-loop pose check)  |  "
                                   "train audio-map --data TRACKS [--features avsync-face-lite|mfcc] (fit f_a→v)  |  "
                                   "train speech-check --data TRACKS (mouth-opening correlation)")
    p.add_argument("task", help="task name, 'list', 'eval', 'pose-check', 'audio-map', 'speech-check', "
                                "'piano-labels' (the audio teacher's pseudo labels of a piano dataset), "
                                "'violin-labels' (the pitch tracker's pseudo labels of a violin dataset; "
                                "--option tracker=yin|pyin|yinfft|crepe, compare=pyin,crepe) or "
                                "'attributes-table' (heads for every embedding and attribute, measured on test)")
    p.add_argument("what", nargs="?", default=None, help="with 'eval': the task")
    p.add_argument("--recipe", default="lite", help="recipe (default lite)")
    p.add_argument("--data", type=Path, help="dataset folder (x2studio face-track format)")
    p.add_argument("--out", type=Path, help="run folder: checkpoints, logs, progress events, weights")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: CUDA when present)")
    p.add_argument("--events", choices=["file", "stdout"], default="file",
                   help="also print progress events as JSON lines on stdout")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this step (resume later)")
    p.add_argument("--weights-dir", type=Path, default=None, help="where the exported weights go (default OUT/weights)")
    p.add_argument("--name", default=None, help="weights name (default TASK-RECIPE)")
    p.add_argument("--steps", type=int, default=None, help="train this many steps instead of the recipe's")
    p.add_argument("--workers", type=int, default=None, help="data-loader worker processes (default: the recipe's)")
    p.add_argument("--lr", type=float, default=None,
                   help="initial learning rate instead of the recipe's (e.g. a gentler fine-tune from --init)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="samples per step (per process) instead of the recipe's; the thesis' FAb-Net used 8 without "
                        "the curriculum and 32 with it")
    p.add_argument("--patience", type=int, default=None,
                   help="evaluations without improvement before the rate is cut (or a curriculum moves on) "
                        "instead of the recipe's")
    p.add_argument("--init", default=None, help="start from these weights (name or .safetensors) instead of the recipe's")
    p.add_argument("--seed", type=int, default=None,
                   help="random seed of the weights' initialisation and the data order (default: the recipe's)")
    p.add_argument("--option", action="append", metavar="KEY=VALUE",
                   help="task option, e.g. identity=NAME for X2Face stage II (repeatable)")
    p.add_argument("--weights", default=None,
                   help="eval: weights name in the registry, or a .safetensors file; several, comma-separated, are "
                        "measured on the same items (e.g. X2Face stage I,stage II)")
    p.add_argument("--split", default="test", choices=["train", "val", "test"], help="eval: split (default test)")
    p.add_argument("--batches", type=int, default=None, help="eval: at most this many batches")
    p.add_argument("--samples", type=int, default=None,
                   help="eval: the first N items of the split's fixed order (the same items for any weights, "
                        "whatever batch size they were trained with; use it to compare weights)")
    p.add_argument("--json", action="store_true", help="list/eval/pose-check: print JSON")
    p.add_argument("--png", type=Path, default=None,
                   help="eval avsync: where the distance-over-offset plot goes (default WEIGHTS-SPLIT-offsets.png)")
    p.add_argument("--estimator", default="headpose-lite", help="pose-check: the independent pose estimator")
    p.add_argument("--sources", type=int, default=8, help="pose-check: near-frontal stills used as sources")
    p.add_argument("--features", default="avsync-face-lite",
                   help="audio-map: speech features, avsync weights or 'mfcc' (the baseline)")
    p.add_argument("--mapping", default=None, help="speech-check: the f_a→v weights (default X2FACE-a2v)")
    p.add_argument("--reader", default="expression-lite", help="speech-check: the expression CNN reading the mouth")
    p.add_argument("--tracks", type=int, default=12, help="speech-check: held-out tracks whose speech is used")
    p.set_defaults(func=cmd_train)
