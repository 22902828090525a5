"""Attach badges to faces: the face a badge belongs to is the one right above it.

A badge is worn or held at chest height: its centre must lie below the face's centre, at most
``reach`` face heights below the chin, and within ``spread`` face widths of the face's centre
horizontally. When unsure, nobody is attached: a badge two faces could claim attaches to
neither, and a face with two different badges gets none.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from bystander.badges.detect import Badge
from bystander.vision.detections import Detections

#: How far below the chin a badge may be, in face heights.
REACH = 3.0
#: How far from the face's vertical axis the badge centre may be, in face widths.
SPREAD = 0.75


def _boxes(faces: Detections | npt.ArrayLike) -> npt.NDArray[np.float32]:
    if isinstance(faces, Detections):
        return faces.xyxy
    return np.asarray(faces, dtype=np.float32).reshape(-1, 4)


def candidates(
    badge: Badge,
    faces: Detections | npt.ArrayLike,
    reach: float = REACH,
    spread: float = SPREAD,
) -> list[int]:
    """Indices of the faces ``badge`` could belong to."""
    cx, cy = badge.center
    found: list[int] = []
    for index, (x1, y1, x2, y2) in enumerate(_boxes(faces).tolist()):
        width, height = x2 - x1, y2 - y1
        if width <= 0 or height <= 0:
            continue
        below = (y1 + y2) / 2 < cy <= y2 + reach * height
        beside = abs(cx - (x1 + x2) / 2) <= spread * width + (badge.box[2] - badge.box[0]) / 2
        if below and beside:
            found.append(index)
    return found


def attach(
    badges: Sequence[Badge],
    faces: Detections | npt.ArrayLike,
    reach: float = REACH,
    spread: float = SPREAD,
) -> dict[int, Badge]:
    """Face index -> the one badge that unambiguously belongs to it."""
    claims: dict[int, list[Badge]] = {}
    for badge in badges:
        owners = candidates(badge, faces, reach, spread)
        if len(owners) == 1:
            claims.setdefault(owners[0], []).append(badge)
    result: dict[int, Badge] = {}
    for face, held in claims.items():
        if len({(b.kind, b.data) for b in held}) == 1:
            result[face] = held[0]
    return result
