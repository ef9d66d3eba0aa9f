"""``python -m training``: the training module's command line (also reached as ``x2studio data synth``).

The app never imports this package; ``x2studio`` runs it in a child process.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Sequence

from x2studio.core.terminal import TerminalProgress, run_guarded
from x2studio.core.jobs import Job


def _reporting_job(args: argparse.Namespace) -> tuple[Job, TerminalProgress]:
    """A job whose progress goes to a terminal bar, or as JSON lines to stdout (``--events stdout``)."""
    bar = TerminalProgress()

    def report(ev) -> None:
        if args.events == "stdout":
            print(json.dumps({"event": "progress", "done": ev.done, "total": ev.total, "message": ev.message,
                              "eta_s": ev.eta_s}), flush=True)
        else:
            bar(ev)

    return Job(report, min_interval_s=0.2), bar


def cmd_synth_faces(args: argparse.Namespace) -> int:
    from .synth.faces import generate_faces

    job, bar = _reporting_job(args)
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
    from .synth.piano import generate_piano

    job, bar = _reporting_job(args)
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
    from .synth.violin import generate_violin

    job, bar = _reporting_job(args)
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
    from .synth.violin import make_violin_demo

    for path in make_violin_demo(args.out, seed=args.seed):
        print(f"wrote {path}")
    return 0


def cmd_synth_sheet(args: argparse.Namespace) -> int:
    from x2studio.core.errors import InputError

    from .synth.faces import contact_sheet

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

    from .data.piano import import_videos

    if len(args.paths) < 2:
        raise InputError("Give at least one VIDEO (or folder) and then the OUT folder.")
    job, bar = _reporting_job(argparse.Namespace(events="bar"))
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
    from .synth.piano import make_piano_demo

    for path in make_piano_demo(args.out, seed=args.seed):
        print(f"wrote {path}")
    return 0


def cmd_synth_demo(args: argparse.Namespace) -> int:
    from .synth.faces import make_demo

    for path in make_demo(args.out, seed=args.seed):
        print(f"wrote {path}")
    return 0


def _task(name: str | None):
    from x2studio.core.errors import InputError

    from .tasks import TASKS

    if name not in TASKS:
        raise InputError(f"No task named '{name}'." if name else "Name a task.",
                         f"Tasks: {', '.join(TASKS)} (see 'train list').")
    return TASKS[name]


def cmd_train(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from x2studio.core.errors import InputError

    from .tasks import TASKS

    if args.task == "pose-check":
        return cmd_pose_check(args)
    if args.task == "audio-map":
        return cmd_audio_map(args)
    if args.task == "speech-check":
        return cmd_speech_check(args)
    if args.task == "piano-labels":
        return cmd_piano_labels(args)
    if args.task == "violin-labels":
        return cmd_violin_labels(args)
    if args.task == "attributes-table":
        return cmd_attribute_table(args)
    if args.task == "list":
        if args.json:
            print(json.dumps({name: {r.name: r.to_dict() for r in task.recipes.values()}
                              for name, task in TASKS.items()}))
            return 0
        for name, task in TASKS.items():
            for r in task.recipes.values():
                if r.optimizer == "lstsq":
                    print(f"{name:<14} {r.name:<7} {'no steps':>14}  exact fit (least squares, L1 or logistic)")
                    continue
                print(f"{name:<14} {r.name:<7} {r.steps:>8} steps  batch {r.batch_size:<3} {r.image_size}px  "
                      f"{r.optimizer} lr {r.lr:g}")
        return 0
    if args.task == "eval":
        return cmd_eval(args)
    if args.what is not None:
        raise InputError(f"Unexpected argument '{args.what}'.", "Usage: train TASK --recipe R --data DIR --out DIR.")
    task = _task(args.task)
    if args.recipe not in task.recipes:
        raise InputError(f"The task '{args.task}' has no recipe '{args.recipe}'.",
                         f"Recipes: {', '.join(task.recipes)}.")
    if args.data is None or args.out is None:
        raise InputError("Training needs --data DIR and --out DIR.")
    recipe = task.recipes[args.recipe]
    # integer overrides of the recipe: (flag, value, recipe field, smallest allowed)
    for flag, value, field, least in (("--steps", args.steps, "steps", 1), ("--workers", args.workers, "num_workers", 0),
                                      ("--batch-size", args.batch_size, "batch_size", 1),
                                      ("--patience", args.patience, "plateau_patience", 1)):
        if value is not None:
            if value < least:
                raise InputError(f"{flag} must be {'at least 1' if least else '0 or more'}.")
            recipe = replace(recipe, **{field: value})
    if args.init is not None:
        recipe = replace(recipe, init=args.init)
    if args.seed is not None:
        recipe = replace(recipe, seed=args.seed)
    if args.lr is not None:
        if not args.lr > 0 or recipe.optimizer == "lstsq":
            raise InputError("--lr must be a positive number, for a recipe that takes steps.",
                             f"The recipe '{recipe.name}' uses {recipe.optimizer} at lr {recipe.lr:g}.")
        recipe = replace(recipe, lr=args.lr)
    if args.option:
        recipe = replace(recipe, options={**recipe.options, **_options(args.option)})
    from x2studio.core.terminal import TerminalProgress
    from x2studio.core.jobs import ProgressEvent

    from .loop import train

    bar = TerminalProgress()
    started = time.monotonic()

    def show(ev: dict) -> None:
        if ev["event"] == "train" and ev["step"] % 5 == 0 or ev["event"] == "eval":
            text = " ".join(f"{k} {v:.4g}" for k, v in {**ev.get("losses", {}), **ev.get("metrics", {})}.items())
            bar(ProgressEvent(ev["step"], ev["total"], f"step {ev['step']} {text}", time.monotonic() - started))

    try:
        res = train(task, recipe, args.data, args.out, resume=args.resume, device=args.device,
                    events="stdout" if args.events == "stdout" else "file", weights_dir=args.weights_dir,
                    weights_name=args.name, max_steps=args.max_steps,
                    on_event=show if args.events != "stdout" else None)
    finally:
        bar.close()
    if res.weights is not None:
        print(f"done: step {res.step}; weights '{res.weights.name}' in {res.weights.weights_path.parent}")
        return 0
    print(f"stopped at step {res.step}; continue with --resume")
    return 130 if res.interrupted and args.max_steps is None else 0


def _options(pairs: list[str]) -> dict:
    from x2studio.core.errors import InputError

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"'--option {pair}' is not KEY=VALUE.")
        out[key] = int(value) if value.lstrip("-").isdigit() else value
    return out


def cmd_eval(args: argparse.Namespace) -> int:
    from x2studio.core.errors import InputError

    from .loop import evaluate_weights

    task = _task(args.what)
    if args.weights is None or args.data is None:
        raise InputError("Evaluation needs --weights (a name or a .safetensors file) and --data DIR.")
    # measured on whole videos: piano's note-level metrics (the thesis' Table 1 analog), the fusion's
    # sound alone / picture alone / fused and the violin's per-frame pitch metrics (Table 2 analogs)
    whole_videos = {"piano": _eval_piano, "piano-fusion": _eval_piano_fusion,
                    "violin": _eval_violin, "violin-teacher": _eval_violin}
    if task.name in whole_videos:
        if args.samples is not None:
            raise InputError(f"--samples does not apply to '{task.name}': it is measured on whole videos.",
                             "Leave --samples out.")
        return whole_videos[task.name](args)
    # several weights (comma-separated) are measured on the same items: the same --samples, or else
    # batches of the first card's batch size in the one seeded order (e.g. stage I vs stage II)
    names = [w.strip() for w in str(args.weights).split(",") if w.strip()]
    if not names:
        raise InputError("No weights given.", "Give --weights NAME (or several, comma-separated).")
    batch_size = None
    if len(names) > 1 and args.samples is None:
        from .loop import resolve_weights

        batch_size = int(resolve_weights(names[0]).card.recipe.get("batch_size", 16))
    opts = _options(args.option or [])
    results = []
    for name in names:
        res = evaluate_weights(task, name, args.data, split=args.split, device=args.device or "cpu",
                               batches=args.batches, batch_size=batch_size, options=opts, samples=args.samples)
        if task.name in ("avsync", "avsync-piano"):       # the thesis' Figure 7.3 and the offset accuracy
            from .tasks.avsync import sync_eval

            png = args.png if args.png and len(names) == 1 else Path(f"{Path(name).stem}-{args.split}-offsets.png")
            res["sync"] = sync_eval(args.data, args.split, name, png=png, device=args.device or "cpu",
                                    shifts=int(opts.get("shifts", 1)), seed=int(opts.get("seed", 0)))
        results.append(res)
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else results))
        return 0
    _row_labels(task, names, results)
    r0 = results[0]
    print(f"{', '.join(r['label'] for r in results)} on the '{r0['split']}' split of {args.data} "
          f"({r0['samples']} samples, {sum(r['seconds'] for r in results):.2f} s):")
    width = max(26, *(len(r["label"]) for r in results))
    m0 = r0["metrics"]
    if "mae_yaw" in m0:     # head pose: the thesis' Table 2 analog
        print(f"  {'MAE (degrees)':<{width}} {'roll':>7} {'pitch':>7} {'yaw':>7} {'mean':>7}")
        for r in results:
            m = r["metrics"]
            print(f"  {r['label']:<{width}} {m['mae_roll']:>7.2f} {m['mae_pitch']:>7.2f} {m['mae_yaw']:>7.2f} {m['mae']:>7.2f}")
    elif "l1_3src" in m0:     # X2Face: the thesis' Table 1 analog (+ the identity leak with an identity network)
        leak = all("identity_leak" in r["metrics"] for r in results)
        fusions = [(k, name) for k, name in (("_mean", "mean (paper)"), ("", "confidence"), ("_matched", "matched"))
                   if all(f"l1_3src{k}" in r["metrics"] for r in results)]
        print(f"  {'L1, generated vs driving':<{width}} {'1 source':>9}"
              + "".join(f" {'3 src, ' + name:>21} {'vs 1':>6}" for _, name in fusions)
              + (f" {'identity leak':>14}" if leak else ""))
        for r in results:
            m = r["metrics"]
            print(f"  {r['label']:<{width}} {m['l1']:>9.4f}"
                  + "".join(f" {m[f'l1_3src{k}']:>21.4f} {m[f'gain_3src{k}_pct']:>5.1f}%" for k, _ in fusions)
                  + (f" {m['identity_leak']:>14.4f}" if leak else ""))
        if len(fusions) > 1:
            print("  3 sources fused per pixel: mean = the paper's average of embedded faces; confidence = weights "
                  "exp(conf) + 0.1 (the released code's rule, what training uses); matched = confidence weights "
                  "times how close each source's driving vector is to the driving frame's (the app's default)")
        if leak:
            print("  identity leak: cosine distance, under the identity network, between the source driven by "
                  "another person and the source (lower: less of the driver's identity)")
    else:
        for r in results:
            if len(results) > 1:
                print(f"  {r['label']}")
            for k, v in r["metrics"].items():
                print(f"  {k:<12} {v:.4f}")
    for r in results:
        if "sync" in r:
            sy = r["sync"]
            print(f"  {r['label']}: offsets of {sy['clips']} held-out clips ({sy['trials']} trials) with a known "
                  "shift in ±2 s, estimated within ±1 frame:")
            print(f"    {'AV-sync network':<34} {100 * sy['accuracy']:.1f}%")
            print(f"    {'onset cross-correlation (baseline)':<34} {100 * sy['baseline_accuracy']:.1f}%")
            print(f"  mean distance over offsets: lowest at {sy['curve_min_at_s'] * 1000:+.0f} ms; plot: {sy['png']}")
    return 0


def _row_labels(task, names: list[str], results: list[dict]) -> None:
    """Each result's row label: its weights name (X2Face: with its stage), or the weights as given
    where two rows would read the same (e.g. two files with the same card name)."""
    from .loop import resolve_weights

    def stage(name):
        if task.name != "x2face":
            return ""
        return " (stage II)" if int(resolve_weights(name).card.recipe.get("options", {}).get("stage", 1)) == 2 \
            else " (stage I)"

    for name, r in zip(names, results):
        r["label"] = r["weights"] + stage(name)
    labels = [r["label"] for r in results]
    for name, r in zip(names, results):
        if labels.count(r["label"]) > 1:
            r["label"] = name + stage(name)


def _eval_piano_fusion(args: argparse.Namespace) -> int:
    from .tasks.piano_fusion import fusion_eval

    opts = _options(args.option or [])
    snrs = [float(opts["snr_db"])] if "snr_db" in opts else [0.0, None]
    job, bar = _reporting_job(argparse.Namespace(events="bar"))
    try:
        res = [fusion_eval(args.data, str(args.weights), split=args.split, labels=str(opts.get("labels", "midi")),
                           snr_db=snr, device=args.device or "cpu", job=job) for snr in snrs]
    finally:
        bar.close()
    if args.json:
        print(json.dumps(res))
        return 0
    r0 = res[0]
    print(f"note-level onset F1 (50 ms) on {r0['videos']} '{args.split}' videos of {args.data} against "
          f"{r0['labels']} labels; fusion {r0['weights']} on {r0['visual']}:")
    print(f"  {'':<34} {'P':>6} {'R':>6} {'F1':>6}")
    for r in res:
        cond = "clean sound" if r["snr_db"] is None else f"sound mixed with other piano at {r['snr_db']:g} dB"
        print(f"  {cond}")
        for name in ("sound", "picture", "fused"):
            m = r["rows"][name]
            print(f"    {name + ' alone' if name != 'fused' else 'fused':<32} {100 * m['precision']:>6.1f} "
                  f"{100 * m['recall']:>6.1f} {100 * m['f1']:>6.1f}")
    return 0


def _eval_piano(args: argparse.Namespace) -> int:
    from .tasks.piano import arch_summary, piano_eval_labels

    opts = _options(args.option or [])
    labels = [x.strip() for x in str(opts.get("labels", "midi")).split(",") if x.strip()]
    job, bar = _reporting_job(argparse.Namespace(events="bar"))
    try:
        rows = [r for w in str(args.weights).split(",")
                for r in piano_eval_labels(args.data, w, split=args.split, labels=labels, device=args.device or "cpu",
                                           job=job, threshold=float(opts["threshold"]) if "threshold" in opts else None,
                                           sigma=float(opts["sigma"]) if "sigma" in opts else None,
                                           tune=bool(int(opts.get("tune", 0))), key_rules=bool(int(opts.get("rules", 1))))]
    finally:
        bar.close()
    groups = arch_summary(rows)
    repeated = any(g["runs"] > 1 for g in groups)
    if args.json:
        out = rows if len(rows) > 1 else rows[0]
        print(json.dumps({"rows": rows, "architectures": groups} if repeated else out))
        return 0

    def rule(v):
        return "off" if v is None else f"{v:.2f}"

    r0 = rows[0]
    for lab in dict.fromkeys(r["labels"] for r in rows):
        sub = [r for r in rows if r["labels"] == lab]
        print(f"note-level onsets (50 ms, offsets ignored) on the '{r0['split']}' split of {args.data} "
              f"({sub[0]['videos']} videos, {sub[0]['notes']} notes, against {lab} labels):")
        print(f"  {'weights':<28} {'arch':<12} {'P':>6} {'R':>6} {'acc':>6} {'F1':>6}   thr  sigma  release press")
        for r in sub:
            print(f"  {r['weights']:<28} {r['arch']:<12} {100 * r['precision']:>6.2f} {100 * r['recall']:>6.2f} "
                  f"{100 * r['accuracy']:>6.2f} {100 * r['f1']:>6.2f}  {r['threshold']:.2f} {r['sigma']:>5.1f}  "
                  f"{rule(r.get('release')):>7} {rule(r.get('press')):>5}")
        if repeated:      # several runs (seeds) of an architecture: the mean and its spread
            print(f"  by architecture (mean ± sd over runs), against {lab} labels:")
            for g in (g for g in groups if g["labels"] == lab):
                print(f"  {g['arch'] + ' (' + g['head'] + ' head)':<26} runs {g['runs']:<3} " + "  ".join(
                    f"{name} {100 * g[k]:.2f} ± {100 * g[k + '_sd']:.2f}"
                    for k, name in (("precision", "P"), ("recall", "R"), ("accuracy", "acc"), ("f1", "F1"))))
    return 0


def _eval_violin(args: argparse.Namespace) -> int:
    from .tasks.violin import violin_eval

    opts = _options(args.option or [])
    datas = [Path(d) for d in str(args.data).split(",")]
    job, bar = _reporting_job(argparse.Namespace(events="bar"))
    try:
        rows = [violin_eval(d, w, split=args.split, labels=str(opts.get("labels", "truth")),
                            device=args.device or "cpu", job=job)
                for d in datas for w in str(args.weights).split(",")]
    finally:
        bar.close()
    if args.json:
        print(json.dumps(rows if len(rows) > 1 else rows[0]))
        return 0
    print(f"pitch per frame on the '{rows[0]['split']}' split, against {rows[0]['labels']} pitch "
          f"(RPA: right semitone where a note sounds; tol: within ±1 frame; ±1st: at most one semitone off, the "
          f"thesis' wording; PA: all frames; ACA: mean per class; "
          f"ACE: mean error in semitones):")
    print(f"  {'subset':<8} {'weights':<30} {'input':<18} {'RPA':>6} {'tol':>6} {'±1st':>6} {'PA':>6} {'ACA':>6} "
          f"{'ACE':>6}")
    for r in rows:
        print(f"  {str(r['subset']):<8} {r['weights']:<30} {r['kind']:<18} {100 * r['rpa']:>6.2f} {100 * r['rpa_tol']:>6.2f} "
              f"{100 * r['rpa_semitone']:>6.2f} "
              f"{100 * r['pa']:>6.2f} {100 * r['aca']:>6.2f} {r['ace']:>6.2f}")
    return 0


def cmd_violin_labels(args: argparse.Namespace) -> int:
    from x2studio.core.errors import InputError

    from .data.violin import PSEUDO_TRACKER, make_pseudo_labels

    if args.data is None:
        raise InputError("Pseudo labels need --data DIR (a violin dataset).")
    opts = _options(args.option or [])
    tracker = str(opts.get("tracker", PSEUDO_TRACKER))
    compare = tuple(t for t in str(opts.get("compare", "")).split(",") if t)
    job, bar = _reporting_job(argparse.Namespace(events="bar"))
    try:
        res = make_pseudo_labels(args.data, tracker, job=job, overwrite=bool(opts.get("overwrite", 0)), compare=compare,
                                 lookahead_s=float(opts["lookahead"]) if "lookahead" in opts else None)
    finally:
        bar.close()
    if args.json:
        print(json.dumps(res))
        return 0
    print(f"pseudo labels of {res['videos']} videos in {res['folder']} (pitch tracker: {res['tracker']}, "
          f"reading the sound {1000 * res['lookahead_s']:.0f} ms after each frame)")
    for line in res["skipped"]:
        print(f"  skipped {line}")
    if res["not_installed"]:
        print(f"  not installed here: {', '.join(res['not_installed'])}")
    if res["trackers"]:
        print("  trackers against the true pitch (RPA: right semitone on frames with a note; tol: ±1 frame; "
              "voicing: note/no-note right):")
        print(f"    {'tracker':<8}{'split':<7}{'frames':>8}{'RPA':>8}{'tol':>8}{'voicing':>9}")
        for t, per in res["trackers"].items():
            for split, m in sorted(per.items()):
                print(f"    {t:<8}{split:<7}{m['frames']:>8}{100 * m['rpa']:>8.2f}{100 * m['rpa_tol']:>8.2f}"
                      f"{100 * m['voicing']:>9.2f}")
    return 0


def cmd_pose_check(args: argparse.Namespace) -> int:
    from x2studio.core.errors import InputError

    from .tasks.posemap import pose_check

    if args.data is None:
        raise InputError("The pose check needs --data DIR (a rendered dataset with labelled stills).")
    res = pose_check(args.data, split=args.split, x2face=args.weights or "x2face-lite", estimator=args.estimator,
                     sources=args.sources, device=args.device or "cpu")
    if args.json:
        print(json.dumps(res))
        return 0
    print(f"closed-loop pose check: {res['sources']} held-out sources, X2Face '{res['x2face']}', "
          f"estimator '{res['estimator']}' (mean ± sd over sources)")
    print(f"  {'axis':<6}{'commanded':>10}{'f_v→p':>16}{'estimator':>16}")
    for r in res["rows"]:
        print(f"  {r['axis']:<6}{r['commanded']:>+10.0f}{r['v2p_mean']:>+10.1f} ± {r['v2p_sd']:<4.1f}"
              f"{r['estimator_mean']:>+10.1f} ± {r['estimator_sd']:<4.1f}")
    for a in res["slope_v2p"]:
        print(f"  {a}: achieved / commanded change {res['slope_v2p'][a]:.2f} (f_v→p), "
              f"{res['slope_estimator'][a]:.2f} (estimator)")
    return 0


def cmd_audio_map(args: argparse.Namespace) -> int:
    from x2studio.core.errors import InputError

    from .tasks.audiomap import fit_audio_map

    if args.data is None:
        raise InputError("Fitting f_a→v needs --data DIR (face tracks with sound).")
    res = fit_audio_map(args.data, x2face=args.weights or "x2face-lite", features=args.features, name=args.name,
                        weights_dir=args.weights_dir, device=args.device or "cpu")
    m = res["metrics"]
    if args.json:
        print(json.dumps({"weights": str(res["entry"].weights_path), "metrics": m}))
        return 0
    print(f"f_a→v '{res['entry'].name}' ({args.features} features) in {res['entry'].weights_path.parent}; "
          f"ridge {m['ridge']:g} (validation R² of plain OLS {m['r2_val_ols']:.4f})")
    for split in ("train", "val", "test"):
        if f"r2_{split}" in m:
            pooled = f", pooled {m[f'r2_pooled_{split}']:.4f}" if f"r2_pooled_{split}" in m else ""
            mouth = f"; features → true mouth {m[f'r2_mouth_{split}']:.4f}" if f"r2_mouth_{split}" in m else ""
            print(f"  R² {split:<5} {m[f'r2_{split}']:.4f} within tracks{pooled}{mouth}  ({m[f'frames_{split}']} frames)")
    return 0


def cmd_speech_check(args: argparse.Namespace) -> int:
    from x2studio.core.errors import InputError

    from .tasks.audiomap import speech_check

    if args.data is None:
        raise InputError("The speech check needs --data DIR (face tracks with sound and labels).")
    res = speech_check(args.data, split=args.split, x2face=args.weights or "x2face-lite", mapping=args.mapping,
                       reader=args.reader, tracks=args.tracks, device=args.device or "cpu")
    if args.json:
        print(json.dumps(res))
        return 0
    print(f"mouth opening, speech-driven X2Face '{res['x2face']}' ({res['features']} features), "
          f"read by '{res['reader']}': Pearson r with the true jaw opening of the speech's own track")
    print(f"  {'speech of':<10}{'drives':<10}{'frames':>7}{'by speech':>11}{'reenacted':>11}{'real frames':>13}")
    for r in res["rows"]:
        print(f"  {r['track']:<10}{r['source']:<10}{r['frames']:>7}{r['r_generated']:>11.3f}{r['r_reenacted']:>11.3f}"
              f"{r['r_real']:>13.3f}")
    print(f"  {'mean':<27}{res['r_generated']:>11.3f}{res['r_reenacted']:>11.3f}{res['r_real']:>13.3f}")
    print(f"  {'mean |r|':<27}{res['abs_r_generated']:>11.3f}{res['abs_r_reenacted']:>11.3f}")
    return 0


def cmd_attribute_table(args: argparse.Namespace) -> int:
    from x2studio.core.errors import InputError

    from .tasks.attributes import TABLE_ENCODERS, TABLE_TARGETS, TARGETS, attribute_table, encoder_label

    if args.data is None or args.out is None:
        raise InputError("The table needs --data STILLS (a rendered dataset with labelled stills) and --out DIR.")
    opts = _options(args.option or [])
    encoders = tuple(str(opts["encoders"]).split(",")) if "encoders" in opts else TABLE_ENCODERS
    targets = tuple(str(opts["targets"]).split(",")) if "targets" in opts else TABLE_TARGETS
    if any(t not in TARGETS for t in targets):
        raise InputError(f"Targets are {', '.join(TARGETS)}.")
    job, bar = _reporting_job(argparse.Namespace(events="bar"))
    try:
        rows = attribute_table(args.data, args.out, encoders, targets, steps=args.steps,
                               device=args.device or "cpu", job=job, recipe=args.recipe)
    finally:
        bar.close()
    if args.json:
        print(json.dumps(rows))
        return 0
    cols = [("lm68", "68 pts %IOD", "error_iod_pct"), ("lm5", "5 pts %IOD", "error_iod_pct"),
            ("pose", "pose MAE °", "mae"), ("expression", "expr. AUC", "auc_mean")]
    cols = [c for c in cols if c[0] in targets]
    how = "least squares / logistic regression" if args.recipe == "lite" else f"recipe {args.recipe}"
    print(f"attribute read-outs (BatchNorm + linear heads on frozen embeddings, {how}), test split of {args.data}:")
    print(f"  {'embedding':<20}" + "".join(f"{title:>14}" for _, title, _ in cols))
    for r in rows:
        cells = "".join(f"{r[t].get(key, float('nan')):>14.2f}" for t, _, key in cols)
        print(f"  {encoder_label(r['encoder']):<20}{cells}")
    return 0


def cmd_piano_labels(args: argparse.Namespace) -> int:
    from x2studio.core.errors import InputError

    from .tasks.piano import make_pseudo_labels

    if args.data is None:
        raise InputError("Pseudo labels need --data DIR (a piano dataset).")
    job, bar = _reporting_job(argparse.Namespace(events="bar"))
    try:
        res = make_pseudo_labels(args.data, job=job)
    finally:
        bar.close()
    if args.json:
        print(json.dumps(res))
        return 0
    print(f"pseudo labels of {res['videos']} videos in {res['folder']} (audio teacher: Basic Pitch)")
    for line in res["skipped"]:
        print(f"  skipped {line}")
    if res["teacher"]:
        print("  the teacher against the true MIDI (note onsets, 50 ms):")
        print(f"    {'split':<7}{'notes':>7}{'P':>8}{'R':>8}{'F1':>8}")
        for split, m in sorted(res["teacher"].items()):
            print(f"    {split:<7}{m['notes']:>7}{100 * m['precision']:>8.2f}{100 * m['recall']:>8.2f}{100 * m['f1']:>8.2f}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .synth.head import FACE_MODEL, FACE_MODELS

    parser = argparse.ArgumentParser(prog="x2studio data synth", description="Generate synthetic training data.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="KIND", required=True)
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
    p = sub.add_parser("train", prog="x2studio train", help="train a model ('train list' shows tasks and recipes)",
                       description="train TASK --recipe R --data DIR --out DIR [--resume]  |  train list [--json]  |  "
                                   "train eval TASK --weights W --data DIR [--split test]  |  "
                                   "train pose-check --data STILLS [--weights X2FACE] (closed-loop pose check)  |  "
                                   "train audio-map --data TRACKS [--features avsync-face-lite|mfcc] (fit f_a→v)  |  "
                                   "train speech-check --data TRACKS (mouth-opening correlation)")
    p.add_argument("task", help="task name, 'list', 'eval', 'pose-check', 'audio-map', 'speech-check', "
                                "'piano-labels' (the audio teacher's pseudo labels of a piano dataset), "
                                "'violin-labels' (the pitch tracker's pseudo labels of a violin dataset; "
                                "--option tracker=yin|pyin|yinfft|crepe, compare=pyin,crepe) or "
                                "'attributes-table' (heads for every embedding and attribute, measured on test)")
    p.add_argument("what", nargs="?", default=None, help="with 'eval': the task")
    p.add_argument("--recipe", default="lite", help="recipe (default lite)")
    p.add_argument("--data", type=Path, help="dataset folder (x2studio face-track format)")
    p.add_argument("--out", type=Path, help="run folder: checkpoints, logs, progress events, weights")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: CUDA when present)")
    p.add_argument("--events", choices=["file", "stdout"], default="file",
                   help="also print progress events as JSON lines on stdout")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this step (resume later)")
    p.add_argument("--weights-dir", type=Path, default=None, help="where the exported weights go (default OUT/weights)")
    p.add_argument("--name", default=None, help="weights name (default TASK-RECIPE)")
    p.add_argument("--steps", type=int, default=None, help="train this many steps instead of the recipe's")
    p.add_argument("--workers", type=int, default=None, help="data-loader worker processes (default: the recipe's)")
    p.add_argument("--lr", type=float, default=None,
                   help="initial learning rate instead of the recipe's (e.g. a gentler fine-tune from --init)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="samples per step (per process) instead of the recipe's; the thesis' FAb-Net used 8 without "
                        "the curriculum and 32 with it")
    p.add_argument("--patience", type=int, default=None,
                   help="evaluations without improvement before the rate is cut (or a curriculum moves on) "
                        "instead of the recipe's")
    p.add_argument("--init", default=None, help="start from these weights (name or .safetensors) instead of the recipe's")
    p.add_argument("--seed", type=int, default=None,
                   help="random seed of the weights' initialisation and the data order (default: the recipe's)")
    p.add_argument("--option", action="append", metavar="KEY=VALUE",
                   help="task option, e.g. identity=NAME for X2Face stage II (repeatable)")
    p.add_argument("--weights", default=None,
                   help="eval: weights name in the registry, or a .safetensors file; several, comma-separated, are "
                        "measured on the same items (e.g. X2Face stage I,stage II)")
    p.add_argument("--split", default="test", choices=["train", "val", "test"], help="eval: split (default test)")
    p.add_argument("--batches", type=int, default=None, help="eval: at most this many batches")
    p.add_argument("--samples", type=int, default=None,
                   help="eval: the first N items of the split's fixed order (the same items for any weights, "
                        "whatever batch size they were trained with; use it to compare weights)")
    p.add_argument("--json", action="store_true", help="list/eval/pose-check: print JSON")
    p.add_argument("--png", type=Path, default=None,
                   help="eval avsync: where the distance-over-offset plot goes (default WEIGHTS-SPLIT-offsets.png)")
    p.add_argument("--estimator", default="headpose-lite", help="pose-check: the independent pose estimator")
    p.add_argument("--sources", type=int, default=8, help="pose-check: near-frontal stills used as sources")
    p.add_argument("--features", default="avsync-face-lite",
                   help="audio-map: speech features, avsync weights or 'mfcc' (the baseline)")
    p.add_argument("--mapping", default=None, help="speech-check: the f_a→v weights (default X2FACE-a2v)")
    p.add_argument("--reader", default="expression-lite", help="speech-check: the expression CNN reading the mouth")
    p.add_argument("--tracks", type=int, default=12, help="speech-check: held-out tracks whose speech is used")
    p.set_defaults(func=cmd_train)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format="x2studio: %(levelname)s: %(message)s")
    return run_guarded(args.func, args, debug=args.debug,
                       interrupted="interrupted (run the same command again to resume)")

if __name__ == "__main__":
    sys.exit(main())
