"""Inference runtimes for fixed-shape image models: OpenVINO (fastest here) or onnxruntime."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from bystander.errors import DetectorError
from bystander.vision.detectors.openvino_runtime import runtime

BACKENDS = ("auto", "openvino", "onnxruntime")
#: Inference precisions. ``auto`` is the runtime's choice: OpenVINO picks bf16 on CPUs with
#: native bf16 (AVX512_BF16, AMX), which roughly halves CenterFace's time, and f32 elsewhere;
#: onnxruntime always runs f32. ``f32``/``bf16`` force one (bf16 needs OpenVINO). ``int8``
#: runs a model quantized on this machine (``quantize``; OpenVINO, the rest of it as auto).
PRECISIONS = ("auto", "f32", "bf16", "int8")


class ModelRunner(Protocol):
    """Runs a model on one ``(1, H, W, 3)`` uint8 RGB batch; returns its outputs by name."""

    backend: str
    precision: str  # the precision actually used: "f32", "bf16" or "int8"

    def run(self, batch_nhwc: npt.NDArray[np.uint8]) -> dict[str, npt.NDArray[np.float32]]: ...


@dataclass(frozen=True)
class ModelFile:
    """An ONNX model file to run at a fixed input shape ``(batch, 3, H, W)``.

    OpenVINO reads the file and fixes the shape itself; onnxruntime gets the graph prepared
    by ``onnx_graph.fixed_shape_model`` (which imports ONNX, about 1 s a cold start).
    """

    path: Path
    input_hw: tuple[int, int]
    batch: int = 1
    #: OpenVINO: compile once for every input shape, this one included (onnxruntime: ignored)
    any_shape: bool = False

    def prepared(self) -> bytes:
        from bystander.vision.detectors.onnx_graph import fixed_shape_model

        return fixed_shape_model(str(self.path), self.input_hw, self.batch)


def default_threads() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


_primed = threading.Lock()
_primed_done = False


def prime_openvino() -> None:
    """Run OpenVINO's one-time tensor-data initialiser on this thread, once a process.

    Its Python bindings deadlock when two threads make their first inference call at the
    same moment (a C++ static initialiser that calls into NumPy without the GIL; see
    ``service/native.py`` for the evidence): two capture sessions or job workers in one
    process could hang. Every runner primes it before its first use.
    """
    global _primed_done
    with _primed:
        if _primed_done:
            return
        ov = runtime()

        _ = ov.Tensor(np.zeros((1,), np.uint8)).data
        _primed_done = True


class OpenVINORunner:
    """OpenVINO CPU inference; uint8 NHWC -> float NCHW conversion is fused into the model."""

    backend = "openvino"

    def __init__(self, model: bytes | ModelFile, threads: int, precision: str = "auto") -> None:
        ov = runtime()

        prime_openvino()
        core = ov.Core()
        config: dict[str, object] = {
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": threads,
        }
        if precision not in ("auto", "int8"):  # int8: quantized layers, the rest as auto
            config["INFERENCE_PRECISION_HINT"] = precision
        if isinstance(model, ModelFile) and model.any_shape:
            compiled = _any_shape_model(core, model, config)
        elif isinstance(model, ModelFile):
            from bystander.vision.detectors.model_cache import cached_model, model_key

            key = model_key(model.path, model.input_hw, model.batch, ov.get_version())
            compiled = cached_model(core, key, lambda: _openvino_model(core, model), config)
        else:
            compiled = core.compile_model(_openvino_model(core, model), "CPU", config)
        used = str(compiled.get_property("INFERENCE_PRECISION_HINT")).lower()
        self.precision = "int8" if precision == "int8" else "bf16" if "bf" in used else "f32"
        self._request = compiled.create_infer_request()
        self._outputs = [(out, out.get_any_name()) for out in compiled.outputs]

    def run(self, batch_nhwc: npt.NDArray[np.uint8]) -> dict[str, npt.NDArray[np.float32]]:
        results = self._request.infer({0: batch_nhwc})
        return {name: results[out] for out, name in self._outputs}


#: Compiled models with any batch and frame size, by (file, config): one compile serves
#: every shape a process meets (each runner keeps its own infer request, sized to its shape).
#: On CenterFace: identical outputs; a single call as fast as a model compiled for its shape,
#: but video, alternating keyframe and region shapes, ran ~15% slower (BENCHMARKS.md, issue
#: 20), so only stills use it.
_any_shape: dict[tuple[str, str], Any] = {}
_any_shape_lock = threading.Lock()


def _any_shape_model(core: Any, model: ModelFile, config: dict[str, object]) -> Any:
    """The compiled model of ``model``'s file for any input shape (kept in the model cache;
    a model that cannot take any shape is compiled for ``model``'s own)."""
    ov = runtime()

    from bystander.vision.detectors.model_cache import cached_model, model_key

    memo = (str(model.path), repr(sorted(config.items())))
    with _any_shape_lock:
        compiled = _any_shape.get(memo)
        if compiled is None:
            any_shape = ModelFile(model.path, (-1, -1), -1, any_shape=True)
            key = model_key(model.path, (-1, -1), -1, ov.get_version())
            try:
                compiled = cached_model(core, key, lambda: _openvino_model(core, any_shape), config)
            except Exception:  # a graph that needs fixed shapes: one compile per shape
                key = model_key(model.path, model.input_hw, model.batch, ov.get_version())
                return cached_model(core, key, lambda: _openvino_model(core, model), config)
            _any_shape[memo] = compiled
    return compiled


def _openvino_model(core: Any, model: bytes | ModelFile) -> Any:
    """The model with its input shape set (-1: any) and uint8 NHWC -> float NCHW fused in."""
    ov = runtime()
    from openvino.preprocess import PrePostProcessor

    if isinstance(model, ModelFile):
        loaded = core.read_model(str(model.path))
        if len(loaded.inputs) != 1:
            raise ValueError(f"expected one image input in {model.path}")
        shape = ov.PartialShape([model.batch, 3, *model.input_hw])
        loaded.reshape({loaded.inputs[0]: shape})
    else:
        loaded = core.read_model(model=model, weights=b"")
    ppp = PrePostProcessor(loaded)
    ppp.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC"))
    ppp.input().model().set_layout(ov.Layout("NCHW"))
    ppp.input().preprocess().convert_element_type(ov.Type.f32)
    return ppp.build()


class OnnxRuntimeRunner:
    """onnxruntime CPU inference (the conversion to float NCHW happens in NumPy)."""

    backend = "onnxruntime"
    precision = "f32"

    def __init__(self, model: bytes | ModelFile, threads: int) -> None:
        import onnxruntime as ort

        model_bytes = model.prepared() if isinstance(model, ModelFile) else model
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


def make_runner(
    backend: str, model: bytes | ModelFile, threads: int | None = None, precision: str = "auto"
) -> ModelRunner:
    """Build a runner for a serialized model or a ``ModelFile``; ``auto`` prefers OpenVINO
    and falls back to onnxruntime."""
    threads = threads or default_threads()
    if backend not in BACKENDS:
        raise DetectorError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
    if precision not in PRECISIONS:
        raise DetectorError(
            f"unknown precision {precision!r} (choose from {', '.join(PRECISIONS)})"
        )
    if precision in ("bf16", "int8") and backend == "onnxruntime":
        raise DetectorError(f"precision {precision} needs the openvino backend")
    order = ["openvino", "onnxruntime"] if backend == "auto" else [backend]
    errors: list[str] = []
    for name in order:
        try:
            if name == "openvino":
                return OpenVINORunner(model, threads, precision)
            return OnnxRuntimeRunner(model, threads)
        except ImportError as exc:
            errors.append(f"{name}: {exc}")
        except Exception as exc:
            raise DetectorError(f"{name} could not load the model: {exc}") from exc
    raise DetectorError("no inference backend available (" + "; ".join(errors) + ")")
