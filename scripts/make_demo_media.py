"""Render the bundled demo clip ``x2studio/resources/demo/demo_piano.mp4``.

A top view of a piano keyboard whose keys light up as a short passage plays, with the passage
synthesized by FluidSynth: a real video with synchronised audio for the Media panel's first start.
(The talking-face demo clips come with the face-data generator.)

    python scripts/make_demo_media.py [OUT]
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from x2studio.media.midi import NoteEvent  # noqa: E402
from x2studio.media.synth import render_notes  # noqa: E402
from x2studio.media.video import VideoWriter  # noqa: E402

W, H, FPS = 480, 200, 25
LOW, HIGH = 48, 84  # C3..C6
WHITE = {0, 2, 4, 5, 7, 9, 11}


def passage() -> list[NoteEvent]:
    """A C-major arpeggio over four chords (I-vi-IV-V) with a melody on top, 6 s at 120 bpm."""
    chords = [(48, 52, 55), (45, 48, 52), (41, 45, 48), (43, 47, 50)]
    melody = [72, 71, 72, 74, 76, 74, 72, 71, 69, 71, 72, 74, 72, 71, 67, 72]
    notes: list[NoteEvent] = []
    for i, chord in enumerate(chords):
        t0 = 1.5 * i
        for j, p in enumerate(chord):
            notes.append(NoteEvent(t0 + 0.25 * j, t0 + 1.45, p + 12, 70))
    for k, p in enumerate(melody):
        notes.append(NoteEvent(0.375 * k, 0.375 * k + 0.35, p, 95))
    return notes


def key_geometry() -> dict[int, tuple[int, int, int, int, bool]]:
    whites = [p for p in range(LOW, HIGH + 1) if p % 12 in WHITE]
    ww = W / len(whites)
    geo: dict[int, tuple[int, int, int, int, bool]] = {}
    for i, p in enumerate(whites):
        geo[p] = (int(i * ww), 40, int((i + 1) * ww) - 1, H - 10, False)
    for p in range(LOW, HIGH + 1):
        if p % 12 not in WHITE:
            x = geo[p - 1][2]
            geo[p] = (int(x - ww * 0.3), 40, int(x + ww * 0.3), 40 + int((H - 50) * 0.62), True)
    return geo


def frame(t: float, notes: list[NoteEvent], geo) -> np.ndarray:
    img = np.full((H, W, 3), (28, 28, 34), np.uint8)
    active = {n.pitch for n in notes if n.onset <= t < n.offset}
    for black in (False, True):
        for p, (x0, y0, x1, y1, is_black) in geo.items():
            if is_black != black:
                continue
            on = p in active
            color = ((255, 170, 60) if on else (245, 245, 240)) if not black else ((230, 120, 30) if on else (20, 20, 20))
            cv2.rectangle(img, (x0, y0), (x1, y1), color, -1)
            cv2.rectangle(img, (x0, y0), (x1, y1), (90, 90, 90), 1)
    cv2.putText(img, f"X2 Studio demo  t={t:5.2f}s", (10, 26), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (220, 220, 230), 1, cv2.LINE_AA)
    return img


def main(out: str | None = None) -> int:
    target = Path(out) if out else Path(__file__).resolve().parents[1] / "x2studio/resources/demo/demo_piano.mp4"
    notes = passage()
    audio = render_notes(notes, sample_rate=44100, tail_s=0.5)
    geo = key_geometry()
    n_frames = int(audio.duration_s * FPS)
    with VideoWriter(target, FPS, (W, H), audio_rate=44100, audio_channels=2, crf=23, preset="slow") as vw:
        for i in range(n_frames):
            vw.write(frame(i / FPS, notes, geo))  # colours above are RGB
        vw.write_audio(audio.samples[: int(n_frames / FPS * 44100)])
    print(f"wrote {target} ({target.stat().st_size / 1e3:.0f} kB, {n_frames} frames)")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:2]))
