"""``x2studio live piano``: live transcription from the command line — a webcam, or a video played in
real time — printing each note as it is decided (with its latency), striking it on the live
synthesizer, and writing the take when the video ends, ``--seconds`` are over or Ctrl-C is pressed."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

from ..core.errors import InputError, MediaError, X2Error

__all__ = ["add_parsers", "cmd_live_piano"]


def add_parsers(sub) -> None:
    live = sub.add_parser("live", help="live transcription from a webcam or a video in real time: 'live piano'")
    lsub = live.add_subparsers(dest="instrument", metavar="INSTRUMENT", required=True)
    p = lsub.add_parser("piano", help="the notes played on a keyboard seen from above, as they are played")
    p.add_argument("video", type=Path, nargs="?", default=None,
                   help="a video to play in real time (default: the webcam)")
    p.add_argument("--camera", type=int, default=0, help="the webcam's index when no video is given (default 0)")
    p.add_argument("--seconds", type=float, default=None, help="stop after this long (default: the video's end, "
                                                               "or Ctrl-C)")
    p.add_argument("-o", "--output", type=Path, help="write the take as MIDI")
    p.add_argument("--csv", type=Path, help="write the take's notes as CSV")
    p.add_argument("--crop", default=None, help="keyboard position: 'Y0,Y1,X0,X1' or corners (default: the video's "
                                                "known keyboard, else found in the picture)")
    p.add_argument("--no-sound", action="store_true", help="do not synthesize the notes as they come")
    p.add_argument("--threshold", type=float, default=None, help="onset threshold 0-1 (default: the weights')")
    p.add_argument("--weights", default=None, help="piano weights (default: the bundled piano-lite)")
    p.add_argument("--device", default=None, help="cpu, cuda… (default: Settings)")
    p.add_argument("--json", action="store_true", help="print the notes and a summary as JSON lines")
    p.set_defaults(func=cmd_live_piano)


def cmd_live_piano(args: argparse.Namespace) -> int:
    from ..core.atomic import check_writable
    from ..core.device import resolve_device
    from ..core.keyboard import pitch_name
    from ..core.settings import load_settings
    from ..media.midi import load_midi, save_csv, save_midi
    from ..media.video import camera_frames, paced_frames
    from ..pipelines.piano import DEFAULT_WEIGHTS, PianoTranscriber, keyboard_of, note_metrics, parse_crop
    from ..pipelines.piano_live import LivePiano

    for p in (args.output, args.csv):
        if p is not None:
            check_writable(p)
    if args.video is not None and not args.video.is_file():
        raise InputError(f"The video '{args.video}' does not exist.")
    if args.seconds is not None and args.seconds <= 0:
        raise InputError("--seconds must be positive.")
    settings = load_settings()
    corners = parse_crop(args.crop) if args.crop else (keyboard_of(args.video) if args.video else None)
    device = str(args.device or resolve_device(settings.device).torch_device)
    tr = PianoTranscriber(args.weights or DEFAULT_WEIGHTS, device)
    live = LivePiano(tr, corners, threshold=args.threshold)
    synth, sound = None, "off (--no-sound)"
    if not args.no_sound:
        from ..media.live_synth import LiveSynth

        try:
            synth = LiveSynth(settings.soundfont or None, device=settings.audio_output or None)
            synth.start()
            sound = f"{synth.engine}, +{1000 * synth.output_latency:.0f} ms output"
        except X2Error as exc:
            if synth is not None:
                synth.close()
            synth, sound = None, f"off ({exc})"
    source = str(args.video) if args.video else f"camera {args.camera}"
    print(f"live: {source}; {tr.entry.name}, threshold {live.threshold:.2f}; sound {sound}", file=sys.stderr)

    stop, done, errors = threading.Event(), threading.Event(), []

    def read() -> None:
        try:
            frames = (paced_frames(args.video, lambda: not stop.is_set()) if args.video
                      else camera_frames(args.camera, lambda: not stop.is_set()))
            for rgb in frames:
                live.add(rgb, time.perf_counter())
        except Exception as exc:  # noqa: BLE001 - reaches the user below
            errors.append(exc)
        finally:
            done.set()

    reader = threading.Thread(target=read, name="live-frames", daemon=True)
    started = time.perf_counter()
    reader.start()
    searching_said = False
    try:
        while not done.is_set() or live.pending:
            if args.seconds is not None and time.perf_counter() - started >= args.seconds:
                break
            out = live.step()
            if out is None:
                time.sleep(0.005)
                continue
            if out.get("searching"):
                if not searching_said and time.perf_counter() - started > 3.0:
                    print("looking for the keyboard… (or give --crop)", file=sys.stderr)
                    searching_said = True
                time.sleep(0.02)
                continue
            if out.get("found"):
                print("keyboard found at " + ", ".join(f"({x:.0f}, {y:.0f})" for x, y in out["corners"]), file=sys.stderr)
            if synth is not None:
                synth.strike([n.pitch for n in out["new"]], out["ended"], out["held"])
            for n in out["new"]:
                if args.json:
                    print(json.dumps({"onset": round(n.onset, 3), "pitch": n.pitch,
                                      "latency_ms": round(1000 * n.latency, 1)}), flush=True)
                else:
                    print(f"{n.onset:8.2f} s  {pitch_name(n.pitch):4s} ({n.pitch})  latency {1000 * n.latency:.0f} ms",
                          flush=True)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    finally:
        stop.set()
        reader.join(5.0)
        if synth is not None:
            synth.close()
    if errors and not live.times:
        raise errors[0] if isinstance(errors[0], X2Error) else MediaError(str(errors[0]))
    heard, latency = len(live.notes), live.latency      # before the take reads the last frames
    take = live.take()
    if take is None:
        raise MediaError("No frame was read, so there is no take." if live.received == 0 else
                         "No keyboard was found in the picture.", "Give its position with --crop Y0,Y1,X0,X1.")
    summary = {"live_notes": heard, "notes": len(take.notes), "seconds": round(float(take.times[-1]), 2),
               "frames": take.frames, "received": live.received, "dropped": live.dropped,
               "median_latency_ms": None if latency is None else round(1000 * latency, 1)}
    ref = args.video.with_suffix(".mid") if args.video else None
    if ref is not None and ref.is_file():
        truth = [n for n in load_midi(ref).notes if n.onset <= take.times[-1]]
        summary["f1_vs_" + ref.name] = round(note_metrics(truth, take.notes)["f1"], 4)
    written = []
    if args.output is not None:
        written.append(str(save_midi(args.output, take.notes)))
    if args.csv is not None:
        written.append(str(save_csv(args.csv, take.notes)))
    summary["written"] = written
    if errors:
        summary["stopped_by"] = str(errors[0])
    if args.json:
        print(json.dumps(summary))
    else:
        lat = summary["median_latency_ms"]
        print(f"{summary['live_notes']} notes live" + (f" (median latency {lat:.0f} ms)" if lat is not None else "")
              + f"; {live.dropped} of {live.received} frames dropped; the take: {summary['notes']} notes in "
              f"{summary['seconds']:.1f} s" + "".join(f"; F1 {100 * v:.1f}% against {k[6:]}" for k, v in summary.items()
                                                      if k.startswith("f1_vs_")))
        if errors:
            print(f"the source stopped: {errors[0]}", file=sys.stderr)
        for w in written:
            print(f"wrote {w}")
    return 0
