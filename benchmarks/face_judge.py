"""Third-party judges of the rendered faces: do off-the-shelf face detectors and landmark models see them?

    python benchmarks/face_judge.py DATASET [--max-yaw 45] [--every 1] [--json OUT.json]

``DATASET`` is a folder written by ``x2studio data synth faces``.  Frames are decoded from the track
MP4s (so the judges see what a user's model sees: H.264 frames), and only frames with |yaw| <= 45 deg
are judged.  The dataset's face model matters (``--face-model`` of the generator; see
``training/synth/head.py``): version 2 was shaped by what this benchmark showed of version 1.
Per judge it prints the detection rate, the detector speed, and the normalised mean error
(NME) of its landmarks against our ground truth, normalised by the outer inter-ocular distance:

- **mediapipe** 0.10.21 legacy solutions: ``face_detection`` (detection rate) and ``face_mesh``
  (landmarks; the 468-point mesh is mapped to the 68 iBUG points with the usual correspondence and
  compared on the points both define the same way: brows, nose, eyes, mouth (17-67));
- **dlib**: the HOG frontal-face detector and the 68-point shape predictor (all 68 points and 17-67);
- **dlib CNN**: dlib's CNN (MMOD) face detector, with the same 68-point predictor on its boxes.  dlib's
  author points users to it when the HOG detector misses turned faces (dlib issues #708, #905).

A second table splits each judge's detection rate and NME by |yaw| (0-15, 15-30, 30-45 deg), for
heads pitched down by more than 10 deg, where the HOG detector loses most faces, and for near-frontal
heads (|yaw| < 15, |pitch| < 10, |roll| < 10 deg), the poses of the HOG detector's own training faces
(dlib's frontal detector: five HOG filters, front, left, right and front rotated either way, trained on
LFW; dlib's training log gives the front filter a recall of 0.896 on its own training set, dlib issue
#1060).

The judges are not X2 Studio dependencies (mediapipe pins protobuf < 5 and numpy < 2; dlib's model
package needs setuptools < 81), so run this in a separate environment::

    python3 -m venv /tmp/judge
    /tmp/judge/bin/pip install --no-deps mediapipe==0.10.21
    /tmp/judge/bin/pip install absl-py attrs flatbuffers "protobuf>=4.25.3,<5" opencv-python-headless \
        "numpy<2" matplotlib dlib-bin face-recognition-models "setuptools<81"
    /tmp/judge/bin/python benchmarks/face_judge.py DATASET

Only numpy, OpenCV and the judges are imported (no X2 Studio import), so that environment needs
nothing else.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np

# mediapipe face-mesh vertex for each iBUG-68 point (the widely used correspondence; jaw points are
# only approximate on the mesh and are left out of the comparison).
MESH_68 = np.array([
    162, 234, 93, 58, 172, 136, 149, 148, 152, 377, 378, 365, 397, 288, 323, 454, 389,
    70, 63, 105, 66, 107, 336, 296, 334, 293, 300,
    168, 197, 5, 4, 75, 97, 2, 326, 305,
    33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,
    78, 82, 13, 312, 308, 317, 14, 87,
])
INNER = np.arange(17, 68)


def _frames(video: Path):
    cap = cv2.VideoCapture(str(video))
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        yield bgr
    cap.release()


def _nme(pred: np.ndarray, truth: np.ndarray, idx: np.ndarray) -> float:
    iod = np.linalg.norm(truth[36] - truth[45])
    return float(np.mean(np.linalg.norm(pred[idx] - truth[idx], axis=1)) / max(iod, 1e-6))


class MediaPipeJudge:
    name = "mediapipe 0.10.21"

    def __init__(self):
        import mediapipe as mp
        self.det = mp.solutions.face_detection.FaceDetection(model_selection=0, min_detection_confidence=0.5)
        self.mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1,
                                                     refine_landmarks=False, min_detection_confidence=0.5)

    def __call__(self, bgr: np.ndarray):
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        h, w = rgb.shape[:2]
        t0 = time.perf_counter()
        found = bool(self.det.process(rgb).detections)
        dt = time.perf_counter() - t0
        res = self.mesh.process(rgb)
        pts = None
        if res.multi_face_landmarks:
            lm = res.multi_face_landmarks[0].landmark
            pts = np.array([[lm[i].x * w, lm[i].y * h] for i in MESH_68])
        return found, dt, pts, (INNER,)


class DlibJudge:
    name = "dlib 68"

    def __init__(self):
        import dlib
        import face_recognition_models as frm
        self.dlib = dlib
        self.det = dlib.get_frontal_face_detector()
        self.pred = dlib.shape_predictor(frm.pose_predictor_model_location())

    def __call__(self, bgr: np.ndarray):
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        t0 = time.perf_counter()
        boxes = self.det(gray, 1)
        dt = time.perf_counter() - t0
        if not boxes:
            return False, dt, None, ()
        box = max(boxes, key=lambda r: r.area())
        shape = self.pred(gray, box)
        pts = np.array([[p.x, p.y] for p in shape.parts()], dtype=float)
        return True, dt, pts, (np.arange(68), INNER)


class DlibCnnJudge(DlibJudge):
    """dlib's CNN (MMOD) face detector, shipped in face-recognition-models beside the 68-point
    predictor; it is dlib's detector for faces the HOG one misses (turned, dark, low contrast)."""
    name = "dlib CNN 68"

    def __init__(self):
        super().__init__()
        import face_recognition_models as frm
        self.cnn = self.dlib.cnn_face_detection_model_v1(frm.cnn_face_detector_model_location())

    def __call__(self, bgr: np.ndarray):
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        t0 = time.perf_counter()
        hits = self.cnn(rgb, 0)
        dt = time.perf_counter() - t0
        if not hits:
            return False, dt, None, ()
        box = max((h.rect for h in hits), key=lambda r: r.area())
        shape = self.pred(gray, box)
        pts = np.array([[p.x, p.y] for p in shape.parts()], dtype=float)
        return True, dt, pts, (np.arange(68), INNER)


def _samples(dataset: Path, every: int, stills: bool):
    """(bgr image, pose (3,), landmarks (68, 2)) for the track frames, or for the still sets."""
    if stills:
        for split in ("train", "val", "test"):
            lab = dataset / "stills" / split / "labels.npz"
            if not lab.exists():
                continue
            with np.load(lab) as z:
                pose, lms, index = z["pose"], z["landmarks"], z["index"]
            for k, i in enumerate(index):
                if k % every == 0:
                    yield cv2.imread(str(dataset / "stills" / split / "images" / f"{i:06d}.png")), pose[k], lms[k]
        return
    manifest = json.loads((dataset / "manifest.json").read_text())
    for entry in manifest["tracks"]:
        with np.load(dataset / entry["labels"]) as z:
            pose, lms = z["pose"], z["landmarks"]
        for k, bgr in enumerate(_frames(dataset / entry["video"])):
            if k < len(pose) and k % every == 0:
                yield bgr, pose[k], lms[k]


BINS = ((0, 15), (15, 30), (30, 45.01))


def _frontal(pose: np.ndarray) -> np.ndarray:
    """Near-frontal heads: |yaw| < 15, |pitch| < 10 and |roll| < 10 degrees."""
    return (np.abs(pose[:, 0]) < 15) & (np.abs(pose[:, 1]) < 10) & (np.abs(pose[:, 2]) < 10)


def judge(dataset: Path, max_yaw: float, every: int, judges, stills: bool = False) -> dict:
    stats = {j.name: {"frames": 0, "found": [], "seconds": 0.0, "nme": [], "pose": [], "nme_pose": []}
             for j in judges}
    for bgr, pose, lms in _samples(dataset, every, stills):
        if abs(pose[0]) <= max_yaw:
            for j in judges:
                s = stats[j.name]
                found, dt, pts, sets = j(bgr)
                s["frames"] += 1
                s["found"].append(found)
                s["pose"].append(pose)
                s["seconds"] += dt
                if pts is not None:
                    s["nme"].append([_nme(pts, lms, idx) for idx in sets])
                    s["nme_pose"].append(pose)
    out = {}
    for name, s in stats.items():
        nme = np.array(s["nme"]) if s["nme"] else np.zeros((0, 1))
        found, pose = np.array(s["found"], bool), np.array(s["pose"]).reshape(-1, 3)
        npose = np.array(s["nme_pose"]).reshape(-1, 3)
        by_pose = {}
        # where a judge fails: |yaw| bins, and heads pitched down (negative pitch) beyond 10 degrees
        for label, m, mn in [*((f"|yaw| {lo}-{int(hi)}", (abs(pose[:, 0]) >= lo) & (abs(pose[:, 0]) < hi),
                                (abs(npose[:, 0]) >= lo) & (abs(npose[:, 0]) < hi)) for lo, hi in BINS),
                             ("pitch < -10", pose[:, 1] < -10, npose[:, 1] < -10),
                             ("near-frontal", _frontal(pose), _frontal(npose))]:
            by_pose[label] = {"frames": int(m.sum()), "detection_rate": float(found[m].mean()) if m.any() else None,
                              "nme_inner": float(nme[mn, -1].mean()) if mn.any() else None}
        out[name] = {
            "frames": s["frames"],
            "detection_rate": float(found.mean()) if len(found) else 0.0,
            "detector_fps": s["frames"] / max(s["seconds"], 1e-9),
            "landmark_frames": len(nme),
            "nme_mean": [float(v) for v in nme.mean(0)] if len(nme) else None,
            "nme_median": [float(v) for v in np.median(nme, 0)] if len(nme) else None,
            "by_pose": by_pose,
        }
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--max-yaw", type=float, default=45.0)
    ap.add_argument("--every", type=int, default=1, help="judge every k-th frame")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--only", choices=["mediapipe", "dlib", "dlib-cnn"])
    ap.add_argument("--stills", action="store_true", help="judge the still sets instead of the tracks")
    args = ap.parse_args(argv)
    judges = []
    for cls, key in ((MediaPipeJudge, "mediapipe"), (DlibJudge, "dlib"), (DlibCnnJudge, "dlib-cnn")):
        if args.only and args.only != key:
            continue
        try:
            judges.append(cls())
        except ImportError as exc:
            print(f"skipping {key}: {exc}", file=sys.stderr)
    if not judges:
        print("no judge installed (see this script's docstring)", file=sys.stderr)
        return 2
    res = judge(args.dataset, args.max_yaw, args.every, judges, args.stills)
    print(f"machine: {platform.node()} ({platform.processor() or platform.machine()}), device: cpu")
    print(f"{'judge':<20}{'frames':>8}{'detected':>10}{'det fps':>9}{'NME 17-67':>11}{'NME 0-67':>10}")
    for name, r in res.items():
        nme = r["nme_mean"] or []
        inner = nme[-1] if nme else float("nan")
        full = nme[0] if len(nme) > 1 else float("nan")
        print(f"{name:<20}{r['frames']:>8}{r['detection_rate']:>10.1%}{r['detector_fps']:>9.1f}"
              f"{inner:>11.1%}{full:>10.1%}")
    print("\nby pose (detected / NME of points 17-67):")
    labels = list(next(iter(res.values()))["by_pose"])
    print(f"{'judge':<20}" + "".join(f"{lab:>24}" for lab in labels))
    for name, r in res.items():
        cells = []
        for lab in labels:
            b = r["by_pose"][lab]
            det = "-" if b["detection_rate"] is None else f"{b['detection_rate']:.1%}"
            err = "-" if b["nme_inner"] is None else f"{b['nme_inner']:.1%}"
            cells.append(f"{det} / {err} (n={b['frames']})")
        print(f"{name:<20}" + "".join(f"{c:>24}" for c in cells))
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
