from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import make_clip
from x2studio.core.errors import InputError, MediaError, OutputError
from x2studio.media.audio import load_audio
from x2studio.media.video import EndOfStream, VideoReader, VideoWriter, probe


def test_round_trip_frame_count_fps_and_audio_length(clip: Path) -> None:
    info = probe(clip)
    assert info.video is not None and info.audio is not None
    assert info.video.frames == 50 and abs(info.video.fps - 25.0) < 1e-6
    assert (info.video.width, info.video.height) == (128, 96)
    with VideoReader(clip) as reader:
        frames = list(reader)
    assert len(frames) == 50
    assert [f.index for f in frames] == list(range(50))
    np.testing.assert_allclose([f.time_s for f in frames], np.arange(50) / 25.0, atol=1e-6)
    audio = load_audio(clip)
    assert abs(audio.duration_s - 2.0) <= 1 / 25  # within one frame
    assert audio.sample_rate == 16000


def test_decoded_pixels_match_what_was_encoded(clip: Path) -> None:
    with VideoReader(clip) as reader:
        for i in (0, 10, 49):
            red = reader.read(i).image[..., 0].astype(int)
            assert abs(np.median(red) - min(255, 4 * i)) <= 3


def test_random_access_is_frame_exact(clip: Path) -> None:
    with VideoReader(clip) as reader:
        for i in (37, 3, 49, 0, 20, 21, 22, 5):
            frame = reader.read(i)
            assert frame.index == i
            assert abs(frame.time_s - i / 25) < 1e-6
            assert abs(np.median(frame.image[..., 0].astype(int)) - min(255, 4 * i)) <= 3
        with pytest.raises(EndOfStream):
            reader.read(50)
        with pytest.raises(InputError):
            reader.read(-1)


def test_odd_size_is_padded_and_wrong_frame_size_refused(tmp_path: Path) -> None:
    out = tmp_path / "odd.mp4"
    with VideoWriter(out, 25, (33, 17)) as vw:
        vw.write(np.zeros((17, 33, 3), np.uint8))
        with pytest.raises(InputError):
            vw.write(np.zeros((16, 33, 3), np.uint8))
    assert probe(out).video.frames == 1


def test_writer_error_leaves_no_partial_file(tmp_path: Path) -> None:
    out = tmp_path / "partial.mp4"
    with pytest.raises(RuntimeError):
        with VideoWriter(out, 25, (64, 64)) as vw:
            vw.write(np.zeros((64, 64, 3), np.uint8))
            raise RuntimeError("boom")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_folder(tmp_path: Path) -> None:
    with pytest.raises(OutputError):
        VideoWriter(tmp_path / "missing" / "out.mp4", 25, (64, 64))
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    # root may write in a 0o500 folder; /proc refuses new files to everyone.
    target = Path("/proc") if os.geteuid() == 0 else ro
    try:
        with pytest.raises(OutputError):
            VideoWriter(target / "out.mp4", 25, (64, 64))
    finally:
        ro.chmod(0o700)


def test_missing_and_text_files_are_media_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        probe(tmp_path / "nope.mp4")
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video\n" * 50)
    with pytest.raises(MediaError, match="not a media file"):
        VideoReader(fake)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(MediaError, match="empty"):
        probe(empty)


def test_truncated_video(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "full.mp4", frames=50, audio_rate=None)
    data = src.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])  # moov atom at the end: lost
    with pytest.raises(MediaError):
        with VideoReader(cut) as reader:
            list(reader)


def test_truncated_faststart_video_reads_what_is_there(tmp_path: Path) -> None:
    import av

    src = make_clip(tmp_path / "full.mp4", frames=50, audio_rate=None)
    fast = tmp_path / "fast.mp4"
    with av.open(str(src)) as inp, av.open(str(fast), "w", options={"movflags": "faststart"}) as out:
        s = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is None:
                continue
            packet.stream = s
            out.mux(packet)
    data = fast.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    with VideoReader(cut) as reader:
        frames = list(reader)
        assert 0 < len(frames) < 50
        assert reader.truncated
        with pytest.raises(MediaError, match="truncated"):
            reader.read(49)


def test_audio_only_file_is_not_a_video(tmp_path: Path) -> None:
    from x2studio.media.audio import AudioClip, save_audio

    wav = save_audio(tmp_path / "tone.wav", AudioClip(np.zeros((1600, 1), np.float32), 16000))
    assert probe(wav).video is None
    with pytest.raises(MediaError, match="no video stream"):
        VideoReader(wav)
