"""``--precision int8``: CenterFace quantized on this machine from the shipped float model,
made once and kept (verified) in the model cache, made again when damaged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bystander.errors import DetectorError
from bystander.measure.synthetic import moving_face_frames
from bystander.vision.detections import iou_matrix
from bystander.vision.detectors.backends import make_runner
from bystander.vision.detectors.centerface import CenterFace
from bystander.vision.detectors.model_cache import CACHE_ENV

pytest.importorskip("openvino")


def test_int8_needs_openvino() -> None:
    with pytest.raises(DetectorError, match="needs the openvino backend"):
        make_runner("onnxruntime", b"", 1, "int8")


@pytest.mark.slow
def test_int8_finds_faces_and_is_made_once(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    folder = tmp_path / "models"
    monkeypatch.setenv(CACHE_ENV, str(folder))
    images, boxes = moving_face_frames(640, 360, frames=5, min_face=30, max_face=90)
    images, boxes = images[1:], boxes[1:]  # the face enters the frame after the first
    detector = CenterFace(precision="int8")
    for image, box in zip(images, boxes, strict=True):
        found = detector.detect(image)
        truth = np.array([box], dtype=np.float32)
        assert len(found) >= 1 and iou_matrix(found.xyxy, truth).max() > 0.5
    assert detector.effective_precision == "int8"
    assert detector.describe()["precision"] == "int8"
    (kept,) = folder.glob("int8-*.onnx")
    made = kept.stat().st_mtime_ns

    assert len(CenterFace(precision="int8").detect(images[0])) >= 1
    assert kept.stat().st_mtime_ns == made  # found, verified and reused

    kept.write_bytes(b"not a model")  # damaged: its manifest no longer matches
    assert len(CenterFace(precision="int8").detect(images[0])) >= 1
    assert kept.stat().st_size > 1_000_000
