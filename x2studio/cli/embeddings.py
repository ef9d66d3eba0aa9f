"""The face-embedding commands: ``embed``, ``retrieve``, ``attributes`` and ``pick-sources``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .common import add_face_options, device_of, job_and_bar, with_progress

__all__ = ["add_parsers", "cmd_embed"]


def cmd_embed(args: argparse.Namespace) -> int:
    from ..pipelines.find_faces import GalleryRequest, build_gallery

    request = GalleryRequest(args.output, tuple(args.inputs), args.model, args.fps, args.max_faces, args.prune,
                             device_of(args), args.detector)
    with_progress(lambda job: build_gallery(request, job), as_json=args.json)
    return 0


def cmd_retrieve(args: argparse.Namespace) -> int:
    from ..pipelines.find_faces import RetrieveRequest, retrieve

    request = RetrieveRequest(args.index, args.query, time_s=args.time, k=args.k, exclude_own=not args.same_source,
                              exact=args.exact, attributes=args.attributes, model=args.model, device=device_of(args),
                              detector=args.detector)
    with_progress(lambda job: retrieve(request, job), as_json=args.json)
    return 0


def cmd_attributes(args: argparse.Namespace) -> int:
    from ..pipelines.find_faces import AttributesRequest, read_attributes

    request = AttributesRequest(tuple(args.images), args.time, args.model, device_of(args), args.detector)
    with_progress(lambda job: read_attributes(request, job), as_json=args.json)
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
