"""X2Face's audio mapping f_a→v (thesis §3.4.2), fitted in closed form, and its measurements.

- :func:`fit_audio_map` — ordinary least squares from standardised per-frame speech features to
  the driving vectors of the same frames (both centred per track), on the training tracks of a
  face-track folder with sound; R² on the validation and test tracks (identity-disjoint) goes
  into the model card.
  Features: the audio stream of ``avsync`` weights (learned) or ``mfcc`` (the baseline).
- :func:`speech_check` — drive held-out faces with held-out tracks' speech and correlate the mouth
  opening read from the generated frames (the ``expression`` CNN, not part of X2Face) with the
  true mouth opening of the track the speech came from.

Both are run from the CLI: ``x2studio train audio-map …`` and ``x2studio train speech-check …``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from x2studio.core.errors import InputError
from x2studio.face.dataset import load_labels, load_manifest
from x2studio.media.audio import load_audio
from x2studio.models.audiomap import VectorFromAudio
from x2studio.weights.registry import ModelCard, save_weights

from ..data.faces import FaceFrames, manifest_hash
from ..loop import resolve_weights
from .linear import r2_score, ridge
from .posemap import DEFAULT_X2FACE, driving_vectors

__all__ = ["fit_audio_map", "speech_check", "r2_score"]

log = logging.getLogger(__name__)


def _split_data(data: Path, split: str, entry, features, cache: Path, job=None):
    """Per-frame (features, driving vectors, track index) of the tracks of ``split`` that have sound."""
    manifest = load_manifest(data)
    tracks = {t["id"]: t for t in manifest["tracks"]}
    frames = FaceFrames(data, split, int(entry.card.config["image_size"]), cache, 1, job=job)
    images = np.concatenate([np.asarray(a) for a in frames.arrays])
    v = driving_vectors(entry, images, cache, f"tracks_{manifest_hash(data)[:12]}_{split}_s1", job=job)
    feats, vecs, owner, mouth = [], [], [], []
    for k, tid in enumerate(frames.track_ids):
        if job is not None:
            job.progress(k, len(frames.track_ids), f"speech features of {tid} ({split})")
        t = tracks[tid]
        if not t.get("audio", True):
            continue
        n = int(frames.offsets[k + 1] - frames.offsets[k])
        clip = load_audio(data / t["video"], mono=True)
        fps = float(t.get("fps") or manifest.get("fps") or 25.0)
        feats.append(features(clip, fps, np.arange(n)))
        vecs.append(v[frames.offsets[k]:frames.offsets[k + 1]])
        owner.append(np.full(n, k))
        labels = load_labels(data / t["labels"]) if t.get("labels") else {}
        if "expression" in labels and len(labels["expression"]) >= n:
            mouth.append(labels["expression"][:n, :2])       # jaw opening, lip rounding
    if not feats:
        raise InputError(f"No '{split}' track of '{data}' has sound.", "Use talking-face tracks with audio.")
    mouth_arr = np.concatenate(mouth) if len(mouth) == len(feats) else None
    return np.concatenate(feats), np.concatenate(vecs), np.concatenate(owner), mouth_arr


def _centred(x: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """``x`` minus the mean of its track (rows grouped by ``owner``)."""
    out = np.asarray(x, np.float64).copy()
    for k in np.unique(owner):
        m = owner == k
        out[m] -= out[m].mean(0)
    return out


def fit_audio_map(data: str | Path, x2face: str = DEFAULT_X2FACE, features: str = "avsync-face-lite",
                  name: str | None = None, weights_dir: str | Path | None = None, cache: str | Path | None = None,
                  device: str = "cpu", job=None) -> dict:
    """Fit f_a→v on the ``train`` tracks of ``data``; returns ``{"entry", "metrics"}``."""
    from x2studio.core import paths
    from x2studio.pipelines.speech import speech_features

    data = Path(data)
    cache = Path(cache) if cache else paths.cache_dir() / "training"
    entry = resolve_weights(x2face)
    feat = speech_features(features, device)
    a, v, owner, mouth = _split_data(data, "train", entry, feat, cache, job)
    # Fixed effects: features and vectors are centred per track before the fit.  Across tracks the
    # voice goes with the person (and the mean pose with the track), so a pooled fit learns to tell
    # people apart by their voices, which does not carry to new people; within a track, what speech
    # changes is the mouth.  At use time only differences f_a→v(a) − f_a→v(a_src) matter.
    mean, std = a.mean(0), a.std(0)
    std = np.where(std < 1e-6, 1.0, std)
    x, y = _centred((a - mean) / std, owner), _centred(v, owner)
    held = {}
    for split in ("val", "test"):
        try:
            a2, v2, owner2, mouth2 = _split_data(data, split, entry, feat, cache, job)
        except InputError as exc:
            log.warning("no %s R²: %s", split, exc)
            continue
        held[split] = (_centred((a2 - mean) / std, owner2), _centred(v2, owner2), a2, v2,
                       None if mouth2 is None else _centred(mouth2, owner2))
    # Least squares; the speech share of a driving vector is small (most of it is pose), and plain
    # OLS then puts large weights on feature directions that hardly vary within a track (who is
    # speaking), which a new voice turns into a distorted face.  A ridge penalty, chosen on the
    # validation tracks among OLS (0) and a few strengths, keeps the fit where it generalises.
    lam, coef, fits = ridge(x, y, held.get("val", (None, None))[:2])
    model = VectorFromAudio(a.shape[1], v.shape[1], feat.name)
    with torch.no_grad():
        model.mean.copy_(torch.from_numpy(mean))
        model.std.copy_(torch.from_numpy(std))
        model.fc.weight.copy_(torch.from_numpy(coef.T.astype(np.float32)))
        model.fc.bias.copy_(torch.from_numpy(v.mean(0).astype(np.float32)))
    metrics = {"ridge": lam, "r2_train": r2_score(x @ coef, y), "frames_train": int(len(a)),
               **({"r2_val_ols": fits[0.0][1]} if 0.0 in fits else {})}
    if mouth is not None and all(h[4] is not None for h in held.values()):
        # what the features know of the mouth (labelled synthetic tracks): the same fit onto the
        # true jaw opening and lip rounding, X2Face aside
        val = held.get("val")
        _, mcoef, _ = ridge(x, _centred(mouth, owner), (val[0], val[4]) if val else (None, None))
        for split, h in held.items():
            metrics[f"r2_mouth_{split}"] = r2_score(h[0] @ mcoef, h[4])
    for split, (xh, yh, a2, v2, _m) in held.items():
        with torch.no_grad():
            pred = model(torch.from_numpy(a2)).numpy()
        # within-track R² (how much of a face's frame-to-frame change speech explains) and the
        # pooled R² of the raw vectors (dominated by who is speaking and their pose)
        metrics[f"r2_{split}"] = r2_score(xh @ coef, yh)
        metrics[f"r2_pooled_{split}"] = r2_score(pred, v2)
        metrics[f"frames_{split}"] = int(len(a2))
    name = name or f"{entry.name}-a2v" + ("-mfcc" if feat.name == "mfcc" else "")
    card = ModelCard(name=name, architecture="x2face-a2v",
                     config={"in_dim": int(a.shape[1]), "dim": int(v.shape[1]), "features": feat.name},
                     data={"path": str(data), "manifest_sha256": manifest_hash(data)},
                     recipe={"method": "least squares on standardised, per-track centred features; ridge chosen on val",
                             "options": {"x2face": entry.name, "features": feat.name}},
                     metrics=metrics)
    folder = Path(weights_dir) if weights_dir else paths.user_weights_dir()
    folder.mkdir(parents=True, exist_ok=True)
    out = save_weights(model.state_dict(), card, folder)
    return {"entry": out, "metrics": metrics}


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 1e-12 else 0.0


def speech_check(data: str | Path, split: str = "test", x2face: str = DEFAULT_X2FACE, mapping: str | None = None,
                 reader: str = "expression-lite", tracks: int = 12, device: str = "cpu",
                 cache: str | Path | None = None, job=None) -> dict:
    """Mouth-opening correlations on held-out tracks.

    For each of ``tracks`` tracks of ``split``: its speech drives the first frame of the *next*
    track (another person); the ``expression`` CNN reads jaw opening from every generated frame;
    reported per track and on average: Pearson r between that and the true jaw opening of the
    speech's own track; as ceilings, r for the same face reenacted by the track's real frames (how
    much mouth X2Face transfers at all) and for the reader on the real frames themselves."""
    from x2studio.pipelines.pose import fit_crop
    from x2studio.pipelines.reenact import Reenactor, Source
    from x2studio.pipelines.speech import SpeechDriver
    from x2studio.weights.registry import WeightsRegistry
    from x2studio.models.registry import model_from_card

    data = Path(data)
    manifest = load_manifest(data)
    chosen = [t for t in manifest["tracks"] if t["split"] == split and t.get("audio", True)][:tracks + 1]
    if len(chosen) < 2:
        raise InputError(f"'{data}' needs at least two '{split}' tracks with sound.")
    r = Reenactor(x2face, device=device, detector="haar")
    driver = SpeechDriver(r, mapping)
    est = model_from_card(WeightsRegistry().get(reader), device, allowed=("vgg11-expression",))
    size = int(est.image_size)

    def jaw(crops: list[np.ndarray]) -> np.ndarray:
        x = np.stack([fit_crop(c, size) for c in crops]).astype(np.float32) / 255.0
        with torch.inference_mode():
            return est(torch.from_numpy(x).permute(0, 3, 1, 2).to(device))[:, 0].cpu().numpy()

    cache = Path(cache) if cache else None
    rows = []
    from x2studio.media.video import VideoReader
    for k, t in enumerate(chosen[:-1]):
        if job is not None:
            job.progress(k, len(chosen) - 1, f"speech of {t['id']}")
        truth = load_labels(data / t["labels"])["expression"][:, 0]
        with VideoReader(data / chosen[k + 1]["video"]) as rd:
            src = rd.read(0).image
        with VideoReader(data / t["video"]) as rd:
            real = [fr.image for fr in rd.frames()]
        src = fit_crop(src, r.size)
        r.set_sources([Source(src, np.array([0.0, 0.0, r.size, r.size], np.float32), src, chosen[k + 1]["id"])])
        n = driver.load(load_audio(data / t["video"]), float(t.get("fps") or 25.0))
        n = min(n, len(truth), len(real))
        gen = driver.render_many(list(range(n)))
        reenacted = [r.drive_crop(f) for f in real[:n]]     # the same face driven by the real frames
        rows.append({"track": t["id"], "source": chosen[k + 1]["id"], "frames": n,
                     "r_generated": _pearson(jaw(gen), truth[:n]), "r_reenacted": _pearson(jaw(reenacted), truth[:n]),
                     "r_real": _pearson(jaw(real[:n]), truth[:n])})
    return {"split": split, "x2face": x2face, "features": driver.a2v.features, "reader": reader, "rows": rows,
            **{key: float(np.mean([x[key] for x in rows])) for key in ("r_generated", "r_reenacted", "r_real")},
            # the sign of the response differs between faces (X2Face-lite moves the lower face, not
            # always towards an open mouth): |r| says how closely the movement follows the speech
            **{f"abs_{key}": float(np.mean([abs(x[key]) for x in rows])) for key in ("r_generated", "r_reenacted")}}
