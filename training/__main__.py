"""``python -m training``: the training module's command line (also reached as ``x2studio data synth``).

The app never imports this package; ``x2studio`` runs it in a child process.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Sequence

from x2studio.cli import TerminalProgress, run_guarded
from x2studio.core.jobs import Job


def cmd_synth_faces(args: argparse.Namespace) -> int:
    from .synth.faces import generate_faces

    bar = TerminalProgress()
    try:
        root = generate_faces(args.out, tracks=args.tracks, size=args.size, seed=args.seed,
                              identities=args.identities, frames_fps=args.frames_fps, stills=args.stills,
                              max_seconds=args.max_seconds, job=Job(bar, min_interval_s=0.1))
    finally:
        bar.close()
    print(f"wrote {root} ({args.tracks} tracks, {args.stills} stills, {args.size}x{args.size})")
    return 0


def cmd_synth_sheet(args: argparse.Namespace) -> int:
    from x2studio.core.atomic import atomic_path
    from x2studio.core.errors import InputError

    from .synth.faces import contact_sheet

    if not 1 <= args.identities <= 256 or not 32 <= args.size <= 1024:
        raise InputError("--identities must be 1-256 and --size 32-1024.")
    if args.out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise InputError(f"'{args.out}': the sheet is written as .png or .jpg.")
    import cv2

    sheet = contact_sheet(args.seed, args.identities, args.size, landmarks=args.landmarks)
    ok, buf = cv2.imencode(args.out.suffix.lower(), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    with atomic_path(args.out) as tmp:
        tmp.write_bytes(buf.tobytes())
    print(f"wrote {args.out} ({args.identities} identities x 5 poses)")
    return 0


def cmd_synth_demo(args: argparse.Namespace) -> int:
    from .synth.faces import make_demo

    for path in make_demo(args.out, seed=args.seed):
        print(f"wrote {path}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from x2studio.core.errors import InputError

    from .tasks import TASKS

    if args.task == "list":
        for name, task in TASKS.items():
            for r in task.recipes.values():
                print(f"{name:<14} {r.name:<7} {r.steps:>8} steps  batch {r.batch_size:<3} {r.image_size}px  "
                      f"{r.optimizer} lr {r.lr:g}")
        return 0
    if args.task not in TASKS:
        raise InputError(f"No task named '{args.task}'.", f"Tasks: {', '.join(TASKS)} (see 'train list').")
    task = TASKS[args.task]
    if args.recipe not in task.recipes:
        raise InputError(f"The task '{args.task}' has no recipe '{args.recipe}'.",
                         f"Recipes: {', '.join(task.recipes)}.")
    if args.data is None or args.out is None:
        raise InputError("Training needs --data DIR and --out DIR.")
    from .loop import train

    res = train(task, task.recipes[args.recipe], args.data, args.out, resume=args.resume, device=args.device,
                events="stdout" if args.events == "stdout" else "file", weights_dir=args.weights_dir,
                weights_name=args.name, max_steps=args.max_steps)
    if res.weights is not None:
        print(f"done: step {res.step}; weights '{res.weights.name}' in {res.weights.weights_path.parent}")
        return 0
    print(f"stopped at step {res.step}; continue with --resume")
    return 130 if res.interrupted and args.max_steps is None else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="x2studio data synth", description="Generate synthetic training data.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="KIND", required=True)
    p = sub.add_parser("faces", help="rendered talking faces with pose/expression/landmark ground truth")
    p.add_argument("out", type=Path, help="dataset folder (created; a rerun resumes)")
    p.add_argument("--tracks", type=int, default=20, help="number of face tracks (default 20)")
    p.add_argument("--size", type=int, default=256, help="frame size in pixels (default 256)")
    p.add_argument("--seed", type=int, default=0, help="random seed: same seed, same data (default 0)")
    p.add_argument("--identities", type=int, default=None, help="distinct people (default: one per track)")
    p.add_argument("--frames-fps", type=float, default=None,
                   help="also save PNG frames at this rate (1 = the papers' 1-fps frames)")
    p.add_argument("--stills", type=int, default=0, help="labelled still images (pose/landmarks/expression)")
    p.add_argument("--max-seconds", type=float, default=8.0, help="longest track in seconds (default 8)")
    p.set_defaults(func=cmd_synth_faces)
    p = sub.add_parser("faces-sheet", help="a contact sheet of rendered identities (one row each, 5 poses)")
    p.add_argument("out", type=Path, help="image file (.png or .jpg)")
    p.add_argument("--identities", type=int, default=16, help="rows (default 16)")
    p.add_argument("--size", type=int, default=128, help="tile size in pixels (default 128)")
    p.add_argument("--seed", type=int, default=0, help="dataset seed whose identities to show (default 0)")
    p.add_argument("--landmarks", action="store_true", help="draw the 68 landmarks (red: hidden)")
    p.set_defaults(func=cmd_synth_sheet)
    p = sub.add_parser("faces-demo", help="the app's face demo media (a talking clip and a few stills)")
    p.add_argument("out", type=Path, help="folder (x2studio/resources/demo for the bundled one)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_synth_demo)
    p = sub.add_parser("train", help="train a model ('train list' shows tasks and recipes)")
    p.add_argument("task", help="task name, or 'list'")
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
    p.set_defaults(func=cmd_train)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format="x2studio: %(levelname)s: %(message)s")
    return run_guarded(args.func, args, debug=args.debug,
                       interrupted="interrupted (run the same command again to resume)")

if __name__ == "__main__":
    sys.exit(main())
