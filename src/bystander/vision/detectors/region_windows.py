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

``square_crop`` cuts a window out of the frame as the model's square input (shrunk when
larger), and ``whole_faces`` drops what a crop found cut by its edge.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bystander.vision.detections import Detections
from bystander.vision.resample import shrink


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


def square_crop(
    frame: npt.NDArray[np.uint8], cx: float, cy: float, side: float, out_side: int
) -> tuple[npt.NDArray[np.uint8], float, float, float]:
    """An ``out_side`` square crop of ``frame`` covering ``side`` px around ``(cx, cy)``.

    Returns the crop, its top-left corner in frame pixels and the scale (crop px per frame
    px). The window is shifted to stay inside the frame where it can; what lies outside the
    frame is zero, as in full-frame padding.
    """
    height, width = frame.shape[:2]
    span = int(np.ceil(side))
    factor = span // out_side
    if factor >= 2:  # a span of whole blocks shrinks on OpenCV's fast path (``shrink``)
        span = -(-span // factor) * factor
    x0 = round(min(max(cx - span / 2, 0.0), float(max(width - span, 0))))
    y0 = round(min(max(cy - span / 2, 0.0), float(max(height - span, 0))))
    window = frame[y0 : y0 + span, x0 : x0 + span]
    if span <= out_side:
        crop = np.zeros((out_side, out_side, 3), dtype=np.uint8)
        crop[: window.shape[0], : window.shape[1]] = window
        return crop, float(x0), float(y0), 1.0
    scale = out_side / span
    if window.shape[:2] == (span, span):
        return shrink(window, (out_side, out_side)), float(x0), float(y0), scale
    # the window is cut by the frame: shrink only what lies inside (trimmed to whole blocks
    # of the shrink, less than ``factor`` px at its far edges) into the top-left of the crop
    step = max(1, factor)
    inside = window[: window.shape[0] // step * step or window.shape[0],
                    : window.shape[1] // step * step or window.shape[1]]  # fmt: skip
    size = (max(1, round(inside.shape[1] * scale)), max(1, round(inside.shape[0] * scale)))
    crop = np.zeros((out_side, out_side, 3), dtype=np.uint8)
    crop[: size[1], : size[0]] = shrink(inside, size)
    return crop, float(x0), float(y0), scale


def whole_faces(
    found: Detections,
    x0: float,
    y0: float,
    side: float,
    frame_size: tuple[int, int],
    out_side: int,
) -> Detections:
    """Detections in a crop (``square_crop``) minus those touching a crop edge that lies
    inside the frame."""
    if len(found) == 0:
        return found
    width, height = frame_size
    span = int(np.ceil(side))
    edge = 1.0
    boxes = found.xyxy
    cut = np.zeros(len(found), dtype=bool)
    if x0 > 0:
        cut |= boxes[:, 0] <= edge
    if y0 > 0:
        cut |= boxes[:, 1] <= edge
    if x0 + span < width:
        cut |= boxes[:, 2] >= out_side - edge
    if y0 + span < height:
        cut |= boxes[:, 3] >= out_side - edge
    if not cut.any():
        return found
    keep = ~cut
    return Detections.from_boxes(boxes[keep], scores=found.scores[keep])
