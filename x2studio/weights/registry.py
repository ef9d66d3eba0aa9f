"""Named weights = ``NAME.safetensors`` + ``NAME.json`` (the model card).

Weights are found in ``resources/weights`` (bundled; located by
:func:`x2studio.core.resources.bundled_weights_dir`) and in the user's weights folder (trained by the user; these win over a
bundled entry of the same name).  Loading checks the file's sha256 against the card and never
unpickles: only safetensors is read.

A model card (JSON) holds::

    {"name": "x2face-lite", "architecture": "x2face", "config": {...},  # constructor arguments
     "data": {...}, "recipe": {...}, "metrics": {...},
     "sha256": "<hex of the .safetensors file>", "created": "2026-11-25T10:00:00Z",
     "card_version": 1}
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from ..core import paths
from ..core.atomic import atomic_path, atomic_write_text
from ..core.errors import InputError, MediaError
from ..core.resources import bundled_weights_dir

__all__ = ["ModelCard", "WeightsEntry", "WeightsRegistry", "save_weights", "sha256_of", "load_entry", "resolve_entry",
           "register_weights"]

log = logging.getLogger(__name__)
CARD_VERSION = 1


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class ModelCard:
    name: str
    architecture: str
    config: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    recipe: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    sha256: str = ""
    created: str = ""
    card_version: int = CARD_VERSION

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: Path) -> "ModelCard":
        try:
            name, arch = str(data["name"]), str(data["architecture"])
        except (KeyError, TypeError) as exc:
            raise MediaError(f"The model card '{source}' lacks a name or an architecture.") from exc
        def obj(key: str) -> dict[str, Any]:
            value = data.get(key, {})
            return dict(value) if isinstance(value, Mapping) else {}
        return cls(name, arch, obj("config"), obj("data"), obj("recipe"), obj("metrics"),
                   str(data.get("sha256", "")), str(data.get("created", "")), int(data.get("card_version", CARD_VERSION)))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "architecture": self.architecture, "config": self.config, "data": self.data,
                "recipe": self.recipe, "metrics": self.metrics, "sha256": self.sha256, "created": self.created,
                "card_version": self.card_version}


@dataclass(frozen=True)
class WeightsEntry:
    card: ModelCard
    weights_path: Path
    card_path: Path
    bundled: bool

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def size_bytes(self) -> int:
        return self.weights_path.stat().st_size

    def verify(self) -> None:
        """Raise :class:`MediaError` if the file's sha256 differs from the card's."""
        if not self.card.sha256:
            raise MediaError(f"The weights '{self.name}' have no checksum in their model card.", "Re-export them.")
        actual = sha256_of(self.weights_path)
        if actual != self.card.sha256:
            raise MediaError(f"The weights file of '{self.name}' is damaged or was changed (checksum mismatch).",
                             f"Re-install or re-train it ({self.weights_path}).")

    def load_state_dict(self, device: str = "cpu", verify: bool = True) -> dict[str, Any]:
        """The tensors, as ``{name: torch.Tensor}`` on ``device`` (safetensors; nothing is unpickled)."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        if verify:
            self.verify()
        try:
            tensors = load_file(str(self.weights_path), device=device)
        except (SafetensorError, OSError, ValueError) as exc:
            raise MediaError(f"The weights file '{self.weights_path.name}' cannot be read ({exc}).") from exc
        bad = [k for k, t in tensors.items() if t.is_floating_point() and not bool(t.isfinite().all())]
        if bad:          # a run that diverged: its model would only ever answer NaN
            raise MediaError(f"The weights '{self.name}' hold NaN or infinite values (in {bad[0]}).",
                             "Train them again (a lower learning rate), or use other weights.")
        return tensors


def _bundled_dir() -> Path | None:
    try:
        root = bundled_weights_dir()
    except ModuleNotFoundError:  # pragma: no cover
        return None
    path = Path(str(root))
    return path if path.is_dir() else None


def load_entry(path: str | os.PathLike[str], bundled: bool = False) -> WeightsEntry:
    """The entry of one ``NAME.safetensors`` / ``NAME.json`` pair, given either file."""
    path = Path(path)
    card_path, weights = path.with_suffix(".json"), path.with_suffix(".safetensors")
    if not card_path.is_file() or not weights.is_file():
        raise InputError(f"'{path}' is not a weights entry.",
                         "A weights entry is NAME.safetensors with its model card NAME.json beside it.")
    try:
        data = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MediaError(f"The model card '{card_path}' cannot be read ({exc}).") from exc
    if not isinstance(data, Mapping):
        raise MediaError(f"The model card '{card_path}' is not a JSON object.")
    return WeightsEntry(ModelCard.from_dict(data, card_path), weights, card_path, bundled)


def resolve_entry(weights: str | os.PathLike[str], registry: "WeightsRegistry | None" = None) -> WeightsEntry:
    """A weights entry from a registry name, or from a ``.safetensors`` / ``.json`` file (its card beside it)."""
    path = Path(weights)
    if path.suffix in (".safetensors", ".json") or path.exists():
        return load_entry(path)
    return (registry or WeightsRegistry()).get(str(weights))


def register_weights(entry: WeightsEntry, folder: str | os.PathLike[str] | None = None,
                     name: str | None = None) -> WeightsEntry:
    """Copy a trained entry (checked against its checksum) into the user's weights folder, where the
    app's panels find it; ``name`` renames it.  Both files are written atomically."""
    entry.verify()
    folder = Path(folder) if folder is not None else paths.user_weights_dir()
    card = ModelCard(**{**entry.card.to_dict(), "name": name or entry.name, "sha256": ""})
    from safetensors.torch import load_file

    return save_weights(load_file(str(entry.weights_path)), card, folder)


class WeightsRegistry:
    """All weights available to the app; user entries override bundled ones of the same name."""

    def __init__(self, folders: list[Path] | None = None) -> None:
        if folders is None:
            folders = [p for p in (_bundled_dir(), paths.user_weights_dir()) if p is not None]
        self.folders = folders
        self._bundled = _bundled_dir()

    def entries(self) -> dict[str, WeightsEntry]:
        found: dict[str, WeightsEntry] = {}
        for folder in self.folders:
            for card_path in sorted(Path(folder).glob("*.json")):
                if not card_path.with_suffix(".safetensors").is_file():
                    continue
                try:
                    entry = load_entry(card_path, bundled=Path(folder) == self._bundled)
                except (InputError, MediaError) as exc:
                    log.warning("skipping unreadable model card %s: %s", card_path, exc)
                    continue
                found[entry.name] = entry
        return found

    def names(self, architecture: str | None = None) -> list[str]:
        return sorted(n for n, e in self.entries().items() if architecture is None or e.card.architecture == architecture)

    def get(self, name: str) -> WeightsEntry:
        entries = self.entries()
        if name not in entries:
            known = ", ".join(sorted(entries)) or "none"
            raise InputError(f"No weights named '{name}'.", f"Available: {known}.")
        return entries[name]


def save_weights(
    state_dict: Mapping[str, Any],
    card: ModelCard,
    folder: str | os.PathLike[str] | None = None,
) -> WeightsEntry:
    """Write ``state_dict`` as safetensors and its card (with sha256 and date), both atomically."""
    from safetensors.torch import save_file

    folder = Path(folder) if folder is not None else paths.user_weights_dir()
    if not card.name or any(c in card.name for c in "/\\:") or card.name.startswith("."):
        raise InputError(f"'{card.name}' cannot be used as a weights name.", "Use letters, digits, '-', '_' and '.'.")
    weights_path = folder / f"{card.name}.safetensors"
    tensors = {k: v.detach().contiguous().cpu() for k, v in state_dict.items()}
    with atomic_path(weights_path) as tmp:
        save_file(tensors, str(tmp), metadata={"name": card.name, "architecture": card.architecture})
    digest = sha256_of(weights_path)
    created = card.created or datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    final = ModelCard(**{**card.to_dict(), "sha256": digest, "created": created})
    card_path = weights_path.with_suffix(".json")
    atomic_write_text(card_path, json.dumps(final.to_dict(), indent=2, sort_keys=True) + "\n")
    return WeightsEntry(final, weights_path, card_path, bundled=False)
