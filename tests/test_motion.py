"""Moving-face clips: exact ground truth under pan and zoom."""

from __future__ import annotations

import numpy as np
import pytest

from bystander.measure.datasets import AnnotatedImage, FaceBox
from bystander.measure.motion import MotionSpec, clip_transforms, move_box, moving_clip


def test_peak_pan_speed_matches_the_spec() -> None:
    maps = clip_transforms(MotionSpec(frames=80, speed=12.0, zoom=0.0), 3, (640, 360))
    offsets = np.array([[m[0, 2], m[1, 2]] for m in maps])
    steps = np.hypot(*np.diff(offsets, axis=0).T)
    assert steps.max() == pytest.approx(12.0, rel=0.02)


def test_clips_pan_in_different_directions() -> None:
    spec = MotionSpec(frames=10, speed=10.0, zoom=0.0)
    first = [clip_transforms(spec, k)[5][:, 2] - clip_transforms(spec, k)[4][:, 2] for k in (0, 1)]
    cosine = first[0] @ first[1] / (np.linalg.norm(first[0]) * np.linalg.norm(first[1]))
    assert cosine < 0.9


def test_boxes_follow_the_pixels() -> None:
    still = np.zeros((200, 300, 3), dtype=np.uint8)
    still[80:100, 140:160] = 255  # a white square "face"
    image = AnnotatedImage("square", [FaceBox(140, 80, 160, 100)], loader=still.copy)
    for frame, boxes in moving_clip(image, MotionSpec(frames=12, speed=9.0, zoom=0.2), 2):
        x1, y1, x2, y2 = boxes[0].xyxy
        inside = frame[int(np.ceil(y1)) : int(y2), int(np.ceil(x1)) : int(x2)]
        assert inside.size and inside.mean() > 200
        assert frame.sum() / 255 / 3 == pytest.approx((x2 - x1) * (y2 - y1), rel=0.15)


def test_faces_mostly_outside_the_frame_are_ignored() -> None:
    box = FaceBox(0, 0, 20, 20)
    shifted = np.array([[1.0, 0.0, -15.0], [0.0, 1.0, 0.0]])
    moved = move_box(box, shifted, (100, 100))
    assert moved.ignore and moved.x1 == 0 and moved.x2 == 5
    assert not move_box(box, np.array([[1.0, 0, -5.0], [0, 1.0, 0]]), (100, 100)).ignore


def test_a_still_spec_repeats_the_frame() -> None:
    still = np.random.default_rng(0).integers(0, 255, (50, 60, 3), dtype=np.uint8)
    image = AnnotatedImage("noise", [FaceBox(10, 10, 20, 20)], loader=still.copy)
    clip = list(moving_clip(image, MotionSpec(frames=3, speed=0.0, zoom=0.0), 0))
    assert all(np.array_equal(frame, still) for frame, _ in clip)
    assert all(boxes[0].xyxy == (10, 10, 20, 20) for _, boxes in clip)


def test_invalid_specs() -> None:
    with pytest.raises(ValueError):
        MotionSpec(frames=0)
    with pytest.raises(ValueError):
        MotionSpec(zoom=0.6)
