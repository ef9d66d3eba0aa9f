"""``python -m training``: the training module's command line (also reached as ``x2studio data synth``
and ``x2studio train``).  The commands live in :mod:`training.commands`.

The app never imports this package; ``x2studio`` runs it in a child process.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from x2studio.core.terminal import run_guarded


def build_parser() -> argparse.ArgumentParser:
    from .commands import data, train

    parser = argparse.ArgumentParser(prog="x2studio data synth", description="Generate synthetic training data.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="KIND", required=True)
    data.add_parsers(sub)
    train.add_parser(sub)
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
