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
from .common import device_of

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
    from ..core.settings import load_settings
    from ..pipelines.notes import ExportRequest
    from ..pipelines.piano import DEFAULT_WEIGHTS, PianoTranscriber, keyboard_of, parse_crop
    from ..pipelines.piano_live import LivePiano

    targets = None
    if args.output is not None or args.csv is not None:     # checked before the take, not after
        targets = ExportRequest(midi=args.output, csv=args.csv, protect=(args.video,) if args.video else ())
    if args.video is not None and not args.video.is_file():
        raise InputError(f"The video '{args.video}' does not exist.")
    if args.seconds is not None and args.seconds <= 0:
        raise InputError("--seconds must be positive.")
    settings = load_settings()
    corners = parse_crop(args.crop) if args.crop else (keyboard_of(args.video) if args.video else None)
    tr = PianoTranscriber(args.weights or DEFAULT_WEIGHTS, device_of(args))
    live = LivePiano(tr, corners, threshold=args.threshold)
    synth, sound = _live_synth(args, settings)
    source = str(args.video) if args.video else f"camera {args.camera}"
    print(f"live: {source}; {tr.entry.name}, threshold {live.threshold:.2f}; sound {sound}", file=sys.stderr)
    errors = _play_live(live, args, synth)
    return _keep_take(live, args, targets, errors)


def _live_synth(args: argparse.Namespace, settings):
    """The live synthesizer (None with --no-sound, or when no sound output can be opened) and what to say of it."""
    if args.no_sound:
        return None, "off (--no-sound)"
    from ..media.live_synth import LiveSynth

    synth = None
    try:
        synth = LiveSynth(settings.soundfont or None, device=settings.audio_output or None)
        synth.start()
        return synth, f"{synth.engine}, +{1000 * synth.output_latency:.0f} ms output"
    except X2Error as exc:
        if synth is not None:
            synth.close()
        return None, f"off ({exc})"


def _play_live(live, args: argparse.Namespace, synth) -> list[Exception]:
    """Read the frames on a thread of their own and print each note as it is decided, until the
    source ends, ``--seconds`` pass or Ctrl-C; the errors that stopped the source."""
    from ..media.live_frames import camera_frames, paced_frames

    stop, done, errors = threading.Event(), threading.Event(), []

    def read() -> None:
        try:
            frames = (paced_frames(args.video, lambda: not stop.is_set()) if args.video
                      else camera_frames(args.camera, lambda: not stop.is_set()))
            for rgb in frames:
                live.add(rgb, time.perf_counter())
        except Exception as exc:  # noqa: BLE001 - reaches the user in the summary
            errors.append(exc)
        finally:
            done.set()

    reader = threading.Thread(target=read, name="live-frames", daemon=True)
    started = time.perf_counter()
    reader.start()
    said = set()
    try:
        while not done.is_set() or live.pending:
            if args.seconds is not None and time.perf_counter() - started >= args.seconds:
                break
            _show_step(live.step(), args, synth, time.perf_counter() - started, said)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    finally:
        stop.set()
        reader.join(5.0)
        if synth is not None:
            synth.close()
    return errors


def _show_step(out: dict | None, args: argparse.Namespace, synth, elapsed: float, said: set) -> None:
    """One step of the live model: the keyboard search, the notes decided (printed, synthesized)."""
    from ..core.keyboard import pitch_name

    if out is None:
        time.sleep(0.005)
        return
    if out.searching:
        if "searching" not in said and elapsed > 3.0:
            print("looking for the keyboard… (or give --crop)", file=sys.stderr)
            said.add("searching")
        time.sleep(0.02)
        return
    if out.found:
        print("keyboard found at " + ", ".join(f"({x:.0f}, {y:.0f})" for x, y in out.corners), file=sys.stderr)
    if synth is not None:
        synth.strike([n.pitch for n in out.new], out.ended, out.held)
    for n in out.new:
        if args.json:
            print(json.dumps({"onset": round(n.onset, 3), "pitch": n.pitch,
                              "latency_ms": round(1000 * n.latency, 1)}), flush=True)
        else:
            print(f"{n.onset:8.2f} s  {pitch_name(n.pitch):4s} ({n.pitch})  latency {1000 * n.latency:.0f} ms",
                  flush=True)


def _keep_take(live, args: argparse.Namespace, targets, errors: list[Exception]) -> int:
    """Write the take (first: nothing read afterwards can lose it), then compare it with the MIDI
    beside the video and print the summary."""
    from ..pipelines.notes import export_notes

    if errors and not live.times:
        raise errors[0] if isinstance(errors[0], X2Error) else MediaError(str(errors[0]))
    heard, latency = len(live.notes), live.latency      # before the take reads the last frames
    take = live.take()
    if take is None:
        raise MediaError("No frame was read, so there is no take." if live.received == 0 else
                         "No keyboard was found in the picture.", "Give its position with --crop Y0,Y1,X0,X1.")
    written = [str(p) for p in export_notes(targets, take.notes).written] if targets is not None else []
    summary = {"live_notes": heard, "notes": len(take.notes), "seconds": round(float(take.times[-1]), 2),
               "frames": take.frames, "received": live.received, "dropped": live.dropped,
               "median_latency_ms": None if latency is None else round(1000 * latency, 1), "written": written}
    summary.update(_against_reference(args.video, take))
    if errors:
        summary["stopped_by"] = str(errors[0])
    if args.json:
        print(json.dumps(summary))
        return 0
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


def _against_reference(video: Path | None, take) -> dict:
    """``{"f1_vs_<name>.mid": F1}`` against the MIDI beside the video (the part the take covers);
    a reference that cannot be read is said, and the take is kept all the same."""
    from ..media.midi import load_midi
    from ..pipelines.piano import note_metrics

    ref = video.with_suffix(".mid") if video else None
    if ref is None or not ref.is_file():
        return {}
    try:
        truth = [n for n in load_midi(ref).notes if n.onset <= take.times[-1]]
    except X2Error as exc:
        print(f"note: {ref.name} cannot be read as the reference ({exc}); the take is kept", file=sys.stderr)
        return {}
    return {"f1_vs_" + ref.name: round(note_metrics(truth, take.notes)["f1"], 4)}
