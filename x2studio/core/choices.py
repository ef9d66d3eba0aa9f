"""The literals several layers offer a user, in one place: which files are videos, images, sound
and MP4 outputs, and which face detectors can be asked for.  The panels' file-dialog filters and
the CLI's choices are built from these, so that a format added here is accepted everywhere."""

from __future__ import annotations

__all__ = ["VIDEO_SUFFIXES", "IMAGE_SUFFIXES", "AUDIO_SUFFIXES", "MP4_SUFFIXES", "DETECTORS", "dialog_filter"]

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"})
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"})
# sound files, and the video containers whose sound track is read as a recording
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".oga", ".aiff", ".aif", ".m4a", ".aac", ".mp4", ".mov", ".mkv",
                  ".webm")
MP4_SUFFIXES = (".mp4", ".m4v", ".mov")        # what the app writes videos as
DETECTORS = ("auto", "mediapipe", "haar")      # auto: mediapipe when installed, else OpenCV's Haar cascade


def dialog_filter(label: str, *suffix_sets, all_files: bool = True) -> str:
    """A file-dialog filter such as ``"Videos (*.mp4 *.mov …);;All files (*)"``."""
    suffixes = sorted({s for group in suffix_sets for s in group})
    text = f"{label} ({' '.join('*' + s for s in suffixes)})"
    return text + (";;All files (*)" if all_files else "")
