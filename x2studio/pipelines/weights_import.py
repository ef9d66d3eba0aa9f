"""Importing weights someone else trained ("Import weights…" in the app, ``x2studio weights import``).

A weights entry is ``NAME.safetensors`` with its model card ``NAME.json`` beside it.  Before anything
is copied, the file's sha256 must match the card's, the card's architecture must be one the app
builds, and the tensors must fit that model; only then is the entry copied (atomically) into the
user's weights folder, where every panel finds it.  Nothing is unpickled: safetensors only.
"""

from __future__ import annotations

from pathlib import Path

from ..core.errors import InputError
from ..core.jobs import Job, progress_of
from ..weights.registry import WeightsEntry, WeightsRegistry, load_entry, register_weights

__all__ = ["import_weights", "find_entry"]


def find_entry(path: str | Path) -> Path:
    """The ``.json`` card of the one entry ``path`` names: the card, the ``.safetensors`` file, or a
    training run folder (its ``weights/`` entry)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"'{path}' does not exist.", "Give a .safetensors file with its .json model card beside it.")
    if path.is_dir():
        cards = [c for c in sorted((path / "weights").glob("*.json")) or sorted(path.glob("*.json"))
                 if c.with_suffix(".safetensors").is_file()]
        if len(cards) != 1:
            raise InputError(f"'{path}' holds {len(cards)} weights entries, not one.", "Name the .safetensors file itself.")
        return cards[0]
    if path.suffix.lower() not in (".safetensors", ".json"):
        raise InputError(f"'{path.name}' is not a weights file.",
                         "X2 Studio imports safetensors weights (NAME.safetensors + NAME.json); it never opens "
                         "pickled checkpoints (.pt, .pth, .ckpt).")
    return path.with_suffix(".json")


def import_weights(path: str | Path, name: str | None = None, replace: bool = False,
                   folder: str | Path | None = None, job: Job | None = None) -> WeightsEntry:
    """Check and copy one weights entry into the user's weights folder (or ``folder``); returns the copy."""
    from ..models.registry import model_from_card

    progress_of(job, 0, 3, "checking the checksum")
    entry = load_entry(find_entry(path))
    entry.verify()
    progress_of(job, 1, 3, "checking that the weights fit their model")
    model_from_card(entry)          # unknown architecture or tensors that do not fit: a clear InputError
    target = name or entry.name
    registry = WeightsRegistry([Path(folder)]) if folder is not None else WeightsRegistry()
    existing = registry.entries().get(target)
    if existing is not None and not existing.bundled and not replace:
        raise InputError(f"Weights named '{target}' are already installed.",
                         "Import under another name (--name), or replace them (--replace).")
    progress_of(job, 2, 3, "copying")
    copied = register_weights(entry, folder=folder, name=target)
    progress_of(job, 3, 3, "imported")
    return copied
