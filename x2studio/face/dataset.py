"""The face-track dataset format shared by rendered faces and faces tracked in real video.

::

    OUT/
      manifest.json            format, size, fps, source, splits, one entry per track
      tracks/<id>.mp4          the face track (H.264, with audio when the source had it)
      tracks/<id>.npz          per-frame labels (see below); absent for unlabelled real video
      frames/<id>/<k>.png      optional frames sampled at a lower rate (e.g. 1 fps, as VoxCeleb)
      stills/<split>/...       optional labelled single images (rendered data only)

Label arrays (rendered data): ``pose (T,3)`` yaw/pitch/roll degrees, ``expression (T,5)``,
``landmarks (T,68,2)`` pixels in the crop, ``visible (T,68)`` bool, ``box (T,4)`` x0,y0,x1,y1,
``identity ()`` int.  Real-video tracks store ``source_box (T,4)``: the crop's square in the
source frame, and ``source_frame (T,)``: the source frame index.

Writing is resumable: the manifest is rewritten (atomically) after every finished track, and a
rerun with the same arguments skips the tracks already listed.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..core.atomic import atomic_write_bytes, atomic_write_text, check_writable
from ..core.errors import InputError, OutputError

__all__ = ["FORMAT", "TrackEntry", "DatasetWriter", "load_manifest", "load_labels", "save_npz",
           "split_identities", "SPLITS"]

FORMAT = "x2studio-face-tracks"
VERSION = 1
SPLITS = ("train", "val", "test")


@dataclass
class TrackEntry:
    id: str
    identity: str
    split: str
    frames: int
    fps: float
    video: str
    labels: str | None = None
    audio: bool = False
    frames_dir: str | None = None
    extra: dict = field(default_factory=dict)


def save_npz(path: str | Path, **arrays: np.ndarray) -> Path:
    """``np.savez`` with fixed zip timestamps, so equal arrays give equal bytes; written atomically."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w") as fh:
                np.lib.format.write_array(fh, np.asarray(arrays[name]), allow_pickle=False)
    return atomic_write_bytes(path, buf.getvalue())


def load_labels(path: str | Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except FileNotFoundError as exc:
        raise InputError(f"Labels file '{path}' does not exist.") from exc
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise InputError(f"'{path}' is not a readable labels file ({exc}).") from exc


def split_identities(identities: list[str], seed: int, fractions=(0.75, 0.15, 0.10)) -> dict[str, str]:
    """Assign each identity to train/val/test (identity-disjoint, deterministic for ``seed``)."""
    ids = sorted(set(identities))
    order = np.random.default_rng([int(seed), 0x5E1]).permutation(len(ids))
    n = len(ids)
    n_val = int(round(n * fractions[1]))
    n_test = int(round(n * fractions[2]))
    if n >= 3:
        n_val, n_test = max(n_val, 1), max(n_test, 1)
    n_train = n - n_val - n_test
    out = {}
    for rank, i in enumerate(order):
        out[ids[i]] = "train" if rank < n_train else ("val" if rank < n_train + n_val else "test")
    return out


def load_manifest(root: str | Path) -> dict:
    p = Path(root) / "manifest.json"
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError as exc:
        raise InputError(f"'{root}' is not a face-track dataset (no manifest.json).") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"The manifest '{p}' is damaged ({exc}).") from exc
    if data.get("format") != FORMAT:
        raise InputError(f"'{p}' is not a face-track manifest (format {data.get('format')!r}).")
    return data


class DatasetWriter:
    """Builds a dataset folder track by track; see the module docstring for the layout."""

    def __init__(self, root: str | Path, *, size: int, fps: float, source: str, config: dict) -> None:
        self.root = Path(root).expanduser()
        try:
            (self.root / "tracks").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"Cannot create the dataset folder '{self.root}' ({exc.strerror}).") from exc
        check_writable(self.root / "manifest.json")
        self.meta = {"format": FORMAT, "version": VERSION, "size": int(size), "fps": float(fps),
                     "source": source, "config": config}
        self.tracks: dict[str, TrackEntry] = {}
        old = self.root / "manifest.json"
        if old.exists():
            try:
                prev = load_manifest(self.root)
            except InputError:
                prev = None
            if prev is not None and prev.get("config") == config and prev.get("source") == source:
                for t in prev.get("tracks", []):
                    e = TrackEntry(**t)
                    if (self.root / e.video).exists() and (e.labels is None or (self.root / e.labels).exists()):
                        self.tracks[e.id] = e

    def done(self, track_id: str) -> bool:
        return track_id in self.tracks

    def video_path(self, track_id: str) -> Path:
        return self.root / "tracks" / f"{track_id}.mp4"

    def labels_path(self, track_id: str) -> Path:
        return self.root / "tracks" / f"{track_id}.npz"

    def frames_dir(self, track_id: str) -> Path:
        return self.root / "frames" / track_id

    def add(self, entry: TrackEntry, splits: dict[str, str] | None = None) -> None:
        self.tracks[entry.id] = entry
        self.write_manifest(splits)

    def write_manifest(self, splits: dict[str, str] | None = None, extra: dict | None = None) -> Path:
        tracks = sorted(self.tracks.values(), key=lambda e: e.id)
        data = dict(self.meta)
        if extra:
            data.update(extra)
        data["tracks"] = [asdict(t) for t in tracks]
        by_split: dict[str, list[str]] = {s: [] for s in SPLITS}
        for ident, s in sorted((splits or {}).items()):
            by_split.setdefault(s, []).append(ident)
        data["splits"] = by_split
        return atomic_write_text(self.root / "manifest.json", json.dumps(data, indent=1, sort_keys=True))
