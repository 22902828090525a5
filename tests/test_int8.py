"""``--precision int8``: CenterFace quantized on this machine from the shipped float model,
made once and kept (verified) in the model cache, made again when damaged."""

from __future__ import annotations

import os
import threading
import time
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
def test_int8_finds_faces_and_is_made_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
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
    assert capsys.readouterr().out == ""  # the quantizer's progress prints stay off stdout

    assert len(CenterFace(precision="int8").detect(images[0])) >= 1
    assert kept.stat().st_mtime_ns == made  # found, verified and reused

    kept.write_bytes(b"not a model")  # damaged: its manifest no longer matches
    assert len(CenterFace(precision="int8").detect(images[0])) >= 1
    assert kept.stat().st_size > 1_000_000


def _asked_precision(video: bool, **settings: object) -> str:
    from bystander.vision.settings import FrameProtection, ProtectSettings

    detector = FrameProtection(ProtectSettings(**settings)).detector_for(video=video)  # type: ignore[arg-type]
    assert isinstance(detector, CenterFace)
    return detector.precision


def test_video_runs_int8_by_default_where_it_can_be_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "models"))
    assert _asked_precision(video=True) == "int8"
    assert _asked_precision(video=False) == "auto"  # photos: the runtime's float choice
    for asked in ("f32", "bf16", "int8"):  # a precision asked for is the one used
        assert _asked_precision(video=True, precision=asked) == asked
    assert _asked_precision(video=True, backend="onnxruntime") == "auto"

    monkeypatch.setenv(CACHE_ENV, "off")  # nowhere to keep it: not made in every process
    assert _asked_precision(video=True) == "auto"


def test_twins_of_other_precisions_keep_their_own_models(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, "off")
    base = CenterFace()
    video = base.with_search("single", precision="f32")
    photos = base.with_search("single", precision="bf16")
    assert video.effective_precision == "f32"  # not yet run: as asked
    frame = np.zeros((64, 96, 3), np.uint8)
    video.detect(frame)
    photos.detect(frame)
    assert (video.effective_precision, photos.effective_precision) == ("f32", "bf16")
    assert len(base._runners) == 2
    # the detector a report describes ran nothing itself: it names what its twins ran
    assert base.effective_precision == "bf16+f32"


def test_old_int8_models_are_pruned(tmp_path: Path) -> None:
    from bystander.vision.detectors import quantize

    for age, name in enumerate(["int8-old1", "int8-old2", "int8-old3", "int8-now"]):
        for suffix in (".onnx", ".onnx.json"):
            path = tmp_path / f"{name}{suffix}"
            path.write_text("x")
            os.utime(path, (1_000_000 + age, 1_000_000 + age))
    quantize._prune(tmp_path, "int8-now")
    assert sorted(p.name for p in tmp_path.glob("*.onnx")) == [
        "int8-now.onnx", "int8-old2.onnx", "int8-old3.onnx"
    ]  # fmt: skip


def test_one_process_makes_the_model_while_others_wait(tmp_path: Path) -> None:
    from bystander.vision.detectors.quantize import _made_by_one

    lock, order = tmp_path / ".int8.lock", []
    holding, released = threading.Event(), threading.Event()

    def first() -> None:
        with _made_by_one(lock):
            holding.set()
            released.wait(5)
            order.append("first done")

    thread = threading.Thread(target=first)
    thread.start()
    holding.wait(5)
    waiter = threading.Thread(target=lambda: _enter_and_note(lock, order))
    waiter.start()
    time.sleep(0.2)
    assert order == []  # the second waits for the first
    released.set()
    thread.join(5)
    waiter.join(5)
    assert order == ["first done", "second in"]


def _enter_and_note(lock: Path, order: list[str]) -> None:
    from bystander.vision.detectors.quantize import _made_by_one

    with _made_by_one(lock):
        order.append("second in")
