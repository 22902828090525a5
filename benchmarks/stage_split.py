"""Where protect's time goes at a resolution: decode, full-frame search, region search, redact,
encode, each timed alone on the same frames (CPU milliseconds per frame).

The pipeline runs decode, detection and encode on three threads, so its wall time per frame is
less than the sum on two cores; the sum says what each frame costs the machine and which part
grows with pixels and which with faces.

    python benchmarks/stage_split.py CLIP --sizes 1280x720,1920x1080,2560x1920 --frames 60 \
        [--min-face auto|native|PX]
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from fractions import Fraction
from typing import Any

import av
import cv2
import numpy as np

from bystander.jobs.protect import ProtectSettings
from bystander.vision.detectors.centerface import CenterFace
from bystander.vision.redact import Redactor


def _frames(clip: str, size: tuple[int, int], count: int) -> list[np.ndarray]:
    out = []
    with av.open(clip) as container:
        for frame in container.decode(video=0):
            rgb = frame.to_ndarray(format="rgb24")
            out.append(np.ascontiguousarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)))
            if len(out) == count:
                break
    while len(out) < count:  # loop a short clip
        out.extend(out[: count - len(out)])
    return out


def _encode(frames: list[np.ndarray], path: str, preset: str = "veryfast",
            threads: int | None = None) -> float:  # fmt: skip
    """CPU seconds to encode ``frames`` with x264 at CRF 20 (also ``encoder_presets.py``)."""
    height, width = frames[0].shape[:2]
    start = time.process_time()
    with av.open(path, "w") as container:
        stream: Any = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "20", "preset": preset}
        if threads:
            stream.options = {**stream.options, "threads": str(threads)}
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, 30)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return time.process_time() - start


def _decode(path: str) -> float:
    start = time.process_time()
    with av.open(path) as container:
        for frame in container.decode(video=0):
            frame.to_ndarray(format="rgb24")
    return time.process_time() - start


def measure(clip: str, size: tuple[int, int], count: int, min_face: str) -> dict[str, object]:
    frames = _frames(clip, size, count)
    temp = f"/tmp/stage_split_{size[0]}x{size[1]}.mp4"
    encode = _encode(frames, temp)
    decode = _decode(temp)
    settings = ProtectSettings()
    detector = CenterFace(search=settings.video_search, min_face=min_face)
    detector.detect(frames[0])
    start = time.process_time()
    found = [detector.detect(frame) for frame in frames]
    full = time.process_time() - start
    faces = sum(len(f) for f in found)
    detector.detect_regions(frames[0], found[0].xyxy)
    start = time.process_time()
    for frame, boxes in zip(frames, found, strict=True):
        if len(boxes):
            detector.detect_regions(frame, boxes.xyxy)
    regions = time.process_time() - start
    redactor = Redactor(settings.redaction)
    start = time.process_time()
    for frame, boxes in zip(frames, found, strict=True):
        redactor.apply(frame.copy(), boxes)
    redact = time.process_time() - start
    interval = settings.keyframe_interval
    per_frame = {
        "decode": decode / count * 1000,
        "full_search_per_keyframe": full / count * 1000,
        "full_search_share": full / count * 1000 / interval,
        "region_search": regions / count * 1000,
        "redact": redact / count * 1000,
        "encode": encode / count * 1000,
    }
    per_frame["sum"] = sum(v for k, v in per_frame.items() if k != "full_search_per_keyframe")
    return {
        "size": f"{size[0]}x{size[1]}",
        "min_face": min_face,
        "frames": count,
        "faces_per_frame": faces / count,
        "keyframe_interval": interval,
        "cpu_ms_per_frame": {k: round(v, 2) for k, v in per_frame.items()},
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip")
    parser.add_argument("--sizes", default="1280x720,1920x1080,2560x1920")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--min-face", default="auto", help="auto, native or px (CenterFace)")
    args = parser.parse_args()
    for text in args.sizes.split(","):
        width, height = (int(v) for v in text.lower().split("x"))
        print(
            json.dumps(measure(args.clip, (width, height), args.frames, args.min_face)), flush=True
        )


if __name__ == "__main__":
    main()
