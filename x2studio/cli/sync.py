"""``x2studio sync``: find (and fix) the offset between a video's picture and its sound."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..core.errors import X2Error
from .common import DETECTOR_CHOICES, check_mp4, device_of, job_and_bar

__all__ = ["add_parsers", "cmd_sync"]


def cmd_sync(args: argparse.Namespace) -> int:
    from ..pipelines.sync import estimate_offset, fix_offset

    if args.output is not None:
        check_mp4(args.output, "the fixed video")
    corners = None
    if args.crop:
        if args.kind != "piano":
            raise X2Error("--crop marks a keyboard: it goes with --kind piano.")
        from ..pipelines.piano import parse_crop

        corners = parse_crop(args.crop)
    device = device_of(args)
    job, bar = job_and_bar()
    try:
        res = estimate_offset(args.video, kind=args.kind, weights=args.weights, device=device,
                              max_offset_s=args.max_offset, window_s=args.window, detector=args.detector, job=job,
                              corners=corners)
    finally:
        bar.close()
    fixed = None
    if args.output is not None:
        if res.offset_frames is None:
            raise X2Error("The offset was not found, so nothing was fixed.", "See the notes above; try --max-offset.")
        fixed = fix_offset(args.video, res.offset_s, args.output)
    if args.json:
        print(json.dumps({**res.to_dict(), "fixed": None if fixed is None else str(fixed)}))
        return 0
    for line in res.lines():
        print(line)
    if fixed is not None:
        print(f"wrote {fixed} (the sound moved {res.offset_s * 1000:+.0f} ms; the picture copied as it was)")
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
    p.add_argument("--detector", choices=DETECTOR_CHOICES, default="auto", help="face detector")
    p.add_argument("--device", default=None, help="cpu, cuda… (default: Settings)")
    p.set_defaults(func=cmd_sync)
