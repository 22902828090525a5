"""Moving-face clips with exact ground truth, built from annotated stills.

A still frame (for example a dlib photo pasted into 1280x720 by ``paste_into``) becomes a
short clip in which the whole picture pans and zooms, as under a head-mounted or hand-held
camera: frame ``t`` is the still moved by a smooth offset whose peak speed is
``MotionSpec.speed`` px per frame, and scaled about the frame centre by up to
``MotionSpec.zoom``. Each clip pans in a different direction. Face boxes are transformed
exactly; a face less than half inside the frame is marked ``ignore`` (it is not judged).

>>> spec = MotionSpec(frames=4, speed=0.0, zoom=0.0)
>>> [m.tolist() for m in clip_transforms(spec, 0)][0]
[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from bystander.measure.datasets import AnnotatedImage, FaceBox

Frame = npt.NDArray[np.uint8]
Affine = npt.NDArray[np.float64]

#: Period (frames) of the pan and of the zoom; their ratio keeps the motion non-repeating.
PAN_PERIOD = 40.0
ZOOM_PERIOD = 64.0
_GOLDEN_ANGLE = math.pi * (3.0 - math.sqrt(5.0))
MIN_VISIBLE = 0.5


@dataclass(frozen=True)
class MotionSpec:
    """How stills are turned into clips: length, peak pan speed (px/frame), zoom amplitude."""

    frames: int = 25
    speed: float = 16.0
    zoom: float = 0.1

    def __post_init__(self) -> None:
        if self.frames < 1:
            raise ValueError("a clip needs at least one frame")
        if self.speed < 0 or not 0 <= self.zoom < 0.5:
            raise ValueError("speed must be >= 0 and zoom within [0, 0.5)")

    @property
    def still(self) -> bool:
        return self.speed == 0 and self.zoom == 0


def clip_transforms(
    spec: MotionSpec, clip_index: int, size: tuple[int, int] = (0, 0)
) -> list[Affine]:
    """The 2x3 affine map (still -> frame) of every frame of clip ``clip_index``.

    ``size`` is the frame's (width, height), the centre of the zoom.
    """
    angle = clip_index * _GOLDEN_ANGLE
    amplitude = spec.speed * PAN_PERIOD / (2 * math.pi)  # peak speed = amplitude * 2pi / period
    phase = (clip_index * 0.37) % 1.0 * 2 * math.pi
    cx, cy = size[0] / 2, size[1] / 2
    maps: list[Affine] = []
    for t in range(spec.frames):
        shift = amplitude * math.sin(2 * math.pi * t / PAN_PERIOD + phase)
        scale = 1.0 + spec.zoom * math.sin(2 * math.pi * t / ZOOM_PERIOD + phase)
        dx = shift * math.cos(angle) + cx * (1 - scale)
        dy = shift * math.sin(angle) + cy * (1 - scale)
        maps.append(np.array([[scale, 0.0, dx], [0.0, scale, dy]], dtype=np.float64))
    return maps


def move_box(box: FaceBox, affine: Affine, size: tuple[int, int]) -> FaceBox:
    """``box`` under ``affine``, clipped to the frame; ignored when under half stays inside."""
    scale, dx, dy = float(affine[0, 0]), float(affine[0, 2]), float(affine[1, 2])
    moved = box.transformed(scale, scale, dx, dy)
    width, height = size
    x1, y1 = max(moved.x1, 0.0), max(moved.y1, 0.0)
    x2, y2 = min(moved.x2, float(width)), min(moved.y2, float(height))
    inside = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    visible = inside / moved.area if moved.area > 0 else 0.0
    return FaceBox(x1, y1, max(x1, x2), max(y1, y2), box.ignore or visible < MIN_VISIBLE)


def moving_clip(
    image: AnnotatedImage, spec: MotionSpec, clip_index: int
) -> Iterator[tuple[Frame, list[FaceBox]]]:
    """The frames of one clip made from ``image``, each with its transformed face boxes."""
    still = image.load()
    size = (still.shape[1], still.shape[0])
    for affine in clip_transforms(spec, clip_index, size):
        if spec.still:
            frame = still.copy()
        else:
            frame = np.asarray(
                cv2.warpAffine(
                    still, affine, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
                ),
                dtype=np.uint8,
            )
        yield frame, [move_box(box, affine, size) for box in image.boxes]
