"""Temporal tracking: keep a face redacted across short detection gaps.

Per-frame detectors miss faces now and then (motion blur, head turns, occlusion); a
redaction that drops out for one frame shows the face. ``FaceTracker`` links detections
into tracks and, for up to ``max_gap`` frames after a face was last seen, keeps redacting it
at a motion-predicted box that grows with each missed frame to cover the uncertainty.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bystander.vision.detections import (
    SOURCE_DETECTED,
    SOURCE_PREDICTED,
    Detections,
    FloatArray,
    iou_matrix,
)


@dataclass(frozen=True)
class TrackerSettings:
    """How tracks are linked and held.

    ``max_gap``: frames a track is held (redacted at its predicted box) after its last
    detection. ``growth``: relative box growth per missed frame. ``velocity_smoothing``:
    weight of the newest motion estimate (0..1). ``match_distance``: a detection whose centre
    is within this many box sizes of a track's predicted centre may join it even without
    overlap (fast motion of small faces).
    """

    max_gap: int = 15
    growth: float = 0.04
    velocity_smoothing: float = 0.6
    min_iou: float = 0.05
    match_distance: float = 1.0

    def __post_init__(self) -> None:
        if self.max_gap < 0:
            raise ValueError("max_gap must be >= 0")
        if not 0.0 <= self.velocity_smoothing <= 1.0:
            raise ValueError("velocity_smoothing must be within 0..1")


@dataclass
class Track:
    """One face followed over time; the box is ``cx, cy, w, h``."""

    track_id: int
    box: FloatArray
    velocity: FloatArray = field(default_factory=lambda: np.zeros(4, dtype=np.float32))
    missed: int = 0
    hits: int = 1
    score: float = float("nan")
    #: frames since the last detection that were not searched (``FaceTracker.coast``)
    coasted: int = 0

    def predicted(self, growth: float) -> FloatArray:
        """The box expected now, after ``missed`` frames without a detection."""
        steps = self.missed
        box = self.box + self.velocity * steps
        grow = 1.0 + growth * steps
        box[2] = max(box[2], self.box[2]) * grow
        box[3] = max(box[3], self.box[3]) * grow
        return box.astype(np.float32)


def _to_cxcywh(xyxy: FloatArray) -> FloatArray:
    w = xyxy[:, 2] - xyxy[:, 0]
    h = xyxy[:, 3] - xyxy[:, 1]
    return np.stack([xyxy[:, 0] + w / 2, xyxy[:, 1] + h / 2, w, h], axis=1).astype(np.float32)


def _to_xyxy(cxcywh: FloatArray) -> FloatArray:
    cx, cy, w, h = cxcywh[:, 0], cxcywh[:, 1], cxcywh[:, 2], cxcywh[:, 3]
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1).astype(np.float32)


class FaceTracker:
    """Links per-frame detections into tracks and fills detection gaps.

    Call ``update`` once per frame, in order, with that frame's detections. It returns the
    regions to redact in that frame: every detection (with its track id) plus the predicted
    box of every track missed for at most ``max_gap`` frames. ``born`` lists the tracks that
    started in the last update, for look-back.

    >>> tracker = FaceTracker()
    >>> tracker.update(Detections.from_boxes([[0, 0, 10, 10]], scores=[0.9])).track_ids.tolist()
    [0]
    >>> held = tracker.update(Detections.empty())  # detector missed the face
    >>> held.sources, held.track_ids.tolist()
    (['predicted'], [0])
    """

    def __init__(self, settings: TrackerSettings | None = None) -> None:
        self.settings = settings or TrackerSettings()
        self.tracks: list[Track] = []
        self.born: list[Track] = []
        self._next_id = 0
        self.total_tracks = 0

    def expected_boxes(self, max_missed: int | None = None) -> FloatArray:
        """Where live tracks' faces are expected in the next frame (``(N, 4)`` xyxy).

        ``max_missed`` leaves out tracks not seen for more than that many frames (a face
        that left, or a scene cut: searching for it again is wasted work).
        """
        tracks = [t for t in self.tracks if max_missed is None or t.missed <= max_missed]
        if not tracks:
            return np.zeros((0, 4), np.float32)
        growth = self.settings.growth
        boxes = []
        for track in tracks:
            track.missed += 1
            boxes.append(track.predicted(growth))
            track.missed -= 1
        return _to_xyxy(np.stack(boxes))

    def reset(self) -> None:
        self.tracks, self.born = [], []

    def coast(self, frame_size: tuple[int, int] | None = None) -> Detections:
        """Advance one frame that is not searched (its faces are filled in later from the
        searched frames around it): every track counts the frame as missed, so motion and
        growth stay per frame, and the tracks' predicted boxes are returned for redaction."""
        settings = self.settings
        self.born = []
        boxes: list[FloatArray] = []
        ids: list[int] = []
        for track in self.tracks:
            track.missed += 1
            track.coasted += 1
            if track.missed > settings.max_gap:
                continue
            box = track.predicted(settings.growth)
            if frame_size is not None and not _inside(box, frame_size):
                continue
            boxes.append(box)
            ids.append(track.track_id)
        return _predicted(boxes, ids)

    def update(
        self,
        detections: Detections,
        frame_size: tuple[int, int] | None = None,
        spawn: bool = True,
    ) -> Detections:
        """Advance one frame; ``frame_size`` is ``(width, height)`` to drop tracks that left it.

        With ``spawn`` False, detections that match no track are still returned (they are
        redacted in this frame) but start no track: used for partial searches (regions
        around known faces), where new tracks wait for the next full-frame detection.
        """
        settings = self.settings
        det_boxes = _to_cxcywh(detections.xyxy) if len(detections) else np.zeros((0, 4), np.float32)
        for track in self.tracks:
            track.missed += 1
        predicted = (
            np.stack([t.predicted(settings.growth) for t in self.tracks])
            if self.tracks
            else np.zeros((0, 4), np.float32)
        )
        reach = np.array([1 + t.coasted for t in self.tracks], dtype=np.float32)
        pairs = self._associate(predicted, det_boxes, reach)

        matched_tracks: set[int] = set()
        det_track_ids = np.full(len(detections), -1, dtype=np.int64)
        for t_index, d_index in pairs:
            track = self.tracks[t_index]
            self._absorb(track, det_boxes[d_index], float(detections.scores[d_index]))
            matched_tracks.add(t_index)
            det_track_ids[d_index] = track.track_id

        self.born = []
        unmatched = np.nonzero(det_track_ids < 0)[0].tolist() if spawn else []
        for d_index in unmatched:
            track = Track(
                self._next_id, det_boxes[d_index].copy(), score=float(detections.scores[d_index])
            )
            self._next_id += 1
            self.total_tracks += 1
            self.tracks.append(track)
            self.born.append(track)
            det_track_ids[d_index] = track.track_id

        held_boxes: list[FloatArray] = []
        held_ids: list[int] = []
        survivors: list[Track] = []
        for index, track in enumerate(self.tracks):
            if index in matched_tracks or track in self.born:
                survivors.append(track)
                continue
            if track.missed > settings.max_gap:
                continue
            box = predicted[index] if index < len(predicted) else track.box
            if frame_size is not None and not _inside(box, frame_size):
                continue
            survivors.append(track)
            held_boxes.append(box)
            held_ids.append(track.track_id)
        self.tracks = survivors

        detected = Detections(
            detections.xyxy, detections.scores, det_track_ids, [SOURCE_DETECTED] * len(detections)
        )
        if not held_boxes:
            return detected
        return Detections.merge([detected, _predicted(held_boxes, held_ids)])

    def _absorb(self, track: Track, box: FloatArray, score: float) -> None:
        steps = max(track.missed, 1)
        motion = (box - track.box) / steps
        alpha = self.settings.velocity_smoothing
        track.velocity = (alpha * motion + (1 - alpha) * track.velocity).astype(np.float32)
        track.box = box.copy()
        track.missed = 0
        track.coasted = 0
        track.hits += 1
        track.score = score

    def _associate(
        self, predicted: FloatArray, detected: FloatArray, reach: FloatArray | None = None
    ) -> list[tuple[int, int]]:
        """Greedy one-to-one matching, best affinity first. ``reach`` (one per track, at
        least 1) widens a track's ``match_distance``: a track that went unsearched for a
        frame or more (coasted) has moved further than its velocity can tell, most of all a
        new one whose velocity is still unknown."""
        if len(predicted) == 0 or len(detected) == 0:
            return []
        iou = iou_matrix(_to_xyxy(predicted), _to_xyxy(detected))
        size = np.maximum(predicted[:, 2], predicted[:, 3])[:, None]
        dist = np.hypot(
            predicted[:, None, 0] - detected[None, :, 0],
            predicted[:, None, 1] - detected[None, :, 1],
        ) / np.maximum(size, 1.0)
        ratio = np.maximum(predicted[:, None, 3], 1.0) / np.maximum(detected[None, :, 3], 1.0)
        similar_size = (ratio > 0.5) & (ratio < 2.0)
        limit = self.settings.match_distance * (
            np.ones((len(predicted), 1), np.float32) if reach is None else reach[:, None]
        )
        near = (dist <= limit) & similar_size
        affinity = np.where(
            iou >= self.settings.min_iou,
            iou + 1.0,
            np.where(near, 1.0 - dist / (2 * limit), 0.0),
        )
        pairs: list[tuple[int, int]] = []
        while True:
            t_index, d_index = np.unravel_index(int(np.argmax(affinity)), affinity.shape)
            if affinity[t_index, d_index] <= 0:
                return pairs
            pairs.append((int(t_index), int(d_index)))
            affinity[t_index, :] = 0
            affinity[:, d_index] = 0


def _predicted(boxes: list[FloatArray], track_ids: list[int]) -> Detections:
    """Tracks' predicted ``cx, cy, w, h`` boxes as redaction regions (no score)."""
    if not boxes:
        return Detections.empty()
    return Detections(
        xyxy=_to_xyxy(np.stack(boxes)),
        scores=np.full(len(boxes), np.nan, dtype=np.float32),
        track_ids=np.asarray(track_ids, dtype=np.int64),
        sources=[SOURCE_PREDICTED] * len(boxes),
    )


def _inside(cxcywh: FloatArray, frame_size: tuple[int, int]) -> bool:
    width, height = frame_size
    cx, cy, w, h = (float(v) for v in cxcywh)
    return cx + w / 2 > 0 and cy + h / 2 > 0 and cx - w / 2 < width and cy - h / 2 < height
