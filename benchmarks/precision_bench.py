"""CenterFace detection time per 1280x720 frame by backend and precision, interleaved in one run.

    python benchmarks/precision_bench.py [--rounds 2] [--frames 20]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from bystander import create_detector

CONFIGS = (
    ("openvino", "auto"),
    ("openvino", "f32"),
    ("openvino", "bf16"),
    ("onnxruntime", "auto"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--frames", type=int, default=20)
    args = parser.parse_args()
    frame = np.random.default_rng(0).integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    times: dict[tuple[str, str], list[float]] = {c: [] for c in CONFIGS}
    used: dict[tuple[str, str], str] = {}
    for _ in range(args.rounds):
        for backend, precision in CONFIGS:
            detector = create_detector("centerface", backend=backend, precision=precision)
            detector.detect(frame)  # builds the model for this size
            start = time.perf_counter()
            for _ in range(args.frames):
                detector.detect(frame)
            times[(backend, precision)].append((time.perf_counter() - start) / args.frames * 1e3)
            used[(backend, precision)] = str(detector.describe()["precision"])
    print(f"{'backend':12s} {'requested':9s} {'used':5s} {'ms/frame (median of rounds)':>28s}")
    for (backend, precision), values in times.items():
        used_p = used[(backend, precision)]
        print(f"{backend:12s} {precision:9s} {used_p:5s} {statistics.median(values):28.1f}")


if __name__ == "__main__":
    main()
