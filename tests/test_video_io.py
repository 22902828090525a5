"""Transcoding itself (no detection): quality, frame count and timing survive every container."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from bystander.measure.synthetic import moving_face_frames, write_clip
from bystander.vision.video_io import transcode
from tests.helpers import decode_frames


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255**2 / max(mse, 1e-9)))


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv", ".avi", ".webm"])
def test_transcode_keeps_quality_and_every_frame(suffix: str, tmp_path: Path) -> None:
    images, _ = moving_face_frames(640, 360, frames=12)
    source = tmp_path / "source.mkv"
    write_clip(source, images, audio=False, codec="libx264")
    target = tmp_path / f"copy{suffix}"
    info = transcode(source, target, None)
    original, decoded = decode_frames(source), decode_frames(target)
    assert info.frames == len(decoded) == 12
    loss = np.mean([psnr(a, b) for a, b in zip(original, decoded, strict=True)])
    assert loss > 36, f"{suffix}: re-encoding differs from its source by {loss:.1f} dB PSNR"


def test_variable_frame_timing_is_preserved(tmp_path: Path) -> None:
    images, _ = moving_face_frames(160, 96, frames=6)
    source = tmp_path / "vfr.mkv"
    stamps = [0, 1, 2, 5, 6, 10]  # in 1/30 s: a stall after frame 3
    with av.open(str(source), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        for image, pts in zip(images, stamps, strict=True):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = pts, Fraction(1, 30)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    target = tmp_path / "vfr.out.mkv"
    transcode(source, target, None)

    def times(path: Path) -> list[float]:
        with av.open(str(path)) as container:
            return [round(float(f.time), 3) for f in container.decode(video=0)]

    assert times(target) == times(source)


@pytest.mark.parametrize(("size", "expected"), [((1280, 720), "veryfast"),
                                                ((2048, 1152), "ultrafast")])  # fmt: skip
def test_auto_encodes_above_1080p_with_the_fast_preset(size: tuple[int, int], expected: str,
                                                       tmp_path: Path) -> None:  # fmt: skip
    images, _ = moving_face_frames(*size, frames=4)
    source = tmp_path / "source.mkv"
    write_clip(source, images, audio=False, codec="libx264")
    target = tmp_path / "copy.mp4"
    transcode(source, target, None)
    # x264 writes its settings into the stream: ultrafast turns CABAC and deblocking off
    sei = target.read_bytes()
    assert (b"cabac=0" in sei and b"deblock=0" in sei) == (expected == "ultrafast")
    assert len(decode_frames(target)) == 4
