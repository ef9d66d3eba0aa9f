"""Face detectors of ``x2studio data faces`` on rendered faces, where the truth is known.

    python benchmarks/face_detectors.py [DATASET] [--tracks 12] [--calibrate]

Without ``DATASET`` it renders one (12 tracks, 256x256, seed 7) in a temporary folder.  For each
detector that is installed (OpenCV's Haar cascades always; mediapipe when present) it prints, over
the frames with |yaw| <= 45 deg: the detection rate (a calibrated box with IoU >= 0.5 with the true
landmark box), the median IoU where a box lies on the face, and the frames per second.
``--calibrate`` also prints the box mapping (dx, dy, sx, sy) that turns the raw detector box into
the landmark box (medians), the constants ``FaceDetector.calib`` holds.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from x2studio.face.dataset import load_labels, load_manifest  # noqa: E402
from x2studio.face.detect import HaarDetector, MediaPipeDetector, iou_matrix  # noqa: E402
from x2studio.media.video import VideoReader  # noqa: E402


def evaluate(root: Path, det, max_yaw: float = 45.0) -> dict:
    m = load_manifest(root)
    found, ious, raw, truth = [], [], [], []
    seconds, n = 0.0, 0
    calib = det.calib
    for tr in m["tracks"]:
        lab = load_labels(root / tr["labels"])
        with VideoReader(root / tr["video"]) as r:
            for fr in r.frames():
                if abs(lab["pose"][fr.index, 0]) > max_yaw:
                    continue
                gt = lab["box"][fr.index]
                t0 = time.perf_counter()
                ds = det.detect(fr.image)
                seconds += time.perf_counter() - t0
                n += 1
                hit = None
                for d in ds:
                    c = (d.box[:2] + d.box[2:]) / 2
                    if gt[0] < c[0] < gt[2] and gt[1] < c[1] < gt[3]:
                        hit = d.box
                        break
                best = float(iou_matrix(np.stack([d.box for d in ds]), gt[None]).max()) if ds else 0.0
                found.append(best >= 0.5)
                if hit is not None:
                    ious.append(best)
                    raw.append(_uncalibrate(hit, calib))          # the detector's own box
                    truth.append(gt)
    out = {"frames": n, "rate": float(np.mean(found)) if found else 0.0,
           "iou": float(np.median(ious)) if ious else float("nan"), "fps": n / max(seconds, 1e-9)}
    if raw:
        b, g = np.array(raw), np.array(truth)
        bw, bh = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
        out["calib"] = tuple(float(x) for x in (
            np.median(((g[:, 0] + g[:, 2]) - (b[:, 0] + b[:, 2])) / 2 / bw),
            np.median(((g[:, 1] + g[:, 3]) - (b[:, 1] + b[:, 3])) / 2 / bh),
            np.median((g[:, 2] - g[:, 0]) / bw), np.median((g[:, 3] - g[:, 1]) / bh)))
    return out


def _uncalibrate(box: np.ndarray, calib) -> np.ndarray:
    """The inverse of ``FaceDetector._calibrate``."""
    dx, dy, sx, sy = calib
    w, h = (box[2] - box[0]) / sx, (box[3] - box[1]) / sy
    cx, cy = (box[0] + box[2]) / 2 - dx * w, (box[1] + box[3]) / 2 - dy * h
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], np.float32)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset", type=Path, nargs="?")
    ap.add_argument("--tracks", type=int, default=12)
    ap.add_argument("--calibrate", action="store_true")
    args = ap.parse_args(argv)
    tmp = None
    root = args.dataset
    if root is None:
        from training.synth.faces import generate_faces
        tmp = tempfile.TemporaryDirectory()
        root = Path(tmp.name) / "faces"
        generate_faces(root, tracks=args.tracks, size=256, seed=7, max_seconds=4)
    detectors = [HaarDetector()]
    try:
        detectors.append(MediaPipeDetector())
    except Exception as exc:  # noqa: BLE001 - an optional detector that is absent is reported, not fatal
        print(f"(mediapipe not measured: {exc})")
    print(f"machine: {platform.node()} ({platform.machine()}, {__import__('os').cpu_count()} cores), device: cpu")
    print(f"{'detector':<12}{'frames':>8}{'found':>8}{'IoU':>7}{'fps':>8}   calibration (dx, dy, sx, sy)")
    for det in detectors:
        r = evaluate(root, det)
        cal = ", ".join(f"{v:.3f}" for v in r.get("calib", ())) if args.calibrate else ""
        print(f"{det.name:<12}{r['frames']:>8}{r['rate']:>8.1%}{r['iou']:>7.2f}{r['fps']:>8.1f}   {cal}")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
