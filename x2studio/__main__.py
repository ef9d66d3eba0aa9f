"""``python -m x2studio`` and the ``x2studio`` command: the app with no arguments, else the CLI."""

from __future__ import annotations

import sys


def main() -> int:
    from .cli import main as cli_main

    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
