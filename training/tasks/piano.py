"""Visual piano transcription (thesis ch. 6; PAPERS.md §5): task ``piano``.

The network sees 5 grayscale frames of the rectified keyboard and predicts, per key, an onset within
±1 frame of the middle frame (class-balanced BCE, the thesis' target) and whether the key is held in
the middle frame (X2 Studio's addition: note durations from the video).  ``--option arch=resnet|
aggregation|slope`` picks the thesis' ablation; ``--option labels=pseudo|midi`` trains on the audio
teacher's pseudo labels (the thesis' way, and the lite/paper recipes' default; made on first use)
or on true MIDI (a digital piano's recording, or the synthetic data's truth).

Validation logs frame-level onset F1 (threshold 0.5) as a cheap proxy; the real metric is note-level
(mir_eval, 50 ms onset tolerance, offsets ignored): :func:`piano_eval`, which ``train eval piano``
prints, and which picks the post-processing (threshold, smoothing σ) on the validation split when
the weights are exported.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from x2studio.models.piano import PianoNet, balanced_bce
from x2studio.pipelines.piano import sequence_probabilities

from ..data.piano import PianoWindows, load_manifest, video_crops, video_notes
from ..loop import Recipe

__all__ = ["PianoTask", "piano_eval", "piano_eval_labels", "arch_summary", "tune_postprocessing", "make_pseudo_labels"]

log = logging.getLogger(__name__)

_MAX_POS_WEIGHT = 30.0


class PianoTask:
    name = "piano"
    architecture = "piano"

    def __init__(self) -> None:
        self.recipes = {
            "tiny": Recipe("tiny", steps=8, batch_size=4, eval_every=4, eval_batches=2, ckpt_every=4, keep=2,
                           lr=1e-3, model={"base": 4, "height": 24, "width": 128}, options={"arch": "slope"}),
            # CPU-sized: the bundled piano-lite (docs/measurements.md#piano-lite)
            "lite": Recipe("lite", steps=3000, batch_size=32, lr=1e-3, eval_every=250, eval_batches=20,
                           ckpt_every=250, plateau_patience=4, export_dtype="float16",
                           model={"base": 16, "height": 72, "width": 400, "head": "columns"},
                           options={"arch": "slope", "labels": "pseudo"}),
            # the thesis': full ResNet-18, 145×800, Adam 1e-3, batch 24
            "paper": Recipe("paper", steps=100000, batch_size=24, lr=1e-3, eval_every=2000, eval_batches=50,
                            ckpt_every=2000, num_workers=4, precision="amp",
                            model={"base": 64, "height": 145, "width": 800}, options={"arch": "slope", "labels": "pseudo"}),
        }
        self.pos_weight: dict[str, torch.Tensor] = {}
        self._data: Path | None = None
        self._cache: Path | None = None

    def config(self, recipe: Recipe) -> dict:
        cfg = {"arch": recipe.options.get("arch", "slope"), "frames": 5, **recipe.model}
        if "head" in recipe.options:
            cfg["head"] = recipe.options["head"]
        return {k: cfg[k] for k in ("arch", "frames", "base", "height", "width", "head") if k in cfg}

    def build_model(self, recipe: Recipe) -> torch.nn.Module:
        return self.model_from_config(self.config(recipe))

    def model_from_config(self, config: dict) -> torch.nn.Module:
        return PianoNet(**config)

    def dataset(self, data: Path, split: str, recipe: Recipe, cache: Path, job=None):
        cfg = self.config(recipe)
        labels = recipe.options.get("labels", "midi")
        if labels == "pseudo" and split == "train":
            missing = [e for e in load_manifest(data)["videos"] if not (Path(data) / "pseudo" / f"{e['id']}.mid").is_file()]
            if missing:     # the thesis' labels: made once, by the audio teacher, the first time they are needed
                log.info("making audio pseudo labels for %d videos", len(missing))
                make_pseudo_labels(data, job=job)
        ds = PianoWindows(data, split, (cfg["width"], cfg["height"]), cache, labels=labels, frames=cfg["frames"],
                          augment=split == "train", job=job, seed=recipe.seed)
        self._data, self._cache = Path(data), Path(cache)
        if split == "train":
            on, dn = ds.positive_rate()
            # inverse-frequency weights for the positives of each key (the thesis' class balancing),
            # capped so that a key almost never played does not dominate
            self.pos_weight = {k: torch.from_numpy(np.clip((1 - r) / np.maximum(r, 1e-6), 1.0, _MAX_POS_WEIGHT))
                               for k, r in (("onset", on), ("down", dn))}
        return ds

    def loss(self, model, batch):
        x, on, dn = batch
        out = model(x)
        pw = {k: v.to(x.device) for k, v in self.pos_weight.items()}
        l_on = balanced_bce(out["onset"], on, pw.get("onset"))
        l_dn = balanced_bce(out["down"], dn, pw.get("down"))
        with torch.no_grad():
            pred = out["onset"] > 0
            tp = float((pred & (on > 0.5)).sum())
            fp = float((pred & (on < 0.5)).sum())
            fn = float((~pred & (on > 0.5)).sum())
            down_acc = float(((out["down"] > 0) == (dn > 0.5)).float().mean())
        f1 = 2 * tp / max(2 * tp + fp + fn, 1.0)
        return l_on + 0.5 * l_dn, {"onset_loss": l_on.item(), "down_loss": l_dn.item(), "frame_f1": f1,
                                   "down_acc": down_acc}

    def export(self, model, recipe: Recipe):
        return model.state_dict(), self.config(recipe)

    def export_metrics(self, model, recipe: Recipe) -> dict:
        """The post-processing (threshold, σ) picked on the validation videos, and its note-level F1."""
        if self._data is None:
            return {}
        labels = recipe.options.get("labels", "midi")
        tuned = tune_postprocessing(model, self._data, "val", self._cache, labels=labels)
        return {"threshold": tuned["threshold"], "sigma": tuned["sigma"], "release": tuned["release"],
                "press": tuned["press"], "val_note_f1": tuned["f1"]}


def _videos(model, data: Path, split: str, cache: Path, labels: str, job=None):
    from x2studio.core.errors import InputError

    manifest = load_manifest(data)
    entries = [e for e in manifest["videos"] if e.get("split") == split]
    if not entries:
        raise InputError(f"'{data}' has no '{split}' videos.")
    size = (model.width, model.height)
    for i, e in enumerate(entries):
        if job is not None:
            job.progress(i, len(entries), f"transcribing {e['id']}")
        crops = video_crops(data, e, size, cache)
        on, dn = sequence_probabilities(model, crops)
        yield e, on, dn, video_notes(data, e, labels)


def score_notes(items, threshold: float, sigma: float, release: float | None = None, press: float | None = None) -> dict:
    from x2studio.pipelines.piano import note_metrics, probabilities_to_notes

    tp = ref = est = 0
    for e, on, dn, truth in items:
        notes = probabilities_to_notes(on, float(e["fps"]), dn, threshold, sigma, release=release, press=press)
        m = note_metrics(truth, notes)
        tp, ref, est = tp + m["tp"], ref + m["ref"], est + m["est"]
    p = tp / est if est else 0.0
    r = tp / ref if ref else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f, "accuracy": tp / max(ref + est - tp, 1), "notes": ref,
            "detected": est}


# the post-processing grid searched on the validation videos (the same for every model)
SIGMAS = (0.0, 1.0, 2.0, 5.0)
THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9)
RELEASES = (None, 0.9, 0.95, 0.98)     # see x2studio.pipelines.piano.key_rules
PRESSES = (None, 0.5, 0.7)


def tune_postprocessing(model, data: Path, split: str, cache: Path, labels: str = "midi", items=None,
                        rules: bool = True) -> dict:
    """Threshold, smoothing σ and (``rules``) the key rules that maximise note-level F1 on ``split``."""
    items = list(_videos(model, Path(data), split, Path(cache), labels)) if items is None else items
    best = {"f1": -1.0}
    for sigma in SIGMAS:
        for thr in THRESHOLDS:
            for release in (RELEASES if rules else (None,)):
                for press in (PRESSES if rules else (None,)):
                    m = score_notes(items, thr, sigma, release, press)
                    if m["f1"] > best["f1"]:
                        best = {**m, "threshold": thr, "sigma": sigma, "release": release, "press": press}
    return best


def piano_eval(data: str | Path, weights: str, split: str = "test", labels: str = "midi", device: str = "cpu",
               cache: str | Path | None = None, threshold: float | None = None, sigma: float | None = None,
               job=None, tune: bool = False, tune_labels: str = "pseudo", key_rules: bool = True) -> dict:
    """Note-level precision, recall, F1 and accuracy of ``weights`` on the ``split`` videos against
    ``labels`` (true MIDI or the audio pseudo labels) — the thesis' Table 1 analog.  ``key_rules``
    False turns the release/press rules off (the thesis' peak picking alone)."""
    return piano_eval_labels(data, weights, split, (labels,), device, cache, threshold, sigma, job, tune,
                             tune_labels, key_rules)[0]


def piano_eval_labels(data: str | Path, weights: str, split: str = "test", labels=("midi", "pseudo"),
                      device: str = "cpu", cache: str | Path | None = None, threshold: float | None = None,
                      sigma: float | None = None, job=None, tune: bool = False, tune_labels: str = "pseudo",
                      key_rules: bool = True) -> list[dict]:
    """:func:`piano_eval` against several label sets at once (one row each, in ``labels``' order):
    the network runs once per video and each set of notes is scored on the same probabilities —
    Table 1's (a) pseudo labels and (b) true MIDI for the price of one."""
    from x2studio.core import paths
    from x2studio.core.errors import InputError
    from x2studio.models.registry import model_from_card
    from x2studio.pipelines.piano import rules_of

    from ..loop import resolve_weights

    labels = tuple(dict.fromkeys(labels))
    if not labels:
        raise InputError("No labels to score against.", "Use 'midi', 'pseudo' or 'midi,pseudo'.")
    data = Path(data)
    entries = [e for e in load_manifest(data)["videos"] if e.get("split") == split]
    # every label set read once, up front: a missing file is refused before the network runs for minutes
    truth = {lab: {e["id"]: video_notes(data, e, lab) for e in entries} for lab in labels}
    entry = resolve_weights(weights)
    model = model_from_card(entry, device, allowed=("piano",))
    cache = Path(cache) if cache else paths.cache_dir() / "training"
    thr = float(entry.card.metrics.get("threshold", 0.4)) if threshold is None else float(threshold)
    sg = float(entry.card.metrics.get("sigma", 1.0)) if sigma is None else float(sigma)
    rules = rules_of(entry.card.metrics) if key_rules else {"release": None, "press": None}
    if tune:       # pick the post-processing on the validation videos again (same grid for every model)
        t = tune_postprocessing(model, data, "val", cache, labels=tune_labels, rules=key_rules)
        thr, sg, rules = t["threshold"], t["sigma"], {"release": t["release"], "press": t["press"]}
    items = list(_videos(model, data, split, cache, labels[0], job))
    rows = []
    for lab in labels:
        scored = [(e, on, dn, truth[lab][e["id"]]) for e, on, dn, _ in items]
        out = score_notes(scored, thr, sg, **rules)
        out.update(weights=entry.name, arch=model.arch, head=model.head_kind, split=split, labels=lab,
                   videos=len(items), threshold=thr, sigma=sg, **rules)
        rows.append(out)
    return rows


def arch_summary(rows: list[dict]) -> list[dict]:
    """Rows of several runs grouped by (architecture, head, labels): the mean and the sample standard
    deviation of P, R, accuracy and F1 over the runs, in the order each group first appears — the
    thesis' Table 1 with the run-to-run spread, when each architecture was trained with several seeds."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["arch"], r.get("head", "pool"), r["labels"]), []).append(r)
    out = []
    for (arch, head, lab), rs in groups.items():
        g = {"arch": arch, "head": head, "labels": lab, "runs": len(rs), "weights": [r["weights"] for r in rs]}
        for k in ("precision", "recall", "accuracy", "f1"):
            v = np.array([r[k] for r in rs], float)
            g[k], g[k + "_sd"] = float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0
        out.append(g)
    return out


def make_pseudo_labels(data: str | Path, job=None, overwrite: bool = False) -> dict:
    """The thesis' labels: transcribe each video's sound with the audio teacher (Basic Pitch) and
    write ``pseudo/<id>.mid``; report the teacher's note-level scores against the true MIDI per split
    (where a video has true MIDI).  Existing pseudo labels are kept unless ``overwrite``."""
    from x2studio.core.errors import InputError
    from x2studio.media.midi import save_midi
    from x2studio.pipelines.piano import note_metrics
    from x2studio.pipelines.piano_audio import AudioTranscriber

    data = Path(data)
    manifest = load_manifest(data)
    teacher = AudioTranscriber()
    out_dir = data / "pseudo"
    out_dir.mkdir(parents=True, exist_ok=True)
    per_split: dict[str, list[int]] = {}
    skipped = []
    for i, e in enumerate(manifest["videos"]):
        if job is not None:
            job.progress(i, len(manifest["videos"]), f"listening to {e['id']}")
        target = out_dir / f"{e['id']}.mid"
        try:
            if target.is_file() and not overwrite:
                from x2studio.media.midi import load_midi

                notes = list(load_midi(target, require_notes=False).notes)
            else:
                notes = teacher.transcribe(data / e["video"])
                save_midi(target, notes)
        except InputError as exc:     # silent or missing sound: no pseudo labels for this video
            skipped.append(f"{e['id']}: {exc}")
            continue
        if e.get("midi"):
            m = note_metrics(video_notes(data, e, "midi"), notes)
            acc = per_split.setdefault(e.get("split", "?"), [0, 0, 0])
            acc[0] += m["tp"]
            acc[1] += m["ref"]
            acc[2] += m["est"]
    scores = {}
    for split, (tp, ref, est) in per_split.items():
        p, r = tp / max(est, 1), tp / max(ref, 1)
        scores[split] = {"precision": p, "recall": r, "f1": 2 * p * r / max(p + r, 1e-9), "notes": ref}
    return {"videos": len(manifest["videos"]) - len(skipped), "skipped": skipped, "teacher": scores,
            "folder": str(out_dir)}
