"""Synthetic test media built from real face photos shipped in scikit-image.

Used by ``bystander demo``, the test suite and benchmarks: a real face (the astronaut
Eileen Collins, public domain, in ``skimage.data``) moving and scaling across a scene,
with a tone as the audio track, and the exact face box in every frame as ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import av
import cv2
import numpy as np
import numpy.typing as npt

Frame = npt.NDArray[np.uint8]

#: Face box of the astronaut in ``skimage.data.astronaut()`` (x1, y1, x2, y2), brow to chin.
ASTRONAUT_FACE = (180, 60, 270, 178)
#: The head crop pasted into scenes (includes hair and ears), and the face box inside it.
_HEAD_CROP = (150, 20, 300, 210)


def astronaut_head() -> tuple[Frame, tuple[float, float, float, float]]:
    """The astronaut's head as an RGB crop, and the face box within that crop."""
    from skimage import data

    image: Frame = np.ascontiguousarray(cast(Any, data).astronaut(), dtype=np.uint8)
    x1, y1, x2, y2 = _HEAD_CROP
    fx1, fy1, fx2, fy2 = ASTRONAUT_FACE
    return image[y1:y2, x1:x2].copy(), (fx1 - x1, fy1 - y1, fx2 - x1, fy2 - y1)


def background(width: int, height: int) -> Frame:
    """A textured scene (scikit-image's coffee photo) stretched to ``width`` x ``height``."""
    from skimage import data

    coffee = cast(Any, data).coffee()
    resized = cv2.resize(coffee, (width, height), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(resized, dtype=np.uint8)


@dataclass
class SyntheticClip:
    path: Path
    width: int
    height: int
    fps: int
    face_boxes: list[tuple[float, float, float, float]]  # ground truth per frame
    has_audio: bool


def paste(frame: Frame, patch: Frame, x: int, y: int) -> None:
    """Paste ``patch`` with its top-left at (x, y), clipped to the frame."""
    h, w = patch.shape[:2]
    fh, fw = frame.shape[:2]
    x1, y1, x2, y2 = max(0, x), max(0, y), min(fw, x + w), min(fh, y + h)
    if x2 > x1 and y2 > y1:
        frame[y1:y2, x1:x2] = patch[y1 - y : y2 - y, x1 - x : x2 - x]


def moving_face_frames(
    width: int = 640, height: int = 360, frames: int = 60, min_face: int = 40, max_face: int = 110
) -> tuple[list[Frame], list[tuple[float, float, float, float]]]:
    """Frames with the astronaut's face travelling left to right while growing, and GT boxes."""
    head, (fx1, fy1, fx2, fy2) = astronaut_head()
    scene = background(width, height)
    out: list[Frame] = []
    boxes: list[tuple[float, float, float, float]] = []
    face_h0 = fy2 - fy1
    for i in range(frames):
        t = i / max(frames - 1, 1)
        face_h = min_face + (max_face - min_face) * t
        scale = face_h / face_h0
        patch = np.asarray(
            cv2.resize(head, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA), dtype=np.uint8
        )
        x = round(-0.1 * width + 0.9 * width * t)
        y = round(height * 0.15 + 0.1 * height * np.sin(t * 6.28))
        frame = scene.copy()
        paste(frame, patch, x, y)
        out.append(frame)
        box = (x + fx1 * scale, y + fy1 * scale, x + fx2 * scale, y + fy2 * scale)
        clipped = (
            max(0.0, box[0]),
            max(0.0, box[1]),
            min(float(width), box[2]),
            min(float(height), box[3]),
        )
        boxes.append(clipped)
    return out, boxes


def write_clip(
    path: Path,
    frames: list[Frame],
    fps: int = 30,
    audio: bool = True,
    codec: str | None = None,
    metadata: dict[str, str] | None = None,
) -> None:
    """Encode ``frames`` to ``path`` (format from its suffix), with a 440 Hz tone if ``audio``.

    ``metadata`` adds container tags (tests use it to check that tags are stripped).
    """
    suffix = path.suffix.lower()
    video_codec = codec or {".webm": "libvpx-vp9", ".avi": "mpeg4"}.get(suffix, "libx264")
    audio_codec = {".webm": "libopus", ".avi": "mp3"}.get(suffix, "aac")
    height, width = frames[0].shape[:2]
    with av.open(str(path), mode="w") as container:
        container.metadata.update(metadata or {})
        stream = cast(Any, container.add_stream(video_codec, rate=fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if video_codec == "libx264":
            stream.options = {"crf": "16", "preset": "veryfast"}
        elif video_codec == "libvpx-vp9":
            stream.options = {"deadline": "realtime", "cpu-used": "8"}
        audio_stream = None
        if audio:
            rate = 48000
            audio_stream = cast(Any, container.add_stream(audio_codec, rate=rate))
            audio_stream.layout = "mono"
        for index, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        if audio_stream is not None:
            _write_tone(container, audio_stream, seconds=len(frames) / fps)
        for packet in stream.encode():
            container.mux(packet)


def _write_tone(
    container: av.container.OutputContainer, stream: av.audio.AudioStream, seconds: float
) -> None:
    rate = stream.codec_context.sample_rate
    total = int(rate * seconds)
    t = np.arange(total) / rate
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    chunk = 960
    for start in range(0, total, chunk):
        samples = tone[start : start + chunk]
        if len(samples) < chunk:
            samples = np.pad(samples, (0, chunk - len(samples)))
        frame = av.AudioFrame.from_ndarray(samples[None, :], format="flt", layout="mono")
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)


def make_demo_clip(
    path: Path,
    width: int = 640,
    height: int = 360,
    frames: int = 60,
    fps: int = 30,
    audio: bool = True,
) -> SyntheticClip:
    """Write a clip of the moving astronaut face to ``path`` and return its ground truth."""
    images, boxes = moving_face_frames(width, height, frames)
    write_clip(path, images, fps=fps, audio=audio)
    return SyntheticClip(path, width, height, fps, boxes, audio)
