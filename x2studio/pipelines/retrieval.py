"""Face embeddings in use: attribute read-outs and retrieval of faces alike in pose and expression
(thesis ch. 4 §4.3.3–4.3.4; PAPERS.md §2 "Downstream").

- :class:`~.face_embedding.FaceEmbedder` (re-exported here) — faces found, cropped and embedded, with
  their pose, landmark and expression read-outs.
- :class:`Gallery` — an index on disk built from folders of images and videos (frames sampled at a
  chosen rate), incremental: a file already indexed and unchanged is never embedded again, a
  changed one is re-embedded, and an interrupted build resumes where it stopped.  Layout::

      INDEX/index.json            model (name, sha256), sampling, and one record per source file
      INDEX/shards/<id>.npz       that file's embeddings, frame numbers, times, crop boxes, thumbnails
      INDEX/ann.faiss, ann.json   the approximate index, once the gallery has ANN_MIN faces or more

  Search is by cosine similarity: exact (one matrix product) below ``ANN_MIN`` faces, an inverted
  file index of faiss (``IndexIVFFlat``) above, its ``nprobe`` raised at build time until recall@10
  against exact search on sample queries reaches 0.97.  faiss builds its index far faster than
  usearch's HNSW at the same recall (docs/measurements.md; ``benchmarks/retrieval.py`` measures
  10 k and 1 M faces).
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

from ..core.atomic import atomic_path, atomic_write_text
from ..core.errors import InputError, MediaError, OutputError, X2Error
from ..core.jobs import Job
from ..face.tracks import VIDEO_SUFFIXES
from ..media.image import IMAGE_SUFFIXES
from ..weights.registry import WeightsRegistry
from .face_embedding import EXPRESSION_LABELS, FaceCrop, FaceEmbedder, expand_media, media_faces, query_faces

__all__ = ["FaceEmbedder", "FaceCrop", "Gallery", "Hit", "BuildReport", "EXPRESSION_LABELS", "ANN_MIN",
           "expand_media", "media_faces", "query_faces", "weights_changed"]

log = logging.getLogger(__name__)

ANN_MIN = 100_000          # faces from which the approximate index is used
THUMB = 64                 # thumbnail side stored with each face
INDEX_VERSION = 1


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

    def _shard_path(self, name: str) -> Path:
        """A shard the index names, refused when it lies outside the gallery's shards folder: a
        damaged or hand-edited index must never make an update delete or read other files."""
        path = (self.root / str(name)).resolve()
        if path.parent != (self.root / "shards").resolve() or path.suffix != ".npz":
            raise InputError(f"The gallery '{self.root}' is damaged: its index names '{name}', outside its "
                             "shards folder.", "Build the index again (embed into a new folder).")
        return path

    def _drop(self, key: str) -> None:
        r = self.meta["files"].pop(key, None)
        if r and r.get("shard"):
            try:
                self._shard_path(r["shard"]).unlink()
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
                with np.load(self._shard_path(r["shard"]), allow_pickle=False) as z:
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
        with np.load(self._shard_path(self.meta["files"][src]["shard"]), allow_pickle=False) as z:
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
