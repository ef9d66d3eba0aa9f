"""Pick X2Face's source frames by pose: the frames of a source video whose face is turned most like
the driving face (thesis ch. 3: sources close in pose drive best).  The Reenact panel's "By pose"
and ``x2studio pick-sources`` both call :func:`pick_sources`, with the same pose model by default."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import InputError
from ..core.jobs import Job
from ..media.video import VideoReader
from .retrieval import FaceCrop, FaceEmbedder

__all__ = ["PickSourcesRequest", "PickSourcesResult", "pick_sources", "suggest_source_frames", "default_pose_model",
           "POSE_MODELS"]

POSE_MODELS = ("hierarchical-lite", "fabnet-lite")     # embeddings with a pose read-out, best first


def default_pose_model() -> str:
    """The first of :data:`POSE_MODELS` whose pose head is installed."""
    from ..weights.registry import WeightsRegistry

    names = WeightsRegistry().names()
    return next((w for w in POSE_MODELS if f"{w}-pose" in names), POSE_MODELS[-1])


@dataclass(frozen=True)
class PickSourcesRequest:
    """The ``k`` frames of ``source`` (a video) closest in pose to the face of ``driving`` (an image,
    or a video's frame: ``driving_frame`` by index, else ``driving_time`` in seconds)."""

    source: Path
    driving: Path
    k: int = 3
    driving_frame: int | None = None
    driving_time: float | None = None
    model: str | None = None            # default: default_pose_model()
    device: str | None = None
    detector: str = "auto"

    def __post_init__(self) -> None:
        for p in (self.source, self.driving):
            if not Path(p).is_file():
                raise InputError(f"The file '{p}' does not exist.")
        if not 1 <= self.k <= 32:
            raise InputError(f"-k {self.k} is out of range.", "Suggest 1 to 32 frames.")


@dataclass(frozen=True)
class PickSourcesResult:
    source: Path
    model: str
    rows: tuple[dict, ...]              # each {frame, time_s, box, pose, distance_deg}, best first

    def specs(self) -> list[str]:
        """The frames as sources (``video@frame``), for the Reenact panel and ``reenact --source``."""
        return [f"{self.source}@{r['frame']}" for r in self.rows]

    def lines(self) -> list[str]:
        out = [f"frames of {self.source.name} closest in pose to the driving face ({self.model}):"]
        for r in self.rows:
            p = r["pose"]
            out.append(f"  frame {r['frame']:>6} at {r['time_s']:7.2f} s: yaw {p['yaw']:+.0f}°, pitch {p['pitch']:+.0f}°, "
                       f"roll {p['roll']:+.0f}° ({r['distance_deg']:.1f}° away)")
        return out


def pick_sources(request: PickSourcesRequest, job: Job | None = None) -> PickSourcesResult:
    from ..core.device import resolve_device

    model = request.model or default_pose_model()
    emb = FaceEmbedder(model, device=str(request.device or resolve_device().torch_device), detector=request.detector)
    rows = suggest_source_frames(emb, request.source, _driving_picture(emb, request), k=request.k, job=job)
    return PickSourcesResult(Path(request.source), model, tuple(rows))


def _driving_picture(emb: FaceEmbedder, request: PickSourcesRequest) -> np.ndarray:
    from ..media.image import IMAGE_SUFFIXES, read_image
    from .retrieval import query_faces

    if Path(request.driving).suffix.lower() in IMAGE_SUFFIXES:
        return read_image(request.driving)
    if request.driving_frame is not None:
        with VideoReader(request.driving) as rd:
            return rd.read(request.driving_frame).image
    return query_faces(emb, request.driving, request.driving_time)[1]


def suggest_source_frames(embedder: FaceEmbedder, video: str | Path, driving: np.ndarray, k: int = 3,
                          candidates: int = 48, job: Job | None = None) -> list[dict]:
    """For X2Face: the ``k`` frames of the source ``video`` whose face is closest in pose (yaw,
    pitch, roll read by the pose head) to the face of the ``driving`` picture, best first; each
    ``{frame, time_s, box, pose, distance_deg}``."""
    if "pose" not in embedder.heads:
        raise InputError(f"No pose read-out exists for the embedding '{embedder.model['name']}'.",
                         "Train one: x2studio train attributes --option target=pose.")
    want = embedder.attributes([embedder.face(driving, "the driving picture").image])[0]["pose"]
    wv = np.array([want["yaw"], want["pitch"], want["roll"]])
    p = Path(video)
    cands: list[FaceCrop] = []
    with VideoReader(p) as rd:
        n = max(rd.frame_count, 1)
        wanted = set(np.linspace(0, n - 1, min(candidates, n)).round().astype(int).tolist())
        for fr in rd.frames():
            if job is not None:
                job.progress(fr.index + 1, n, f"reading poses in {p.name}")
            if fr.index in wanted:
                for f in embedder.faces(fr.image, 1):
                    f.frame, f.time_s = fr.index, fr.time_s
                    cands.append(f)
    if not cands:
        raise InputError(f"No face was found in the video '{p.name}'.")
    poses = embedder.attributes([c.image for c in cands])
    dist = [float(np.linalg.norm(np.array([a["pose"]["yaw"], a["pose"]["pitch"], a["pose"]["roll"]]) - wv))
            for a in poses]
    order = np.argsort(dist)[:k]
    return [{"frame": cands[i].frame, "time_s": round(float(cands[i].time_s), 3),
             "box": [round(float(v), 1) for v in cands[i].box], "pose": poses[i]["pose"],
             "distance_deg": round(dist[i], 2)} for i in order]
