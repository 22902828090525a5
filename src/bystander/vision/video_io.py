"""Video transcoding with PyAV: decode, hand each frame to a processor, encode, copy audio.

The output keeps the input's container, resolution, frame timing (frame timestamps are
carried over, so variable frame rates and audio sync survive) and, unless dropped, its
first audio track, copied without re-encoding. Container and stream tags (GPS, device
serials, creation times) and data tracks (telemetry, timecode) are dropped unless
``keep_metadata`` is set.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import Any, Protocol, cast

import av
import numpy as np
import numpy.typing as npt

from bystander.errors import InputError, OutputError
from bystander.vision.encoding import EncoderSettings
from bystander.vision.media import check_dimensions, check_readable
from bystander.vision.stages import Worker, prefetch

Frame = npt.NDArray[np.uint8]


#: Decoded frames waiting for the processor, and processed ones waiting for the encoder, are
#: held up to this many bytes each (at most 8 frames): 8 at 1080p, 3 at 2560x1920.
QUEUE_BYTES = 48 * 2**20


def queue_depth(width: int, height: int) -> int:
    """How many RGB frames of this size a stage queue holds (2 to 8)."""
    return max(2, min(8, QUEUE_BYTES // max(1, width * height * 3)))


@dataclass
class VideoInfo:
    path: Path
    container: str
    width: int
    height: int
    fps: float
    frames: int  # 0 when the container does not say
    duration: float  # seconds of video, 0 when unknown
    codec: str
    has_audio: bool
    rotation: int


class FrameProcessor(Protocol):
    """Receives frames in order; returns processed frames, possibly delayed, in order."""

    def push(self, frame: Frame) -> Iterable[Frame]: ...

    def flush(self) -> Iterable[Frame]: ...


def probe_video(path: Path) -> VideoInfo:
    """Open ``path`` and describe its first video stream; raise ``InputError`` if unusable."""
    check_readable(path)
    container = _open_input(path)
    try:
        return _describe(path, container)
    finally:
        container.close()


def _open_input(path: Path) -> Any:
    try:
        return av.open(str(path), mode="r")
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot open video {path}: {_reason(exc)}") from None


def _describe(path: Path, container: Any) -> VideoInfo:
    if not container.streams.video:
        raise InputError(f"no video stream in {path}")
    stream = container.streams.video[0]
    ctx = stream.codec_context
    width, height = int(ctx.width or 0), int(ctx.height or 0)
    check_dimensions(width, height, path)
    rate = stream.average_rate or stream.guessed_rate or Fraction(0)
    duration = _video_seconds(container, stream)
    return VideoInfo(
        path=path,
        container=container.format.name,
        width=width,
        height=height,
        fps=float(rate),
        frames=int(stream.frames or 0),
        duration=duration,
        codec=ctx.name,
        has_audio=bool(container.streams.audio),
        rotation=0,
    )


def _video_seconds(container: Any, stream: Any) -> float:
    """Declared length of the video track: stream duration, Matroska's DURATION tag, or the
    container's duration (which may include a longer audio track)."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    tag = stream.metadata.get("DURATION") or stream.metadata.get("duration")
    if tag:
        try:
            hours, minutes, seconds = tag.split(":")
            return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
        except ValueError:
            pass
    return float(container.duration / av.time_base) if container.duration else 0.0


def _check_complete(info: VideoInfo, decoded: int, decoded_seconds: float) -> None:
    """Refuse a video that decodes to less than it declares (a truncated or damaged file)."""
    if decoded == 0:
        raise InputError(f"no video frames could be decoded from {info.path}")
    if info.frames and decoded < info.frames * 0.98 - 1:
        raise InputError(
            f"truncated video {info.path}: {decoded} of {info.frames} frames decodable"
        )
    if info.duration and decoded_seconds:
        frame_time = 1.0 / info.fps if info.fps else 0.04
        if decoded_seconds < info.duration - max(2 * frame_time, 0.02 * info.duration):
            raise InputError(
                f"truncated video {info.path}: "
                f"{decoded_seconds:.2f} s of {info.duration:.2f} s decodable"
            )


def _reason(exc: BaseException) -> str:
    strerror = getattr(exc, "strerror", None)
    if isinstance(exc, av.error.FFmpegError) and strerror:
        return str(strerror).lower()
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def transcode(
    source: Path,
    target: Path,
    processor: FrameProcessor | None,
    *,
    encoder: EncoderSettings | None = None,
    keep_audio: bool = True,
    keep_metadata: bool = False,
    on_frame: Callable[[int], None] | None = None,
) -> VideoInfo:
    """Decode ``source``, pass each RGB frame through ``processor``, write ``target``.

    ``processor=None`` copies frames unchanged (the transcode ceiling used by benchmarks).
    ``target`` must not be published by the caller unless this returns normally: on any
    error it raises, and the file at ``target`` is incomplete.
    """
    encoder = encoder or EncoderSettings()
    check_readable(source)
    input_container = _open_input(source)
    try:
        info = _describe(source, input_container)
        in_video = input_container.streams.video[0]
        in_video.thread_type = "AUTO"
        in_audio = (
            input_container.streams.audio[0]
            if keep_audio and input_container.streams.audio
            else None
        )
        try:
            output = av.open(str(target), mode="w")
        except (av.error.FFmpegError, ValueError) as exc:
            raise OutputError(f"cannot create output {target}: {_reason(exc)}") from None
        try:
            decoded, seconds = _run(
                input_container,
                output,
                in_video,
                in_audio,
                info,
                processor,
                encoder,
                keep_metadata,
                target.suffix.lower(),
                on_frame,
            )
        finally:
            output.close()
    finally:
        input_container.close()
    _check_complete(info, decoded, seconds)
    info.frames = decoded
    return info


def _run(
    input_container: Any,
    output: Any,
    in_video: Any,
    in_audio: Any,
    info: VideoInfo,
    processor: FrameProcessor | None,
    encoder: EncoderSettings,
    keep_metadata: bool,
    suffix: str,
    on_frame: Callable[[int], None] | None,
) -> tuple[int, float]:
    """Returns the number of frames decoded and the seconds of video they span.

    Three stages overlap: a thread demuxes and decodes (``prefetch``), this thread runs the
    processor, and a ``Worker`` thread encodes and muxes, receiving the writer's steps in
    exactly the order a sequential loop would make them.
    """
    writer = _Writer(
        output, input_container, in_video, in_audio, info, encoder, keep_metadata, suffix, on_frame
    )
    decoded = 0
    first_pts: int | None = None
    last_pts: int | None = None
    streams = [in_video] + ([in_audio] if in_audio is not None else [])
    try:
        depth = queue_depth(info.width, info.height)
        decoded_items = prefetch(
            _demuxed(input_container, streams, in_video), depth=depth, name="decode"
        )
        # closing(): the decoder thread is stopped and joined before the input is closed,
        # even when an error leaves this block (a traceback would keep the generator alive)
        # three steps a frame are queued to the encoder (start, expect, encode)
        with (
            Worker(name="bystander-encode", depth=3 * depth) as encode,
            contextlib.closing(decoded_items),
        ):
            for item in decoded_items:
                if isinstance(item, _Decoded):
                    array = item.array
                    height, width = array.shape[:2]
                    encode.submit(partial(writer.start, width, height))
                    encode.submit(partial(writer.expect, item.pts))
                    decoded += 1
                    if item.pts is not None:
                        first_pts = item.pts if first_pts is None else min(first_pts, item.pts)
                        last_pts = item.pts if last_pts is None else max(last_pts, item.pts)
                    ready = [array] if processor is None else list(processor.push(array))
                    if ready:
                        encode.submit(partial(writer.encode, ready))
                else:
                    encode.submit(partial(writer.audio, item))
            if processor is not None:
                encode.submit(partial(writer.encode, list(processor.flush())))
            encode.submit(writer.finish)
    except av.error.FFmpegError as exc:
        raise InputError(f"corrupt video {info.path}: {_reason(exc)}") from None
    if writer.encoded != decoded:
        raise RuntimeError(f"frame processor returned {writer.encoded} of {decoded} frames")
    seconds = 0.0
    if first_pts is not None and last_pts is not None and in_video.time_base:
        frame_time = 1.0 / info.fps if info.fps else 0.0
        seconds = float((last_pts - first_pts) * in_video.time_base) + frame_time
    return decoded, seconds


@dataclass
class _Decoded:
    array: Frame
    pts: int | None


def _demuxed(input_container: Any, streams: list[Any], in_video: Any) -> Iterator[object]:
    """Decoded upright RGB video frames (``_Decoded``) and audio packets, in file order."""
    for packet in input_container.demux(*streams):
        if packet.stream is in_video:
            for frame in packet.decode():
                array = _upright(
                    frame.to_ndarray(format="rgb24"), getattr(frame, "rotation", 0) or 0
                )
                yield _Decoded(array, frame.pts)
        elif packet.dts is not None and packet.size:
            yield packet


class _Writer:
    """Output side of a transcode. Streams are created at the first decoded frame, once its
    upright size is known; audio packets that arrive before it are held until then."""

    def __init__(
        self,
        output: Any,
        input_container: Any,
        in_video: Any,
        in_audio: Any,
        info: VideoInfo,
        encoder: EncoderSettings,
        keep_metadata: bool,
        suffix: str,
        on_frame: Callable[[int], None] | None,
    ) -> None:
        self.output, self.input_container = output, input_container
        self.in_video, self.in_audio, self.info = in_video, in_audio, info
        self.encoder, self.keep_metadata, self.suffix = encoder, keep_metadata, suffix
        self.on_frame = on_frame
        self.video: Any = None
        self.audio_stream: Any = None
        self.held_audio: list[Any] = []
        self.pending_pts: deque[int | None] = deque()
        self.last_pts: int | None = None
        self.encoded = 0
        rate = in_video.average_rate or in_video.guessed_rate or Fraction(30)
        self.rate = rate
        self.time_base = in_video.time_base or Fraction(1, round(rate) or 30)
        self.size: tuple[int, int] | None = None

    def start(self, width: int, height: int) -> None:
        if self.size is not None:
            if self.size != (width, height):
                raise InputError(f"frame size changes mid-stream in {self.info.path}")
            return
        self.size = (width, height)
        codec, pix_fmt, options = self.encoder.for_container(
            self.suffix, width, height, float(self.rate)
        )
        self.video = self.output.add_stream(codec, rate=self.rate, options=options)
        self.video.width, self.video.height, self.video.pix_fmt = width, height, pix_fmt
        self.video.codec_context.time_base = self.time_base
        if self.in_audio is not None:
            self.audio_stream = self.output.add_stream_from_template(self.in_audio)
        if self.keep_metadata:
            self.output.metadata.update(self.input_container.metadata)
            self.video.metadata.update(self.in_video.metadata)
            if self.audio_stream is not None:
                self.audio_stream.metadata.update(self.in_audio.metadata)
        for packet in self.held_audio:
            self.audio(packet)
        self.held_audio = []

    def expect(self, pts: int | None) -> None:
        self.pending_pts.append(pts)

    def audio(self, packet: Any) -> None:
        if self.audio_stream is None:
            self.held_audio.append(packet)
            return
        packet.stream = self.audio_stream
        self.output.mux(packet)

    def encode(self, frames: Iterable[Frame]) -> None:
        for array in frames:
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            pts = self.pending_pts.popleft()
            if pts is None or (self.last_pts is not None and pts <= self.last_pts):
                pts = 0 if self.last_pts is None else self.last_pts + 1
            frame.pts, frame.time_base = pts, self.time_base
            self.last_pts = pts
            for packet in self.video.encode(frame):
                self.output.mux(packet)
            self.encoded += 1
            if self.on_frame is not None:
                self.on_frame(self.encoded)

    def finish(self) -> None:
        if self.video is None:
            return
        for packet in self.video.encode():
            self.output.mux(packet)


def _upright(array: Frame, rotation: int) -> Frame:
    """Apply a display-matrix rotation so faces are upright for the detector and the viewer."""
    turns = (round(rotation / 90) % 4) if rotation else 0
    return np.ascontiguousarray(np.rot90(array, k=turns)) if turns else array


class VideoWriter:
    """Streaming encoder for frames produced live (the capture guard's recorder).

    Frames and audio chunks are stamped with their capture times in seconds from the start,
    so the recording keeps real timing and sync. With ``audio_rate`` an audio track is added
    (AAC; Opus for WebM, MP3 for AVI). The caller publishes the file (``atomic_output``) only
    after ``close`` returned.
    """

    def __init__(
        self,
        path: Path,
        width: int,
        height: int,
        fps: float,
        encoder: EncoderSettings | None = None,
        audio_rate: int | None = None,
        audio_layout: str = "mono",
    ) -> None:
        suffix = path.suffix.lower()
        codec, pix_fmt, options = (encoder or EncoderSettings()).for_container(
            suffix, width, height, fps
        )
        try:
            self._container: Any = av.open(str(path), mode="w")
        except (av.error.FFmpegError, ValueError) as exc:
            raise OutputError(f"cannot create output {path}: {_reason(exc)}") from None
        self._time_base = Fraction(1, 90_000)
        stream = cast(Any, self._container).add_stream(
            codec, rate=Fraction(fps).limit_denominator(1001)
        )
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.options = options
        stream.codec_context.time_base = self._time_base
        self._stream: Any = stream
        self._audio = (
            _AudioTrack(self._container, suffix, audio_rate, audio_layout) if audio_rate else None
        )
        self._last_pts = -1
        self.frames = 0

    def write(self, frame: Frame, seconds: float) -> None:
        video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
        pts = max(round(seconds * 90_000), self._last_pts + 1)
        video_frame.pts, video_frame.time_base = pts, self._time_base
        self._last_pts = pts
        for packet in self._stream.encode(video_frame):
            self._container.mux(packet)
        self.frames += 1

    def write_audio(self, samples: npt.NDArray[np.float32], seconds: float) -> None:
        """Planar float samples ``(channels, n)`` captured at ``seconds``."""
        if self._audio is not None:
            self._audio.write(samples, seconds)

    def close(self) -> None:
        for packet in self._stream.encode():
            self._container.mux(packet)
        if self._audio is not None:
            self._audio.close()
        self._container.close()

    def abort(self) -> None:
        self._container.close()


class _AudioTrack:
    """Re-chunks captured audio into encoder-sized frames; a gap starts a new run."""

    def __init__(self, container: Any, suffix: str, rate: int, layout: str) -> None:
        codec = {".webm": "libopus", ".avi": "libmp3lame"}.get(suffix, "aac")
        self.rate = 48000 if codec == "libopus" else rate
        if self.rate != rate:
            raise OutputError(f"{suffix} audio needs 48 kHz, the source has {rate} Hz")
        self.layout = layout
        self._container = container
        self._stream: Any = container.add_stream(codec, rate=self.rate)
        self._stream.layout = layout
        self._size = 0
        self._buffer: npt.NDArray[np.float32] | None = None
        self._start = 0  # pts (in samples) of the buffer's first sample

    def write(self, samples: npt.NDArray[np.float32], seconds: float) -> None:
        pts = round(seconds * self.rate)
        end = self._start + (0 if self._buffer is None else self._buffer.shape[1])
        if self._buffer is None or abs(pts - end) > self.rate // 100:  # > 10 ms gap or overlap
            self._flush(pad=True)
            self._buffer, self._start = samples.astype(np.float32), max(pts, end)
        else:
            self._buffer = np.concatenate([self._buffer, samples.astype(np.float32)], axis=1)
        self._flush(pad=False)

    def _flush(self, pad: bool) -> None:
        if self._buffer is None:
            return
        size = self._stream.codec_context.frame_size or 1024
        while self._buffer.shape[1] >= size or (pad and self._buffer.shape[1]):
            chunk = self._buffer[:, :size]
            if chunk.shape[1] < size:
                chunk = np.pad(chunk, ((0, 0), (0, size - chunk.shape[1])))
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(chunk), format="fltp", layout=self.layout
            )
            frame.sample_rate, frame.pts = self.rate, self._start
            frame.time_base = Fraction(1, self.rate)
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
            self._buffer = self._buffer[:, size:]
            self._start += size
        if self._buffer.shape[1] == 0:
            self._buffer = None

    def close(self) -> None:
        self._flush(pad=True)
        for packet in self._stream.encode():
            self._container.mux(packet)
