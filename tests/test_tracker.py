from __future__ import annotations

import numpy as np
import pytest

from bystander.vision.detections import Detections
from bystander.vision.tracker import FaceTracker, TrackerSettings


def det(*boxes: list[float]) -> Detections:
    return Detections.from_boxes(list(boxes), scores=[0.9] * len(boxes))


def test_face_stays_redacted_across_a_detection_gap_at_its_predicted_position() -> None:
    tracker = FaceTracker(TrackerSettings(max_gap=5))
    for i in range(5):  # moving right by 10 px a frame
        out = tracker.update(det([100 + 10 * i, 50, 140 + 10 * i, 100]))
        assert out.track_ids.tolist() == [0]
    held = [tracker.update(Detections.empty()) for _ in range(3)]
    for step, regions in enumerate(held, start=1):
        assert regions.sources == ["predicted"]
        assert regions.track_ids.tolist() == [0]
        x1, _, x2, _ = regions.xyxy[0]
        centre = (x1 + x2) / 2
        assert centre == pytest.approx(160 + 10 * step, abs=2.0)  # follows the motion
        assert x2 - x1 > 40  # grown to cover the uncertainty
    back = tracker.update(det([200, 50, 240, 100]))
    assert back.track_ids.tolist() == [0] and back.sources == ["detected"]


def test_track_is_dropped_after_max_gap() -> None:
    tracker = FaceTracker(TrackerSettings(max_gap=2))
    tracker.update(det([0, 0, 20, 20]))
    assert len(tracker.update(Detections.empty())) == 1
    assert len(tracker.update(Detections.empty())) == 1
    assert len(tracker.update(Detections.empty())) == 0


def test_two_faces_keep_their_own_ids_when_they_swap_order_in_the_list() -> None:
    tracker = FaceTracker()
    first = tracker.update(det([0, 0, 20, 20], [100, 0, 120, 20]))
    second = tracker.update(det([102, 0, 122, 20], [2, 0, 22, 20]))
    assert first.track_ids.tolist() == [0, 1]
    assert second.track_ids.tolist() == [1, 0]


def test_fast_small_face_without_overlap_joins_its_track() -> None:
    tracker = FaceTracker()
    tracker.update(det([0, 0, 16, 16]))
    moved = tracker.update(det([14, 0, 30, 16]))  # IoU 0.07 -> near enough by distance
    assert moved.track_ids.tolist() == [0]
    assert tracker.total_tracks == 1


def test_far_away_detection_starts_a_new_track() -> None:
    tracker = FaceTracker(TrackerSettings(max_gap=0))
    tracker.update(det([0, 0, 16, 16]))
    far = tracker.update(det([300, 300, 316, 316]))
    assert far.track_ids.tolist() == [1]
    assert [t.track_id for t in tracker.born] == [1]


def test_held_track_that_leaves_the_frame_is_dropped() -> None:
    tracker = FaceTracker(TrackerSettings(max_gap=10))
    for i in range(3):
        tracker.update(det([60 + 30 * i, 0, 90 + 30 * i, 30]), frame_size=(160, 90))
    regions = [len(tracker.update(Detections.empty(), frame_size=(160, 90))) for _ in range(4)]
    assert regions[0] == 1
    assert regions[-1] == 0


def test_settings_validation() -> None:
    with pytest.raises(ValueError):
        TrackerSettings(max_gap=-1)
    with pytest.raises(ValueError):
        TrackerSettings(velocity_smoothing=2.0)


def test_iou_of_detections_matches_hand_computation() -> None:
    from bystander.vision.detections import iou_matrix

    a = np.array([[0, 0, 10, 10]], np.float32)
    b = np.array([[5, 0, 15, 10], [20, 20, 30, 30]], np.float32)
    assert iou_matrix(a, b).tolist() == [[pytest.approx(50 / 150), 0.0]]


def test_a_coasted_track_reaches_further_than_a_searched_one() -> None:
    # a new 16 px face (velocity still unknown) moves 13 px a frame: after a coasted frame it
    # is 26 px away, 1.5 box sizes, and must still join its track (issue 20: coasted frames
    # lost small fast faces); the same jump in one searched frame is another face
    start, moved = [[100, 100, 116, 116]], [[126, 100, 142, 116]]
    coasting = FaceTracker()
    born = coasting.update(Detections.from_boxes(start)).track_ids[0]
    coasting.coast()
    assert coasting.update(Detections.from_boxes(moved), spawn=False).track_ids[0] == born

    searched = FaceTracker()
    searched.update(Detections.from_boxes(start))
    searched.update(Detections.empty(), spawn=False)  # searched and not found: no reach
    assert searched.update(Detections.from_boxes(moved), spawn=False).track_ids[0] == -1
