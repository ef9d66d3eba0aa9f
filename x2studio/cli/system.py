"""The app, system and data commands: ``app``, ``info``, ``media``, ``weights``, ``data``, ``train``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

from ..core.errors import X2Error
from .common import DETECTOR_CHOICES, job_and_bar, with_progress

__all__ = ["add_parsers", "add_data_parsers", "cmd_training", "cmd_data_faces"]


def cmd_app(args: argparse.Namespace) -> int:
    # The CLI is Qt-free; the GUI launcher is handed in by ``x2studio.__main__``.
    launcher: Callable[..., int] | None = getattr(args, "launch_app", None)
    if launcher is None:
        raise X2Error("The app cannot be started from here.", "Run 'x2studio' or 'python -m x2studio'.")
    files = [str(p) for p in getattr(args, "files", []) or []]
    if getattr(args, "self_test", False):
        shots = getattr(args, "shots", None)
        return launcher(files, self_test=True, shots=str(shots) if shots else None)
    return launcher(files)


def cmd_info(args: argparse.Namespace) -> int:
    from ..core.settings import load_settings
    from ..info import system_report

    if args.check:
        from ..info import environment_checks

        checks = environment_checks(load_settings())
        width = max(len(c.name) for c in checks)
        for c in checks:
            print(f"[{c.status:^4}] {c.name:<{width}}  {c.found}")
            if c.fix and c.status != "ok":
                print(f"       {'':<{width}}  fix: {c.fix}")
        return 1 if any(c.status == "fail" for c in checks) else 0
    rows = system_report(load_settings())
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0


def cmd_media_probe(args: argparse.Namespace) -> int:
    from ..media.video import probe

    info = probe(args.file)
    for line in info.summary_lines():
        print(line)
    return 0


def cmd_media_synth(args: argparse.Namespace) -> int:
    from ..core.atomic import check_writable
    from ..core.settings import load_settings
    from ..media.audio import save_audio
    from ..media.synth import render_midi

    out = check_writable(args.output)  # fail before the (possibly long) render
    soundfont = args.soundfont or load_settings().soundfont or None
    job, bar = job_and_bar()
    try:
        clip = render_midi(args.midi, sample_rate=args.rate, soundfont=soundfont, job=job)
    finally:
        bar.close()
    save_audio(out, clip)
    print(f"wrote {out} ({clip.duration_s:.2f} s, {clip.sample_rate} Hz, stereo)")
    return 0


def cmd_training(args: argparse.Namespace) -> int:
    """Run the training module (generators, ``train``) in a child process (the app never imports
    ``training``)."""
    import subprocess

    cmd = [sys.executable, "-m", "training"] + (["--debug"] if args.debug else []) + list(args.rest)
    try:
        return subprocess.call(cmd)
    except KeyboardInterrupt:
        return 130


def cmd_weights_list(args: argparse.Namespace) -> int:
    from ..weights.registry import WeightsRegistry

    entries = WeightsRegistry().entries()
    if not entries:
        print("no weights found")
        return 0
    print(f"{'name':<28} {'architecture':<22} {'where':<8} {'MB':>6}  metrics")
    for name, e in sorted(entries.items()):
        metrics = ", ".join(f"{k} {v:.4g}" for k, v in e.card.metrics.items()
                            if isinstance(v, (int, float)) and k != "step")
        print(f"{name:<28} {e.card.architecture:<22} {'bundled' if e.bundled else 'user':<8} "
              f"{e.size_bytes / 1e6:>6.1f}  {metrics}")
    return 0


def cmd_weights_add(args: argparse.Namespace) -> int:
    """Register trained weights (a run folder, or NAME.safetensors / NAME.json) for the app's panels."""
    from ..pipelines.weights_import import find_entry
    from ..weights.registry import load_entry, register_weights

    entry = register_weights(load_entry(find_entry(args.path)), name=args.name)
    print(f"registered '{entry.name}' ({entry.card.architecture}) in {entry.weights_path.parent}")
    return 0


def cmd_weights_import(args: argparse.Namespace) -> int:
    """Import someone else's weights: checksum, architecture and tensor shapes checked, then copied."""
    from ..pipelines.weights_import import import_weights

    entry = import_weights(args.path, name=args.name, replace=args.replace)
    print(f"imported '{entry.name}' ({entry.card.architecture}, {entry.size_bytes / 1e6:.1f} MB, "
          f"sha256 {entry.card.sha256[:12]}…) into {entry.weights_path.parent}")
    return 0


def cmd_data_faces(args: argparse.Namespace) -> int:
    from ..face.tracks import extract_face_tracks

    report = with_progress(lambda job: extract_face_tracks(args.inputs, args.out, size=args.size, margin=args.margin,
                                                            detector=args.detector, max_faces=args.max_faces,
                                                            job=job))
    return 0 if report.tracks else 3


def add_parsers(sub) -> None:
    """``app``, ``info`` and ``media``."""
    p = sub.add_parser("app", help="open the app (optionally with media files)")
    p.add_argument("files", nargs="*", type=Path, help="video or audio files to open")
    p.add_argument("--self-test", action="store_true",
                   help="open the demo project, show every panel, report what worked, and quit (0 = all worked)")
    p.add_argument("--shots", type=Path, default=None, help="with --self-test: save a screenshot of each panel here")
    p.set_defaults(func=cmd_app)

    p = sub.add_parser("info", help="versions, compute device, soundfont and audio devices")
    p.add_argument("--check", action="store_true",
                   help="check this computer (device, synthesizer, soundfont, sound output, weights) and say what to fix")
    p.set_defaults(func=cmd_info)

    media = sub.add_parser("media", help="media tools: probe, synth")
    msub = media.add_subparsers(dest="media_command", metavar="ACTION", required=True)
    p = msub.add_parser("probe", help="print streams, duration and frame rate of a media file")
    p.add_argument("file", type=Path)
    p.set_defaults(func=cmd_media_probe)
    p = msub.add_parser("synth", help="render a MIDI file to audio with the soundfont")
    p.add_argument("midi", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True, help="output audio (.wav, .flac, .ogg, .mp3)")
    p.add_argument("--soundfont", type=Path, help="a .sf2 soundfont (default: Settings, then the system's)")
    p.add_argument("--rate", type=int, default=44100, help="sample rate in Hz (default 44100)")
    p.set_defaults(func=cmd_media_synth)


def add_data_parsers(sub) -> None:
    """``weights``, ``data`` and ``train``."""
    from ..face.tracks import CROP_MARGIN

    weights = sub.add_parser("weights", help="model weights: list, import, add")
    wsub = weights.add_subparsers(dest="weights_command", metavar="ACTION", required=True)
    p = wsub.add_parser("list", help="bundled and user weights, with their metrics")
    p.set_defaults(func=cmd_weights_list)
    p = wsub.add_parser("add", help="register trained weights (a run folder or a .safetensors file) for the app")
    p.add_argument("path", type=Path, help="a training run folder, or NAME.safetensors with NAME.json beside it")
    p.add_argument("--name", default=None, help="register under this name (default: the card's)")
    p.set_defaults(func=cmd_weights_add)
    p = wsub.add_parser("import", help="import weights trained elsewhere (NAME.safetensors + NAME.json), checked first")
    p.add_argument("path", type=Path, help="NAME.safetensors (its model card NAME.json beside it), or the card")
    p.add_argument("--name", default=None, help="install under this name (default: the card's)")
    p.add_argument("--replace", action="store_true", help="replace installed weights of the same name")
    p.set_defaults(func=cmd_weights_import)
    data = sub.add_parser("data", help="datasets: synthetic faces, face tracks from your videos")
    dsub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    p = dsub.add_parser("synth", help="generate synthetic data with ground truth (e.g. 'synth faces OUT')",
                        add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER, help="KIND OUT [options]; see 'x2studio data synth -h'")
    p.set_defaults(func=cmd_training)
    p = sub.add_parser("train", help="train a model: 'train list', 'train TASK --recipe R --data DIR --out DIR'",
                       add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER, help="see 'x2studio train -h'")
    p.set_defaults(func=cmd_training)
    p = dsub.add_parser("piano", help="a piano dataset from your top-view piano videos: 'data piano VIDEO… OUT'",
                        add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER, help="VIDEO… OUT [--crop Y0,Y1,X0,X1]")
    p.set_defaults(func=cmd_training)
    p = dsub.add_parser("faces", help="find, track and crop faces in videos into a face-track dataset")
    p.add_argument("paths", nargs="+", type=Path, metavar="VIDEO", help="videos or folders of videos, then OUT")
    p.add_argument("--size", type=int, default=256, help="crop size in pixels (default 256)")
    p.add_argument("--margin", type=float, default=CROP_MARGIN,
                   help=f"box expansion around the face (default {CROP_MARGIN}, the synthetic data's framing)")
    p.add_argument("--detector", choices=DETECTOR_CHOICES, default="auto",
                   help="face detector (default: mediapipe when installed, else OpenCV's Haar cascade)")
    p.add_argument("--max-faces", type=int, default=4, help="tracks kept per video, largest first (default 4)")
    p.set_defaults(func=cmd_data_faces)
