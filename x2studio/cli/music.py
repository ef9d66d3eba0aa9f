"""``x2studio transcribe piano|violin``: notes from a video or a recording."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..core.errors import X2Error
from .common import device_of, job_and_bar

__all__ = ["add_parsers"]


def cmd_transcribe_piano(args: argparse.Namespace) -> int:
    from ..pipelines.notes import export_notes
    from ..pipelines.piano import parse_crop
    from ..pipelines.transcribe_piano import PianoRequest, transcribe_piano

    targets = export_request(args, csv=args.csv)        # checked before the (possibly long) transcription
    request = PianoRequest(args.video, args.mode, parse_crop(args.crop) if args.crop else None, args.threshold,
                           args.weights, args.fusion_weights, None if args.mode == "audio" else device_of(args))
    job, bar = job_and_bar()
    try:
        result = transcribe_piano(request, job)
    finally:
        bar.close()
    if not result.notes:
        print("no notes were found (is the keyboard position right? try a lower --threshold)", file=sys.stderr)
    written = export_notes(targets, result.notes)
    if args.json:
        print(json.dumps({**result.summary(), "written": [str(p) for p in written.written]}))
        return 0
    for line in result.lines() + written.lines():
        print(line)
    return 0


def export_request(args: argparse.Namespace, csv: Path | None, also: tuple = ()):
    """The notes' outputs of ``-o``, ``--musicxml``, ``--tempo``, ``--grid`` and ``csv``, checked
    together with the command's other outputs ``also``."""
    from ..pipelines.notes import ExportRequest

    if args.output is None and args.musicxml is None and csv is None:
        raise X2Error("Nothing to write.", "Give -o OUT.mid, --musicxml F and/or --csv F.")
    return ExportRequest(midi=args.output, musicxml=args.musicxml, csv=csv, tempo_bpm=args.tempo,
                         grid=getattr(args, "grid", "16t"), protect=(args.video,), also=also)


def cmd_transcribe_violin(args: argparse.Namespace) -> int:
    from ..core.atomic import check_writable
    from ..pipelines.notes import export_notes
    from ..pipelines.violin import DEFAULT_WEIGHTS, save_pitch_csv, transcribe_video

    if args.output is None and args.musicxml is None and args.notes_csv is None and args.csv is None:
        raise X2Error("Nothing to write.", "Give -o OUT.mid, --musicxml F, --notes-csv F and/or --csv F (the pitch track).")
    targets = None
    if args.output is not None or args.musicxml is not None or args.notes_csv is not None:
        # every output checked together (and before the transcription): none twice, none over the video
        targets = export_request(args, csv=args.notes_csv, also=(args.csv,) if args.csv is not None else ())
    elif args.csv is not None:
        check_writable(args.csv)
        if Path(args.csv).expanduser().resolve() == Path(args.video).expanduser().resolve():
            raise X2Error(f"Writing '{Path(args.csv).name}' would replace the file the notes came from.",
                          "Choose another output name.")
    if args.threshold is not None and not 0 < args.threshold < 1:
        raise X2Error(f"A confidence threshold of {args.threshold} is out of range.", "Use a value between 0 and 1.")
    device = None if args.mode == "audio" else device_of(args)
    job, bar = job_and_bar()
    try:
        res = transcribe_video(args.video, args.mode, args.threshold, job, weights=args.weights or DEFAULT_WEIGHTS,
                               device=device)
    finally:
        bar.close()
    if not res.notes:
        print("no notes were found (is a violin in view? try --mode audio, or a lower --threshold)", file=sys.stderr)
    written = list(export_notes(targets, res.notes).written) if targets is not None else []
    if args.csv is not None:
        written.append(save_pitch_csv(args.csv, res))
    if args.json:
        print(json.dumps({**res.summary(), "written": [str(p) for p in written]}))
        return 0
    for line in res.lines():
        print(line)
    for p in written:
        print(f"wrote {p}")
    return 0


def add_parsers(sub) -> None:
    """``transcribe piano`` and ``transcribe violin``."""
    tr = sub.add_parser("transcribe", help="transcribe music from a video: 'transcribe piano VIDEO -o OUT.mid'")
    tsub = tr.add_subparsers(dest="instrument", metavar="INSTRUMENT", required=True)
    p = tsub.add_parser("piano", help="notes from a top-view piano video (MIDI, MusicXML, CSV)")
    p.add_argument("video", type=Path, help="a video of a keyboard filmed from above")
    p.add_argument("-o", "--output", type=Path, help="MIDI file to write")
    p.add_argument("--musicxml", type=Path, help="also write a MusicXML score")
    p.add_argument("--tempo", type=float, default=None,
                   help="MusicXML: the performance's tempo in bpm (default: estimated from the onsets)")
    p.add_argument("--grid", default="16t", choices=["4", "8", "16", "32", "8t", "16t"],
                   help="MusicXML: quantisation grid (16 = sixteenths; t: with triplets; default 16t)")
    p.add_argument("--csv", type=Path, help="also write the notes as CSV")
    p.add_argument("--mode", choices=["visual", "audio", "fused"], default="visual",
                   help="from the picture (default), the sound, or both")
    p.add_argument("--crop", default=None,
                   help="keyboard position: a box 'Y0,Y1,X0,X1' or corners 'X,Y,X,Y,X,Y,X,Y' (TL, TR, BR, BL) in "
                        "pixels (default: remembered for the video in VIDEO.json)")
    p.add_argument("--threshold", type=float, default=None, help="onset threshold 0-1 (default: the weights')")
    p.add_argument("--weights", default=None, help="piano weights (default: the bundled piano-lite)")
    p.add_argument("--fusion-weights", default=None,
                   help="--mode fused: fusion weights (default: the bundled piano-fusion-lite)")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.add_argument("--device", default=None, help="cpu, cuda… (default: Settings)")
    p.set_defaults(func=cmd_transcribe_piano)
    p = tsub.add_parser("violin", help="the pitch played in a violin video, as notes (MIDI, MusicXML) and a "
                                       "per-frame pitch track with intonation (CSV)")
    p.add_argument("video", type=Path, help="a video of a violinist (the fingerboard and bow in view)")
    p.add_argument("-o", "--output", type=Path, help="MIDI file to write")
    p.add_argument("--mode", choices=["visual", "audio", "fused"], default="visual",
                   help="from the picture (default; silent or noisy videos), the sound, or both")
    p.add_argument("--csv", type=Path, help="write the pitch track per frame (picture, sound, cents off the note)")
    p.add_argument("--notes-csv", type=Path, help="write the notes as CSV")
    p.add_argument("--musicxml", type=Path, help="also write a MusicXML score")
    p.add_argument("--tempo", type=float, default=None, help="MusicXML: tempo in bpm (default: estimated)")
    p.add_argument("--threshold", type=float, default=None,
                   help="confidence 0-1 below which a frame is left unvoiced (default: the weights')")
    p.add_argument("--weights", default=None, help="violin weights (default: the bundled violin-lite)")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.add_argument("--device", default=None, help="cpu, cuda… (default: Settings)")
    p.set_defaults(func=cmd_transcribe_violin)
