"""The frozen X2 Studio's entry point (PyInstaller runs this file; it is not used from a source tree).

The one executable is the app, the ``x2studio`` CLI and the training module's child process: the app
and the CLI start the training module as ``sys.executable -m training …`` (the Train panel, ``x2studio
train``, ``x2studio data synth``), which in the bundle is this program, so ``-m training`` is honoured here.
"""

from __future__ import annotations

import multiprocessing
import sys


def main() -> int:
    multiprocessing.freeze_support()   # DataLoader workers started by the bundle (spawn on Windows/macOS)
    if sys.argv[1:3] == ["-m", "training"]:
        from training.__main__ import main as training_main

        sys.argv = [sys.argv[0]] + sys.argv[3:]
        return training_main()
    from x2studio.__main__ import main as x2studio_main

    return x2studio_main()


if __name__ == "__main__":
    sys.exit(main())
