from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from x2studio.core import paths
from x2studio.core.atomic import atomic_path, atomic_write_text
from x2studio.core.device import resolve_device
from x2studio.core.errors import Cancelled, InputError, OutputError, X2Error, format_error
from x2studio.core.jobs import Job
from x2studio.core.settings import SCHEMA_VERSION, Settings, load_settings, save_settings


def test_errors_read_as_one_line() -> None:
    err = InputError("The file 'a.mp4' does not exist.", "Check the path.")
    assert str(err) == "The file 'a.mp4' does not exist. — Check the path."
    assert isinstance(err, X2Error) and err.exit_code == 2
    assert "ValueError" in format_error(ValueError("bad\nsecond line"))
    assert "\n" not in format_error(ValueError("bad\nsecond line"))


def test_job_progress_and_cancel() -> None:
    events = []
    job = Job(events.append, min_interval_s=0)
    job.progress(1, 4, "a")
    job.progress(4, 4, "b")
    assert [e.fraction for e in events] == [0.25, 1.0]
    job.token.cancel()
    with pytest.raises(Cancelled):
        job.progress(2, 4)


def test_atomic_write_keeps_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
    with pytest.raises(OutputError, match="does not exist"):
        atomic_write_text(tmp_path / "no" / "x.txt", "x")
    with pytest.raises(OutputError, match="is a folder"):
        atomic_write_text(tmp_path, "x")


def test_settings_persist_migrate_and_survive_garbage(x2_home: Path) -> None:
    assert load_settings() == Settings()
    save_settings(Settings(device="cpu", soundfont="/x.sf2", audio_output="null", theme="dark"))
    again = load_settings()
    assert (again.device, again.soundfont, again.audio_output, again.theme) == ("cpu", "/x.sf2", "null", "dark")
    data = json.loads(paths.settings_file().read_text())
    assert data["schema_version"] == SCHEMA_VERSION
    paths.settings_file().write_text(json.dumps({"schema_version": 1, "compute": "gpu", "theme": "neon"}))
    migrated = load_settings()
    assert migrated.device == "cuda" and migrated.theme == "system" and migrated.schema_version == SCHEMA_VERSION
    paths.settings_file().write_text("{not json")
    assert load_settings() == Settings()


def test_paths_follow_x2studio_home(x2_home: Path) -> None:
    assert paths.settings_file().is_relative_to(x2_home)
    assert paths.user_weights_dir().is_dir() and paths.user_weights_dir().is_relative_to(x2_home)


def test_device_selection(monkeypatch) -> None:
    assert resolve_device("auto").kind in ("cuda", "mps", "cpu")
    assert resolve_device("cpu").kind == "cpu"
    monkeypatch.setenv("X2STUDIO_DEVICE", "cpu")
    assert resolve_device("cuda").kind == "cpu"  # the environment wins over the setting
    monkeypatch.setenv("X2STUDIO_DEVICE", "tpu")
    with pytest.raises(InputError, match="Unknown compute device"):
        resolve_device()
    import torch

    if not torch.cuda.is_available():
        monkeypatch.setenv("X2STUDIO_DEVICE", "cuda")
        with pytest.raises(InputError, match="not available"):
            resolve_device()


def test_atomic_writes_never_replace_a_special_file_or_cut_a_link(tmp_path: Path) -> None:
    """An output that is a device or a pipe is refused (a file renamed over /dev/null would destroy it);
    an output that is a symbolic link is written where it points, and the link stays."""
    import os

    from x2studio.core.errors import OutputError

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for special in (fifo, Path("/dev/null")):
        with pytest.raises(OutputError, match="not a regular file"):
            atomic_write_text(special, "x")
    assert fifo.exists() and not fifo.is_file() and Path("/dev/null").is_char_device()
    target = tmp_path / "real.txt"
    target.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    atomic_write_text(link, "new")
    assert link.is_symlink() and target.read_text() == "new"


def test_an_empty_or_damaged_image_is_a_sentence(tmp_path: Path) -> None:
    from x2studio.core.errors import MediaError
    from x2studio.media.image import read_image, read_image_rgba

    empty, damaged = tmp_path / "empty.png", tmp_path / "damaged.png"
    empty.write_bytes(b"")
    damaged.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    for read in (read_image, read_image_rgba):
        with pytest.raises(MediaError, match="empty"):
            read(empty)
        with pytest.raises(MediaError, match="not a readable image"):
            read(damaged)
