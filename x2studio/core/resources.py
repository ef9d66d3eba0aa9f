"""Where the bundled resources (weights and their cards, demo media, icons) are.

The tree keeps them at the top level (``resources/``, beside ``x2studio/`` and ``training/``); a
wheel and the PyInstaller bundle carry them as the package's data (``x2studio/resources``, mapped
in ``setup.py`` and ``installer/x2studio.spec``).  Everything that reads them asks here.
"""

from __future__ import annotations

from importlib import resources as _importlib_resources
from pathlib import Path

__all__ = ["resources_dir", "demo_dir", "bundled_weights_dir", "icons_dir"]


def resources_dir() -> Path:
    """The folder of the bundled resources: the source tree's own when running from it (a checkout or
    an editable install), else the installed package's data."""
    tree = Path(__file__).resolve().parents[2] / "resources"
    if (tree / "weights").is_dir():
        return tree
    return Path(str(_importlib_resources.files("x2studio") / "resources"))


def demo_dir() -> Path:
    return resources_dir() / "demo"


def bundled_weights_dir() -> Path:
    return resources_dir() / "weights"


def icons_dir() -> Path:
    return resources_dir() / "icons"
