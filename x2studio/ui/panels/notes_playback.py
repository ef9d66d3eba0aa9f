"""The Piano and Violin panels' playback and export: the video played with its notes synthesized
(alone or mixed with the video's own sound, prepared off the GUI thread), seeking from the roll's
playhead, and the notes written as MIDI, MusicXML or CSV.  Mixed into
:class:`~.notes_panel.NotesPanel`, whose widgets (``playhead``, ``time_label``, ``with_original``,
``view``, ``status``) and ``jobs``, ``frames`` it uses."""

from __future__ import annotations

import math
from pathlib import Path

from PySide6.QtGui import QImage
from PySide6.QtWidgets import QFileDialog

from ...core.errors import AudioDeviceError, X2Error
from .common import ClockedPlayback

__all__ = ["NotesPlayback"]


class NotesPlayback(ClockedPlayback):
    def seek_time(self, seconds: float) -> None:
        self.seek_frame(int(math.floor(max(0.0, seconds) * self.fps + 1e-6)))

    def seek_frame(self, index: int) -> None:
        if not self.n_frames:
            return
        self.frame = int(min(max(0, index), self.n_frames - 1))
        self._show_time(self.frame)
        self.frames.want(self.frame)
        self._show_lit()
        if self._playing:
            self._restart_clock(self.frame / self.fps)

    def _show_time(self, frame: int) -> None:
        self.playhead.setValue(frame / self.fps)
        self.time_label.setText(f"{frame / self.fps:.2f} s")

    def _on_frame(self, index: int, _t: float, image: QImage) -> None:
        self.view.set_image(image)

    def _mark_synth_dirty(self) -> None:
        self._synth_dirty = True

    def play(self) -> None:
        if not self.n_frames or self._playing or self._synth_job is not None:
            return
        if self._synth_dirty:
            self._prepare_sound()
            return
        start = 0 if self.frame >= self.n_frames - 1 else self.frame
        self._begin_playing(start / self.fps)

    def _prepare_sound(self) -> None:
        """Synthesize the notes (mixed with the video's sound when asked) off the GUI thread, then play."""
        from ...pipelines.notes import PreviewRequest, preview_sound

        request = PreviewRequest(tuple(self.notes), self.n_frames / self.fps,
                                 self.original if self.with_original.isChecked() else None,
                                 self.settings.soundfont or None)
        self.status.setText("Preparing the sound…")
        self._synth_job = self.jobs.start("Synthesizing the notes", lambda job: preview_sound(request),
                                          on_success=self._on_sound_ready,
                                          on_failure=lambda m, d: self._on_sound_ready(None, m))
        self._synth_job.ended.connect(lambda: setattr(self, "_synth_job", None))

    def _on_sound_ready(self, clip, error: str | None = None) -> None:
        self._synth_dirty = False
        self._synth_job = None
        if clip is None:
            self._player = None
            self.status.setText(f"Sound: {error}; the picture still plays.")
        else:
            self._load_sound(clip)
        start = 0 if self.frame >= self.n_frames - 1 else self.frame
        self._begin_playing(start / self.fps)

    def _load_sound(self, clip) -> None:
        from ...media.playback import AudioPlayer

        try:
            if self._player is None:
                self._player = AudioPlayer(self.settings.audio_output or None)
            self._player.load(clip)
            mixed = " with the video's sound." if self.with_original.isChecked() else "."
            self.status.setText("Playing the transcription" + mixed)
        except (AudioDeviceError, X2Error) as exc:
            self._player = None
            self.status.setText(f"Sound: playback disabled ({exc}); the picture still plays.")

    def pause(self) -> None:
        self._end_playing()

    def _sound_disabled(self, message: str) -> None:
        self.status.setText(message)

    def _on_tick(self) -> None:
        k = int(self._clock() * self.fps)
        if k >= self.n_frames:
            self.pause()
            return
        if k != self.frame:
            self.frame = k
            self._show_time(k)
            self.frames.want(k)
            self._show_lit()

    # ------------------------------------------------------------------ export
    def _export(self, kind: str, path: str | Path | None = None):
        from ...pipelines.notes import EXPORT_SUFFIXES, ExportRequest, export_notes

        if not self.notes:
            return None
        suffix = EXPORT_SUFFIXES[kind]
        if path is None:
            start = str(self.video.with_name(self.video.stem + "-transcribed" + suffix)) if self.video else ""
            path, _ = QFileDialog.getSaveFileName(self, f"Export {kind.upper()}", start, f"*{suffix}")
            if not path:
                return None
        try:
            request = ExportRequest(**{kind: Path(path)}, protect=(self.video,) if self.video else ())
        except X2Error as exc:
            self._fail(f"Export failed: {exc}")
            return None
        notes = tuple(self.notes)
        self.status.setText(f"Writing {Path(path).name}…")

        def work(job):
            line = export_notes(request, notes, job).lines()[0]
            return line[0].upper() + line[1:] + "."

        return self.jobs.start(f"Exporting {Path(path).name}", work, on_success=self.status.setText,
                               on_failure=lambda m, d: self._fail(f"Export failed: {m}", d))
