"""The fits and checks routed from ``train``: pseudo labels from the audio teachers, the closed-loop
pose check, the audio mapping, the speech check and the attributes table."""

from __future__ import annotations

import argparse
import json

from .common import options_of, reporting_job

__all__ = ["cmd_violin_labels", "cmd_pose_check", "cmd_audio_map", "cmd_speech_check", "cmd_attribute_table",
           "cmd_piano_labels"]


def cmd_violin_labels(args: argparse.Namespace) -> int:
    from x2studio.core.errors import InputError

    from ..data.violin import PSEUDO_TRACKER, make_pseudo_labels

    if args.data is None:
        raise InputError("Pseudo labels need --data DIR (a violin dataset).")
    opts = options_of(args.option or [])
    tracker = str(opts.get("tracker", PSEUDO_TRACKER))
    compare = tuple(t for t in str(opts.get("compare", "")).split(",") if t)
    job, bar = reporting_job(argparse.Namespace(events="bar"))
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

    from ..tasks.posemap import pose_check

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

    from ..tasks.audiomap import fit_audio_map

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

    from ..tasks.audiomap import speech_check

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

    from ..tasks.attributes import TABLE_ENCODERS, TABLE_TARGETS, TARGETS, attribute_table, encoder_label

    if args.data is None or args.out is None:
        raise InputError("The table needs --data STILLS (a rendered dataset with labelled stills) and --out DIR.")
    opts = options_of(args.option or [])
    encoders = tuple(str(opts["encoders"]).split(",")) if "encoders" in opts else TABLE_ENCODERS
    targets = tuple(str(opts["targets"]).split(",")) if "targets" in opts else TABLE_TARGETS
    if any(t not in TARGETS for t in targets):
        raise InputError(f"Targets are {', '.join(TARGETS)}.")
    job, bar = reporting_job(argparse.Namespace(events="bar"))
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

    from ..tasks.piano import make_pseudo_labels

    if args.data is None:
        raise InputError("Pseudo labels need --data DIR (a piano dataset).")
    job, bar = reporting_job(argparse.Namespace(events="bar"))
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
