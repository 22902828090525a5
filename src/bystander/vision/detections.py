"""`Detections`: the one value that flows from detector to tracker to redactor."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

#: Where a redacted region came from.
SOURCE_DETECTED = "detected"  # the detector saw the face in this frame
SOURCE_PREDICTED = "predicted"  # a track held across a detection gap (motion-predicted box)
SOURCE_LOOKBACK = "lookback"  # a track's box carried back to frames before its first detection
#: a frame between two region searches: the union of the face's boxes in the searched frames
SOURCE_INTERPOLATED = "interpolated"


def _empty_boxes() -> FloatArray:
    return np.zeros((0, 4), dtype=np.float32)


def _empty_floats() -> FloatArray:
    return np.zeros((0,), dtype=np.float32)


def _empty_ints() -> IntArray:
    return np.zeros((0,), dtype=np.int64)


@dataclass
class Detections:
    """Face boxes in one frame, in pixel coordinates of that frame.

    ``xyxy`` is an ``(N, 4)`` float array of ``x1, y1, x2, y2``; ``scores`` holds the detector
    confidence (NaN where the box was predicted by a tracker rather than detected);
    ``track_ids`` is ``-1`` until a tracker assigns an id; ``sources`` says where each box came
    from (``detected``, ``predicted`` or ``lookback``).

    >>> d = Detections.from_boxes([[10, 20, 30, 50]], scores=[0.9])
    >>> len(d), d.heights.tolist()
    (1, [30.0])
    """

    xyxy: FloatArray = field(default_factory=_empty_boxes)
    scores: FloatArray = field(default_factory=_empty_floats)
    track_ids: IntArray = field(default_factory=_empty_ints)
    sources: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.xyxy)
        self.xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(n, 4)
        self.scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        self.track_ids = np.asarray(self.track_ids, dtype=np.int64).reshape(-1)
        if len(self.scores) == 0 and n:
            self.scores = np.full(n, np.nan, dtype=np.float32)
        if len(self.track_ids) == 0 and n:
            self.track_ids = np.full(n, -1, dtype=np.int64)
        if not self.sources and n:
            self.sources = [SOURCE_DETECTED] * n
        if not (len(self.scores) == len(self.track_ids) == len(self.sources) == n):
            raise ValueError("Detections fields must all have the same length")

    @classmethod
    def empty(cls) -> Detections:
        return cls()

    @classmethod
    def from_boxes(
        cls,
        boxes: npt.ArrayLike,
        scores: npt.ArrayLike | None = None,
        track_ids: npt.ArrayLike | None = None,
        sources: list[str] | None = None,
    ) -> Detections:
        xyxy = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        return cls(
            xyxy=xyxy,
            scores=np.asarray(scores if scores is not None else [], dtype=np.float32),
            track_ids=np.asarray(track_ids if track_ids is not None else [], dtype=np.int64),
            sources=list(sources) if sources is not None else [],
        )

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: npt.ArrayLike) -> Detections:
        idx = np.arange(len(self))[np.asarray(index)].reshape(-1)
        return Detections(
            xyxy=self.xyxy[idx],
            scores=self.scores[idx],
            track_ids=self.track_ids[idx],
            sources=[self.sources[i] for i in idx.tolist()],
        )

    @property
    def widths(self) -> FloatArray:
        return self.xyxy[:, 2] - self.xyxy[:, 0]

    @property
    def heights(self) -> FloatArray:
        return self.xyxy[:, 3] - self.xyxy[:, 1]

    def scaled(self, sx: float, sy: float) -> Detections:
        """The same detections with coordinates multiplied by ``sx`` (x) and ``sy`` (y)."""
        factors = np.array([sx, sy, sx, sy], dtype=np.float32)
        return Detections(self.xyxy * factors, self.scores, self.track_ids, list(self.sources))

    @staticmethod
    def merge(parts: list[Detections]) -> Detections:
        parts = [p for p in parts if len(p)]
        if not parts:
            return Detections.empty()
        return Detections(
            xyxy=np.concatenate([p.xyxy for p in parts]),
            scores=np.concatenate([p.scores for p in parts]),
            track_ids=np.concatenate([p.track_ids for p in parts]),
            sources=[s for p in parts for s in p.sources],
        )


def iou_matrix(a: FloatArray, b: FloatArray) -> FloatArray:
    """Pairwise intersection-over-union of two ``(N, 4)`` and ``(M, 4)`` xyxy arrays."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), dtype=np.float32)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0).astype(np.float32)


def nms(xyxy: FloatArray, scores: FloatArray, iou_threshold: float) -> IntArray:
    """Indices kept by greedy non-maximum suppression, best score first."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while len(order):
        best = int(order[0])
        keep.append(best)
        if len(order) == 1:
            break
        overlaps = iou_matrix(xyxy[best : best + 1], xyxy[order[1:]])[0]
        order = order[1:][overlaps < iou_threshold]
    return np.asarray(keep, dtype=np.int64)
