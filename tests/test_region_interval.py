"""Coasted frames (``region_interval``): tracked faces re-found every other frame between
keyframes, the frames in between redacted from the searched frames on both sides.

The scripted ``MovingFaces`` detector knows where each face is in each frame, so every
frame's coverage can be checked against the truth, including faces that speed up.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest

from bystander.measure.evaluation import box_coverage
from bystander.vision.detections import SOURCE_INTERPOLATED, Detections
from bystander.vision.pipeline import FrameProtector, KeptVisible
from bystander.vision.redact import Redactor
from bystander.vision.settings import Preset, ProtectSettings
from bystander.vision.tracker import FaceTracker
from tests.test_keyframes import Box, MovingFaces, run


def accelerating(frames: int) -> dict[int, list[Box]]:
    """Two faces: one walking right faster and faster, one walking down and left."""
    faces: dict[int, list[Box]] = {}
    x = 10.0
    for i in range(frames):
        x += 2.0 + 0.8 * i
        faces[i] = [[x, 30, x + 20, 50], [150 - 3 * i, 40 + 3 * i, 170 - 3 * i, 60 + 3 * i]]
    return faces


def coverage_of(done: list, faces: Mapping[int, list[Box]]) -> list[float]:
    redactor = Redactor()
    found = []
    for frame in done:
        mask = redactor.mask(frame.regions, frame.image.shape)
        for box in faces.get(frame.index, []):
            value = box_coverage(mask, box)
            assert value is not None
            found.append(value)
    return found


def test_every_other_frame_is_searched_and_the_rest_interpolated() -> None:
    faces = accelerating(11)
    detector = MovingFaces(faces)
    protector = FrameProtector(
        detector, tracker=FaceTracker(), lookback=4, keyframe_interval=5, region_interval=2
    )
    done = run(protector, 11)
    assert detector.full_calls == [0, 5, 10]
    # between keyframes: frames 2 and 4, 7 and 9 searched; 1, 3, 6, 8 coasted
    assert [index for index, _ in detector.region_calls] == [2, 4, 7, 9]
    for index in (1, 3, 6, 8):
        assert done[index].detected == 0
        assert done[index].regions.sources.count(SOURCE_INTERPOLATED) == 2
    assert min(coverage_of(done, faces)) >= 0.99


def test_the_same_faces_are_covered_with_and_without_coasting() -> None:
    faces = accelerating(16)
    every = run(
        FrameProtector(MovingFaces(faces), tracker=FaceTracker(), lookback=4, keyframe_interval=5),
        16,
    )
    coasted = run(
        FrameProtector(
            MovingFaces(faces),
            tracker=FaceTracker(),
            lookback=4,
            keyframe_interval=5,
            region_interval=2,
        ),
        16,
    )
    assert coverage_of(every, faces) == pytest.approx(coverage_of(coasted, faces), abs=0.01)
    assert min(coverage_of(coasted, faces)) >= 0.99


def test_coasted_frames_at_the_end_of_a_stream_are_searched() -> None:
    faces = accelerating(4)  # frames 0 (key), 1 (coasted), 2 (searched), 3 (coasted, last)
    detector = MovingFaces(faces)
    protector = FrameProtector(
        detector, tracker=FaceTracker(), lookback=4, keyframe_interval=5, region_interval=2
    )
    done = run(protector, 4)
    assert (3, 2) in detector.region_calls  # the last frame's two predicted boxes
    assert min(coverage_of(done, faces)) >= 0.99


def test_a_face_that_stops_being_found_keeps_its_predicted_box() -> None:
    faces = {i: [[40.0 + 4 * i, 40, 60 + 4 * i, 60]] for i in range(3)}  # gone after frame 2
    protector = FrameProtector(
        MovingFaces(faces),
        tracker=FaceTracker(),
        lookback=4,
        keyframe_interval=5,
        region_interval=2,
    )
    done = run(protector, 5)
    # frame 3 (coasted) keeps the predicted box, and the path from frame 2's detection to
    # frame 4's prediction; frame 4 (searched, not found) holds the predicted box
    assert "predicted" in done[3].regions.sources and done[3].detected == 0
    assert done[4].regions.sources == ["predicted"]


class KeepAll:
    def visible(self, frame: np.ndarray, faces: Detections, index: int) -> dict[int, KeptVisible]:
        return {i: KeptVisible("test") for i in range(len(faces))}


def test_no_coasting_with_a_visibility_gate() -> None:
    faces = accelerating(6)
    detector = MovingFaces(faces)
    protector = FrameProtector(
        detector,
        tracker=FaceTracker(),
        lookback=4,
        keyframe_interval=5,
        region_interval=2,
        visibility=KeepAll(),
    )
    assert protector.region_interval == 1
    done = run(protector, 6)
    assert [index for index, _ in detector.region_calls] == [1, 2, 3, 4]
    assert all(len(frame.visible) == 2 for frame in done)  # shown only where detected


def test_region_interval_is_bounded_by_the_lookback() -> None:
    protector = FrameProtector(
        MovingFaces({}), tracker=FaceTracker(), lookback=1, keyframe_interval=2, region_interval=4
    )
    assert protector.region_interval == 2
    with pytest.raises(ValueError, match="region_interval"):
        FrameProtector(MovingFaces({}), region_interval=0)


def test_presets_carry_their_region_interval() -> None:
    for preset in Preset:
        settings = ProtectSettings.from_preset(preset)
        assert settings.region_interval == preset.region_interval
        frames = FrameProtector(
            MovingFaces({}),
            tracker=FaceTracker(),
            lookback=settings.lookback,
            keyframe_interval=settings.keyframe_interval,
            region_interval=settings.region_interval,
        )
        assert frames.region_interval == (
            preset.region_interval if preset.keyframe_interval > 1 else 1
        )


def test_a_face_missed_by_one_region_search_is_searched_for_again() -> None:
    # the face is missed at frame 2 (a searched frame) but there at 4: with searches every
    # other frame, two missed searches (not two frames) end the search for a track
    faces = {i: [[40.0 + 2 * i, 40, 60 + 2 * i, 60]] for i in range(5) if i != 2}
    detector = MovingFaces(faces)
    protector = FrameProtector(
        detector, tracker=FaceTracker(), lookback=4, keyframe_interval=5, region_interval=2
    )
    done = run(protector, 5)
    assert [index for index, _ in detector.region_calls] == [2, 4]
    assert done[4].detected == 1
