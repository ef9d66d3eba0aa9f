"""The one family of errors a person sees.

Every error raised towards the user is an :class:`X2Error` carrying a sentence a person understands
(``message``) and what to do about it (``hint``).  The CLI prints ``str(error)`` as one line and
exits non-zero; the app shows the same text in a dialog.  Anything else that escapes is a bug and is
shown with its traceback.
"""

from __future__ import annotations

__all__ = [
    "X2Error",
    "InputError",
    "MediaError",
    "OutputError",
    "DependencyError",
    "AudioDeviceError",
    "ResourceError",
    "Cancelled",
    "format_error",
]


class X2Error(Exception):
    """Base of all user-facing errors.

    Args:
        message: what went wrong, in words a user understands (no jargon, no traceback).
        hint: what the user can do about it; may be empty.
    """

    exit_code = 2

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message


class InputError(X2Error):
    """A file or value the user gave cannot be used (missing, unreadable, wrong kind)."""


class MediaError(InputError):
    """A media file is corrupt, truncated, empty or of a kind we cannot read."""


class OutputError(X2Error):
    """An output cannot be written (folder missing or read-only, disk full)."""


class DependencyError(X2Error):
    """Something outside the package is missing (a soundfont, a system library)."""


class AudioDeviceError(DependencyError):
    """No usable sound output device; offline rendering still works."""


class ResourceError(X2Error):
    """Out of memory (CPU or GPU) or another exhausted resource."""


class Cancelled(X2Error):
    """The user cancelled a job.  Not an error to report, but it unwinds like one."""

    exit_code = 130

    def __init__(self, message: str = "Cancelled.", hint: str = "") -> None:
        super().__init__(message, hint)


def format_error(exc: BaseException) -> str:
    """One readable line for any exception (user-facing ones as they are, others with their type)."""
    if isinstance(exc, X2Error):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "Out of memory — close other programs or work on a shorter or smaller input."
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"Unexpected error ({type(exc).__name__}){': ' + text if text else ''}"
