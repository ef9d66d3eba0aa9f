"""The face commands: ``reenact``, ``pose``, ``speak``, ``mix`` and ``paint``."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..core.errors import X2Error
from .common import add_detector_option, device_of, with_progress

__all__ = ["add_parsers"]


def cmd_reenact(args: argparse.Namespace) -> int:
    from ..pipelines.reenactment import ReenactRequest, reenact

    request = ReenactRequest(tuple(args.source), args.driving, args.output, args.weights, device_of(args),
                             args.detector, args.fusion, args.relative, not args.no_paste_back, args.source_frames)
    with_progress(lambda job: reenact(request, job))
    return 0


def cmd_pose(args: argparse.Namespace) -> int:
    if args.check:
        return _pose_check(args)
    from ..pipelines.pose_photo import PoseRequest, pose_photo

    if args.output is None:
        raise X2Error("Say where to write the result: -o OUT.png (a pose), OUT.mp4 or OUT.gif (--sweep).")
    request = PoseRequest(args.source, args.output, (args.yaw, args.pitch, args.roll), args.sweep, args.min,
                          args.max, args.seconds, not args.no_paste_back, args.weights, device_of(args), args.detector)
    with_progress(lambda job: pose_photo(request, job))
    return 0


def _pose_check(args: argparse.Namespace) -> int:
    """Closed loop: command poses, read them back with f_v→p and the head-pose CNN."""
    from ..pipelines.pose import HeadPoseEstimator, PoseController, closed_loop

    from ..pipelines.speak_photo import photo_reenactor

    r = photo_reenactor(args.source, args.weights, device_of(args), args.detector)
    ctl = PoseController(r)
    src = ctl.source_pose()
    print(f"source pose: yaw {src[0]:+.1f}, pitch {src[1]:+.1f}, roll {src[2]:+.1f} degrees")
    print(closed_loop(ctl, HeadPoseEstimator(args.estimator, device=str(r.device))).table())
    return 0


def cmd_paint(args: argparse.Namespace) -> int:
    from ..pipelines.paint import PaintRequest, paint_face

    request = PaintRequest(args.source, args.layer, args.driving, args.output, args.weights, device_of(args),
                           args.detector, args.relative, not args.no_paste_back)
    with_progress(lambda job: paint_face(request, job))
    return 0


def cmd_speak(args: argparse.Namespace) -> int:
    from ..pipelines.speak_photo import SpeakRequest, speak

    request = SpeakRequest(args.source, args.audio, args.output, args.strength, args.fps, args.mapping,
                           not args.no_paste_back, args.weights, device_of(args), args.detector)
    with_progress(lambda job: speak(request, job))
    return 0


def cmd_mix(args: argparse.Namespace) -> int:
    from ..pipelines.mix import Mix
    from ..pipelines.speak_photo import MixRequest, mix_photo

    angles = (args.yaw, args.pitch, args.roll)
    mix = Mix(pose=angles if any(a is not None for a in angles) else None, pose_weight=args.pose_weight,
              speech_weight=args.speech_weight, video_weight=args.video_weight, video_pose=args.video_pose)
    request = MixRequest(args.source, args.output, mix, args.audio, args.driving, not args.no_paste_back,
                         args.weights, device_of(args), args.detector)
    with_progress(lambda job: mix_photo(request, job))
    return 0


def add_parsers(sub) -> None:
    """``reenact``, ``pose``, ``speak``, ``mix`` and ``paint``."""
    p = sub.add_parser("reenact", help="make a source face follow a driving video (X2Face)")
    p.add_argument("--source", action="append", required=True, type=Path, metavar="IMG_OR_VIDEO",
                   help="source face: an image, or a video (frames are picked); repeat for several")
    p.add_argument("--driving", required=True, type=Path, help="driving video (its face's pose and expression)")
    p.add_argument("-o", "--output", required=True, type=Path, help="output MP4 (with the driving video's audio)")
    p.add_argument("--relative", action="store_true",
                   help="transfer changes from the first driving frame only (keeps the source's face shape)")
    p.add_argument("--no-paste-back", action="store_true", help="write the generated face crop, not the full frame")
    p.add_argument("--weights", default="x2face-lite", help="X2Face weights name (default x2face-lite)")
    p.add_argument("--source-frames", type=int, default=3, help="frames picked from each source video (default 3)")
    p.add_argument("--fusion", choices=["matched", "confidence", "mean"], default="matched",
                   help="several sources: matched = each frame takes most from the source whose pose and "
                        "expression are closest to it (default); confidence = one face fused by the model's "
                        "confidence; mean = the plain average (the paper)")
    add_detector_option(p)
    p.set_defaults(func=cmd_reenact)
    p = sub.add_parser("pose", help="turn a face in a photo to a head pose (X2Face + pose mappings)")
    p.add_argument("--source", required=True, type=Path, help="the photo with the face")
    p.add_argument("--yaw", type=float, help="degrees, -60…60 (default: the source's own)")
    p.add_argument("--pitch", type=float, help="degrees, -30…30 (default: the source's own)")
    p.add_argument("--roll", type=float, help="degrees, -25…25 (default: the source's own)")
    p.add_argument("--sweep", choices=["yaw", "pitch", "roll"], help="write an animation along this axis")
    p.add_argument("--min", type=float, default=None, help="sweep from this angle (default: 3/4 of the range)")
    p.add_argument("--max", type=float, default=None, help="sweep to this angle (default: 3/4 of the range)")
    p.add_argument("--seconds", type=float, default=4.0, help="sweep length (default 4 s at 25 fps)")
    p.add_argument("--check", action="store_true",
                   help="closed-loop check: command poses, read them back with f_v→p and the headpose CNN")
    p.add_argument("--estimator", default="headpose-lite", help="pose estimator weights for --check")
    p.add_argument("-o", "--output", type=Path, help="OUT.png (a pose) or OUT.mp4 / OUT.gif (a sweep)")
    p.add_argument("--no-paste-back", action="store_true", help="write the face crop, not the full photo")
    p.add_argument("--weights", default="x2face-lite", help="X2Face weights with pose mappings (default x2face-lite)")
    add_detector_option(p)
    p.set_defaults(func=cmd_pose)
    p = sub.add_parser("speak", help="make a face in a photo say a recording (X2Face + speech features)")
    p.add_argument("--source", required=True, type=Path, help="the photo with the face")
    p.add_argument("--audio", required=True, type=Path, help="speech: WAV, FLAC, MP3, OGG (or a video with sound)")
    p.add_argument("-o", "--output", required=True, type=Path, help="output MP4 (with the speech)")
    p.add_argument("--strength", type=float, default=1.0, help="mouth movement, 0…3 (default 1, as trained)")
    p.add_argument("--fps", type=float, default=25.0, help="frames per second (default 25)")
    p.add_argument("--mapping", default=None, help="f_a→v weights (default: WEIGHTS-a2v)")
    p.add_argument("--no-paste-back", action="store_true", help="write the generated face crop, not the full photo")
    p.add_argument("--weights", default="x2face-lite", help="X2Face weights with audio and pose mappings")
    add_detector_option(p)
    p.set_defaults(func=cmd_speak)
    p = sub.add_parser("mix", help="drive a face with several drivers at once: pose, speech, a driving video")
    p.add_argument("--source", required=True, type=Path, help="the photo with the face")
    p.add_argument("--yaw", type=float, help="head pose from the sliders, degrees (default: the source's own)")
    p.add_argument("--pitch", type=float, help="degrees")
    p.add_argument("--roll", type=float, help="degrees")
    p.add_argument("--audio", type=Path, help="speech that drives the mouth")
    p.add_argument("--driving", type=Path, help="a video whose face drives the expression")
    p.add_argument("--pose-weight", type=float, default=1.0, help="weight of the pose, 0…3 (default 1)")
    p.add_argument("--speech-weight", type=float, default=1.0, help="weight of the speech, 0…3 (default 1)")
    p.add_argument("--video-weight", type=float, default=1.0, help="weight of the driving video, 0…3 (default 1)")
    p.add_argument("--video-pose", action="store_true",
                   help="let the driving video turn the head too (default: its expression only)")
    p.add_argument("-o", "--output", required=True, type=Path, help="output MP4 (with the speech, else the video's sound)")
    p.add_argument("--no-paste-back", action="store_true", help="write the generated face crop, not the full photo")
    p.add_argument("--weights", default="x2face-lite", help="X2Face weights with pose (and audio) mappings")
    add_detector_option(p)
    p.set_defaults(func=cmd_mix)
    p = sub.add_parser("paint", help="drive a face whose embedded face carries a paint layer (tattoo, scar, glasses)")
    p.add_argument("--source", required=True, type=Path, help="the source face (photo or video)")
    p.add_argument("--layer", required=True, type=Path,
                   help="a PNG with transparency, the embedded face's size (drawn in the Paint panel)")
    p.add_argument("--driving", required=True, type=Path, help="driving video")
    p.add_argument("-o", "--output", required=True, type=Path, help="output MP4 (with the driving video's audio)")
    p.add_argument("--relative", action="store_true", help="transfer changes only (keeps the source's face shape)")
    p.add_argument("--no-paste-back", action="store_true", help="write the generated face crop, not the full frame")
    p.add_argument("--weights", default="x2face-lite", help="X2Face weights (default x2face-lite)")
    add_detector_option(p)
    p.set_defaults(func=cmd_paint)
