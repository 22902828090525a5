"""Region search windows: nearby small faces share one crop, each with the context it needs."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from bystander.measure.synthetic import astronaut_head, background, paste
from bystander.vision.detectors.centerface import ROI_CONTEXT, ROI_MARGIN, ROI_SIDE, CenterFace
from bystander.vision.detectors.region_windows import crop_windows
from tests.detector_rig import CountingDetector


def _windows(boxes: list[list[float]]):  # type: ignore[no-untyped-def]
    return crop_windows(np.array(boxes, np.float32), float(ROI_SIDE), ROI_CONTEXT, ROI_MARGIN)


def test_a_lone_face_keeps_its_own_window_centred_on_it() -> None:
    (window,) = _windows([[100, 100, 130, 136]])
    assert (window.cx, window.cy, window.side, window.regions) == (115, 118, ROI_SIDE, (0,))


def test_small_faces_close_together_share_one_window() -> None:
    windows = _windows([[100, 100, 124, 124], [150, 105, 174, 129], [125, 140, 149, 164]])
    assert len(windows) == 1 and windows[0].regions == (0, 1, 2)


def test_faces_far_apart_or_large_are_not_grouped() -> None:
    far = _windows([[100, 100, 124, 124], [400, 100, 424, 124]])
    assert sorted(w.regions for w in far) == [(0,), (1,)]
    large = _windows([[100, 100, 180, 180], [190, 100, 214, 124]])
    assert sorted(w.regions for w in large) == [(0,), (1,)]
    (big,) = [w for w in large if w.regions == (0,)]
    assert big.side == pytest.approx(ROI_CONTEXT * 80)  # shrunk to the model input, as before


def test_every_face_keeps_its_needed_square_inside_its_window() -> None:
    rng = np.random.default_rng(7)
    for _ in range(200):
        count = int(rng.integers(1, 30))
        corner = rng.uniform(0, 600, size=(count, 2))
        size = rng.uniform(12, 90, size=(count, 1))
        boxes = np.hstack([corner, corner + size]).astype(np.float32)
        windows = crop_windows(boxes, float(ROI_SIDE), ROI_CONTEXT, ROI_MARGIN)
        assert sorted(i for w in windows for i in w.regions) == list(range(count))
        for w in windows:
            for i in w.regions:
                x1, y1, x2, y2 = boxes[i].tolist()
                side = max(x2 - x1, y2 - y1)
                half = max(ROI_CONTEXT * side, side + 2 * ROI_MARGIN) / 2
                cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
                assert w.cx - w.side / 2 <= cx - half + 1e-3
                assert cx + half <= w.cx + w.side / 2 + 1e-3
                assert w.cy - w.side / 2 <= cy - half + 1e-3
                assert cy + half <= w.cy + w.side / 2 + 1e-3


class _CountingRunner:
    def __init__(self, inner, calls: list[int]) -> None:  # type: ignore[no-untyped-def]
        self.inner, self.calls = inner, calls

    def run(self, batch: np.ndarray):  # type: ignore[no-untyped-def]
        self.calls.append(len(batch))
        return self.inner.run(batch)


def test_real_faces_in_a_shared_window_are_each_found_with_one_crop() -> None:
    head, (fx1, fy1, fx2, fy2) = astronaut_head()
    frame = background(640, 360)
    face_h = 28
    scale = face_h / (fy2 - fy1)
    small = cv2.resize(head, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    boxes = []
    for x, y in ((200, 120), (250, 130)):  # two faces 50 px apart
        paste(frame, small, x, y)
        boxes.append([x + fx1 * scale, y + fy1 * scale, x + fx2 * scale, y + fy2 * scale])
    regions = np.array(boxes, np.float32)
    assert len(crop_windows(regions, float(ROI_SIDE), ROI_CONTEXT, ROI_MARGIN)) == 1

    detector = CenterFace()
    calls: list[int] = []
    real = detector._runner_for
    detector._runner_for = lambda hw, batch=1: _CountingRunner(real(hw, batch), calls)  # type: ignore[method-assign]
    found = detector.detect_regions(frame, regions)
    assert calls == [1]  # one crop, one inference
    assert len(found) == 2
    centres = (found.xyxy[:, 0] + found.xyxy[:, 2]) / 2
    expected = (regions[:, 0] + regions[:, 2]) / 2
    assert np.allclose(np.sort(centres), np.sort(expected), atol=6)


def test_a_dense_crowd_between_keyframes_is_searched_in_shared_regions_not_in_full() -> None:
    from bystander.vision.settings import FrameProtection, ProtectSettings

    head, (fx1, fy1, fx2, fy2) = astronaut_head()
    scale = 24 / (fy2 - fy1)
    small = cv2.resize(head, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    frame = background(1280, 720)
    boxes = []
    for row in range(3):
        for col in range(4):  # 12 faces 50-56 px apart: more regions than a full search's share
            x, y = 400 + 56 * col, 250 + 50 * row
            paste(frame, small, x, y)
            boxes.append([x + fx1 * scale, y + fy1 * scale, x + fx2 * scale, y + fy2 * scale])
    regions = np.array(boxes, np.float32)
    assert len(crop_windows(regions, float(ROI_SIDE), ROI_CONTEXT, ROI_MARGIN)) < len(boxes) / 2
    detector = CountingDetector()
    assert 12 * detector.region_pixels > 0.4 * 1280 * 720  # one crop each: a full search
    settings = ProtectSettings.from_preset("realtime")
    frames = FrameProtection(settings, detector=detector).frame_protector(video=True)  # type: ignore[arg-type]
    done = [p for _ in range(10) for p in frames.push_frames(frame.copy())]
    done += frames.flush_frames()
    assert len(done) == 10
    assert detector.full == [3]  # keyframes 0 and 5 and the stream's tail: no fallback
    centre = np.array([[(b[0] + b[2]) / 2, (b[1] + b[3]) / 2] for b in boxes])
    for protected in done:  # every face redacted in every frame
        changed = np.abs(protected.image.astype(int) - frame.astype(int)).sum(axis=2) > 0
        for cx, cy in centre.round().astype(int):
            assert changed[cy, cx], (cx, cy)


def test_windows_moved_inside_the_frame_still_hold_every_face_with_its_margin() -> None:
    from bystander.vision.detectors.region_windows import square_crop

    rng = np.random.default_rng(11)
    width, height = 640, 360
    frame = np.zeros((height, width, 3), np.uint8)
    for _ in range(100):
        count = int(rng.integers(2, 20))
        corner = rng.uniform([-10, -10], [width - 10, height - 10], size=(count, 2))
        size = rng.uniform(12, 60, size=(count, 1))
        boxes = np.hstack([corner, corner + size]).astype(np.float32)
        for w in crop_windows(boxes, float(ROI_SIDE), ROI_CONTEXT, ROI_MARGIN):
            _, x0, y0, _ = square_crop(frame, w.cx, w.cy, w.side, ROI_SIDE)
            span = int(np.ceil(w.side))
            for i in w.regions:
                x1, y1, x2, y2 = boxes[i].tolist()
                side = max(x2 - x1, y2 - y1)
                half = max(ROI_CONTEXT * side, side + 2 * ROI_MARGIN) / 2
                cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
                # the part of the needed square that lies in the frame is in the window
                assert x0 <= max(cx - half, 0) + 1 and min(cx + half, width) <= x0 + span + 1
                assert y0 <= max(cy - half, 0) + 1 and min(cy + half, height) <= y0 + span + 1
