"""``data synth``'s generators: rendered faces, pianos and violins, the demos, and a piano dataset
from the user's own videos."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .common import reporting_job

__all__ = ["add_parsers"]


def cmd_synth_faces(args: argparse.Namespace) -> int:
    from ..synth.faces import generate_faces

    job, bar = reporting_job(args)
    try:
        root = generate_faces(args.out, tracks=args.tracks, size=args.size, seed=args.seed,
                              identities=args.identities, frames_fps=args.frames_fps, stills=args.stills,
                              max_seconds=args.max_seconds, face_model=args.face_model, reframe=args.reframe,
                              job=job)
    finally:
        bar.close()
    if args.events == "stdout":
        print(json.dumps({"event": "done", "path": str(root)}), flush=True)
    print(f"wrote {root} ({args.tracks} tracks, {args.stills} stills, {args.size}x{args.size})")
    return 0


def cmd_synth_piano(args: argparse.Namespace) -> int:
    from ..synth.piano import generate_piano

    job, bar = reporting_job(args)
    try:
        root = generate_piano(args.out, minutes=args.minutes, seed=args.seed, clip_seconds=args.clip_seconds,
                              size=(args.width, args.height), job=job)
    finally:
        bar.close()
    manifest = json.loads((root / "manifest.json").read_text())
    if args.events == "stdout":
        print(json.dumps({"event": "done", "path": str(root)}), flush=True)
    n, s = len(manifest["videos"]), manifest["splits"]
    print(f"wrote {root} ({n} videos of {args.clip_seconds:g} s: {s['train']} train, {s['val']} val, {s['test']} test)")
    return 0


def cmd_synth_violin(args: argparse.Namespace) -> int:
    from ..synth.violin import generate_violin

    job, bar = reporting_job(args)
    try:
        root = generate_violin(args.out, args.subset, minutes=args.minutes, seed=args.seed,
                               clip_seconds=args.clip_seconds, size=(args.width, args.height), job=job)
    finally:
        bar.close()
    manifest = json.loads((root / "manifest.json").read_text())
    if args.events == "stdout":
        print(json.dumps({"event": "done", "path": str(root)}), flush=True)
    n, s = len(manifest["videos"]), manifest["splits"]
    print(f"wrote {root} ({n} '{args.subset}' videos of {args.clip_seconds:g} s: {s['train']} train, {s['val']} val, "
          f"{s['test']} test)")
    return 0


def cmd_violin_demo(args: argparse.Namespace) -> int:
    from ..synth.violin import make_violin_demo

    for path in make_violin_demo(args.out, seed=args.seed):
        print(f"wrote {path}")
    return 0


def cmd_synth_sheet(args: argparse.Namespace) -> int:
    from x2studio.core.errors import InputError

    from ..synth.faces import contact_sheet

    if not 1 <= args.identities <= 256 or not 32 <= args.size <= 1024:
        raise InputError("--identities must be 1-256 and --size 32-1024.")
    if args.out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise InputError(f"'{args.out}': the sheet is written as .png or .jpg.")
    from x2studio.media.image import write_image

    write_image(args.out, contact_sheet(args.seed, args.identities, args.size, landmarks=args.landmarks,
                                        face_model=args.face_model))
    print(f"wrote {args.out} ({args.identities} identities x 5 poses)")
    return 0


def cmd_piano_videos(args: argparse.Namespace) -> int:
    from x2studio.core.errors import InputError

    from ..data.piano import import_videos

    if len(args.paths) < 2:
        raise InputError("Give at least one VIDEO (or folder) and then the OUT folder.")
    job, bar = reporting_job(argparse.Namespace(events="bar"))
    try:
        res = import_videos(args.paths[:-1], args.paths[-1], crop=args.crop, job=job)
    finally:
        bar.close()
    for line in res["skipped"]:
        print(f"skipped {line}")
    s = res["splits"]
    print(f"wrote {res['path']} ({res['videos']} videos: {s['train']} train, {s['val']} val, {s['test']} test); "
          f"next: x2studio train piano-labels --data {res['path']}")
    return 0 if res["videos"] else 2


def cmd_piano_demo(args: argparse.Namespace) -> int:
    from ..synth.piano import make_piano_demo

    for path in make_piano_demo(args.out, seed=args.seed):
        print(f"wrote {path}")
    return 0


def cmd_synth_demo(args: argparse.Namespace) -> int:
    from ..synth.faces import make_demo

    for path in make_demo(args.out, seed=args.seed):
        print(f"wrote {path}")
    return 0


def add_parsers(sub) -> None:
    from ..synth.head import FACE_MODEL, FACE_MODELS

    p = sub.add_parser("faces", help="rendered talking faces with pose/expression/landmark ground truth")
    p.add_argument("out", type=Path, help="dataset folder (created; a rerun resumes)")
    p.add_argument("--tracks", type=int, default=20, help="number of face tracks (default 20)")
    p.add_argument("--size", type=int, default=256, help="frame size in pixels (default 256)")
    p.add_argument("--seed", type=int, default=0, help="random seed: same seed, same data (default 0)")
    p.add_argument("--identities", type=int, default=None, help="distinct people (default: one per track)")
    p.add_argument("--frames-fps", type=float, default=None,
                   help="also save PNG frames at this rate (1 = the papers' 1-fps frames)")
    p.add_argument("--stills", type=int, default=0, help="labelled still images (pose/landmarks/expression)")
    p.add_argument("--max-seconds", type=float, default=8.0, help="longest track in seconds (default 8)")
    p.add_argument("--face-model", type=int, choices=FACE_MODELS, default=FACE_MODEL,
                   help=f"head shape version (default {FACE_MODEL}, the latest; 1 = the faces the bundled weights "
                        "were trained on)")
    p.add_argument("--reframe", type=float, default=0.0,
                   help="share of tracks (0-1) whose background slides once through the face crop, as when a "
                        "person shifts in the frame (default 0: static backgrounds)")
    p.add_argument("--events", choices=["bar", "stdout"], default="bar", help="progress as JSON lines on stdout")
    p.set_defaults(func=cmd_synth_faces)
    p = sub.add_parser("faces-sheet", help="a contact sheet of rendered identities (one row each, 5 poses)")
    p.add_argument("out", type=Path, help="image file (.png or .jpg)")
    p.add_argument("--identities", type=int, default=16, help="rows (default 16)")
    p.add_argument("--size", type=int, default=128, help="tile size in pixels (default 128)")
    p.add_argument("--seed", type=int, default=0, help="dataset seed whose identities to show (default 0)")
    p.add_argument("--landmarks", action="store_true", help="draw the 68 landmarks (red: hidden)")
    p.add_argument("--face-model", type=int, choices=FACE_MODELS, default=FACE_MODEL,
                   help=f"head shape version (default {FACE_MODEL})")
    p.set_defaults(func=cmd_synth_sheet)
    p = sub.add_parser("piano", help="rendered top-view piano videos with their audio, true MIDI and keyboard box")
    p.add_argument("out", type=Path, help="dataset folder (created; a rerun resumes)")
    p.add_argument("--minutes", type=float, default=5.0, help="minutes of video (default 5)")
    p.add_argument("--seed", type=int, default=0, help="random seed: same seed, same data (default 0)")
    p.add_argument("--clip-seconds", type=float, default=20.0, help="length of each video (default 20)")
    p.add_argument("--width", type=int, default=960, help="video width (default 960)")
    p.add_argument("--height", type=int, default=540, help="video height (default 540)")
    p.add_argument("--events", choices=["bar", "stdout"], default="bar", help="progress as JSON lines on stdout")
    p.set_defaults(func=cmd_synth_piano)
    # routed from 'x2studio data piano' and 'x2studio train': their usage lines name those commands
    p = sub.add_parser("piano-videos", prog="x2studio data piano",
                       help="a piano dataset from your own top-view piano videos (keyboards found, "
                            "MIDI beside a video used as its truth)")
    p.add_argument("paths", nargs="+", type=Path, metavar="VIDEO", help="videos or folders of videos, then OUT")
    p.add_argument("--crop", default=None, help="the keyboard position for all the videos (else found per video)")
    p.set_defaults(func=cmd_piano_videos)
    p = sub.add_parser("piano-demo", help="the app's piano demo: a 10-s clip of a held-out piece and its true MIDI")
    p.add_argument("out", type=Path, help="folder (resources/demo for the bundled one)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_piano_demo)
    p = sub.add_parser("violin", help="rendered violin videos (fingerboard, left hand, bow) with their audio, true MIDI "
                                      "and the true pitch of every frame")
    p.add_argument("out", type=Path, help="dataset folder (created; a rerun resumes)")
    p.add_argument("--subset", choices=["single", "all", "varied"], default="varied",
                   help="single: one string, fixed camera; all: every string, fixed camera; varied: camera, "
                        "backgrounds, lighting, players and occluders vary (default)")
    p.add_argument("--minutes", type=float, default=5.0, help="minutes of video (default 5)")
    p.add_argument("--seed", type=int, default=0, help="random seed: same seed, same data (default 0)")
    p.add_argument("--clip-seconds", type=float, default=15.0, help="length of each video (default 15)")
    p.add_argument("--width", type=int, default=400, help="video width (default 400, the thesis' student input)")
    p.add_argument("--height", type=int, default=200, help="video height (default 200)")
    p.add_argument("--events", choices=["bar", "stdout"], default="bar", help="progress as JSON lines on stdout")
    p.set_defaults(func=cmd_synth_violin)
    p = sub.add_parser("violin-demo", help="the app's violin demo: a 12-s varied-views clip of a held-out tune "
                                           "and its true MIDI")
    p.add_argument("out", type=Path, help="folder (resources/demo for the bundled one)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_violin_demo)
    p = sub.add_parser("faces-demo", help="the app's face demo media (a talking clip and a few stills)")
    p.add_argument("out", type=Path, help="folder (resources/demo for the bundled one)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_synth_demo)
