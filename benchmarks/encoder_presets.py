"""What x264's presets cost at a clip's size: CPU ms a frame, frames a second and file size.

Decodes the first N frames to RGB once, then encodes them with each preset at CRF 20 on two
threads, as ``protect`` does (BENCHMARKS.md, issue 20, for the ``auto`` preset's choice):

    python benchmarks/encoder_presets.py CLIP [--frames 60] [--presets veryfast,superfast,ultrafast]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stage_split import _encode  # the same x264 settings, in one place


def _frames(clip: str, count: int) -> list[np.ndarray]:
    frames: list[np.ndarray] = []
    with av.open(clip) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) == count:
                break
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--presets", default="veryfast,superfast,ultrafast")
    args = parser.parse_args()
    frames = _frames(args.clip, args.frames)
    height, width = frames[0].shape[:2]
    with tempfile.TemporaryDirectory() as folder:
        for preset in args.presets.split(","):
            path = Path(folder) / f"{preset}.mp4"
            started = time.perf_counter()
            cpu = _encode(frames, str(path), preset, threads=2)
            wall = time.perf_counter() - started
            size = os.path.getsize(path) / 1e6
            per_frame = cpu / len(frames) * 1e3
            print(f"{width}x{height} {preset}: {per_frame:.1f} CPU ms a frame, "
                  f"{len(frames) / wall:.1f} fps, {size:.2f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
