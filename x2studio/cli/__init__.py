"""The ``x2studio`` command line: a thin argparse layer over the use-cases in :mod:`x2studio.pipelines`.

One module per command group, each with ``add_parsers(sub)`` and its ``cmd_*`` functions.  Every
user-facing error prints one line (``x2studio: error: ...``) and exits non-zero; a traceback is
shown only with ``--debug``.  No subcommand opens the app (the launcher is handed in).
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable, Sequence

from .. import __version__
from ..core.terminal import run_guarded
from . import embeddings, faces, live, music, sync, system

__all__ = ["main", "build_parser", "run_guarded"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="x2studio", description="X2 Studio — faces and music from video. "
                                     "With no command, opens the app.")
    parser.add_argument("--version", action="version", version=f"X2 Studio {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in (system, faces, sync, music, live, embeddings):
        group.add_parsers(sub)
    system.add_data_parsers(sub)
    return parser


# Commands whose arguments belong to the training module's own parser (run in a child process).
_ROUTED = {("data", "synth"): [], ("data", "piano"): ["piano-videos"], ("train",): ["train"]}


def _routed(argv: list[str]) -> argparse.Namespace | None:
    rest = [a for a in argv if a != "--debug"]
    for prefix, lead in _ROUTED.items():
        if tuple(rest[:len(prefix)]) == prefix:
            return argparse.Namespace(debug="--debug" in argv, rest=lead + rest[len(prefix):],
                                      func=system.cmd_training)
    return None


def main(argv: Sequence[str] | None = None, launch_app: Callable[[list[str]], int] | None = None) -> int:
    """Run the CLI; ``launch_app(files)`` starts the GUI (no command, or ``app``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = _routed(argv) or parser.parse_args(argv)
    args.launch_app = launch_app
    if getattr(args, "func", None) is system.cmd_data_faces:
        if len(args.paths) < 2:
            parser.error("data faces needs at least one VIDEO and the OUT folder")
        args.inputs, args.out = args.paths[:-1], args.paths[-1]
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format="x2studio: %(levelname)s: %(message)s")
    func: Callable[[argparse.Namespace], int] = getattr(args, "func", system.cmd_app)
    return run_guarded(func, args, debug=args.debug)
