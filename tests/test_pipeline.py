"""FrameProtector logic: fail-closed on detector errors, look-back, tracking hand-off.

The detectors here are scripted stand-ins: they exercise the pipeline's own decisions
(what happens when a detector raises or misses), which the real model cannot be made to do
on demand. End-to-end behaviour with the real model is in test_protect_e2e.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from bystander.errors import DetectorError
from bystander.vision.detections import Detections
from bystander.vision.pipeline import FrameProtector
from bystander.vision.redact import RedactionSettings, Redactor
from bystander.vision.tracker import FaceTracker


class ScriptedDetector:
    name = "scripted"

    def __init__(self, script: dict[int, list[list[float]] | Exception]) -> None:
        self.script = script
        self.calls = 0

    def detect(self, frame: np.ndarray) -> Detections:
        step = self.script.get(self.calls, [])
        self.calls += 1
        if isinstance(step, Exception):
            raise step
        return Detections.from_boxes(step, scores=[0.9] * len(step))

    def describe(self) -> dict[str, object]:
        return {"name": self.name}


def frames(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [rng.integers(0, 256, (90, 160, 3), dtype=np.uint8) for _ in range(n)]


def test_detector_failure_redacts_the_whole_frame() -> None:
    protector = FrameProtector(ScriptedDetector({0: RuntimeError("model crashed")}))
    original = frames(1)[0]
    result = protector.protect(original.copy())
    assert result.whole_frame and "model crashed" in (result.error or "")
    assert np.abs(np.diff(result.image.astype(np.float32), axis=1)).mean() < 5
    assert np.mean(result.image != original) > 0.9


def test_detector_failure_aborts_when_asked() -> None:
    protector = FrameProtector(
        ScriptedDetector({0: RuntimeError("boom")}), abort_on_detector_error=True
    )
    with pytest.raises(DetectorError, match="frame 0"):
        protector.protect(frames(1)[0])


def test_lookback_redacts_frames_before_the_first_detection() -> None:
    box = [40.0, 20.0, 80.0, 70.0]
    protector = FrameProtector(
        ScriptedDetector({5: [box], 6: [box]}), tracker=FaceTracker(), lookback=3
    )
    out = []
    for frame in frames(8):
        out.extend(protector.push_frames(frame))
    out.extend(protector.flush_frames())
    assert [f.index for f in out] == list(range(8))
    sources = [f.regions.sources for f in out]
    assert sources[:2] == [[], []]
    assert sources[2:5] == [["lookback"]] * 3
    assert sources[5] == ["detected"]
    assert out[7].regions.sources == ["predicted"]  # held after the detections stop


def test_output_lags_by_lookback_frames() -> None:
    protector = FrameProtector(ScriptedDetector({}), tracker=FaceTracker(), lookback=2)
    ready = [len(protector.push(f)) for f in frames(4)]
    assert ready == [0, 0, 1, 1]
    assert len(protector.flush()) == 2


def test_redaction_error_blacks_out_the_frame() -> None:
    class BrokenRedactor(Redactor):
        def apply(self, frame: np.ndarray, detections: Detections) -> np.ndarray:
            raise MemoryError("no memory")

    protector = FrameProtector(
        ScriptedDetector({0: [[1, 1, 20, 20]]}), redactor=BrokenRedactor(RedactionSettings())
    )
    result = protector.protect(frames(1)[0])
    assert result.whole_frame and (result.image == 0).all()


def test_read_only_frames_are_copied_not_mutated() -> None:
    frame = frames(1)[0]
    frame.setflags(write=False)
    result = FrameProtector(ScriptedDetector({0: [[10, 10, 50, 50]]})).protect(frame)
    assert result.image is not frame
    assert not np.array_equal(result.image, frame)
