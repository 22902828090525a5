"""Irreversible redaction of face regions: blur, pixelate or solid fill, in ellipses or boxes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from bystander.vision.detections import Detections
from bystander.vision.resample import shrink

RedactionMode = Literal["blur", "pixelate", "solid"]
MaskShape = Literal["ellipse", "box"]
Frame = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class RedactionSettings:
    """How a face is hidden.

    ``mask_scale`` enlarges each face box (hair, ears and chin identify people too).
    ``detail`` is the number of samples kept across a face's longer side for blur and
    pixelate: every region is reduced to at most that many samples before it is smoothed
    or enlarged again, so the original detail is gone however strong a deblurring attempt.
    """

    mode: RedactionMode = "blur"
    shape: MaskShape = "ellipse"
    mask_scale: float = 1.5
    detail: int = 6
    color: tuple[int, int, int] = (0, 0, 0)

    def __post_init__(self) -> None:
        if self.mode not in ("blur", "pixelate", "solid"):
            raise ValueError(f"unknown redaction mode {self.mode!r}")
        if self.shape not in ("ellipse", "box"):
            raise ValueError(f"unknown mask shape {self.shape!r}")
        if not 1.0 <= self.mask_scale <= 4.0:
            raise ValueError("mask_scale must be between 1.0 and 4.0")
        if not 1 <= self.detail <= 32:
            raise ValueError("detail must be between 1 and 32")


@dataclass(frozen=True)
class Region:
    """An enlarged face region: the unclipped ellipse box and its part inside the frame."""

    box: tuple[float, float, float, float]
    clip: tuple[int, int, int, int]

    @property
    def empty(self) -> bool:
        x1, y1, x2, y2 = self.clip
        return x2 <= x1 or y2 <= y1


class Redactor:
    """Applies the redaction to frames, in place.

    >>> frame = np.full((100, 100, 3), 255, np.uint8); frame[40:60, 40:60] = 0
    >>> mask = Redactor(RedactionSettings(mode="solid", shape="box")).apply(
    ...     frame, Detections.from_boxes([[40, 40, 60, 60]]))
    >>> int(mask.sum()), int(frame[50, 50, 0])
    (676, 0)
    """

    def __init__(self, settings: RedactionSettings | None = None) -> None:
        self.settings = settings or RedactionSettings()

    def regions(self, detections: Detections, frame_shape: tuple[int, ...]) -> list[Region]:
        """The enlarged regions for ``detections`` in a frame of ``frame_shape`` (H, W, ...)."""
        height, width = frame_shape[:2]
        scale = self.settings.mask_scale
        out: list[Region] = []
        for x1, y1, x2, y2 in detections.xyxy.tolist():
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            half_w, half_h = (x2 - x1) * scale / 2, (y2 - y1) * scale / 2
            box = (cx - half_w, cy - half_h, cx + half_w, cy + half_h)
            clip = (
                max(0, int(np.floor(box[0]))),
                max(0, int(np.floor(box[1]))),
                min(width, int(np.ceil(box[2]))),
                min(height, int(np.ceil(box[3]))),
            )
            region = Region(box, clip)
            if not region.empty:
                out.append(region)
        return out

    def apply(self, frame: Frame, detections: Detections) -> npt.NDArray[np.bool_]:
        """Redact every detection in ``frame`` (modified in place); return the redacted mask."""
        mask = np.zeros(frame.shape[:2], dtype=bool)
        for region in self.regions(detections, frame.shape):
            x1, y1, x2, y2 = region.clip
            roi = frame[y1:y2, x1:x2]
            region_mask = self._region_mask(region)
            _paste(roi, self._hide(roi, region), region_mask)
            mask[y1:y2, x1:x2] |= region_mask
        return mask

    def mask(self, detections: Detections, frame_shape: tuple[int, ...]) -> npt.NDArray[np.bool_]:
        """The pixels ``apply`` would redact, without touching any frame."""
        mask = np.zeros(frame_shape[:2], dtype=bool)
        for region in self.regions(detections, frame_shape):
            x1, y1, x2, y2 = region.clip
            mask[y1:y2, x1:x2] |= self._region_mask(region)
        return mask

    def redact_whole(self, frame: Frame) -> None:
        """Hide the entire frame (used when faces could not be located)."""
        height, width = frame.shape[:2]
        region = Region((0.0, 0.0, float(width), float(height)), (0, 0, width, height))
        frame[:] = self._hide(frame, region)

    def _region_mask(self, region: Region) -> npt.NDArray[np.bool_]:
        x1, y1, x2, y2 = region.clip
        shape = (y2 - y1, x2 - x1)
        if self.settings.shape == "box":
            return np.ones(shape, dtype=bool)
        mask = np.zeros(shape, dtype=np.uint8)
        bx1, by1, bx2, by2 = region.box
        shift = 4  # sub-pixel precision for cv2.ellipse
        center = (round(((bx1 + bx2) / 2 - x1) * 16), round(((by1 + by2) / 2 - y1) * 16))
        axes = (max(1, round((bx2 - bx1) / 2 * 16)), max(1, round((by2 - by1) / 2 * 16)))
        cv2.ellipse(
            mask, center, axes, 0, 0, 360, 1, thickness=-1, lineType=cv2.LINE_8, shift=shift
        )
        return mask.astype(bool)

    def _hide(self, roi: Frame, region: Region) -> Frame:
        settings = self.settings
        height, width = roi.shape[:2]
        if settings.mode == "solid":
            return np.broadcast_to(np.array(settings.color, dtype=np.uint8), roi.shape)
        bx1, by1, bx2, by2 = region.box
        longest = max(bx2 - bx1, by2 - by1, 1.0)
        cell = longest / settings.detail
        small_w = max(1, round(width / cell))
        small_h = max(1, round(height / cell))
        small = shrink(roi, (small_w, small_h))
        if settings.mode == "pixelate":
            return np.asarray(cv2.resize(small, (width, height), interpolation=cv2.INTER_NEAREST))
        blurred = cv2.GaussianBlur(small, (0, 0), sigmaX=0.8, borderType=cv2.BORDER_REPLICATE)
        return np.asarray(cv2.resize(blurred, (width, height), interpolation=cv2.INTER_LINEAR))


def _paste(roi: Frame, hidden: Frame, where: npt.NDArray[np.bool_]) -> None:
    """``roi[where] = hidden[where]`` in place: OpenCV's masked copy, about 5x NumPy's
    ``copyto(where=...)`` on a large face (BENCHMARKS.md, issue 20)."""
    done = cv2.copyTo(np.ascontiguousarray(hidden), where.view(np.uint8), roi)
    if not np.shares_memory(done, roi):  # OpenCV had to copy: write the result back
        roi[...] = done

