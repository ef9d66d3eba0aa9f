"""``python -m x2studio`` and the ``x2studio`` command: the app with no arguments, else the CLI."""

from __future__ import annotations

import sys


def _launch_app(files: list[str], self_test: bool = False, shots: str | None = None) -> int:
    from .app import run_app  # Qt is imported only when the GUI is wanted

    return run_app(files, self_test=self_test, shots=shots)


def main() -> int:
    from .cli import main as cli_main

    return cli_main(sys.argv[1:], launch_app=_launch_app)


if __name__ == "__main__":
    sys.exit(main())
