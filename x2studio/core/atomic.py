"""Atomic file writes: write to a temporary file beside the target, then rename over it.

A crash, a cancel or a full disk never leaves a half-written output: either the old file (or none)
or the complete new one.  Every output X2 Studio writes goes through here.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import OutputError

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text", "check_writable"]


def check_writable(target: str | os.PathLike[str]) -> Path:
    """Raise :class:`OutputError` unless ``target``'s folder exists and is writable."""
    path = Path(target).expanduser()
    if path.is_symlink():           # write where the link points (replacing the link would cut it)
        path = path.resolve()
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise OutputError(f"The output '{path}' is a folder.", "Give a file name, e.g. out.wav.")
    if path.exists() and not path.is_file():
        # a device, a pipe or a socket: a file renamed over it would destroy it (/dev/null, say)
        raise OutputError(f"The output '{path}' is not a regular file.", "Give the name of a file to write.")
    if not folder.is_dir():
        raise OutputError(f"The output folder '{folder}' does not exist.", "Create it or choose another folder.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"The output folder '{folder}' is not writable.", "Choose a folder you can write to.")
    return path


def check_video_output(out: str | os.PathLike[str], protect: tuple = (), what: str = "the output") -> Path:
    """An MP4 output in an existing, writable folder, and none of the files in ``protect`` (the
    inputs: writing over the video a result is made from would destroy it)."""
    from .choices import MP4_SUFFIXES
    from .errors import InputError

    path = Path(out).expanduser()
    if path.suffix.lower() not in MP4_SUFFIXES:
        raise InputError(f"'{path.name}': {what} is written as MP4.", "Use a name ending in .mp4.")
    check_writable(path)
    for src in (p for p in protect if p is not None):
        src = Path(str(src)).expanduser()
        if src.exists() and path.exists() and os.path.samefile(src, path):
            raise InputError(f"Writing '{path.name}' would replace an input.", "Choose another output name.")
    return path


_MODE: int | None = None


def _file_mode() -> int:
    """0666 minus the process umask (read once; os.umask can only be read by setting it)."""
    global _MODE
    if _MODE is None:
        mask = os.umask(0o022)
        os.umask(mask)
        _MODE = 0o666 & ~mask
    return _MODE


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in ``target``'s folder; on success rename it to ``target``.

    On any exception the temporary file is removed and ``target`` is left untouched.  ``suffix``
    (default: the target's) matters to writers that pick a format from the file name.
    """
    path = check_writable(target)
    suffix = path.suffix if suffix is None else suffix
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{suffix}", dir=path.parent)
    except OSError as exc:
        raise OutputError(f"Cannot write in '{path.parent}': {exc.strerror or exc}.", "Choose another folder.") from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.exists():
            os.chmod(tmp, _file_mode())   # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno == 28:  # ENOSPC
            raise OutputError(f"The disk is full; '{path}' was not written.", "Free some space and try again.") from exc
        raise OutputError(f"Could not write '{path}': {exc.strerror or exc}.", "Check the folder and try again.") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(target: str | os.PathLike[str], data: bytes) -> Path:
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(target)


def atomic_write_text(target: str | os.PathLike[str], text: str) -> Path:
    return atomic_write_bytes(target, text.encode("utf-8"))
