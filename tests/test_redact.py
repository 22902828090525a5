from __future__ import annotations

import numpy as np
import pytest

from bystander.vision.detections import Detections
from bystander.vision.redact import RedactionSettings, Redactor


def noise_frame(h: int = 120, w: int = 160, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_blur_changes_only_pixels_inside_the_mask() -> None:
    frame = noise_frame()
    original = frame.copy()
    mask = Redactor().apply(frame, Detections.from_boxes([[40, 30, 80, 80]]))
    changed = np.any(frame != original, axis=2)
    assert not changed[~mask].any()
    assert changed[mask].mean() > 0.9


def test_blur_removes_detail_however_it_is_scaled() -> None:
    """Irreversibility: a high-detail region is reduced to a handful of smooth samples."""
    for size in (16, 64, 300):
        frame = noise_frame(400, 400, seed=size)
        Redactor(RedactionSettings(shape="box", mask_scale=1.0)).apply(
            frame, Detections.from_boxes([[50, 50, 50 + size, 50 + size]])
        )
        region = frame[50 : 50 + size, 50 : 50 + size].astype(np.float32)
        # neighbouring pixels nearly equal: no high-frequency content survives
        assert np.abs(np.diff(region, axis=1)).mean() < 12


def test_pixelate_keeps_at_most_detail_blocks_across() -> None:
    frame = noise_frame(200, 200)
    Redactor(RedactionSettings(mode="pixelate", shape="box", mask_scale=1.0, detail=4)).apply(
        frame, Detections.from_boxes([[0, 0, 160, 160]])
    )
    region = frame[:160, :160]
    assert len(np.unique(region.reshape(-1, 3), axis=0)) <= 16


def test_solid_fills_with_the_colour() -> None:
    frame = noise_frame()
    Redactor(RedactionSettings(mode="solid", shape="box", mask_scale=1.0, color=(1, 2, 3))).apply(
        frame, Detections.from_boxes([[10, 10, 30, 30]])
    )
    assert (frame[10:30, 10:30] == [1, 2, 3]).all()


def test_ellipse_covers_about_pi_over_four_of_its_box() -> None:
    redactor = Redactor(RedactionSettings(shape="ellipse", mask_scale=1.0))
    mask = redactor.mask(Detections.from_boxes([[100, 100, 300, 260]]), (400, 400, 3))
    assert mask.sum() / (200 * 160) == pytest.approx(np.pi / 4, abs=0.02)


def test_mask_scale_enlarges_the_region_around_the_face() -> None:
    small = Redactor(RedactionSettings(shape="box", mask_scale=1.0)).mask(
        Detections.from_boxes([[100, 100, 140, 140]]), (300, 300)
    )
    large = Redactor(RedactionSettings(shape="box", mask_scale=1.5)).mask(
        Detections.from_boxes([[100, 100, 140, 140]]), (300, 300)
    )
    assert small.sum() == 1600
    assert large.sum() == 3600
    assert large[small].all()


def test_face_cut_by_the_frame_border_is_still_redacted() -> None:
    frame = noise_frame()
    original = frame.copy()
    mask = Redactor(RedactionSettings(mode="solid")).apply(
        frame, Detections.from_boxes([[-20, -30, 30, 25]])
    )
    assert mask[0, 0] and mask[5, 5]
    assert (frame[:10, :10] == 0).all()
    assert (frame[100:, 100:] == original[100:, 100:]).all()


def test_box_entirely_outside_the_frame_is_ignored() -> None:
    frame = noise_frame()
    mask = Redactor().apply(frame, Detections.from_boxes([[500, 500, 600, 600]]))
    assert not mask.any()


def test_redact_whole_hides_everything() -> None:
    frame = noise_frame()
    Redactor().redact_whole(frame)
    assert np.abs(np.diff(frame.astype(np.float32), axis=1)).mean() < 5


@pytest.mark.parametrize(
    "kwargs", [{"mode": "smudge"}, {"shape": "star"}, {"mask_scale": 0.5}, {"detail": 0}]
)
def test_invalid_settings_are_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        RedactionSettings(**kwargs)  # type: ignore[arg-type]
