"""``shrink``: an area average in at most two steps, equal to OpenCV's one-step INTER_AREA
to within rounding, and the cut detector and face crops that use it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from bystander.vision.detectors.centerface import ROI_SIDE
from bystander.vision.detectors.region_windows import square_crop
from bystander.vision.resample import shrink, whole_factor


def _photo_like(height: int, width: int) -> np.ndarray:
    noise = np.random.default_rng(7).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return np.asarray(cv2.GaussianBlur(noise, (0, 0), 3))


@pytest.mark.parametrize(
    ("shape", "size"),
    [((1920, 2560), (960, 720)), ((1920, 2560), (32, 18)), ((1000, 1000), (192, 192)),
     ((1080, 1920), (1280, 720)), ((721, 1283), (401, 233)), ((50, 60), (120, 100))],
)  # fmt: skip
def test_shrink_matches_a_one_step_area_average(shape: tuple[int, int],
                                                size: tuple[int, int]) -> None:  # fmt: skip
    image = _photo_like(*shape)
    ours = shrink(image, size).astype(int)
    interpolation = cv2.INTER_AREA if size[0] < shape[1] else cv2.INTER_LINEAR
    theirs = cv2.resize(image, size, interpolation=interpolation).astype(int)
    assert ours.shape == theirs.shape == (size[1], size[0], 3)
    assert np.abs(ours - theirs).mean() < 1.5 and np.abs(ours - theirs).max() <= 12


def test_the_first_step_is_the_largest_whole_factor_that_divides() -> None:
    assert whole_factor(1920, 2560, 720, 960) == 2  # 2.67x: blocks of 2, then 1.33x
    assert whole_factor(1920, 2560, 18, 32) == 80
    assert whole_factor(1001, 1001, 192, 192) == 1  # 1001 = 7 x 11 x 13: no factor <= 5
    assert whole_factor(720, 1280, 720, 1280) == 1


def test_large_face_crops_keep_their_geometry() -> None:
    frame = _photo_like(1920, 2560)
    crop, x0, y0, scale = square_crop(frame, 1200.0, 900.0, 1001.0, ROI_SIDE)
    assert crop.shape == (ROI_SIDE, ROI_SIDE, 3)
    span = ROI_SIDE / scale  # rounded up to whole 5 px blocks: 1005
    assert 1001 <= span <= 1005 and span % 5 == 0
    assert abs(x0 + span / 2 - 1200) <= 1 and abs(y0 + span / 2 - 900) <= 1
    window = frame[int(y0) : int(y0 + span), int(x0) : int(x0 + span)]
    expected = cv2.resize(window, (ROI_SIDE, ROI_SIDE), interpolation=cv2.INTER_AREA)
    assert np.abs(crop.astype(int) - expected).mean() < 1.5


@pytest.mark.parametrize("shape", [(180, 320), (720, 1280), (1920, 2560), (1920, 1080)])
def test_the_cut_detector_sees_cuts_not_pans_at_any_size(shape: tuple[int, int]) -> None:
    from bystander.vision.pipeline import FrameProtector

    protector = FrameProtector(detector=None)  # type: ignore[arg-type]  # cuts need none
    height, width = shape[0] + 40, shape[1] + 40
    ramp = np.linspace(0, 255, width, dtype=np.float32)[None, :].repeat(height, 0)
    texture = _photo_like(height, width).astype(np.float32) - 128
    scene = np.clip(ramp[:, :, None] + texture, 0, 255).astype(np.uint8)
    other = scene[::-1, ::-1]  # the scene from the other side: a cut
    frames = [scene[:-40, :-40], scene[8:-32, 8:-32], scene[16:-24, 16:-24], other[:-40, :-40]]
    seen = [protector._shot_changed(np.ascontiguousarray(f)) for f in frames]
    assert seen == [False, False, False, True]


def test_a_crop_cut_by_the_frame_matches_one_padded_with_zeros() -> None:
    # a face so large that its window is bigger than the frame: only the inside is shrunk
    frame = _photo_like(1080, 1920)
    crop, x0, y0, scale = square_crop(frame, 1700.0, 900.0, 2000.0, ROI_SIDE)
    span = round(ROI_SIDE / scale)
    assert (x0, y0) == (0.0, 0.0) and span % 10 == 0 and span >= 2000
    canvas = np.zeros((span, span, 3), np.uint8)  # the frame padded with zeros, as before
    canvas[:1080, :1920] = frame
    expected = cv2.resize(canvas, (ROI_SIDE, ROI_SIDE), interpolation=cv2.INTER_AREA)
    inside = (slice(0, round(1080 * scale) - 1), slice(0, round(1920 * scale) - 1))
    # the inside's size is rounded to whole crop pixels: its sampling grid drifts by under
    # half a pixel across the crop, which fine noise shows as ~2 grey levels
    assert np.abs(crop[inside].astype(int) - expected[inside]).mean() < 3
    assert not crop[round(1080 * scale) + 1 :].any()  # below the frame: zeros
