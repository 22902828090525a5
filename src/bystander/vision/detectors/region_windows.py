"""Crop windows for region search: one window per tracked face, or one for several.

A face is re-found in a square window around its predicted box (``CenterFace.detect_regions``).
The window spans ``context`` times the face's larger side, and at least ``min_side`` px (the
model's region input, read at full resolution). Small faces close together - an audience, a
street seen from afar - would each get a window that mostly repeats its neighbours' pixels.
``crop_windows`` gives such faces one shared window instead: faces whose *needed* squares (the
face with ``context`` times its size, and at least ``margin`` px on every side for the
prediction's error) fit together inside one ``min_side`` square share it, so each is searched
at full resolution with at least the context it needs, and the window costs one model input
instead of several. A face too large for that keeps its own window, as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Window:
    """A square window of ``side`` px centred on ``(cx, cy)`` (frame pixels) and the
    regions (row numbers of the input) it was made for."""

    cx: float
    cy: float
    side: float
    regions: tuple[int, ...]


def crop_windows(
    regions: npt.NDArray[np.float32],
    min_side: float,
    context: float,
    margin: float,
) -> list[Window]:
    """Windows covering ``regions`` (``(N, 4)`` x1, y1, x2, y2), nearby small ones grouped.

    Every region lies inside its window with its needed square (side ``max(context * size,
    size + 2 * margin)``, centred on it); a group's window is a ``min_side`` square centred on
    the union of its members' needed squares, which fits inside it. Groups are formed
    greedily, left to right.
    """
    boxes = np.asarray(regions, dtype=np.float32).reshape(-1, 4)
    windows: list[Window] = []
    # open groups: [x1, y1, x2, y2] of the union of needed squares, and their members
    groups: list[tuple[list[float], list[int]]] = []
    order = np.argsort((boxes[:, 0] + boxes[:, 2]) / 2, kind="stable")
    for index in order.tolist():
        x1, y1, x2, y2 = boxes[index].tolist()
        cx, cy, size = (x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, y2 - y1)
        side = max(min_side, context * size)
        if side > min_side:  # a large face: its own window, shrunk to the model's input
            windows.append(Window(cx, cy, side, (index,)))
            continue
        half = max(context * size, size + 2 * margin) / 2
        need = [cx - half, cy - half, cx + half, cy + half]
        for union, members in groups:
            merged = [min(union[0], need[0]), min(union[1], need[1]),
                      max(union[2], need[2]), max(union[3], need[3])]  # fmt: skip
            if merged[2] - merged[0] <= min_side and merged[3] - merged[1] <= min_side:
                union[:] = merged
                members.append(index)
                break
        else:
            groups.append((need, [index]))
    for union, members in groups:
        centre_x, centre_y = (union[0] + union[2]) / 2, (union[1] + union[3]) / 2
        windows.append(Window(centre_x, centre_y, min_side, tuple(sorted(members))))
    return windows
