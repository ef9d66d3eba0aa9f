"""Face embeddings in use: the use-cases behind ``x2studio embed``, ``retrieve`` and ``attributes``
and the Retrieve panel.  Each request is checked when it is made; each use-case takes an optional
:class:`~.face_embedding.FaceEmbedder` already loaded (the panel keeps one between jobs) and
returns a typed result that says itself as lines (the CLI) and holds what a panel draws.

- :class:`GalleryRequest` → :func:`build_gallery` → :class:`GalleryResult`: the faces of images and
  videos embedded into an index (new or changed files only; a new index takes ``model``).
- :class:`RetrieveRequest` → :func:`retrieve` → :class:`RetrieveResult`: the faces of an index most
  alike to a query face (a file, or a picture such as a webcam frame), with their attributes.
- :class:`AttributesRequest` → :func:`read_attributes` → :class:`AttributesResult`: pose, landmarks
  and expression read from each face's embedding.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import InputError
from ..core.jobs import Job
from ..media.image import IMAGE_SUFFIXES

__all__ = ["GalleryRequest", "GalleryResult", "build_gallery", "RetrieveRequest", "RetrieveResult", "retrieve",
           "AttributesRequest", "AttributesResult", "read_attributes", "index_model", "embedder_for", "attributes_json",
           "attribute_lines"]

DEFAULT_MODEL = "fabnet-lite"
MAX_K = 1000


def index_model(index: Path) -> str | None:
    """The weights name a gallery index was built with (None when it cannot be read: Gallery says why)."""
    try:
        return json.loads((Path(index).expanduser() / "index.json").read_text()).get("model", {}).get("name")
    except (OSError, ValueError, AttributeError):
        return None


def embedder_for(model: str, device: str, detector: str = "auto", loaded=None):
    """``loaded`` when it is that model on that device, else a new :class:`FaceEmbedder`."""
    from .face_embedding import FaceEmbedder

    if loaded is not None and loaded.model["name"] == model and str(loaded.device) == str(device):
        return loaded
    return FaceEmbedder(model, device=device, detector=detector)


def _check_time(time_s: float | None) -> None:
    if time_s is not None and not (math.isfinite(time_s) and time_s >= 0):
        raise InputError(f"A time of {time_s:g} s is not in a video.", "Give a time from 0 s on.")


# ---------------------------------------------------------------------- build
@dataclass(frozen=True)
class GalleryRequest:
    index: Path
    inputs: tuple[Path, ...]
    model: str | None = None          # None: the index's own, or fabnet-lite for a new index
    fps: float = 1.0
    max_faces: int = 4
    prune: bool = False
    device: str = "cpu"
    detector: str = "auto"

    def __post_init__(self) -> None:
        if not self.inputs:
            raise InputError("Nothing to add to the gallery.", "Give images, videos or folders of them.")
        if not (math.isfinite(self.fps) and 0 < self.fps <= 120):
            raise InputError(f"Cannot sample {self.fps:g} frames per second.", "Use a rate above 0 (1 is usual).")
        if self.max_faces < 1:
            raise InputError("At least one face per picture must be kept.")


@dataclass(frozen=True)
class GalleryResult:
    index: Path
    model: str
    report: object                    # retrieval.BuildReport

    def lines(self) -> list[str]:
        return [*self.report.lines(), f"index: {self.index} (model {self.model})"]

    def to_json(self) -> dict:
        rep = self.report
        return {"index": str(self.index), "faces": rep.faces, "files": rep.files, "added": rep.added,
                "kept": rep.kept, "no_face": rep.no_face, "failed": rep.failed, "approximate": rep.approximate}


def build_gallery(request: GalleryRequest, job: Job | None = None, embedder=None) -> GalleryResult:
    from .retrieval import Gallery

    index = Path(request.index).expanduser()
    new = not (index / "index.json").is_file()
    model = request.model or (None if new else index_model(index)) or DEFAULT_MODEL
    emb = embedder_for(model, request.device, request.detector, embedder)
    gallery = Gallery(index, emb, create=new, fps=request.fps, max_faces=request.max_faces)
    report = gallery.add(list(request.inputs), job=job, prune=request.prune)
    return GalleryResult(index, gallery.model["name"], report)


# ---------------------------------------------------------------------- retrieve
@dataclass(frozen=True, eq=False)
class RetrieveRequest:
    """The query is a file (an image, or a video's frame at ``time_s``) or a ``picture`` (RGB array;
    ``label`` names it)."""

    index: Path
    query: Path | None = None
    picture: np.ndarray | None = None
    label: str = ""
    time_s: float | None = None
    k: int = 10
    exclude_own: bool = True          # leave out the faces of the query's own file
    exact: bool = False
    attributes: bool = False          # the query's and (with thumbnails) every hit's
    thumbnails: bool = False          # each hit's stored picture, at the embedder's crop size
    model: str | None = None          # None: the index's
    device: str = "cpu"
    detector: str = "auto"

    def __post_init__(self) -> None:
        if (self.query is None) == (self.picture is None):
            raise InputError("Give one query: an image or video file, or a picture.")
        if self.picture is not None and (np.ndim(self.picture) != 3 or np.shape(self.picture)[2] != 3):
            raise InputError("The query picture is not an RGB image.")
        if not 1 <= self.k <= MAX_K:
            raise InputError(f"-k must be between 1 and {MAX_K}.")
        _check_time(self.time_s)

    @property
    def name(self) -> str:
        if self.query is None:
            return self.label or "the picture"
        video = Path(self.query).suffix.lower() not in IMAGE_SUFFIXES
        return Path(self.query).name + (f" at {self.time_s or 0.0:.2f} s" if video else "")


@dataclass(frozen=True, eq=False)
class RetrieveResult:
    request: RetrieveRequest
    face: object                      # face_embedding.FaceCrop of the query
    hits: tuple                       # retrieval.Hit, best first
    faces: int                        # in the gallery
    model: str
    query_attributes: dict | None = None
    hit_attributes: tuple = ()        # per hit, with thumbnails and attributes
    thumbs: tuple = ()                # per hit, RGB at the embedder's crop size, with thumbnails
    expression_source: str = ""

    def lines(self) -> list[str]:
        own = "" if not self.request.exclude_own else " (its own file left out)"
        out = [f"{len(self.hits)} nearest of {self.faces} faces to the face in {self.request.name}{own}:"]
        for i, h in enumerate(self.hits, 1):
            where = "" if Path(h.source).suffix.lower() in IMAGE_SUFFIXES else f" at {h.time_s:7.2f} s (frame {h.frame})"
            out.append(f"  {i:>3}. {h.score:6.3f}  {h.source}{where}")
        if self.query_attributes is not None:
            out += [f"  query {line}" for line in attribute_lines(self.query_attributes)]
        return out

    def to_json(self) -> dict:
        f = self.face
        query = {"source": f.source, "frame": f.frame, "time_s": round(f.time_s, 3),
                 "box": [round(float(v), 1) for v in f.box]}
        if self.query_attributes is not None:
            query["attributes"] = attributes_json(self.query_attributes)
        return {"query": query, "index": str(self.request.index), "model": self.model, "faces": self.faces,
                "results": [h.to_dict() for h in self.hits]}


def _query_face(request: RetrieveRequest, emb):
    from .face_embedding import query_faces

    if request.query is not None:
        return query_faces(emb, request.query, request.time_s)[0]
    return emb.face(np.ascontiguousarray(request.picture), f"the {request.name}")


def _thumbnails(gallery, hits, size: int) -> list[np.ndarray]:
    """The hits' stored pictures at ``size``; a grey tile for embeddings added without pictures."""
    import cv2

    tiles = [gallery.thumb(h.row) for h in hits]
    tiles = [t if t is not None else np.full((64, 64, 3), 128, np.uint8) for t in tiles]
    return [cv2.resize(t, (size, size), interpolation=cv2.INTER_CUBIC) for t in tiles]


def retrieve(request: RetrieveRequest, job: Job | None = None, embedder=None) -> RetrieveResult:
    from .retrieval import Gallery

    job = job or Job()
    index = Path(request.index).expanduser()
    emb = embedder_for(request.model or index_model(index) or DEFAULT_MODEL, request.device, request.detector,
                    embedder)
    gallery = Gallery(index, emb)
    face = _query_face(request, emb)
    job.check()
    exclude = [face.source] if request.exclude_own and face.source else []
    hits = tuple(gallery.search(emb.embed([face.image])[0], request.k, exclude_sources=exclude,
                                exact=request.exact or None))
    thumbs = tuple(_thumbnails(gallery, hits, emb.crop_size)) if request.thumbnails else ()
    attrs = emb.attributes([face.image, *thumbs]) if request.attributes else []
    return RetrieveResult(request, face, hits, gallery.size, gallery.model["name"],
                          attrs[0] if attrs else None, tuple(attrs[1:]), thumbs, emb.expression_source)


# ---------------------------------------------------------------------- attributes
@dataclass(frozen=True)
class AttributesRequest:
    images: tuple[Path, ...]
    time_s: float | None = None
    model: str = DEFAULT_MODEL
    device: str = "cpu"
    detector: str = "auto"

    def __post_init__(self) -> None:
        if not self.images:
            raise InputError("Give at least one image (or a video with a time).")
        _check_time(self.time_s)


@dataclass(frozen=True, eq=False)
class AttributesResult:
    rows: tuple                       # (FaceCrop, attributes with landmarks in the picture's pixels)
    model: str
    expression_source: str

    def lines(self) -> list[str]:
        out = []
        for f, a in self.rows:
            out.append(f"{Path(f.source).name}: face at {', '.join(f'{v:.0f}' for v in f.box)} (read by {self.model})")
            out += [f"  {line}" for line in attribute_lines(a)]
            if "expression" in a:
                out.append(f"  (expression from {self.expression_source})")
        return out

    def to_json(self) -> list[dict]:
        return [{"source": f.source, "time_s": round(f.time_s, 3), "box": [round(float(v), 1) for v in f.box],
                 "weights": self.model, "expression_from": self.expression_source, **attributes_json(a)}
                for f, a in self.rows]


def read_attributes(request: AttributesRequest, job: Job | None = None, embedder=None) -> AttributesResult:
    from .face_embedding import query_faces

    job = job or Job()
    emb = embedder_for(request.model, request.device, request.detector, embedder)
    rows = []
    for k, path in enumerate(request.images):
        job.progress(k, len(request.images), f"reading {Path(path).name}")
        face, _ = query_faces(emb, path, request.time_s)
        a = emb.attributes([face.image])[0]
        if "landmarks" in a:      # crop pixels → the picture's pixels
            x0, y0, x1, y1 = face.box
            a["landmarks"] = a["landmarks"] * ((x1 - x0) / face.image.shape[1]) + np.array([x0, y0], np.float32)
        rows.append((face, a))
    return AttributesResult(tuple(rows), emb.model["name"], emb.expression_source)


# ---------------------------------------------------------------------- saying attributes
def attributes_json(a: dict) -> dict:
    out = {k: v for k, v in a.items() if k != "landmarks"}
    if "landmarks" in a:
        out["landmarks"] = [[round(float(x), 1), round(float(y), 1)] for x, y in a["landmarks"]]
    if "expression" in out:
        out["expression"] = {k: round(v, 3) for k, v in out["expression"].items()}
    if "pose" in out:
        out["pose"] = {k: round(v, 2) for k, v in out["pose"].items()}
    return out


def attribute_lines(a: dict) -> list[str]:
    out = []
    if "pose" in a:
        p = a["pose"]
        out.append(f"pose: yaw {p['yaw']:+.1f}°, pitch {p['pitch']:+.1f}°, roll {p['roll']:+.1f}°")
    if "expression" in a:
        out.append("expression: " + ", ".join(f"{k} {v:.2f}" for k, v in a["expression"].items()))
    if "landmarks" in a:
        out.append("landmarks: 68 points (--json prints them)")
    return out
