"""The face-embedding commands: ``embed``, ``retrieve``, ``attributes`` and ``pick-sources``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..core.errors import X2Error
from .common import add_face_options, device_of, job_and_bar, with_progress

__all__ = ["add_parsers", "cmd_embed"]


def _embedder(args: argparse.Namespace, weights: str | None = None):
    from ..pipelines.retrieval import FaceEmbedder

    device = device_of(args)
    return FaceEmbedder(weights or args.model, device=device, detector=args.detector)


def _index_model(index: Path) -> str | None:
    """The weights name a gallery index was built with (None when it cannot be read: Gallery says why)."""
    try:
        return json.loads((index / "index.json").read_text()).get("model", {}).get("name")
    except (OSError, ValueError, AttributeError):
        return None


def cmd_embed(args: argparse.Namespace) -> int:
    from ..pipelines.retrieval import Gallery

    index = Path(args.output).expanduser()
    if (index / "index.json").is_file():
        built_with = _index_model(index)
        emb = _embedder(args, args.model if args.model_given else (built_with or args.model))
        gallery = Gallery(index, emb)
    else:
        emb = _embedder(args)
        gallery = Gallery(index, emb, create=True, fps=args.fps, max_faces=args.max_faces)
    rep = with_progress(lambda job: gallery.add(args.inputs, job=job, prune=args.prune))
    if args.json:
        print(json.dumps({"index": str(index), "faces": rep.faces, "files": rep.files, "added": rep.added,
                          "kept": rep.kept, "no_face": rep.no_face, "failed": rep.failed,
                          "approximate": rep.approximate}))
    else:
        print(f"index: {index} (model {gallery.model['name']})")
    return 0


def cmd_retrieve(args: argparse.Namespace) -> int:
    from ..media.image import IMAGE_SUFFIXES
    from ..pipelines.retrieval import Gallery, query_faces

    if args.k < 1:
        raise X2Error("-k must be at least 1.")
    index = Path(args.index).expanduser()
    emb = _embedder(args, args.model or _index_model(index) or "fabnet-lite")
    gallery = Gallery(index, emb)
    face, _ = query_faces(emb, args.query, args.time)
    q = emb.embed([face.image])[0]
    exclude = [] if args.same_source else [face.source]
    hits = gallery.search(q, args.k, exclude_sources=exclude, exact=args.exact or None)
    attrs = emb.attributes([face.image])[0] if args.attributes else None
    if args.json:
        out = {"query": {"source": face.source, "frame": face.frame, "time_s": round(face.time_s, 3),
                         "box": [round(float(v), 1) for v in face.box]},
               "index": str(index), "model": gallery.model["name"], "faces": gallery.size,
               "results": [h.to_dict() for h in hits]}
        if attrs is not None:
            out["query"]["attributes"] = _attrs_json(attrs)
        print(json.dumps(out))
        return 0
    print(f"{len(hits)} nearest of {gallery.size} faces to the face in {Path(args.query).name}"
          + (f" at {face.time_s:.2f} s" if args.time is not None else "")
          + ("" if args.same_source else " (its own file left out)") + ":")
    for i, h in enumerate(hits, 1):
        where = f" at {h.time_s:7.2f} s (frame {h.frame})" if Path(h.source).suffix.lower() not in IMAGE_SUFFIXES else ""
        print(f"  {i:>3}. {h.score:6.3f}  {h.source}{where}")
    if attrs is not None:
        for line in _attr_lines(attrs):
            print(f"  query {line}")
    return 0


def _attrs_json(a: dict) -> dict:
    out = {k: v for k, v in a.items() if k != "landmarks"}
    if "landmarks" in a:
        out["landmarks"] = [[round(float(x), 1), round(float(y), 1)] for x, y in a["landmarks"]]
    if "expression" in out:
        out["expression"] = {k: round(v, 3) for k, v in out["expression"].items()}
    if "pose" in out:
        out["pose"] = {k: round(v, 2) for k, v in out["pose"].items()}
    return out


def _attr_lines(a: dict) -> list[str]:
    out = []
    if "pose" in a:
        p = a["pose"]
        out.append(f"pose: yaw {p['yaw']:+.1f}°, pitch {p['pitch']:+.1f}°, roll {p['roll']:+.1f}°")
    if "expression" in a:
        out.append("expression: " + ", ".join(f"{k} {v:.2f}" for k, v in a["expression"].items()))
    if "landmarks" in a:
        out.append("landmarks: 68 points (--json prints them)")
    return out


def cmd_attributes(args: argparse.Namespace) -> int:
    import numpy as np

    from ..pipelines.retrieval import query_faces

    emb = _embedder(args)
    rows = []
    for path in args.images:
        face, rgb = query_faces(emb, path, args.time)
        a = emb.attributes([face.image])[0]
        if "landmarks" in a:      # crop pixels → the picture's pixels
            x0, y0, x1, y1 = face.box
            a["landmarks"] = a["landmarks"] * ((x1 - x0) / face.image.shape[1]) + np.array([x0, y0], np.float32)
        rows.append((face, a))
    if args.json:
        print(json.dumps([{"source": f.source, "time_s": round(f.time_s, 3), "box": [round(float(v), 1) for v in f.box],
                           "weights": emb.model["name"], "expression_from": emb.expression_source,
                           **_attrs_json(a)} for f, a in rows]))
        return 0
    for f, a in rows:
        print(f"{Path(f.source).name}: face at {', '.join(f'{v:.0f}' for v in f.box)} (read by {emb.model['name']})")
        for line in _attr_lines(a):
            print(f"  {line}")
        if "expression" in a:
            print(f"  (expression from {emb.expression_source})")
    return 0


def cmd_pick_sources(args: argparse.Namespace) -> int:
    from ..pipelines.pick_sources import PickSourcesRequest, pick_sources

    request = PickSourcesRequest(args.source, args.driving, args.k, driving_time=args.time, model=args.model,
                                 device=device_of(args), detector=args.detector)
    job, bar = job_and_bar()
    try:
        result = pick_sources(request, job)
    finally:
        bar.close()
    if args.json:
        print(json.dumps(list(result.rows)))
        return 0
    for line in result.lines():
        print(line)
    return 0


def add_parsers(sub) -> None:
    """``embed``, ``retrieve``, ``attributes`` and ``pick-sources``."""
    p = sub.add_parser("embed", help="build (or add to) a gallery index of the faces in images and videos")
    p.add_argument("inputs", nargs="+", type=Path, metavar="PATH", help="images, videos or folders of them")
    p.add_argument("-o", "--output", type=Path, required=True, help="index folder (created; adding to it is incremental)")
    p.add_argument("--model", default=None, help="embedding weights: fabnet (default: fabnet-lite) or any "
                                                 "FAb-Net/autoencoder/rotation weights name")
    p.add_argument("--fps", type=float, default=1.0, help="frames sampled per second of video (default 1)")
    p.add_argument("--max-faces", type=int, default=4, help="faces kept per picture, largest first (default 4)")
    p.add_argument("--prune", action="store_true", help="drop files that are gone or not among PATH")
    add_face_options(p)
    p.set_defaults(func=cmd_embed)
    p = sub.add_parser("retrieve", help="the faces of a gallery most alike in pose and expression to a query face")
    p.add_argument("index", type=Path, help="index folder made by 'x2studio embed'")
    p.add_argument("query", type=Path, help="an image, or a video (with --time)")
    p.add_argument("-k", type=int, default=10, help="neighbours (default 10)")
    p.add_argument("--time", type=float, default=None, help="the query video's frame at this time (s)")
    p.add_argument("--same-source", action="store_true", help="also return faces from the query's own file")
    p.add_argument("--exact", action="store_true", help="exact search even in a large gallery")
    p.add_argument("--attributes", action="store_true", help="also print the query face's attributes")
    p.add_argument("--model", default=None, help="embedding weights (default: the index's)")
    add_face_options(p)
    p.set_defaults(func=cmd_retrieve)
    p = sub.add_parser("attributes", help="pose, landmarks and expression read from a face's embedding")
    p.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="images (or videos with --time)")
    p.add_argument("--time", type=float, default=None, help="for a video: the frame at this time (s)")
    p.add_argument("--model", default="fabnet-lite", help="embedding weights (default fabnet-lite)")
    add_face_options(p)
    p.set_defaults(func=cmd_attributes)
    p = sub.add_parser("pick-sources", help="X2Face: the frames of a source video closest in pose to a driving face")
    p.add_argument("source", type=Path, help="the source video")
    p.add_argument("driving", type=Path, help="the driving image (or video, with --time)")
    p.add_argument("-k", type=int, default=3, help="frames to suggest (default 3)")
    p.add_argument("--time", type=float, default=None, help="for a driving video: the frame at this time (s)")
    p.add_argument("--model", default=None, help="embedding weights whose pose head reads the poses (default: "
                                                 "hierarchical-lite when installed, else fabnet-lite)")
    add_face_options(p)
    p.set_defaults(func=cmd_pick_sources)
