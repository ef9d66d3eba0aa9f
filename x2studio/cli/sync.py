"""``x2studio sync``: find (and fix) the offset between a video's picture and its sound."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..core.errors import X2Error
from .common import add_detector_option, device_of, job_and_bar

__all__ = ["add_parsers", "cmd_sync"]


def cmd_sync(args: argparse.Namespace) -> int:
    from ..pipelines.sync import SyncRequest, check_sync

    if args.crop and args.kind != "piano":
        raise X2Error("--crop marks a keyboard: it goes with --kind piano.")
    corners = None
    if args.crop:
        from ..pipelines.piano import parse_crop

        corners = parse_crop(args.crop)
    request = SyncRequest(args.video, args.kind, args.output, args.weights, device_of(args), args.max_offset,
                          args.window, args.detector, corners)
    job, bar = job_and_bar()
    try:
        checked = check_sync(request, job)
    finally:
        bar.close()
    if args.json:
        print(json.dumps({**checked.result.to_dict(), "fixed": None if checked.fixed is None else str(checked.fixed)}))
        return 0
    for line in checked.lines():
        print(line)
    return 0


def add_parsers(sub) -> None:
    """``sync``."""
    p = sub.add_parser("sync", help="find (and fix) the offset between a video's picture and its sound")
    p.add_argument("video", type=Path, help="a video with sound (a talking face, or a keyboard from above)")
    p.add_argument("--kind", choices=["face", "piano"], default="face",
                   help="what is in the picture: a talking face or a piano keyboard from above (default face)")
    p.add_argument("--crop", default=None, help="piano: the keyboard's box Y0,Y1,X0,X1 in pixels (default: the "
                   "remembered keyboard, else the one found in the picture)")
    p.add_argument("-o", "--output", type=Path, help="write a copy with the sound moved into sync (MP4)")
    p.add_argument("--max-offset", type=float, default=2.0, help="search ± this many seconds (default 2)")
    p.add_argument("--window", type=float, default=10.0,
                   help="sliding windows of this many seconds for drift (default 10; videos of 2 windows or more)")
    p.add_argument("--json", action="store_true", help="print the estimate, the curve and the windows as JSON")
    p.add_argument("--weights", default=None, help="AV-sync weights (default: the bundled ones for --kind)")
    add_detector_option(p)
    p.set_defaults(func=cmd_sync)
