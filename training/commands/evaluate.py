"""``train eval``: exported weights measured on a split of a dataset, as tables like the thesis'."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .common import options_of, reporting_job, task_named

__all__ = ["cmd_eval"]


def cmd_eval(args: argparse.Namespace) -> int:
    from x2studio.core.errors import InputError

    from ..loop import evaluate_weights

    task = task_named(args.what)
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
        from ..loop import resolve_weights

        batch_size = int(resolve_weights(names[0]).card.recipe.get("batch_size", 16))
    opts = options_of(args.option or [])
    results = []
    for name in names:
        res = evaluate_weights(task, name, args.data, split=args.split, device=args.device or "cpu",
                               batches=args.batches, batch_size=batch_size, options=opts, samples=args.samples)
        if task.name in ("avsync", "avsync-piano"):       # the thesis' Figure 7.3 and the offset accuracy
            from ..tasks.avsync import sync_eval

            png = args.png if args.png and len(names) == 1 else Path(f"{Path(name).stem}-{args.split}-offsets.png")
            res["sync"] = sync_eval(args.data, args.split, name, png=png, device=args.device or "cpu",
                                    shifts=int(opts.get("shifts", 1)), seed=int(opts.get("seed", 0)))
        results.append(res)
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else results))
        return 0
    _print_table(task, names, results, args.data)
    return 0


def _print_table(task, names: list[str], results: list[dict], data) -> None:
    """The measurements as the thesis' tables: one row per weights."""
    _row_labels(task, names, results)
    r0 = results[0]
    print(f"{', '.join(r['label'] for r in results)} on the '{r0['split']}' split of {data} "
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


def _row_labels(task, names: list[str], results: list[dict]) -> None:
    """Each result's row label: its weights name (X2Face: with its stage), or the weights as given
    where two rows would read the same (e.g. two files with the same card name)."""
    from ..loop import resolve_weights

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
    from ..tasks.piano_fusion import fusion_eval

    opts = options_of(args.option or [])
    snrs = [float(opts["snr_db"])] if "snr_db" in opts else [0.0, None]
    job, bar = reporting_job(argparse.Namespace(events="bar"))
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
    from ..tasks.piano import arch_summary, piano_eval_labels

    opts = options_of(args.option or [])
    labels = [x.strip() for x in str(opts.get("labels", "midi")).split(",") if x.strip()]
    job, bar = reporting_job(argparse.Namespace(events="bar"))
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
    from ..tasks.violin import violin_eval

    opts = options_of(args.option or [])
    datas = [Path(d) for d in str(args.data).split(",")]
    job, bar = reporting_job(argparse.Namespace(events="bar"))
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
