"""Camera sources for the capture guard: a video file, a webcam (V4L2) or an RTSP stream.

Each yields RGB frames as a real sensor would deliver them; the session stamps each frame
with its own clock on arrival (the sensor timestamp), so rules are judged on session time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt

from bystander.errors import InputError
from bystander.vision.media import check_dimensions, check_readable

Frame = npt.NDArray[np.uint8]


@dataclass
class SourceInfo:
    description: str
    width: int
    height: int
    fps: float
    audio_rate: int | None = None  # samples per second of the first audio track, if any
    audio_layout: str | None = None


@dataclass(frozen=True)
class SourceSample:
    """A decoded sample and its time on the source's own timeline (seconds from its start).

    Video payloads are ``(H, W, 3)`` uint8 RGB; audio payloads are ``(channels, n)`` float32
    planar at ``SourceInfo.audio_rate``.
    """

    kind: str  # "video" or "audio"
    seconds: float
    payload: npt.NDArray[Any]


class VideoSource:
    """Frames from anything FFmpeg can open: ``FILE``, ``webcam:N`` or ``rtsp://...``."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self._container = _open(spec)
        if not self._container.streams.video:
            self._container.close()
            raise InputError(f"no video stream in source {spec}")
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        width, height = int(stream.codec_context.width), int(stream.codec_context.height)
        check_dimensions(width, height, Path(spec))
        rate = stream.average_rate or stream.guessed_rate or Fraction(30)
        self.info = SourceInfo(spec, width, height, float(rate))
        audio = self._container.streams.audio
        self._audio = audio[0] if audio else None
        if self._audio is not None:
            self.info.audio_rate = int(self._audio.codec_context.sample_rate or 48000)
            layout = self._audio.codec_context.layout
            self.info.audio_layout = "mono" if layout.nb_channels == 1 else "stereo"

    def frames(self) -> Iterator[Frame]:
        """Decoded RGB frames until the source ends; a decoding error ends with InputError."""
        try:
            for frame in self._container.decode(video=0):
                yield frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError as exc:
            raise InputError(f"source {self.spec} failed: {exc}") from None

    def samples(self, audio: bool = True) -> Iterator[SourceSample]:
        """Video frames and (with ``audio``) audio chunks in decode order, with source times."""
        streams = [self._container.streams.video[0]]
        resampler = None
        if audio and self._audio is not None:
            streams.append(self._audio)
            resampler = av.AudioResampler(
                format="fltp", layout=self.info.audio_layout, rate=self.info.audio_rate
            )
        origin: float | None = None
        try:
            for packet in self._container.demux(*streams):
                for frame in packet.decode():
                    if frame.time is None:
                        continue
                    origin = frame.time if origin is None else origin
                    seconds = max(0.0, frame.time - origin)
                    if isinstance(frame, av.VideoFrame):
                        yield SourceSample("video", seconds, frame.to_ndarray(format="rgb24"))
                    elif resampler is not None:
                        for chunk in resampler.resample(frame):
                            yield SourceSample("audio", seconds, chunk.to_ndarray())
        except av.error.FFmpegError as exc:
            raise InputError(f"source {self.spec} failed: {exc}") from None

    def close(self) -> None:
        self._container.close()


def _open(spec: str) -> Any:
    try:
        if spec.startswith("webcam:"):
            index = int(spec.split(":", 1)[1] or 0)
            return av.open(f"/dev/video{index}", format="v4l2")
        if spec.startswith(("rtsp://", "rtsps://")):
            return av.open(spec, options={"rtsp_transport": "tcp", "stimeout": "5000000"})
        path = Path(spec)
        check_readable(path)
        return av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise InputError(f"cannot open source {spec}: {exc}") from None
