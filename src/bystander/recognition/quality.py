"""How much a face sample is worth as evidence: size, sharpness and frontal-ness.

Computed from the face box and dlib's 5 landmarks (two corners of each eye, the base of the
nose) when a face is embedded, so it costs almost nothing extra::

    quality = face_quality(frame, (left, top, right, bottom), landmarks)   # landmarks (5, 2)
    quality.weight   # 0..1: how much this sample counts in a track's aggregate

``yaw`` is the nose's sideways offset from the eyes' midpoint, in eye distances (0 frontal,
about 0.2 a three-quarter view, 0.35+ close to profile).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

#: Faces this tall (pixels) and up count fully; smaller ones count less, down to 40 px.
FULL_SIZE_PX = 100.0
SMALLEST_PX = 40.0
#: Variance of the Laplacian (64x64 grey face) at which a face counts as fully sharp.
SHARP_LAPLACIAN = 100.0
#: Yaw (eye distances) at which a face no longer counts at all.
PROFILE_YAW = 0.5


@dataclass(frozen=True, slots=True)
class FaceQuality:
    """A face sample's height (px), sharpness (Laplacian variance) and yaw (eye distances)."""

    height: float
    sharpness: float
    yaw: float

    @property
    def size_factor(self) -> float:
        span = FULL_SIZE_PX - SMALLEST_PX
        return float(np.clip((self.height - SMALLEST_PX) / span, 0.0, 1.0)) * 0.9 + 0.1

    @property
    def sharp_factor(self) -> float:
        return float(np.clip(self.sharpness / SHARP_LAPLACIAN, 0.1, 1.0))

    @property
    def frontal(self) -> float:
        return float(np.clip(1.0 - abs(self.yaw) / PROFILE_YAW, 0.0, 1.0))

    @property
    def weight(self) -> float:
        """0..1: size x sharpness x frontal-ness (0 for a profile view)."""
        return self.size_factor * self.sharp_factor * self.frontal

    def as_row(self) -> tuple[float, float, float]:
        return (self.height, self.sharpness, self.yaw)

    @classmethod
    def from_row(cls, row: npt.ArrayLike) -> FaceQuality:
        height, sharpness, yaw = (float(v) for v in np.asarray(row, dtype=np.float64)[:3])
        return cls(height, sharpness, yaw)


def face_quality(
    frame: npt.NDArray[np.uint8],
    rect: tuple[int, int, int, int],
    landmarks: npt.NDArray[np.float64],
) -> FaceQuality:
    """The quality of the face in ``rect`` (left, top, right, bottom) of an RGB ``frame``."""
    left, top, right, bottom = rect
    height = float(bottom - top)
    h, w = frame.shape[:2]
    patch = frame[max(0, top) : min(h, bottom), max(0, left) : min(w, right)]
    if patch.size == 0:
        return FaceQuality(height, 0.0, 1.0)
    grey = cv2.cvtColor(np.ascontiguousarray(patch), cv2.COLOR_RGB2GRAY)
    small = cv2.resize(grey, (64, 64), interpolation=cv2.INTER_AREA)
    sharpness = float(cv2.Laplacian(small, cv2.CV_32F).var())
    return FaceQuality(height, sharpness, yaw_of(landmarks))


def yaw_of(landmarks: npt.NDArray[np.float64]) -> float:
    """The nose's offset from the eyes' midpoint along the eye line, in eye distances."""
    points = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    right_eye, left_eye, nose = points[0:2].mean(axis=0), points[2:4].mean(axis=0), points[4]
    axis = left_eye - right_eye
    distance = float(np.linalg.norm(axis))
    if distance < 1e-6:
        return 1.0
    offset = float(np.dot(nose - (left_eye + right_eye) / 2, axis / distance))
    return offset / distance
