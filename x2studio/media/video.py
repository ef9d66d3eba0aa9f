"""Streaming video reading and writing on PyAV.

Frames are decoded one at a time (never the whole file in memory) as RGB ``uint8`` arrays of shape
``(H, W, 3)``, each with its exact presentation time.  Writing produces H.264 (yuv420p) MP4 with
optional AAC audio, atomically (a temporary file renamed into place on ``close``).
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from ..core.atomic import atomic_path
from ..core.errors import InputError, MediaError, OutputError

__all__ = ["StreamInfo", "MediaInfo", "VideoFrame", "VideoReader", "VideoWriter", "EndOfStream", "probe", "open_container",
           "replace_audio"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamInfo:
    index: int
    kind: str  # "video" | "audio" | "subtitle" | "data"
    codec: str
    duration_s: float | None
    # video
    width: int = 0
    height: int = 0
    fps: float = 0.0
    frames: int = 0
    # audio
    sample_rate: int = 0
    channels: int = 0


@dataclass(frozen=True)
class MediaInfo:
    path: Path
    container: str
    duration_s: float
    size_bytes: int
    streams: tuple[StreamInfo, ...] = field(default_factory=tuple)

    @property
    def video(self) -> StreamInfo | None:
        return next((s for s in self.streams if s.kind == "video"), None)

    @property
    def audio(self) -> StreamInfo | None:
        return next((s for s in self.streams if s.kind == "audio"), None)

    def summary_lines(self) -> list[str]:
        lines = [
            f"file: {self.path}",
            f"container: {self.container}, duration {self.duration_s:.3f} s, {self.size_bytes / 1e6:.2f} MB",
        ]
        for s in self.streams:
            if s.kind == "video":
                lines.append(f"stream {s.index}: video {s.codec} {s.width}x{s.height} @ {s.fps:.3f} fps, {s.frames} frames")
            elif s.kind == "audio":
                lines.append(f"stream {s.index}: audio {s.codec} {s.sample_rate} Hz, {s.channels} channel(s)")
            else:
                lines.append(f"stream {s.index}: {s.kind} {s.codec}")
        return lines


@dataclass(frozen=True)
class VideoFrame:
    index: int  # 0-based frame number
    time_s: float  # presentation time from the start of the stream
    image: np.ndarray  # (H, W, 3) uint8 RGB


def check_input(path: str | os.PathLike[str]) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise InputError(f"The file '{p}' does not exist.", "Check the path.")
    if p.is_dir():
        raise InputError(f"'{p}' is a folder, not a media file.", "Choose a file.")
    if not os.access(p, os.R_OK):
        raise InputError(f"The file '{p}' is not readable.", "Check its permissions.")
    if p.stat().st_size == 0:
        raise MediaError(f"The file '{p}' is empty.", "Choose another file.")
    return p


def open_container(path: str | os.PathLike[str]) -> tuple[Path, "av.container.InputContainer"]:
    """Open a media file for reading, turning FFmpeg's errors into a readable :class:`MediaError`."""
    p = check_input(path)
    try:
        return p, av.open(str(p), mode="r", metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise MediaError(
            f"'{p.name}' is not a media file X2 Studio can read, or it is corrupt or truncated ({exc.strerror or exc}).",
            "Re-export it from its source, or convert it to MP4 (H.264/AAC) or WAV.",
        ) from exc


def _duration(stream: "av.stream.Stream", container: "av.container.InputContainer") -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def _stream_info(stream: "av.stream.Stream", container: "av.container.InputContainer") -> StreamInfo:
    codec = stream.codec_context.name if stream.codec_context is not None else "unknown"
    dur = _duration(stream, container)
    if stream.type == "video":
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        frames = int(stream.frames or 0)
        if frames <= 0 and dur and fps:
            frames = int(round(dur * fps))
        return StreamInfo(stream.index, "video", codec, dur, width=stream.codec_context.width,
                          height=stream.codec_context.height, fps=fps, frames=frames)
    if stream.type == "audio":
        return StreamInfo(stream.index, "audio", codec, dur, sample_rate=int(stream.codec_context.sample_rate or 0),
                          channels=int(stream.codec_context.channels or 0))
    return StreamInfo(stream.index, str(stream.type), codec, dur)


def probe(path: str | os.PathLike[str]) -> MediaInfo:
    """Streams, duration and frame rate of a media file."""
    p, container = open_container(path)
    with container:
        streams = tuple(_stream_info(s, container) for s in container.streams)
        if not any(s.kind in ("video", "audio") for s in streams):
            raise MediaError(f"'{p.name}' has no video or audio stream.", "Choose a video or audio file.")
        durations = [s.duration_s for s in streams if s.duration_s]
        duration = container.duration / av.time_base if container.duration else (max(durations) if durations else 0.0)
        return MediaInfo(p, container.format.name, float(duration), p.stat().st_size, streams)


class VideoReader:
    """Sequential and random (frame-exact) access to a video's frames.

    Example::

        with VideoReader("clip.mp4") as video:
            for frame in video:          # VideoFrame(index, time_s, image)
                ...
            tenth = video.read(9)        # exact frame 9 (seeks to a keyframe, decodes forward)

    A truncated file yields the frames that decode and sets ``truncated``; asking for a frame beyond
    them raises :class:`MediaError`.
    """

    def __init__(self, path: str | os.PathLike[str], threads: bool = True) -> None:
        self.path, self._container = open_container(path)
        if not self._container.streams.video:
            self._container.close()
            raise MediaError(f"'{self.path.name}' has no video stream.", "Open it as audio, or choose a video file.")
        self._stream = self._container.streams.video[0]
        if threads:
            self._stream.thread_type = "AUTO"
        self.info = _stream_info(self._stream, self._container)
        if self.info.width <= 0 or self.info.height <= 0:
            self._container.close()
            raise MediaError(f"'{self.path.name}' has a video stream with no picture size; it is probably corrupt.")
        self.fps = self.info.fps or 25.0
        self.time_base = self._stream.time_base or Fraction(1, 90000)
        self.start_pts = self._stream.start_time or 0
        self.truncated = False
        self._decoder: Iterator["av.VideoFrame"] | None = None
        self._next_index = 0  # index of the frame the sequential decoder will give next
        self._closed = False

    # ------------------------------------------------------------------ properties
    @property
    def width(self) -> int:
        return self.info.width

    @property
    def height(self) -> int:
        return self.info.height

    @property
    def frame_count(self) -> int:
        """Frames in the stream (from the container's index, else duration × fps)."""
        return self.info.frames

    @property
    def duration_s(self) -> float:
        return self.info.duration_s or self.frame_count / self.fps

    @property
    def has_audio(self) -> bool:
        return bool(self._container.streams.audio)

    def index_of(self, time_s: float) -> int:
        return max(0, int(math.floor(time_s * self.fps + 1e-6)))

    # ------------------------------------------------------------------ decoding
    def _frame_time(self, frame: "av.VideoFrame") -> float:
        pts = frame.pts if frame.pts is not None else frame.dts
        if pts is None:
            return self._next_index / self.fps
        return float((pts - self.start_pts) * self.time_base)

    def _raw_frames(self) -> Iterator["av.VideoFrame"]:
        try:
            for frame in self._container.decode(self._stream):
                yield frame
        except (av.error.FFmpegError, EOFError) as exc:
            self.truncated = True
            log.warning("%s: decoding stopped early (%s); the file is truncated or corrupt", self.path.name, exc)

    def _restart(self, target_time: float) -> None:
        """Seek to the keyframe at or before ``target_time`` (seconds from the stream start)."""
        pts = self.start_pts + int(target_time / self.time_base)
        try:
            self._container.seek(max(pts, self.start_pts), stream=self._stream, backward=True, any_frame=False)
        except av.error.FFmpegError as exc:
            raise MediaError(f"Cannot seek in '{self.path.name}' ({exc}); it may be corrupt.") from exc
        self._decoder = self._raw_frames()
        self._next_index = -1  # unknown until the first decoded frame tells us

    def _wrap(self, frame: "av.VideoFrame", index: int) -> VideoFrame:
        return VideoFrame(index, self._frame_time(frame), frame.to_ndarray(format="rgb24"))

    def __iter__(self) -> Iterator[VideoFrame]:
        return self.frames()

    def frames(self, start: int = 0, stop: int | None = None, step: int = 1) -> Iterator[VideoFrame]:
        """Frames ``start, start+step, ...`` below ``stop`` (all to the end by default)."""
        if step < 1:
            raise InputError("The frame step must be 1 or more.")
        index = start
        while stop is None or index < stop:
            try:
                frame = self.read(index)
            except EndOfStream:
                return
            yield frame
            index += step

    def read(self, index: int) -> VideoFrame:
        """The frame with 0-based number ``index`` (exact; sequential reads are cheap).

        Raises :class:`EndOfStream` (a :class:`MediaError`) past the last decodable frame.
        """
        if self._closed:
            raise MediaError("The video was closed.")
        if index < 0:
            raise InputError(f"Frame {index} does not exist; frames start at 0.")
        near = self._decoder is not None and self._next_index >= 0 and 0 <= index - self._next_index <= max(12, int(self.fps))
        if not near:
            self._restart(index / self.fps)
        assert self._decoder is not None
        target = index / self.fps
        tolerance = 0.5 / self.fps
        for raw in self._decoder:
            t = self._frame_time(raw)
            self._next_index = int(round(t * self.fps)) + 1
            if t < target - tolerance:
                continue  # decoding forward from the keyframe
            return self._wrap(raw, index)
        self._decoder = None
        self._next_index = -1
        if self.frame_count and index < self.frame_count:
            self.truncated = True
        raise EndOfStream(index, self.truncated, self.path.name)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._decoder = None
            self._container.close()

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:  # noqa: BLE001 - never raise from a finaliser
            pass


class EndOfStream(MediaError):
    """Raised by :meth:`VideoReader.read` for a frame past the last one that decodes."""

    def __init__(self, index: int, truncated: bool = False, name: str = "the video") -> None:
        if truncated:
            super().__init__(f"Frame {index} of '{name}' could not be decoded: the file is truncated or corrupt.",
                             "Re-export the video from its source.")
        else:
            super().__init__(f"Frame {index} is past the end of '{name}'.", "Pick an earlier frame.")
        self.index = index


class VideoWriter:
    """Write RGB frames (and optional audio) to an H.264/AAC MP4, atomically.

    Args:
        path: output file (.mp4, .mov or .mkv).
        fps: frame rate (a float or Fraction; 25, 30000/1001...).
        size: ``(width, height)``; odd sizes are padded by one pixel (H.264 4:2:0 needs even sizes).
        audio_rate: sample rate of the audio you will pass to :meth:`write_audio`; ``None`` = no audio.
        audio_channels: 1 or 2.
        crf: H.264 quality (0 lossless ... 51 worst; 18 is visually near-lossless).
        preset: x264 speed preset.

    Nothing appears at ``path`` until :meth:`close` succeeds; on an exception inside a ``with``
    block the partial file is removed.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        fps: float | Fraction,
        size: tuple[int, int],
        audio_rate: int | None = None,
        audio_channels: int = 1,
        crf: int = 18,
        preset: str = "veryfast",
    ) -> None:
        width, height = int(size[0]), int(size[1])
        if width < 2 or height < 2 or width > 8192 or height > 8192:
            raise InputError(f"Cannot write a {width}x{height} video.", "Width and height must be 2 to 8192 pixels.")
        if not fps or float(fps) <= 0 or float(fps) > 1000:
            raise InputError(f"Cannot write a video at {fps} frames per second.", "Use a frame rate between 0 and 1000.")
        if audio_channels not in (1, 2):
            raise InputError("Audio must be mono or stereo.")
        self.path = Path(path).expanduser()
        self.size = (width, height)
        self._enc_size = (width + width % 2, height + height % 2)
        self._atomic = atomic_path(self.path)
        self._tmp = self._atomic.__enter__()
        rate = Fraction(fps).limit_denominator(1001) if not isinstance(fps, Fraction) else fps
        try:
            self._container = av.open(str(self._tmp), mode="w", format="mp4" if self.path.suffix.lower() in (".mp4", ".m4v", "") else None)
            self._video = self._container.add_stream("libx264", rate=rate)
            self._video.width, self._video.height = self._enc_size
            self._video.pix_fmt = "yuv420p"
            self._video.options = {"crf": str(int(crf)), "preset": preset}
            self._audio = None
            if audio_rate:
                self._audio = self._container.add_stream("aac", rate=int(audio_rate))
                self._audio.layout = "mono" if audio_channels == 1 else "stereo"
                self._audio_channels = audio_channels
                self._audio_pts = 0
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            self._abort()
            raise OutputError(f"Cannot create the video '{self.path}' ({exc}).") from exc
        self.frames_written = 0
        self._closed = False

    def write(self, image: np.ndarray) -> None:
        """Append one frame: ``(H, W, 3)`` uint8 RGB of the writer's size."""
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.shape[:2] != (self.size[1], self.size[0]):
            raise InputError(
                f"A frame of shape {tuple(image.shape)} does not fit this {self.size[0]}x{self.size[1]} RGB video.",
                "Resize frames to the video's size.",
            )
        if image.dtype != np.uint8:
            image = np.clip(image, 0, 255).astype(np.uint8)
        if self._enc_size != self.size:
            image = np.pad(image, ((0, self._enc_size[1] - self.size[1]), (0, self._enc_size[0] - self.size[0]), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        frame.pts = self.frames_written
        self._mux(self._video.encode(frame))
        self.frames_written += 1

    def write_audio(self, samples: np.ndarray) -> None:
        """Append audio: float32 in [-1, 1], shape ``(n,)`` or ``(n, channels)``."""
        if self._audio is None:
            raise InputError("This video was opened without audio.", "Pass audio_rate= when creating the writer.")
        data = np.asarray(samples, dtype=np.float32)
        if data.ndim == 1:
            data = data[:, None]
        if data.shape[1] != self._audio_channels:
            data = data.mean(axis=1, keepdims=True) if self._audio_channels == 1 else np.repeat(data[:, :1], 2, axis=1)
        data = np.clip(data, -1.0, 1.0)
        chunk = 4096
        for start in range(0, len(data), chunk):
            block = np.ascontiguousarray(data[start:start + chunk].T)  # planar (channels, n)
            frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=self._audio.layout.name)
            frame.sample_rate = self._audio.codec_context.sample_rate
            frame.pts = self._audio_pts
            self._audio_pts += block.shape[1]
            self._mux(self._audio.encode(frame))

    def _mux(self, packets: list) -> None:
        try:
            self._container.mux(packets)
        except (av.error.FFmpegError, OSError) as exc:
            raise OutputError(f"Writing '{self.path}' failed ({exc}); is the disk full?") from exc

    def close(self) -> Path:
        """Flush the encoders and move the finished file into place."""
        if self._closed:
            return self.path
        self._closed = True
        try:
            self._mux(self._video.encode(None))
            if self._audio is not None:
                self._mux(self._audio.encode(None))
            self._container.close()
        except BaseException as exc:
            self._atomic.__exit__(type(exc), exc, exc.__traceback__)
            raise
        self._atomic.__exit__(None, None, None)
        return self.path

    def _abort(self) -> None:
        try:
            if hasattr(self, "_container"):
                self._container.close()
        except (av.error.FFmpegError, OSError):
            pass
        err = OutputError("aborted")
        try:
            self._atomic.__exit__(OutputError, err, None)
        except OutputError:
            pass

    def abort(self) -> None:
        """Discard everything written so far (nothing appears at ``path``)."""
        if not self._closed:
            self._closed = True
            self._abort()

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def replace_audio(video: str | os.PathLike[str], samples: np.ndarray, sample_rate: int,
                  out: str | os.PathLike[str]) -> Path:
    """A copy of ``video`` whose sound is ``samples`` (float32 ``(n, channels)``, AAC-encoded); the
    picture is copied packet for packet, not re-encoded.  Written atomically."""
    src, inp = open_container(video)
    out = Path(out).expanduser()
    data = np.clip(np.asarray(samples, np.float32).reshape(len(samples), -1), -1.0, 1.0)[:, :2]
    with inp, atomic_path(out) as tmp:
        if not inp.streams.video:
            raise MediaError(f"'{src.name}' has no video stream.")
        vin = inp.streams.video[0]
        try:
            container = av.open(str(tmp), mode="w", format="mp4" if out.suffix.lower() in (".mp4", ".m4v") else None)
        except (av.error.FFmpegError, OSError) as exc:
            raise OutputError(f"Cannot create '{out}' ({exc}).") from exc
        with container:
            vout = container.add_stream_from_template(vin)
            aout = container.add_stream("aac", rate=int(sample_rate))
            aout.layout = "mono" if data.shape[1] == 1 else "stereo"
            try:
                for packet in inp.demux(vin):
                    if packet.dts is None:
                        continue
                    packet.stream = vout
                    container.mux(packet)
                pts = 0
                for start in range(0, len(data), 4096):
                    block = np.ascontiguousarray(data[start:start + 4096].T)
                    frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=aout.layout.name)
                    frame.sample_rate, frame.pts = int(sample_rate), pts
                    pts += block.shape[1]
                    container.mux(aout.encode(frame))
                container.mux(aout.encode(None))
            except av.error.FFmpegError as exc:
                raise OutputError(f"Writing '{out}' failed ({exc}).") from exc
    return out
