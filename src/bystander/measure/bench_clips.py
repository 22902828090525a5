"""Clips for ``bystander bench``: a source trimmed or resized for the run, a synthetic clip of a
moving real face, and the first frame (for warming the detector up)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from bystander.errors import InputError
from bystander.measure.synthetic import moving_face_frames, write_clip
from bystander.vision.encoding import EncoderSettings
from bystander.vision.media import check_readable
from bystander.vision.video_io import (
    Frame,
    _upright,  # same orientation handling as transcode()
)

#: Quality of the clips the bench prepares (trimmed, resized, one-frame start-up clip).
PREPARE_ENCODER = EncoderSettings(crf=16, preset="veryfast")


def prepare_clip(
    source: Path,
    target: Path,
    *,
    seconds: float | None = None,
    size: tuple[int, int] | None = None,
    max_frames: int | None = None,
) -> int:
    """Re-encode ``source`` to ``target`` (x264 CRF 16, no audio, constant frame rate).

    Keeps the frames of the first ``seconds`` (and at most ``max_frames``), upright, scaled to
    ``size`` with ``cv2.resize`` when given. Returns the number of frames written.
    """
    check_readable(source)
    try:
        with av.open(str(source), mode="r") as container:
            if not container.streams.video:
                raise InputError(f"no video stream in {source}")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            rate = Fraction(stream.average_rate or stream.guessed_rate or 30)
            base = stream.time_base
            start = float(stream.start_time * base) if stream.start_time and base else 0.0
            with av.open(str(target), mode="w") as output:
                written = _reencode(
                    container, stream, output, rate, start, seconds, size, max_frames
                )
    except av.error.FFmpegError as exc:
        raise InputError(f"cannot re-encode {source}: {first_line(str(exc))}") from None
    if written == 0:
        raise InputError(f"no video frames to benchmark in {source}")
    return written


def _reencode(
    container: Any,
    stream: Any,
    output: Any,
    rate: Fraction,
    start: float,
    seconds: float | None,
    size: tuple[int, int] | None,
    max_frames: int | None,
) -> int:
    out_stream: Any = None
    written = 0
    for frame in container.decode(stream):
        if max_frames is not None and written >= max_frames:
            break
        when = float(frame.time) - start if frame.time is not None else written / float(rate)
        if seconds is not None and when >= seconds - 1e-6:
            break
        array = _upright(frame.to_ndarray(format="rgb24"), getattr(frame, "rotation", 0) or 0)
        if size is not None and (array.shape[1], array.shape[0]) != size:
            shrink = size[0] * size[1] < array.shape[0] * array.shape[1]
            interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
            array = np.ascontiguousarray(cv2.resize(array, size, interpolation=interpolation))
        if out_stream is None:
            height, width = array.shape[:2]
            codec, pix_fmt, options = PREPARE_ENCODER.for_container(".mp4", width, height)
            out_stream = output.add_stream(codec, rate=rate, options=options)
            out_stream.width, out_stream.height, out_stream.pix_fmt = width, height, pix_fmt
            out_stream.codec_context.time_base = 1 / rate
        out = av.VideoFrame.from_ndarray(array, format="rgb24")
        out.pts, out.time_base = written, 1 / rate
        for packet in out_stream.encode(out):
            output.mux(packet)
        written += 1
    if out_stream is not None:
        for packet in out_stream.encode():
            output.mux(packet)
    return written


def make_synthetic_clip(target: Path, width: int, height: int, frames: int, fps: int = 30) -> int:
    """The moving real face of ``bystander.measure.synthetic``, ``width`` x ``height``, no audio."""
    if frames < 1:
        raise InputError("--frames must be at least 1")
    images, _ = moving_face_frames(width, height, frames)
    write_clip(target, images, fps=fps, audio=False)
    return len(images)


def first_frame(path: Path) -> Frame:
    """The first frame of ``path`` as the pipeline sees it (RGB, upright)."""
    try:
        with av.open(str(path), mode="r") as container:
            for frame in container.decode(video=0):
                rgb: Frame = frame.to_ndarray(format="rgb24")  # type: ignore[assignment]
                return _upright(rgb, getattr(frame, "rotation", 0) or 0)
    except av.error.FFmpegError as exc:
        raise InputError(f"cannot decode {path}: {first_line(str(exc))}") from None
    raise InputError(f"no video frames could be decoded from {path}")


def first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0]
