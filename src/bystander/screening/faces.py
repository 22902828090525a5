"""Identifiable faces in an upload, and how many distinct people they belong to.

A face is identifiable when the detector finds it with at least ``min_score``, it is at least
``min_face_px`` tall, and it still has texture: the median 3x3 local variance of its centre,
resampled to 48x48, is at least ``min_detail``. Faces Bystander redacted (blur, pixelate or
solid) are not even found by the detector, and score under 10 when they are; real faces score
28-120 on the scenes measured (see ``docs/screening.md``).

Videos are sampled at ``sample_fps`` (at most ``max_frames`` frames); faces are tracked across
the samples, and each track with an identifiable face counts as one person (an estimate:
someone who leaves and comes back counts twice).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import numpy.typing as npt

from bystander.errors import InputError
from bystander.screening.policy import FaceRules
from bystander.vision.detections import Detections
from bystander.vision.detectors import FaceDetector
from bystander.vision.image_io import read_image
from bystander.vision.media import MediaKind, check_readable, media_kind
from bystander.vision.tracker import FaceTracker, TrackerSettings
from bystander.vision.video_io import probe_video

Frame = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class FaceCensus:
    """What was seen: frames looked at, identifiable faces (most in one frame, and in all),
    distinct people, and the largest identifiable face's height."""

    frames_sampled: int
    identifiable_faces: int  # the most in any one sampled frame
    face_sightings: int  # identifiable faces summed over sampled frames
    distinct_people: int
    largest_face_px: int

    def to_dict(self) -> dict[str, int]:
        return {
            "frames_sampled": self.frames_sampled,
            "identifiable_faces": self.identifiable_faces,
            "face_sightings": self.face_sightings,
            "distinct_people": self.distinct_people,
            "largest_face_px": self.largest_face_px,
        }


def face_detail(frame: Frame, box: npt.ArrayLike) -> float:
    """Texture left in a face: median 3x3 local variance of its centre at 48x48 (grey)."""
    x1, y1, x2, y2 = (float(v) for v in np.asarray(box, dtype=np.float64).reshape(-1)[:4])
    w, h = x2 - x1, y2 - y1
    height, width = frame.shape[:2]
    cx1, cy1 = max(0, round(x1 + w / 6)), max(0, round(y1 + h / 6))
    cx2, cy2 = min(width, round(x2 - w / 6)), min(height, round(y2 - h / 6))
    if cx2 - cx1 < 2 or cy2 - cy1 < 2:
        return 0.0
    grey = cv2.cvtColor(np.ascontiguousarray(frame[cy1:cy2, cx1:cx2]), cv2.COLOR_RGB2GRAY)
    small = cv2.resize(grey.astype(np.float32), (48, 48), interpolation=cv2.INTER_AREA)
    mean = cv2.boxFilter(small, -1, (3, 3))
    mean_sq = cv2.boxFilter(small * small, -1, (3, 3))
    return float(np.median(np.maximum(mean_sq - mean * mean, 0.0)))


def identifiable(frame: Frame, faces: Detections, rules: FaceRules) -> npt.NDArray[np.bool_]:
    """Which of ``faces`` could identify someone (size, confidence, texture)."""
    if len(faces) == 0:
        return np.zeros(0, dtype=bool)
    keep = (faces.heights >= rules.min_face_px) & (np.nan_to_num(faces.scores) >= rules.min_score)
    for row in np.flatnonzero(keep).tolist():
        keep[row] = face_detail(frame, faces.xyxy[row]) >= rules.min_detail
    return keep


def census(path: Path, detector: FaceDetector, rules: FaceRules) -> FaceCensus:
    """Look at ``path`` (image or video); ``InputError`` if it cannot be read whole."""
    check_readable(path)
    kind = media_kind(path)
    frames = [read_image(path).rgb] if kind is MediaKind.IMAGE else _sampled(path, rules)
    # samples are several frames apart: let a face travel further between them
    linking = TrackerSettings(max_gap=2, match_distance=3.0)
    tracker = FaceTracker(linking) if kind is MediaKind.VIDEO else None
    sampled = most = sightings = largest = 0
    people: set[int] = set()
    for frame in frames:
        sampled += 1
        faces = detector.detect(frame)
        if tracker is not None:
            faces = tracker.update(faces, frame_size=(frame.shape[1], frame.shape[0]))
            faces = faces[np.asarray([s == "detected" for s in faces.sources], dtype=bool)]
        known = identifiable(frame, faces, rules)
        count = int(known.sum())
        most, sightings = max(most, count), sightings + count
        if count:
            largest = max(largest, int(faces.heights[known].max()))
            people.update(
                faces.track_ids[known].tolist() if tracker is not None else range(count)
            )
    if sampled == 0:
        raise InputError(f"no video frames could be decoded from {path}")
    return FaceCensus(sampled, most, sightings, len(people), largest)


def _sampled(path: Path, rules: FaceRules) -> Iterator[Frame]:
    """Every k-th decoded frame for about ``sample_fps``; raises on a damaged stream."""
    info = probe_video(path)
    step = max(1, round(info.fps / rules.sample_fps)) if info.fps > 0 else 1
    taken = decoded = 0
    try:
        with av.open(str(path), mode="r") as container:
            stream: Any = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                if decoded % step == 0:
                    yield frame.to_ndarray(format="rgb24")
                    taken += 1
                    if taken >= rules.max_frames:
                        return
                decoded += 1
    except (av.error.FFmpegError, OSError) as exc:
        reason = str(getattr(exc, "strerror", "") or exc).splitlines()[0]
        raise InputError(f"damaged video {path}: {reason}") from None
    if info.frames and decoded < info.frames * 0.98 - 1:
        raise InputError(f"truncated video {path}: {decoded} of {info.frames} frames decodable")
