"""Faces found, cropped as the training data were, and embedded by a frozen face encoder with its
attribute read-outs (thesis ch. 4 §4.3.3–4.3.4): the part of retrieval that reads pictures.

- :class:`FaceEmbedder` — a frozen face encoder (``fabnet-lite`` by default; any FAb-Net,
  autoencoder or rotation weights) and the attribute heads trained on it (``fabnet-head`` weights
  whose card names this encoder): a unit 256-D embedding per face, and pose (degrees), 68
  landmarks and expression probabilities.
- :func:`expand_media`, :func:`media_faces` — the faces of images and of videos' sampled frames.
- :func:`query_faces` — the face of an image, or of a video's frame at a time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np
import torch

from ..core.errors import InputError, X2Error
from ..core.jobs import Job
from ..face.detect import FaceDetector, make_detector
from ..face.tracks import VIDEO_SUFFIXES, crop, crop_box
from ..media.image import IMAGE_SUFFIXES, read_image
from ..media.video import VideoReader
from ..models.fabnet import EMBEDDERS, EXPRESSION_LABELS, load_embedder, to_model_input
from ..models.posemap import DEGREES
from ..models.registry import model_from_card
from ..weights.registry import WeightsRegistry

__all__ = ["FaceEmbedder", "FaceCrop", "EXPRESSION_LABELS", "expand_media", "media_faces", "query_faces",
           "DEFAULT_WEIGHTS"]

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS = "fabnet-lite"
ALIASES = {"fabnet": "fabnet-lite", "autoencoder": "autoencoder-lite", "rotation": "rotation-lite"}
EXPRESSION_READER = "expression-lite"


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
