"""Live capture loads the visibility gate's face model before the light goes on: the first
consenting face otherwise costs seconds of model loading, and a live feed drops the frames
behind it."""

from __future__ import annotations

import numpy as np

from bystander.guard.protection import PipelineProtector
from bystander.recognition.worker import ProcessEmbedder
from bystander.visibility import AnyOf, warm_gate
from bystander.vision.detections import Detections
from bystander.vision.detectors.centerface import CenterFace


class CountingGate:
    def __init__(self) -> None:
        self.warmed = 0

    def warm(self) -> None:
        self.warmed += 1

    def visible(self, frame: np.ndarray, faces: Detections, index: int) -> dict:
        return {}


class PlainGate:  # no warm(): nothing to load
    def visible(self, frame: np.ndarray, faces: Detections, index: int) -> dict:
        return {}


def test_the_live_protector_warms_its_gate_with_the_detector() -> None:
    gate = CountingGate()
    protector = PipelineProtector(visibility=gate, keep_visible=("test",))
    protector.warm(96, 64)
    assert gate.warmed == 1


def test_any_of_warms_every_gate_that_can_be_warmed() -> None:
    first, second = CountingGate(), CountingGate()
    warm_gate(AnyOf([first, PlainGate(), second]))
    assert (first.warmed, second.warmed) == (1, 1)
    warm_gate(PlainGate())  # a gate without warm() is fine


def test_starting_the_embedder_loads_its_model_before_the_first_face() -> None:
    embedder = ProcessEmbedder()
    try:
        embedder.start()
        assert embedder._process is not None and embedder._process.is_alive()
        child = embedder._process.pid
        vectors = embedder.embed(np.zeros((80, 80, 3), np.uint8), [[10, 10, 70, 70]])
        assert vectors.shape == (1, 128)
        assert embedder._process.pid == child  # the warmed child answered
    finally:
        embedder.close()
    assert embedder._process is None or not embedder._process.is_alive()


def test_warming_compiles_every_shape_a_crowd_needs_before_the_stream() -> None:
    # a batch shape compiled mid-stream stalls a live feed (the likely cause of a 1.27 s p99
    # seen once): every region batch shape is compiled before the stream starts
    protector = PipelineProtector()
    protector.warm(320, 180)
    detector = protector.frames.detector
    assert isinstance(detector, CenterFace)
    warmed = detector.compiled_shapes
    assert {batch for _, _, batch in warmed} >= {1, 2, 4, 8}
    crowd = np.array([[x, 40, x + 24, 64] for x in range(10, 290, 20)], np.float32)  # 14
    detector.detect_regions(np.zeros((180, 320, 3), np.uint8), crowd[:7])
    detector.detect_regions(np.zeros((180, 320, 3), np.uint8), crowd)
    assert detector.compiled_shapes == warmed
