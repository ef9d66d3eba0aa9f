"""Check and fix the sync of a video's sound with its picture (thesis ch. 7), in a panel.

- :class:`SyncCurve` — the distance-over-offset curve of a :class:`~x2studio.pipelines.sync.SyncResult`
  with the estimate marked (the Audio panel's speech and the Piano panel).
- :class:`PianoSyncMixin` — the Piano panel's: "Check sync" runs the piano AV-sync
  network over the open video (its keyboard as marked) in a job; "Fix" moves the video's sound by the
  offset found, for the sound transcription and the playback mix; "Save fixed…" writes a copy of the
  video with its sound moved (the picture copied as it is).  Mixed into :class:`~.piano_panel.PianoPanel`,
  whose ``video``, ``view``, ``jobs``, ``device``, ``status``, ``original`` and ``_fail`` it uses.
- :class:`SpeechSyncMixin` — the Audio panel's: the same check on the video the speech came from, and
  "Fix" moves the speech by the offset found.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QFileDialog, QPushButton, QWidget

from ...core.errors import X2Error
from .common import MP4_FILTER

__all__ = ["SyncCurve", "PianoSyncMixin", "SpeechSyncMixin"]


class SyncCurve(pg.PlotWidget):
    """Mean distance between picture and sound embeddings over offsets; lowest where they match."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMenuEnabled(False)
        self.setMouseEnabled(False, False)
        self.hideButtons()
        self.setMaximumHeight(90)
        self.setLabel("bottom", self.AXIS)
        self.getPlotItem().hideAxis("left")
        self.setVisible(False)
        self.title = ""

    AXIS = "offset of the sound (s); lowest: in sync"

    def show_result(self, res, note: str = "") -> None:
        """Draw ``res``'s curve, its estimate marked and said under it (with ``note`` after it)."""
        plot = self.getPlotItem()
        plot.clear()
        self.title = res.lines()[0] + (f" {note}" if note else "")
        self.setLabel("bottom", f"{self.AXIS} — {self.title}")
        ok = np.isfinite(res.distances)
        plot.plot(res.offsets[ok] / res.fps, res.distances[ok], pen=pg.mkPen("#4aa3ff", width=2))
        if res.offset_s is not None:
            plot.addItem(pg.InfiniteLine(pos=res.offset_s, angle=90, pen=pg.mkPen("#ff5050")))
        self.setVisible(True)


class PianoSyncMixin:
    def _init_sync(self) -> None:
        self.sync_offset: float | None = None     # found by Check sync, not applied yet
        self.audio_shift = 0.0                    # applied: the sound is used this many seconds earlier
        self._sync_job = None
        self.sync_plot = SyncCurve(self)
        self.sync_button = QPushButton("Check sync", self)
        self.sync_button.setToolTip("Is the sound in sync with the keys? (the piano AV-sync network, over the "
                                    "marked keyboard)")
        self.sync_button.clicked.connect(self.check_sync)
        self.fix_button = QPushButton("Fix", self)
        self.fix_button.setToolTip("Move the sound by the offset found: the sound transcription and the playback "
                                   "use it moved")
        self.fix_button.clicked.connect(self.fix_sync)
        self.save_fixed_button = QPushButton("Save fixed…", self)
        self.save_fixed_button.setToolTip("Write a copy of the video with its sound moved into sync (MP4)")
        self.save_fixed_button.clicked.connect(lambda: self.save_fixed())

    def _sync_widgets(self) -> tuple:
        return self.sync_button, self.fix_button, self.save_fixed_button

    def _reset_sync(self) -> None:
        """A new video (or mode): nothing is known of its sync."""
        self.sync_offset, self.audio_shift = None, 0.0
        self.sync_plot.setVisible(False)

    def _on_original_audio(self, clip) -> None:
        """The video's own sound arrived (for the playback mix): moved when a fix is applied."""
        from ...media.audio import AudioClip, delay

        if clip is not None and self.audio_shift:
            clip = AudioClip(delay(clip.samples, -int(round(self.audio_shift * clip.sample_rate))), clip.sample_rate)
        self.original = clip

    def check_sync(self):
        """Estimate the offset between the open video's keys and its sound, as a job."""
        if self.video is None or self.view.corners is None or self._sync_job is not None:
            return self._sync_job
        from ...media.audio import shifted_sound
        from ...pipelines.sync import SyncRequest, check_sync

        video, corners, device, shift = self.video, self.view.corners.copy(), self.device, self.audio_shift
        self.status.setText("Checking sync…")

        def work(job):
            audio = shifted_sound(video, shift) if shift else None
            return check_sync(SyncRequest(video, "piano", device=device, corners=corners, audio=audio), job).result

        def failed(message: str, details: str) -> None:
            self._fail(f"Checking sync failed: {message}", details)

        self._sync_job = self.jobs.start(f"Checking sync of {video.name}", work, on_success=self._on_synced,
                                         on_failure=failed)
        self._sync_job.progress.connect(lambda ev: self.status.setText(
            f"Checking sync: {ev.message or ''} {100 * (ev.fraction or 0):.0f}%"))
        self._sync_job.ended.connect(self._on_sync_ended)
        self._update_buttons()
        return self._sync_job

    def _on_sync_ended(self) -> None:
        self._sync_job = None
        self._update_buttons()

    def _on_synced(self, res) -> None:
        self.sync_plot.show_result(res, f"(after moving it {self.audio_shift * 1000:+.0f} ms)" if self.audio_shift else "")
        self.sync_offset = res.offset_s if res.offset_s else None       # in sync (0): nothing to fix
        self.status.setText(" ".join(res.lines()) + (". Fix moves the sound." if self.sync_offset else "."))
        self._update_buttons()

    def fix_sync(self) -> None:
        """Apply the offset found: the sound transcription and the playback mix use the moved sound."""
        from ...media.audio import AudioClip, delay

        if not self.sync_offset:
            return
        off, self.sync_offset = self.sync_offset, None
        self.audio_shift += off
        if self.original is not None:
            o = self.original
            self.original = AudioClip(delay(o.samples, -int(round(off * o.sample_rate))), o.sample_rate)
        self._mark_synth_dirty()
        self.status.setText(f"The sound is moved {self.audio_shift * 1000:+.0f} ms: transcribing from the sound and "
                            "the playback use it so. Save fixed… writes the video with it.")
        self._update_buttons()

    def save_fixed(self, path: str | Path | None = None):
        """Write a copy of the video with its sound moved by the applied fix (atomic), as a job."""
        if self.video is None or not self.audio_shift:
            return None
        if path is None:
            start = str(self.video.with_name(self.video.stem + "-synced.mp4"))
            path, _ = QFileDialog.getSaveFileName(self, "Save the video in sync", start, MP4_FILTER)
            if not path:
                return None
        video, shift, out = self.video, self.audio_shift, Path(path)

        def work(job):
            from ...pipelines.sync import fix_offset

            return f"Wrote {fix_offset(video, shift, out)} (the sound moved {shift * 1000:+.0f} ms)."

        return self.jobs.start(f"Saving {out.name}", work, on_success=self.status.setText,
                               on_failure=lambda m, d: self._fail(f"Saving the fixed video failed: {m}", d))

    def _update_sync_buttons(self, has_video: bool, busy: bool) -> None:
        self.sync_button.setEnabled(has_video and self.view.corners is not None and self._sync_job is None
                                    and not busy)
        self.fix_button.setEnabled(bool(self.sync_offset) and not busy)
        self.save_fixed_button.setEnabled(has_video and bool(self.audio_shift))


class SpeechSyncMixin:
    """The Audio panel's "Check sync" and "Fix" for speech taken from a video of the speaking face.
    Needs ``speech``, ``speech_name``, ``clip``, ``sync_plot``, ``sync_label``, ``jobs``, ``device``,
    ``load_speech``, ``_on_failed`` and ``_update_buttons``."""

    def check_sync(self):
        """Estimate the offset between the speech video's picture and its sound, as a job."""
        path = self.speech if isinstance(self.speech, str) else None
        if path is None:
            self.errorRaised.emit("Checking sync needs speech from a video of the speaking face.", "")
            return None
        from ...pipelines.sync import SyncRequest, check_sync

        try:
            request = SyncRequest(Path(path), device=self.device)
        except X2Error as exc:
            self._on_failed(str(exc))
            return None
        self.sync_label.setText("checking sync…")

        def work(job):
            return check_sync(request, job).result

        handle = self.jobs.start(f"Checking sync of {Path(path).name}", work, on_success=self._on_synced,
                                 on_failure=lambda m, d: (self.sync_label.setText(""), self._on_failed(m)))
        return handle

    def _on_synced(self, res) -> None:
        self.sync_plot.show_result(res)
        self.sync_offset = res.offset_s
        self.sync_label.setText(res.lines()[0])
        self._update_buttons()
        self.statusMessage.emit(" ".join(res.lines()))

    def fix_sync(self) -> None:
        """Move the loaded speech by the offset found (the picture of its video is not used here)."""
        if not self.sync_offset or self.clip is None:
            return
        from ...media.audio import AudioClip, delay

        shifted = delay(self.clip.samples, -int(round(self.sync_offset * self.clip.sample_rate)))
        name = f"{self.speech_name} (moved {self.sync_offset * 1000:+.0f} ms)"
        self.sync_offset = None
        self.sync_label.setText("fixed")
        self.load_speech(AudioClip(shifted, self.clip.sample_rate), name)
