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
