"""The ``x2studio`` command line: a thin argparse layer over the library.

Every user-facing error prints one line (``x2studio: error: ...``) and exits non-zero; a traceback
is shown only with ``--debug``.  No subcommand opens the app.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Callable, Sequence

from . import __version__
from .core.errors import Cancelled, X2Error, format_error
from .core.jobs import Job, ProgressEvent
from .cli_faces import cmd_attributes, cmd_embed, cmd_pick_sources, cmd_retrieve
from .cli_live import add_live_parser

__all__ = ["main", "build_parser", "run_guarded"]

log = logging.getLogger("x2studio")


class TerminalProgress:
    """A one-line progress bar on stderr (only when stderr is a terminal)."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self._drawn = False

    def __call__(self, ev: ProgressEvent) -> None:
        if not self.enabled:
            return
        frac = ev.fraction
        bar = "#" * int(30 * (frac or 0)) + "-" * (30 - int(30 * (frac or 0)))
        eta = f" ETA {ev.eta_s:5.1f}s" if ev.eta_s is not None else ""
        pct = f"{100 * frac:5.1f}%" if frac is not None else "  ?  "
        self.stream.write(f"\r[{bar}] {pct} {ev.message[:40]:<40}{eta}")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()


def _job() -> tuple[Job, TerminalProgress]:
    bar = TerminalProgress()
    return Job(bar, min_interval_s=0.1), bar


def _with_progress(work: Callable[[Job], object]):
    """Run ``work(job)`` with a terminal progress bar; print its report's lines; return the report."""
    job, bar = _job()
    try:
        report = work(job)
    finally:
        bar.close()
    for line in report.lines():
        print(line)
    return report


# ----------------------------------------------------------------------------- commands
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
    from .core.settings import load_settings
    from .info import system_report

    if args.check:
        from .info import environment_checks

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
    from .media.video import probe

    info = probe(args.file)
    for line in info.summary_lines():
        print(line)
    return 0


def cmd_media_synth(args: argparse.Namespace) -> int:
    from .core.atomic import check_writable
    from .core.settings import load_settings
    from .media.audio import save_audio
    from .media.synth import render_midi

    out = check_writable(args.output)  # fail before the (possibly long) render
    soundfont = args.soundfont or load_settings().soundfont or None
    job, bar = _job()
    try:
        clip = render_midi(args.midi, sample_rate=args.rate, soundfont=soundfont, job=job)
    finally:
        bar.close()
    save_audio(out, clip)
    print(f"wrote {out} ({clip.duration_s:.2f} s, {clip.sample_rate} Hz, stereo)")
    return 0


def cmd_data_synth(args: argparse.Namespace) -> int:
    """Run the training module (generators, ``train``) in a child process (the app never imports
    ``training``)."""
    import subprocess

    cmd = [sys.executable, "-m", "training"] + (["--debug"] if args.debug else []) + list(args.rest)
    try:
        return subprocess.call(cmd)
    except KeyboardInterrupt:
        return 130


def cmd_weights_list(args: argparse.Namespace) -> int:
    from .weights.registry import WeightsRegistry

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
    from .pipelines.weights_import import find_entry
    from .weights.registry import load_entry, register_weights

    entry = register_weights(load_entry(find_entry(args.path)), name=args.name)
    print(f"registered '{entry.name}' ({entry.card.architecture}) in {entry.weights_path.parent}")
    return 0


def cmd_weights_import(args: argparse.Namespace) -> int:
    """Import someone else's weights: checksum, architecture and tensor shapes checked, then copied."""
    from .pipelines.weights_import import import_weights

    entry = import_weights(args.path, name=args.name, replace=args.replace)
    print(f"imported '{entry.name}' ({entry.card.architecture}, {entry.size_bytes / 1e6:.1f} MB, "
          f"sha256 {entry.card.sha256[:12]}…) into {entry.weights_path.parent}")
    return 0


def cmd_data_faces(args: argparse.Namespace) -> int:
    from .face.tracks import extract_face_tracks

    report = _with_progress(lambda job: extract_face_tracks(args.inputs, args.out, size=args.size, margin=args.margin,
                                                            detector=args.detector, max_faces=args.max_faces,
                                                            job=job))
    return 0 if report.tracks else 3


def cmd_reenact(args: argparse.Namespace) -> int:
    from .core.device import resolve_device
    from .core.settings import load_settings
    from .pipelines.reenact import Reenactor, reenact_video

    for p in [*args.source, args.driving]:     # cheap checks before loading a model
        if not p.exists():
            raise X2Error(f"The file '{p}' does not exist.")
    device = args.device or resolve_device(load_settings().device).torch_device
    def work(job: Job):
        r = Reenactor(args.weights, device=str(device), detector=args.detector, fusion=args.fusion)
        r.set_sources(r.load_sources(args.source, frames_per_video=args.source_frames, job=job))
        return reenact_video(r, args.driving, args.output, relative=args.relative, paste=not args.no_paste_back,
                             job=job)

    _with_progress(work)
    return 0


def _photo_reenactor(args: argparse.Namespace):
    """The X2Face model of ``--weights`` on ``--device`` with the face of the photo ``--source``."""
    from .core.device import resolve_device
    from .core.settings import load_settings
    from .pipelines.reenact import IMAGE_SUFFIXES, Reenactor

    if not args.source.exists():
        raise X2Error(f"The file '{args.source}' does not exist.")
    if args.source.suffix.lower() not in IMAGE_SUFFIXES:
        raise X2Error(f"'{args.source.name}' is not an image.", f"Give a photo ({', '.join(sorted(IMAGE_SUFFIXES))}).")
    device = str(args.device or resolve_device(load_settings().device).torch_device)
    r = Reenactor(args.weights, device=device, detector=args.detector)
    r.set_sources(r.load_sources([args.source]))
    return r


def _check_mp4(out: Path, what: str) -> None:
    if out.suffix.lower() not in (".mp4", ".m4v", ".mov"):
        raise X2Error(f"'{out.name}': {what} is written as MP4.", "Use a name ending in .mp4.")
    if not out.parent.is_dir():
        raise X2Error(f"The folder '{out.parent}' does not exist.")


def cmd_pose(args: argparse.Namespace) -> int:
    from .pipelines.pose import HeadPoseEstimator, PoseController, closed_loop, export_sweep

    if not args.source.exists():
        raise X2Error(f"The file '{args.source}' does not exist.")
    if not args.check and args.output is None:
        raise X2Error("Say where to write the result: -o OUT.png (a pose), OUT.mp4 or OUT.gif (--sweep).")
    if args.output is not None:
        want = (".mp4", ".gif") if args.sweep else (".png", ".jpg", ".jpeg")
        if args.output.suffix.lower() not in want:
            raise X2Error(f"'{args.output.name}': {'a sweep' if args.sweep else 'a pose'} is written as "
                          f"{' or '.join(w[1:].upper() for w in want)}.")
        if not args.output.parent.is_dir():
            raise X2Error(f"The folder '{args.output.parent}' does not exist.")
    r = _photo_reenactor(args)
    device = str(r.device)
    ctl = PoseController(r)
    src = ctl.source_pose()
    print(f"source pose: yaw {src[0]:+.1f}, pitch {src[1]:+.1f}, roll {src[2]:+.1f} degrees")
    if args.check:
        print(closed_loop(ctl, HeadPoseEstimator(args.estimator, device=device)).table())
        return 0
    if args.sweep:
        job, bar = _job()
        try:
            export_sweep(ctl, args.sweep, args.output, lo=args.min, hi=args.max, seconds=args.seconds,
                         paste=not args.no_paste_back, job=job)
        finally:
            bar.close()
        print(f"wrote {args.output}: {args.sweep} sweep")
        return 0
    pose = [src[k] if v is None else v for k, v in enumerate((args.yaw, args.pitch, args.roll))]
    crop = ctl.render(pose)
    img = crop if args.no_paste_back else r.composite(crop)
    from .media.image import write_image

    write_image(args.output, img)
    print(f"wrote {args.output}: yaw {pose[0]:+.1f}, pitch {pose[1]:+.1f}, roll {pose[2]:+.1f}")
    return 0


def cmd_paint(args: argparse.Namespace) -> int:
    from .core.device import resolve_device
    from .core.settings import load_settings
    from .pipelines.paint import paint_video

    if args.output.suffix.lower() not in (".mp4", ".m4v", ".mov"):
        raise X2Error(f"'{args.output.name}': the output is written as MP4.", "Use a name ending in .mp4.")
    device = str(args.device or resolve_device(load_settings().device).torch_device)
    _with_progress(lambda job: paint_video(args.source, args.layer, args.driving, args.output, weights=args.weights,
                                           device=device, detector=args.detector, relative=args.relative,
                                           paste=not args.no_paste_back, job=job))
    return 0


def cmd_speak(args: argparse.Namespace) -> int:
    from .pipelines.speech import SpeechDriver, speak_video

    if not args.audio.exists():
        raise X2Error(f"The audio file '{args.audio}' does not exist.")
    _check_mp4(args.output, "the talking video")
    if not 0.0 <= args.strength <= 3.0:
        raise X2Error(f"--strength {args.strength} is outside 0…3.")
    r = _photo_reenactor(args)
    driver = SpeechDriver(r, args.mapping)
    _with_progress(lambda job: speak_video(driver, args.audio, args.output, strength=args.strength, fps=args.fps,
                                           paste=not args.no_paste_back, job=job))
    return 0


def cmd_mix(args: argparse.Namespace) -> int:
    from .pipelines.mix import DriverMixer, Mix, mix_video

    for path, what in ((args.audio, "audio"), (args.driving, "driving video")):
        if path is not None and not path.exists():
            raise X2Error(f"The {what} file '{path}' does not exist.")
    _check_mp4(args.output, "the mixed video")
    if args.audio is None and args.driving is None:
        raise X2Error("Mixing needs --audio and/or --driving (for a pose alone, use 'x2studio pose').")
    r = _photo_reenactor(args)
    mixer = DriverMixer(r, speech=args.audio is not None)
    angles = (args.yaw, args.pitch, args.roll)
    pose = None
    if any(a is not None for a in angles):
        own = mixer.poses.source_pose()
        pose = tuple(float(own[k] if a is None else a) for k, a in enumerate(angles))
    mix = Mix(pose=pose, pose_weight=args.pose_weight, speech_weight=args.speech_weight,
              video_weight=args.video_weight, video_pose=args.video_pose)
    _with_progress(lambda job: mix_video(mixer, args.output, mix, audio=args.audio, driving=args.driving,
                                         paste=not args.no_paste_back, job=job))
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    from .core.device import resolve_device
    from .core.settings import load_settings
    from .pipelines.sync import estimate_offset, fix_offset

    if args.output is not None:
        _check_mp4(args.output, "the fixed video")
    corners = None
    if args.crop:
        if args.kind != "piano":
            raise X2Error("--crop marks a keyboard: it goes with --kind piano.")
        from .pipelines.piano import parse_crop

        corners = parse_crop(args.crop)
    device = str(args.device or resolve_device(load_settings().device).torch_device)
    job, bar = _job()
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


def cmd_transcribe_piano(args: argparse.Namespace) -> int:
    from .core.atomic import check_writable
    from .core.device import resolve_device
    from .core.settings import load_settings
    from .pipelines.piano import DEFAULT_WEIGHTS, PianoTranscriber, parse_crop

    outputs = [p for p in (args.output, args.musicxml, args.csv) if p is not None]
    if not outputs:
        raise X2Error("Nothing to write.", "Give -o OUT.mid, --musicxml F and/or --csv F.")
    for p in outputs:
        check_writable(p)      # fail before the (possibly long) transcription
    if args.mode == "audio":
        return _transcribe_piano_audio(args, outputs)
    corners = parse_crop(args.crop) if args.crop else None
    device = str(args.device or resolve_device(load_settings().device).torch_device)
    if args.mode == "fused":          # the picture and the sound, fused (the visual weights: the fusion's own)
        from .pipelines.piano_fusion import DEFAULT_FUSION, FusedTranscriber

        tr = FusedTranscriber(args.fusion_weights or DEFAULT_FUSION, device, visual=args.weights)
    else:
        tr = PianoTranscriber(args.weights or DEFAULT_WEIGHTS, device)
    job, bar = _job()
    try:
        res = tr.transcribe_video(args.video, corners, threshold=args.threshold, job=job)
    finally:
        bar.close()
    if not res.notes:
        print("no notes were found (is the keyboard position right? try a lower --threshold)", file=sys.stderr)
    written = _write_notes(args, res.notes)
    sources = {}
    if "picture_notes" in res.info:          # fused: which source alone also finds each note
        from .pipelines.piano_fusion import note_sources

        marks = note_sources(res.notes, res.info["picture_notes"], res.info["sound_notes"])
        sources = {k: marks.count(k) for k in ("both", "picture", "sound", "fused")}
    if args.json:
        print(json.dumps({"notes": len(res.notes), "frames": res.info["frames"], "fps": res.fps, "sources": sources,
                          "threshold": res.info["threshold"], "weights": res.info["weights"],
                          "durations": res.duration_rule, "written": [str(p) for p in written]}))
        return 0
    print(f"{len(res.notes)} notes from {res.info['frames']} frames at {res.fps:g} fps "
          f"({res.info['weights']}, threshold {res.info['threshold']:.2f}); durations {res.duration_rule}")
    if sources:
        print(f"{sources['both']} seen and heard, {sources['picture']} seen only, {sources['sound']} heard only, "
              f"{sources['fused']} found by neither alone")
    for p in written:
        print(f"wrote {p}")
    return 0


def cmd_transcribe_violin(args: argparse.Namespace) -> int:
    import numpy as np

    from .core.atomic import check_writable
    from .core.device import resolve_device
    from .core.settings import load_settings
    from .pipelines.violin import DEFAULT_WEIGHTS, save_pitch_csv, transcribe_video

    outputs = [p for p in (args.output, args.musicxml, args.notes_csv, args.csv) if p is not None]
    if not outputs:
        raise X2Error("Nothing to write.", "Give -o OUT.mid, --musicxml F, --notes-csv F and/or --csv F (the pitch track).")
    for p in outputs:
        check_writable(p)      # fail before the (possibly long) transcription
    if args.threshold is not None and not 0 < args.threshold < 1:
        raise X2Error(f"A confidence threshold of {args.threshold} is out of range.", "Use a value between 0 and 1.")
    device = None if args.mode == "audio" else str(args.device or resolve_device(load_settings().device).torch_device)
    job, bar = _job()
    try:
        res = transcribe_video(args.video, args.mode, args.threshold, job, weights=args.weights or DEFAULT_WEIGHTS,
                               device=device)
    finally:
        bar.close()
    for w in res.info.get("warnings", []):
        print(f"note: {w}", file=sys.stderr)
    if not res.notes:
        print("no notes were found (is a violin in view? try --mode audio, or a lower --threshold)", file=sys.stderr)
    written = []
    if args.output is not None:
        from .media.midi import save_midi

        written.append(save_midi(args.output, res.notes))
    if args.musicxml is not None:
        from .media.midi import estimate_tempo, save_musicxml

        if not res.notes:
            raise X2Error("There are no notes to write as MusicXML.")
        written.append(save_musicxml(args.musicxml, res.notes, tempo_bpm=args.tempo or estimate_tempo(res.notes)))
    if args.notes_csv is not None:
        from .media.midi import save_csv

        written.append(save_csv(args.notes_csv, res.notes))
    if args.csv is not None:
        written.append(save_pitch_csv(args.csv, res))
    cents = res.cents()
    intonation = float(np.nanmedian(np.abs(cents))) if np.isfinite(cents).any() else None
    if args.json:
        print(json.dumps({"notes": len(res.notes), "frames": res.frames, "fps": res.fps, "mode": res.mode,
                          "weights": res.info.get("weights"), "threshold": res.info.get("threshold"),
                          "median_cents_off": intonation, "warnings": res.info.get("warnings", []),
                          "written": [str(p) for p in written]}))
        return 0
    src = {"visual": "the picture", "audio": "the sound", "fused": "the picture and the sound"}[res.mode]
    line = f"{len(res.notes)} notes from {res.frames} frames at {res.fps:g} fps, from {src}"
    if res.info.get("weights"):
        line += f" ({res.info['weights']}, confidence ≥ {res.info['threshold']:.2f})"
    print(line)
    if intonation is not None:
        print(f"intonation: the sound is a median {intonation:.0f} cents off the notes")
    for p in written:
        print(f"wrote {p}")
    return 0


def _write_notes(args: argparse.Namespace, notes: list) -> list[Path]:
    from .media.midi import save_csv, save_midi, save_musicxml

    written = []
    if args.output is not None:
        written.append(save_midi(args.output, notes))
    if args.musicxml is not None:
        if not notes:
            raise X2Error("There are no notes to write as MusicXML.")
        written.append(save_musicxml(args.musicxml, notes, tempo_bpm=getattr(args, "tempo", None),
                                     grid=getattr(args, "grid", "16t")))
    if args.csv is not None:
        written.append(save_csv(args.csv, notes))
    return written


def _transcribe_piano_audio(args: argparse.Namespace, outputs: list[Path]) -> int:
    from .media.video import probe
    from .pipelines.piano_audio import AudioTranscriber

    info = probe(args.video)
    if info.audio is None:
        raise X2Error(f"'{args.video.name}' has no sound, so it cannot be transcribed by ear.",
                      "Transcribe from the picture: --mode visual.")
    notes = AudioTranscriber().transcribe(args.video)
    written = _write_notes(args, notes)
    if args.json:
        print(json.dumps({"notes": len(notes), "mode": "audio", "written": [str(p) for p in written]}))
        return 0
    print(f"{len(notes)} notes from the sound of {args.video.name} (Basic Pitch)")
    for p in written:
        print(f"wrote {p}")
    return 0


# ----------------------------------------------------------------------------- parser
def _face_options(p: argparse.ArgumentParser) -> None:
    """The options every face-embedding command shares."""
    p.add_argument("--detector", default="auto", choices=["auto", "mediapipe", "haar"])
    p.add_argument("--device", default=None, help="cpu, cuda (default: the settings')")
    p.add_argument("--json", action="store_true")


def build_parser() -> argparse.ArgumentParser:
    from .face.tracks import CROP_MARGIN

    parser = argparse.ArgumentParser(prog="x2studio", description="X2 Studio — faces and music from video. "
                                     "With no command, opens the app.")
    parser.add_argument("--version", action="version", version=f"X2 Studio {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

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
    p.add_argument("--detector", choices=["auto", "mediapipe", "haar"], default="auto", help="face detector")
    p.add_argument("--device", default=None, help="cpu, cuda… (default: Settings)")
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
    p.add_argument("--detector", choices=["auto", "mediapipe", "haar"], default="auto", help="face detector")
    p.add_argument("--device", default=None, help="cpu, cuda… (default: Settings)")
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
    p.add_argument("--detector", choices=["auto", "mediapipe", "haar"], default="auto", help="face detector")
    p.add_argument("--device", default=None, help="cpu, cuda… (default: Settings)")
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
    p.add_argument("--detector", choices=["auto", "mediapipe", "haar"], default="auto", help="face detector")
    p.add_argument("--device", default=None, help="cpu, cuda… (default: Settings)")
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
    p.add_argument("--detector", choices=["auto", "mediapipe", "haar"], default="auto", help="face detector")
    p.add_argument("--device", default=None, help="cpu, cuda… (default: Settings)")
    p.set_defaults(func=cmd_paint)
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
    p.add_argument("--detector", choices=["auto", "mediapipe", "haar"], default="auto", help="face detector")
    p.add_argument("--device", default=None, help="cpu, cuda… (default: Settings)")
    p.set_defaults(func=cmd_sync)
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
    add_live_parser(sub)
    p = sub.add_parser("embed", help="build (or add to) a gallery index of the faces in images and videos")
    p.add_argument("inputs", nargs="+", type=Path, metavar="PATH", help="images, videos or folders of them")
    p.add_argument("-o", "--output", type=Path, required=True, help="index folder (created; adding to it is incremental)")
    p.add_argument("--model", default=None, help="embedding weights: fabnet (default: fabnet-lite) or any "
                                                 "FAb-Net/autoencoder/rotation weights name")
    p.add_argument("--fps", type=float, default=1.0, help="frames sampled per second of video (default 1)")
    p.add_argument("--max-faces", type=int, default=4, help="faces kept per picture, largest first (default 4)")
    p.add_argument("--prune", action="store_true", help="drop files that are gone or not among PATH")
    _face_options(p)
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
    _face_options(p)
    p.set_defaults(func=cmd_retrieve)
    p = sub.add_parser("attributes", help="pose, landmarks and expression read from a face's embedding")
    p.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="images (or videos with --time)")
    p.add_argument("--time", type=float, default=None, help="for a video: the frame at this time (s)")
    p.add_argument("--model", default="fabnet-lite", help="embedding weights (default fabnet-lite)")
    _face_options(p)
    p.set_defaults(func=cmd_attributes)
    p = sub.add_parser("pick-sources", help="X2Face: the frames of a source video closest in pose to a driving face")
    p.add_argument("source", type=Path, help="the source video")
    p.add_argument("driving", type=Path, help="the driving image (or video, with --time)")
    p.add_argument("-k", type=int, default=3, help="frames to suggest (default 3)")
    p.add_argument("--time", type=float, default=None, help="for a driving video: the frame at this time (s)")
    p.add_argument("--model", default="fabnet-lite", help="embedding weights whose pose head reads the poses")
    _face_options(p)
    p.set_defaults(func=cmd_pick_sources)
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
    p.set_defaults(func=cmd_data_synth)
    p = sub.add_parser("train", help="train a model: 'train list', 'train TASK --recipe R --data DIR --out DIR'",
                       add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER, help="see 'x2studio train -h'")
    p.set_defaults(func=cmd_data_synth)
    p = dsub.add_parser("piano", help="a piano dataset from your top-view piano videos: 'data piano VIDEO… OUT'",
                        add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER, help="VIDEO… OUT [--crop Y0,Y1,X0,X1]")
    p.set_defaults(func=cmd_data_synth)
    p = dsub.add_parser("faces", help="find, track and crop faces in videos into a face-track dataset")
    p.add_argument("paths", nargs="+", type=Path, metavar="VIDEO", help="videos or folders of videos, then OUT")
    p.add_argument("--size", type=int, default=256, help="crop size in pixels (default 256)")
    p.add_argument("--margin", type=float, default=CROP_MARGIN,
                   help=f"box expansion around the face (default {CROP_MARGIN}, the synthetic data's framing)")
    p.add_argument("--detector", choices=["auto", "mediapipe", "haar"], default="auto",
                   help="face detector (default: mediapipe when installed, else OpenCV's Haar cascade)")
    p.add_argument("--max-faces", type=int, default=4, help="tracks kept per video, largest first (default 4)")
    p.set_defaults(func=cmd_data_faces)
    return parser


def main(argv: Sequence[str] | None = None, launch_app: Callable[[list[str]], int] | None = None) -> int:
    """Run the CLI; ``launch_app(files)`` starts the GUI (no command, or ``app``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    rest = [a for a in argv if a != "--debug"]
    if rest[:2] == ["data", "synth"]:   # everything after 'synth' belongs to the training module's parser
        args = argparse.Namespace(debug="--debug" in argv, rest=rest[2:], func=cmd_data_synth)
    elif rest[:2] == ["data", "piano"]:  # a piano dataset from your videos: the training module's too
        args = argparse.Namespace(debug="--debug" in argv, rest=["piano-videos"] + rest[2:], func=cmd_data_synth)
    elif rest[:1] == ["train"]:         # so is everything after 'train'
        args = argparse.Namespace(debug="--debug" in argv, rest=["train"] + rest[1:], func=cmd_data_synth)
    else:
        args = parser.parse_args(argv)
    args.launch_app = launch_app
    if getattr(args, "func", None) is cmd_embed:
        args.model_given = args.model is not None
        args.model = args.model or "fabnet-lite"
    if getattr(args, "func", None) is cmd_data_faces:
        if len(args.paths) < 2:
            parser.error("data faces needs at least one VIDEO and the OUT folder")
        args.inputs, args.out = args.paths[:-1], args.paths[-1]
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format="x2studio: %(levelname)s: %(message)s")
    func: Callable[[argparse.Namespace], int] = getattr(args, "func", cmd_app)
    return run_guarded(func, args, debug=args.debug)


def run_guarded(func: Callable[[argparse.Namespace], int], args: argparse.Namespace, *, debug: bool,
                interrupted: str = "interrupted") -> int:
    """Run a command; every error becomes one ``x2studio: error: ...`` line and an exit code."""
    try:
        return int(func(args) or 0)
    except Cancelled:
        print("x2studio: cancelled", file=sys.stderr)
        return Cancelled.exit_code
    except KeyboardInterrupt:
        print(f"x2studio: {interrupted}", file=sys.stderr)
        return 130
    except X2Error as exc:
        if debug:
            log.exception("error")
        print(f"x2studio: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one readable line, no traceback
        if debug:
            log.exception("unexpected error")
        print(f"x2studio: error: {format_error(exc)} (run with --debug for details)", file=sys.stderr)
        return 1
