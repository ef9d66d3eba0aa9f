"""Face tracks from real video (a rendered face composited into a larger scene), bad input, and
paste-back."""

from __future__ import annotations

import numpy as np
import pytest

from x2studio.cli import main
from x2studio.face.dataset import load_labels, load_manifest
from x2studio.face.paste import crop_mask, paste_back
from x2studio.face.tracks import crop, crop_box, extract_face_tracks, link_detections
from x2studio.media.video import VideoWriter

render = pytest.importorskip("training.synth.render")
if not render.gl_available():  # pragma: no cover
    pytest.skip("no OpenGL context", allow_module_level=True)

from training.synth.faces import plan_track, render_track  # noqa: E402


def _iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    i = ix * iy
    return i / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - i)


@pytest.fixture(scope="module")
def scene_clip(tmp_path_factory):
    """A 2-s rendered face (near-frontal) placed in a 640×480 scene; returns path and true boxes."""
    size = 180
    r = render.Renderer(size)
    plan = plan_track(21, 0, 2, size, max_seconds=2.0)
    plan.pose[:] = plan.pose * np.array([0.3, 0.4, 0.4], np.float32)   # Haar cascades need near-frontal faces
    path = tmp_path_factory.mktemp("clip") / "scene.mp4"
    truth_boxes = []
    rng = np.random.default_rng(0)
    bg = (rng.uniform(60, 200, (480, 640, 3))).astype(np.uint8)
    bg = np.ascontiguousarray(np.repeat(np.repeat(bg[::40, ::40], 40, 0), 40, 1)[:480, :640])
    with VideoWriter(path, 25, (640, 480), audio_rate=plan.sample_rate) as vw:
        for k, (img, truth) in enumerate(render_track(r, plan, 21)):
            ox, oy = 300 + int(40 * np.sin(k / 15)), 150
            frame = bg.copy()
            frame[oy:oy + size, ox:ox + size] = img
            vw.write(frame)
            truth_boxes.append(truth.box + np.array([ox, oy, ox, oy], np.float32))
        vw.write_audio(plan.audio)
    r.release()
    return path, np.array(truth_boxes)


def test_tracker_finds_the_face_and_crops_it(scene_clip, tmp_path):
    path, boxes = scene_clip
    rep = extract_face_tracks([path], tmp_path / "ds", detector="haar", size=128)
    assert rep.tracks == 1, rep.lines()
    m = load_manifest(tmp_path / "ds")
    t = m["tracks"][0]
    lab = load_labels(tmp_path / "ds" / t["labels"])
    frames = lab["source_frame"]
    assert len(frames) >= 0.8 * len(boxes)
    ious = [_iou(lab["source_box"][i], crop_box(boxes[f])) for i, f in enumerate(frames)]
    assert np.mean(ious) >= 0.9, np.mean(ious)
    assert t["audio"] and t["split"] in ("train", "val", "test")


def test_no_face_corrupt_and_one_frame_videos_are_skipped(tmp_path):
    empty = tmp_path / "empty.mp4"
    with VideoWriter(empty, 25, (160, 120)) as vw:
        for k in range(30):
            vw.write(np.full((120, 160, 3), 40 + k, np.uint8))
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\0\1garbage" * 100)
    one = tmp_path / "one.mp4"
    with VideoWriter(one, 25, (160, 120)) as vw:
        vw.write(np.zeros((120, 160, 3), np.uint8))
    rep = extract_face_tracks([empty, bad, one], tmp_path / "ds", detector="haar")
    assert rep.tracks == 0 and len(rep.skipped) == 3
    assert any("no face" in s for s in rep.skipped)
    assert main(["data", "faces", str(tmp_path / "missing.mp4"), str(tmp_path / "o")]) == 2


def test_several_faces_give_several_tracks_largest_first():
    small = [np.array([10, 10, 40, 40])] * 20
    big = [np.array([100, 100, 200, 200])] * 20
    per_frame = [[s, b] for s, b in zip(small, big)]
    per_frame[5] = [per_frame[5][0]]            # a missed detection is bridged
    tracks = link_detections(per_frame)
    assert len(tracks) == 2
    assert tracks[0].boxes[0][2] == 200 and len(tracks[0].frames) == 20
    assert not tracks[0].detected[5]


def test_paste_back_round_trip_and_colour_matching():
    rng = np.random.default_rng(1)
    frame = np.clip(cv2_blur(rng.uniform(0, 255, (240, 320, 3))), 0, 255).astype(np.uint8)
    box = np.array([100.0, 40.0, 228.0, 168.0])
    face = crop(frame, box, 128)
    back = paste_back(frame, face, box, color_match=False)
    assert np.abs(back.astype(int) - frame.astype(int)).mean() < 2.0
    tinted = np.clip(face.astype(int) + 40, 0, 255).astype(np.uint8)
    plain = paste_back(frame, tinted, box, color_match=False)
    matched = paste_back(frame, tinted, box, color_match=True)
    m = crop_mask(128)
    ring = np.zeros(frame.shape[:2], bool)          # inside the feathered seam
    ring[40:168, 100:228] = (m > 0.2) & (m < 0.8)
    e_plain = np.abs(plain[ring].astype(int) - frame[ring].astype(int)).mean()
    e_match = np.abs(matched[ring].astype(int) - frame[ring].astype(int)).mean()
    assert e_match < 0.5 * e_plain
    # a box reaching past the frame edge is fine
    out = paste_back(frame, face, np.array([-30.0, -30.0, 98.0, 98.0]))
    assert out.shape == frame.shape


def cv2_blur(x):
    import cv2

    return cv2.GaussianBlur(x, (0, 0), 6)


def test_box_smoothing_ignores_a_wrong_scale_detection():
    from x2studio.face.tracks import smooth_boxes

    boxes = np.tile(np.array([100.0, 100.0, 200.0, 200.0], np.float32), (30, 1))
    boxes[12] = [60, 60, 260, 260]                      # one frame at twice the size
    out = smooth_boxes(boxes)
    assert np.abs(out - boxes[0]).max() < 1.0


def test_crop_to_a_small_size_from_a_large_box_terminates() -> None:
    from x2studio.face.tracks import crop

    frame = np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)
    for side in (127.9, 128.0, 129.3, 200.0, 255.0):     # scale near and below 0.5 for a 64² crop
        out = crop(frame, np.array([10.0, 12.0, 10.0 + side, 12.0 + side]), 64)
        assert out.shape == (64, 64, 3)
