"""Face embeddings in use: attribute read-outs and retrieval of faces alike in pose and expression
(thesis ch. 4 §4.3.3–4.3.4; PAPERS.md §2 "Downstream").

- :class:`FaceEmbedder` — a frozen face encoder (``fabnet-lite`` by default; any FAb-Net,
  autoencoder or rotation weights) and the attribute heads trained on it (``fabnet-head`` weights
  whose card names this encoder): faces found and cropped as the training data were, then a unit
  256-D embedding per face, and pose (degrees), 68 landmarks and expression probabilities.
- :class:`Gallery` — an index on disk built from folders of images and videos (frames sampled at a
  chosen rate), incremental: a file already indexed and unchanged is never embedded again, a
  changed one is re-embedded, and an interrupted build resumes where it stopped.  Layout::

      INDEX/index.json            model (name, sha256), sampling, and one record per source file
      INDEX/shards/<id>.npz       that file's embeddings, frame numbers, times, crop boxes, thumbnails
      INDEX/ann.faiss, ann.json   the approximate index, once the gallery has ANN_MIN faces or more

  Search is by cosine similarity: exact (one matrix product) below ``ANN_MIN`` faces, an inverted
  file index of faiss (``IndexIVFFlat``) above, its ``nprobe`` raised at build time until recall@10
  against exact search on sample queries reaches 0.97.  faiss was measured against usearch's HNSW on
  this 2-core machine (100 k clustered 256-D vectors): both reached recall 1.0, faiss built its
  index in 6 s and usearch in 53 s, and single queries took 0.06–0.2 ms against 0.2–0.3 ms, so
  faiss it is (``benchmarks/retrieval.py`` measures 10 k and 1 M).
- Filters: results from the query's own source file are left out by default, so that the
  neighbours are other videos (across identities, as in the thesis).
- :mod:`.pick_sources` — for X2Face: the frames of a source video closest in pose to a
  driving frame.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np
import torch

from ..core.atomic import atomic_path, atomic_write_text
from ..core.errors import InputError, MediaError, OutputError, X2Error
from ..core.jobs import Job
from ..face.detect import FaceDetector, make_detector
from ..face.tracks import VIDEO_SUFFIXES, crop, crop_box
from ..media.image import IMAGE_SUFFIXES, read_image
from ..media.video import VideoReader
from ..models.fabnet import EMBEDDERS, EXPRESSION_LABELS, load_embedder, to_model_input
from ..models.posemap import DEGREES
from ..models.registry import model_from_card
from ..weights.registry import WeightsRegistry

__all__ = ["FaceEmbedder", "FaceCrop", "Gallery", "Hit", "BuildReport", "EXPRESSION_LABELS", "ANN_MIN",
           "expand_media", "weights_changed"]

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS = "fabnet-lite"
ALIASES = {"fabnet": "fabnet-lite", "autoencoder": "autoencoder-lite", "rotation": "rotation-lite"}
EXPRESSION_READER = "expression-lite"
ANN_MIN = 100_000          # faces from which the approximate index is used
THUMB = 64                 # thumbnail side stored with each face
INDEX_VERSION = 1


def _resolve(name: str) -> str:
    return ALIASES.get(name, name)


@dataclass
class FaceCrop:
    """One face: the crop the model sees, where it came from, and its box in that picture."""

    image: np.ndarray                  # (S, S, 3) uint8 RGB, S = the encoder's input size
    box: np.ndarray                    # (4,) square crop box (x0, y0, x1, y1) in the source picture
    source: str = ""
    frame: int = 0
    time_s: float = 0.0


class FaceEmbedder:
    """A frozen face encoder and the attribute heads trained on it."""

    def __init__(self, weights: str = DEFAULT_WEIGHTS, device: str = "cpu", detector: str | FaceDetector = "auto",
                 registry: WeightsRegistry | None = None, crop_size: int = 128) -> None:
        registry = registry or WeightsRegistry()
        entry = registry.get(_resolve(weights))
        if entry.card.architecture not in EMBEDDERS:
            raise InputError(f"The weights '{entry.name}' are a '{entry.card.architecture}' model, not a face embedding.",
                             f"Pick weights of: {', '.join(EMBEDDERS)}.")
        self.entry = entry
        self.device = torch.device(device)
        self.encoder = load_embedder(entry, device)
        self.size = int(self.encoder.image_size)
        self.dim = int(self.encoder.dim)
        self.crop_size = max(int(crop_size), self.size)
        self.model = {"name": entry.name, "sha256": entry.card.sha256, "dim": self.dim, "input": self.size}
        self._detector_spec = detector
        self._detector: FaceDetector | None = detector if not isinstance(detector, str) else None
        self.heads: dict[str, torch.nn.Module] = {}
        for name in registry.names("fabnet-head"):
            h = registry.get(name)
            target = str(h.card.config.get("target", ""))
            if h.card.config.get("encoder") == entry.name and target in ("pose", "lm68", "expression") \
                    and target not in self.heads:
                try:
                    self.heads[target] = model_from_card(h, device, allowed=("fabnet-head",))
                except X2Error as exc:   # a broken head costs its read-out, not the embedding
                    log.warning("attribute head '%s' not loaded: %s", name, exc)
        # Expression: a linear head on this embedding when one exists; else the supervised expression
        # CNN (``expression-lite``).  fabnet-lite's linear expression heads measured a mean ROC AUC of
        # 0.50-0.56 (chance) on held-out stills, so none is bundled and the bars come from the CNN.
        self.expression_source = f"{entry.name} head" if "expression" in self.heads else ""
        self._expression_cnn = None
        if "expression" not in self.heads and EXPRESSION_READER in registry.names("vgg11-expression"):
            try:
                self._expression_cnn = model_from_card(registry.get(EXPRESSION_READER), device,
                                                       allowed=("vgg11-expression",))
                self.expression_source = f"{EXPRESSION_READER} (supervised)"
            except X2Error as exc:
                log.warning("expression reader not loaded: %s", exc)

    @property
    def detector(self) -> FaceDetector:
        if self._detector is None:
            self._detector = make_detector(self._detector_spec)
        return self._detector

    # ------------------------------------------------------------------ faces
    def faces(self, rgb: np.ndarray, max_faces: int = 4, min_size: float = 24.0) -> list[FaceCrop]:
        """The faces of one picture, largest first, cropped as the training data were."""
        found = sorted(self.detector.detect(rgb), key=lambda d: -d.size)
        out = []
        for d in found[:max_faces]:
            if d.size < min_size:
                continue
            cb = crop_box(d.box)
            out.append(FaceCrop(crop(rgb, cb, self.crop_size), cb.astype(np.float32)))
        return out

    def face(self, rgb: np.ndarray, what: str = "the picture") -> FaceCrop:
        found = self.faces(rgb, max_faces=1)
        if not found:
            raise InputError(f"No face was found in {what}.", "Use a picture where a face is clearly visible.")
        return found[0]

    # ------------------------------------------------------------------ model
    @torch.no_grad()
    def _codes(self, crops: Sequence[np.ndarray], batch: int = 64) -> torch.Tensor:
        outs = []
        for i in range(0, len(crops), batch):
            x = to_model_input(np.stack(crops[i:i + batch]), self.size).to(self.device)
            outs.append(self.encoder(x).float())
        return torch.cat(outs) if outs else torch.zeros(0, self.dim)

    def embed(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """``(N, D)`` unit embeddings of face crops (``(S, S, 3)`` uint8 each, any S)."""
        if len(crops) == 0:
            return np.zeros((0, self.dim), np.float32)
        e = self._codes(list(crops))
        return torch.nn.functional.normalize(e, dim=1).cpu().numpy().astype(np.float32)

    @torch.no_grad()
    def attributes(self, crops: Sequence[np.ndarray]) -> list[dict]:
        """Per crop: ``pose`` (yaw, pitch, roll in degrees), ``landmarks`` (68×2 in crop pixels) and
        ``expression`` ({label: 0…1}), for the read-outs that exist for this encoder."""
        if len(crops) == 0:
            return []
        e = self._codes(list(crops))
        out: list[dict] = [{} for _ in crops]
        if "pose" in self.heads:
            p = (self.heads["pose"](e) * DEGREES).cpu().numpy()
            for d, row in zip(out, p):
                d["pose"] = {"yaw": float(row[0]), "pitch": float(row[1]), "roll": float(row[2])}
        if "lm68" in self.heads:
            lm = self.heads["lm68"](e).cpu().numpy().reshape(len(crops), 68, 2)
            for d, row, c in zip(out, lm, crops):
                d["landmarks"] = ((row + 1) / 2 * c.shape[1]).astype(np.float32)
        if "expression" in self.heads:
            pr = torch.sigmoid(self.heads["expression"](e)).cpu().numpy()
        elif self._expression_cnn is not None:
            s = int(self._expression_cnn.image_size)
            x = np.stack([cv2.resize(c, (s, s), interpolation=cv2.INTER_AREA) for c in crops]).astype(np.float32) / 255
            pr = self._expression_cnn(torch.from_numpy(x).permute(0, 3, 1, 2).to(self.device)).clamp(0, 1).cpu().numpy()
        else:
            return out
        for d, row in zip(out, pr):
            d["expression"] = {k: float(v) for k, v in zip(EXPRESSION_LABELS, row)}
        return out


# ---------------------------------------------------------------------- sources
def expand_media(paths: Iterable[str | Path]) -> list[Path]:
    """Images and videos of ``paths`` (folders searched recursively), sorted, without duplicates."""
    files: list[Path] = []
    suffixes = IMAGE_SUFFIXES | VIDEO_SUFFIXES
    for p in map(Path, paths):
        p = p.expanduser()
        if p.is_dir():
            files += sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in suffixes)
        elif p.is_file():
            if p.suffix.lower() not in suffixes:
                raise InputError(f"'{p.name}' is neither an image nor a video.",
                                 f"Images: {', '.join(sorted(IMAGE_SUFFIXES))}; videos: {', '.join(sorted(VIDEO_SUFFIXES))}.")
            files.append(p)
        else:
            raise InputError(f"'{p}' does not exist.", "Give images, videos or folders of them.")
    seen, out = set(), []
    for f in files:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            out.append(key)
    return out


def _video_faces(embedder: FaceEmbedder, path: Path, fps: float, max_faces: int, job: Job | None,
                 label: str) -> list[FaceCrop]:
    out: list[FaceCrop] = []
    with VideoReader(path) as rd:
        n = rd.frame_count or None
        step = 1.0 / fps
        next_t = 0.0
        for fr in rd.frames():
            if job is not None:
                job.progress(fr.index + 1, n, label)
            if fr.time_s + 0.5 / rd.fps < next_t:
                continue
            next_t = max(next_t + step, fr.time_s + 0.5 * step)
            for f in embedder.faces(fr.image, max_faces):
                f.frame, f.time_s = fr.index, float(fr.time_s)
                out.append(f)
    return out


def media_faces(embedder: FaceEmbedder, path: Path, fps: float = 1.0, max_faces: int = 4,
                job: Job | None = None, label: str = "") -> list[FaceCrop]:
    """The faces of an image, or of a video's frames sampled at ``fps``."""
    if path.suffix.lower() in IMAGE_SUFFIXES:
        faces = embedder.faces(read_image(path), max_faces)
    else:
        faces = _video_faces(embedder, path, fps, max_faces, job, label or f"finding faces in {path.name}")
    for f in faces:
        f.source = str(path)
    return faces


# ---------------------------------------------------------------------- gallery
@dataclass
class Hit:
    score: float           # cosine similarity
    source: str
    frame: int
    time_s: float
    box: np.ndarray
    row: int               # row in the gallery
    thumb: np.ndarray | None = None

    def to_dict(self) -> dict:
        return {"score": round(float(self.score), 5), "source": self.source, "frame": int(self.frame),
                "time_s": round(float(self.time_s), 3), "box": [round(float(v), 1) for v in self.box]}


@dataclass
class BuildReport:
    added: int = 0              # files embedded in this build
    kept: int = 0               # files already indexed and unchanged
    faces: int = 0              # faces in the gallery after the build
    files: int = 0
    no_face: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    removed: int = 0
    approximate: bool = False

    def lines(self) -> list[str]:
        out = [f"{self.faces} faces from {self.files} files ({self.added} embedded now, {self.kept} unchanged"
               + (f", {self.removed} gone and dropped" if self.removed else "") + ")"
               + ("; approximate index built" if self.approximate else "")]
        out += [f"no face in {s}" for s in self.no_face]
        out += [f"skipped {s}" for s in self.failed]
        return out


def weights_changed(root: str | Path, registry: WeightsRegistry | None = None) -> bool:
    """Whether the gallery index at ``root`` was built with weights that are no longer the installed ones
    of its name (an update replaced them, or they are gone): its embeddings cannot be queried with them.
    False when there is no readable index."""
    try:
        model = json.loads((Path(root) / "index.json").read_text())["model"]
        name, sha = str(model["name"]), str(model["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    try:
        return (registry or WeightsRegistry()).get(name).card.sha256 != sha
    except X2Error:
        return True


def _file_key(p: Path) -> str:
    return hashlib.sha1(str(p).encode()).hexdigest()[:16]


def _stamp(p: Path) -> list[int]:
    st = p.stat()
    return [int(st.st_size), int(st.st_mtime_ns)]


class Gallery:
    """A retrieval index on disk (see the module's docstring)."""

    def __init__(self, root: str | Path, embedder: FaceEmbedder | None = None, *, create: bool = False,
                 fps: float = 1.0, max_faces: int = 4, model: dict | None = None) -> None:
        self.root = Path(root).expanduser()
        self.embedder = embedder
        meta = self.root / "index.json"
        if meta.is_file():
            try:
                self.meta = json.loads(meta.read_text())
                if not isinstance(self.meta, dict) or "files" not in self.meta or "model" not in self.meta:
                    raise ValueError("not a gallery index")
            except (OSError, ValueError) as exc:
                raise InputError(f"'{self.root}' holds no readable gallery index ({exc}).",
                                 "Build one with 'x2studio embed DIR -o INDEX'.") from exc
            if int(self.meta.get("version", 0)) > INDEX_VERSION:
                raise InputError(f"The gallery '{self.root}' was made by a newer X2 Studio.")
        elif create:
            if self.root.exists() and not self.root.is_dir():
                raise InputError(f"'{self.root}' is a file, not a folder for the index.")
            if self.root.is_dir() and any(self.root.iterdir()):
                raise InputError(f"'{self.root}' is not empty and holds no gallery index.",
                                 "Choose a new folder for the index.")
            if embedder is None and model is None:
                raise InputError("Building a gallery needs a face embedder.")
            if not (fps > 0 and math.isfinite(fps)) or max_faces < 1:
                raise InputError("The sampling rate must be above 0 and at least one face per picture allowed.")
            self.meta = {"version": INDEX_VERSION, "model": embedder.model if embedder else dict(model), "fps": float(fps),
                         "max_faces": int(max_faces), "files": {}}
        else:
            raise InputError(f"No gallery index in '{self.root}'.", "Build one with 'x2studio embed DIR -o INDEX'.")
        if embedder is not None:
            self.check_model(embedder)
        self._cache: dict | None = None
        self._ann = None

    # ------------------------------------------------------------------ model
    @property
    def model(self) -> dict:
        return dict(self.meta["model"])

    def check_model(self, embedder: FaceEmbedder) -> None:
        m = self.meta["model"]
        if m.get("sha256") != embedder.model["sha256"] and m.get("name") == embedder.model["name"]:
            raise InputError(f"The gallery '{self.root}' was built with an earlier version of the weights "
                             f"'{m.get('name')}' ({str(m.get('sha256'))[:12]}); the installed ones are "
                             f"{str(embedder.model['sha256'])[:12]}, whose embeddings do not compare with it.",
                             "Build the gallery again into a new folder (or delete this one and add its files "
                             "again).")
        if m.get("sha256") != embedder.model["sha256"] or int(m.get("dim", 0)) != embedder.dim:
            raise InputError(f"The gallery '{self.root}' was built with the weights '{m.get('name')}' "
                             f"({str(m.get('sha256'))[:12]}), not with '{embedder.model['name']}' "
                             f"({str(embedder.model['sha256'])[:12]}).",
                             f"Use --model {m.get('name')}, or build a new index with these weights.")

    # ------------------------------------------------------------------ build
    def _save_meta(self) -> None:
        atomic_write_text(self.root / "index.json", json.dumps(self.meta, indent=1))

    def add(self, paths: Sequence[str | Path], job: Job | None = None, prune: bool = False) -> BuildReport:
        """Embed the faces of the files of ``paths`` not yet indexed (or changed since)."""
        if self.embedder is None:
            raise InputError("Adding to a gallery needs its face embedder.")
        files = expand_media(paths)
        if not files:
            raise InputError("No images or videos in the given paths.",
                             f"Images: {', '.join(sorted(IMAGE_SUFFIXES))}; videos: {', '.join(sorted(VIDEO_SUFFIXES))}.")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            (self.root / "shards").mkdir(exist_ok=True)
        except OSError as exc:
            raise OutputError(f"Cannot write the gallery index in '{self.root}' ({exc.strerror or exc}).",
                              "Choose a folder you can write to.") from exc
        rep = BuildReport()
        recs = self.meta["files"]
        todo = []
        for f in files:
            r = recs.get(str(f))
            if r is not None and r.get("stamp") == _stamp(f) and r.get("status") in ("ok", "no-face"):
                rep.kept += 1
            else:
                todo.append(f)
        if prune:
            wanted = {str(f) for f in files}
            for key in [k for k in recs if k not in wanted or not Path(k).exists()]:
                self._drop(key)
                rep.removed += 1
        fps, max_faces = float(self.meta["fps"]), int(self.meta["max_faces"])
        for i, f in enumerate(todo):
            if job is not None:
                job.check()
                job.progress(i, len(todo), f"{f.name} ({i + 1}/{len(todo)})")
            label = f"{f.name} ({i + 1}/{len(todo)})"
            try:
                faces = media_faces(self.embedder, f, fps, max_faces, job=_SubJob(job, i, len(todo)) if job else None,
                                    label=label)
            except (MediaError, InputError, OSError) as exc:
                msg = exc.message if isinstance(exc, X2Error) else str(exc)
                self._drop(str(f))
                recs[str(f)] = {"stamp": _stamp(f), "status": "error", "error": msg, "faces": 0}
                self._save_meta()
                continue
            self._drop(str(f))
            rec = {"stamp": _stamp(f), "faces": len(faces), "kind": "image" if f.suffix.lower() in IMAGE_SUFFIXES
                   else "video"}
            if faces:
                vec = self.embedder.embed([c.image for c in faces])
                rec.update(status="ok", shard=self._write_shard(
                    f, vec, np.array([c.frame for c in faces], np.int64), np.array([c.time_s for c in faces]),
                    np.stack([c.box for c in faces]),
                    np.stack([cv2.resize(c.image, (THUMB, THUMB), interpolation=cv2.INTER_AREA) for c in faces])))
            else:
                rec["status"] = "no-face"
                rep.no_face.append(f.name)
            recs[str(f)] = rec
            rep.added += 1
            self._save_meta()      # after each file: a cancelled build resumes here
            self._cache = None
        self._save_meta()
        self._cache = None
        if job is not None:
            job.progress(len(todo), len(todo), "indexing")
        rep.files = sum(1 for r in recs.values() if r.get("status") == "ok")
        rep.faces = self.size
        if rep.faces == 0:
            raise InputError("No face was found in any of the files.",
                             "Give pictures or videos where faces are clearly visible.")
        rep.failed = [f"{Path(k).name}: {r.get('error', '')}" for k, r in recs.items() if r.get("status") == "error"]
        if rep.faces >= ANN_MIN:
            self.build_ann(job=job)
            rep.approximate = True
        return rep

    def _write_shard(self, source: Path | str, vectors, frames, times, boxes, thumbs, compress: bool = True) -> str:
        shard = f"shards/{_file_key(Path(source))}.npz"
        with atomic_path(self.root / shard) as tmp:
            with open(tmp, "wb") as fh:
                (np.savez_compressed if compress else np.savez)(fh, vectors=np.asarray(vectors, np.float32), frame=np.asarray(frames, np.int64),
                                    time=np.asarray(times, np.float64), box=np.asarray(boxes, np.float32),
                                    thumbs=np.asarray(thumbs, np.uint8))
        return shard

    def add_vectors(self, source: str, vectors: np.ndarray, frames: np.ndarray | None = None,
                    times: np.ndarray | None = None, boxes: np.ndarray | None = None,
                    thumbs: np.ndarray | None = None) -> None:
        """Add embeddings computed elsewhere (with the same weights) as the faces of ``source``
        (replacing its earlier ones); unit-normalised here."""
        v = np.asarray(vectors, np.float32)
        if v.ndim != 2 or v.shape[1] != int(self.meta["model"].get("dim", v.shape[1])) or not len(v):
            raise InputError(f"Expected embeddings of shape (N, {self.meta['model'].get('dim')}), got {v.shape}.")
        if not np.isfinite(v).all():
            raise InputError("The embeddings contain NaN or infinite values.")
        v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
        n = len(v)
        (self.root / "shards").mkdir(parents=True, exist_ok=True)
        self._drop(source)
        shard = self._write_shard(source, v, np.arange(n) if frames is None else frames,
                                  np.zeros(n) if times is None else times,
                                  np.zeros((n, 4)) if boxes is None else boxes,
                                  np.zeros((n, 1, 1, 3), np.uint8) if thumbs is None else thumbs, compress=False)
        self.meta["files"][source] = {"stamp": None, "faces": n, "status": "ok", "shard": shard, "kind": "vectors"}
        self._save_meta()
        self._cache = None

    def _drop(self, key: str) -> None:
        r = self.meta["files"].pop(key, None)
        if r and r.get("shard"):
            try:
                (self.root / r["shard"]).unlink()
            except FileNotFoundError:
                pass
        self._cache = None

    # ------------------------------------------------------------------ data
    def _load(self) -> dict:
        if self._cache is not None:
            return self._cache
        vecs, src, frame, time_s, box, rows = [], [], [], [], [], []
        sources = []
        for key, r in self.meta["files"].items():
            if r.get("status") != "ok":
                continue
            try:
                with np.load(self.root / r["shard"], allow_pickle=False) as z:
                    v = z["vectors"]
                    vecs.append(v)
                    frame.append(z["frame"])
                    time_s.append(z["time"])
                    box.append(z["box"])
            except (OSError, ValueError, KeyError) as exc:
                raise InputError(f"The gallery '{self.root}' is damaged: {r['shard']} cannot be read ({exc}).",
                                 "Build the index again (embed into a new folder).") from exc
            src.append(np.full(len(v), len(sources), np.int32))
            rows.append((key, len(v)))
            sources.append(key)
        d = self.model.get("dim", 256)
        self._cache = {
            "vectors": np.concatenate(vecs).astype(np.float32) if vecs else np.zeros((0, d), np.float32),
            "source": np.concatenate(src) if src else np.zeros(0, np.int32),
            "frame": np.concatenate(frame) if frame else np.zeros(0, np.int64),
            "time": np.concatenate(time_s) if time_s else np.zeros(0),
            "box": np.concatenate(box) if box else np.zeros((0, 4), np.float32),
            "sources": sources,
        }
        return self._cache

    @property
    def size(self) -> int:
        return int(sum(int(r.get("faces", 0)) for r in self.meta["files"].values() if r.get("status") == "ok"))

    @property
    def vectors(self) -> np.ndarray:
        return self._load()["vectors"]

    def thumb(self, row: int) -> np.ndarray | None:
        """The stored thumbnail of a face (None for embeddings added without pictures)."""
        d = self._load()
        src = d["sources"][int(d["source"][row])]
        first = int(np.searchsorted(d["source"], d["source"][row]))
        with np.load(self.root / self.meta["files"][src]["shard"], allow_pickle=False) as z:
            t = z["thumbs"][row - first]
        return t if t.shape[0] > 1 else None

    def _hit(self, row: int, score: float) -> Hit:
        d = self._load()
        return Hit(float(score), d["sources"][int(d["source"][row])], int(d["frame"][row]), float(d["time"][row]),
                   d["box"][row], int(row))

    # ------------------------------------------------------------------ search
    def build_ann(self, job: Job | None = None, target_recall: float = 0.97, seed: int = 0) -> dict:
        """The approximate index (faiss IVF-Flat, inner product on unit vectors), its ``nprobe``
        chosen on sample queries against exact search; saved beside the shards."""
        import faiss

        x = self.vectors
        n = len(x)
        if n < 1000:
            raise InputError("An approximate index needs at least 1000 faces; search is exact below that.")
        rng = np.random.default_rng(seed)
        nlist = int(min(max(16, 4 * math.sqrt(n)), n // 39))
        if job is not None:
            job.progress(0, 3, f"approximate index: clustering {n} faces into {nlist} lists")
        quant = faiss.IndexFlatIP(x.shape[1])
        ivf = faiss.IndexIVFFlat(quant, x.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
        ivf.train(x[rng.choice(n, min(n, 64 * nlist), replace=False)])
        if job is not None:
            job.check()
            job.progress(1, 3, "approximate index: adding the faces")
        ivf.add(x)
        # leave-one-out queries: gallery faces whose own entry is ignored in both result lists, so
        # that they stand for new faces (a query found in the index itself is trivially found first)
        rows = rng.choice(n, min(200, n), replace=False)
        q = x[rows]
        exact = [[r for r in row if r != own][:10] for row, own in zip(_top(q, x, 11), rows)]
        nprobe, recall = 1, 0.0
        while nprobe <= nlist:
            ivf.nprobe = nprobe
            _, found = ivf.search(q, 11)
            recall = float(np.mean([len(set([r for r in a if r != own][:10]) & set(b)) / 10
                                    for a, b, own in zip(found, exact, rows)]))
            if recall >= target_recall:
                break
            nprobe *= 2
        ivf.nprobe = min(nprobe, nlist)
        info = {"faces": n, "nlist": nlist, "nprobe": int(ivf.nprobe), "recall_at_10": round(recall, 4),
                "files": sorted(self._load()["sources"])}
        with atomic_path(self.root / "ann.faiss") as tmp:
            faiss.write_index(ivf, str(tmp))
        atomic_write_text(self.root / "ann.json", json.dumps(info))
        self._ann = ivf
        if job is not None:
            job.progress(3, 3, f"approximate index: nprobe {ivf.nprobe}, recall@10 {recall:.3f}")
        return info

    def _approximate(self):
        if self._ann is not None:
            return self._ann
        info_p, idx_p = self.root / "ann.json", self.root / "ann.faiss"
        if not (info_p.is_file() and idx_p.is_file()):
            return None
        try:
            info = json.loads(info_p.read_text())
        except (OSError, ValueError):
            return None
        if info.get("faces") != self.size or info.get("files") != sorted(self._load()["sources"]):
            return None            # stale: the gallery changed since (exact search until rebuilt)
        import faiss

        self._ann = faiss.read_index(str(idx_p))
        self._ann.nprobe = int(info.get("nprobe", 16))
        return self._ann

    def search(self, query: np.ndarray, k: int = 10, exclude_sources: Iterable[str] = (),
               exact: bool | None = None) -> list[Hit]:
        """The ``k`` faces most similar to the unit vector ``query`` (cosine), best first, leaving out
        the faces of ``exclude_sources``."""
        d = self._load()
        x = d["vectors"]
        q = np.asarray(query, np.float32).reshape(-1)
        if q.shape[0] != x.shape[1]:
            raise InputError(f"The query has {q.shape[0]} dimensions; the gallery's embeddings have {x.shape[1]}.")
        if k < 1:
            raise InputError("Ask for at least one neighbour (k ≥ 1).")
        q = q / max(float(np.linalg.norm(q)), 1e-12)
        excl = {str(s) for s in exclude_sources}
        bad = np.array([i for i, s in enumerate(d["sources"]) if s in excl], np.int32)
        allowed = ~np.isin(d["source"], bad) if len(bad) else np.ones(len(x), bool)
        ann = None if exact or len(x) < ANN_MIN else self._approximate()
        if ann is not None:
            fetch = k + int(np.count_nonzero(~allowed[: len(x)])) if len(bad) else k
            fetch = min(len(x), max(fetch, k) * 2 if len(bad) else fetch)
            scores, rows = ann.search(q[None], fetch)
            hits = [(r, s) for r, s in zip(rows[0], scores[0]) if r >= 0 and allowed[r]][:k]
            if len(hits) == k or fetch >= len(x):
                return [self._hit(int(r), float(s)) for r, s in hits]
        scores = x @ q
        scores = np.where(allowed, scores, -np.inf)
        k = min(k, int(allowed.sum()))
        if k == 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [self._hit(int(r), float(scores[r])) for r in top]


def _top(q: np.ndarray, x: np.ndarray, k: int, chunk: int = 25) -> np.ndarray:
    """Exact top-``k`` rows of ``x`` by inner product for each query (best first), in chunks."""
    out = []
    for s in range(0, len(q), chunk):
        sc = q[s:s + chunk] @ x.T
        part = np.argpartition(-sc, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sc, part, 1), axis=1, kind="stable")
        out.append(np.take_along_axis(part, order, 1))
    return np.concatenate(out)


class _SubJob:
    """Progress of one file inside a build: reported as a fraction of that file's share."""

    def __init__(self, job: Job, i: int, n: int) -> None:
        self.job, self.i, self.n = job, i, n

    def check(self) -> None:
        self.job.check()

    def progress(self, done: int, total: int | None, message: str = "") -> None:
        self.job.check()
        frac = (done / total) if total else 0.0
        self.job.progress(int(1000 * (self.i + min(frac, 1.0))), 1000 * self.n, message)


# ---------------------------------------------------------------------- queries
def query_faces(embedder: FaceEmbedder, path: str | Path, time_s: float | None = None) -> tuple[FaceCrop, np.ndarray]:
    """The (largest) face of an image, or of a video's frame at ``time_s``, and that picture."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise InputError(f"The query '{p}' does not exist.")
    if p.suffix.lower() in IMAGE_SUFFIXES:
        rgb = read_image(p)
        frame = 0
        t = 0.0
    elif p.suffix.lower() in VIDEO_SUFFIXES:
        with VideoReader(p) as rd:
            t = float(time_s or 0.0)
            if t < 0 or (rd.duration_s and t > rd.duration_s):
                raise InputError(f"{t:g} s is outside the video '{p.name}' ({rd.duration_s:.2f} s long).")
            fr = rd.read(min(rd.index_of(t), max(rd.frame_count - 1, 0)))
            rgb, frame, t = fr.image, fr.index, fr.time_s
    else:
        raise InputError(f"'{p.name}' is neither an image nor a video.")
    what = f"'{p.name}'" + (f" at {t:.2f} s" if p.suffix.lower() in VIDEO_SUFFIXES else "")
    face = embedder.face(rgb, what)
    face.source, face.frame, face.time_s = str(p.resolve()), frame, t
    return face, rgb
