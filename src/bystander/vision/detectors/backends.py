"""Inference runtimes for fixed-shape image models: OpenVINO (fastest here) or onnxruntime."""

from __future__ import annotations

import os
from typing import Protocol

import numpy as np
import numpy.typing as npt

from bystander.errors import DetectorError

BACKENDS = ("auto", "openvino", "onnxruntime")


class ModelRunner(Protocol):
    """Runs a model on one ``(1, H, W, 3)`` uint8 RGB batch; returns its outputs by name."""

    backend: str

    def run(self, batch_nhwc: npt.NDArray[np.uint8]) -> dict[str, npt.NDArray[np.float32]]: ...


def default_threads() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


class OpenVINORunner:
    """OpenVINO CPU inference; uint8 NHWC -> float NCHW conversion is fused into the model."""

    backend = "openvino"

    def __init__(self, model_bytes: bytes, threads: int) -> None:
        import openvino as ov
        from openvino.preprocess import PrePostProcessor

        core = ov.Core()
        model = core.read_model(model=model_bytes, weights=b"")
        ppp = PrePostProcessor(model)
        ppp.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC"))
        ppp.input().model().set_layout(ov.Layout("NCHW"))
        ppp.input().preprocess().convert_element_type(ov.Type.f32)
        model = ppp.build()
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads}
        compiled = core.compile_model(model, "CPU", config)
        self._request = compiled.create_infer_request()
        self._outputs = [(out, out.get_any_name()) for out in compiled.outputs]

    def run(self, batch_nhwc: npt.NDArray[np.uint8]) -> dict[str, npt.NDArray[np.float32]]:
        results = self._request.infer({0: batch_nhwc})
        return {name: results[out] for out, name in self._outputs}


class OnnxRuntimeRunner:
    """onnxruntime CPU inference (the conversion to float NCHW happens in NumPy)."""

    backend = "onnxruntime"

    def __init__(self, model_bytes: bytes, threads: int) -> None:
        import onnxruntime as ort

        ort.set_default_logger_severity(3)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            model_bytes, options, providers=["CPUExecutionProvider"]
        )
        self._input = self._session.get_inputs()[0].name
        self._names = [out.name for out in self._session.get_outputs()]

    def run(self, batch_nhwc: npt.NDArray[np.uint8]) -> dict[str, npt.NDArray[np.float32]]:
        blob = np.ascontiguousarray(batch_nhwc.transpose(0, 3, 1, 2), dtype=np.float32)
        outputs = self._session.run(self._names, {self._input: blob})
        return dict(zip(self._names, outputs, strict=True))


def make_runner(backend: str, model_bytes: bytes, threads: int | None = None) -> ModelRunner:
    """Build a runner; ``auto`` prefers OpenVINO and falls back to onnxruntime."""
    threads = threads or default_threads()
    if backend not in BACKENDS:
        raise DetectorError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
    order = ["openvino", "onnxruntime"] if backend == "auto" else [backend]
    errors: list[str] = []
    for name in order:
        try:
            if name == "openvino":
                return OpenVINORunner(model_bytes, threads)
            return OnnxRuntimeRunner(model_bytes, threads)
        except ImportError as exc:
            errors.append(f"{name}: {exc}")
        except Exception as exc:
            raise DetectorError(f"{name} could not load the model: {exc}") from exc
    raise DetectorError("no inference backend available (" + "; ".join(errors) + ")")
