"""Decide per track, not per frame, whether a face belongs to a consenting enrolled person.

A face followed by the tracker is sampled now and then (embedded with its quality: size,
sharpness, frontal-ness); its samples since the last doubt form its *evidence*. A track is
accepted as subject S only when the evidence is consistent:

- at least ``min_samples`` samples that count (quality weight >= ``min_weight``);
- their quality-weighted mean lies within ``accept_distance`` of S's template;
- at least ``agree_share`` of them lie within ``sample_distance`` of it, each on its own;
- the next enrolled subject is ``margin`` farther (two look-alikes: nobody is accepted).

Until then the face stays redacted. Any *doubt* throws the evidence away and the face is
redacted again until it earns acceptance anew: a detection gap (occlusion, leaving the
frame), a jump in size or position, a changed look (its 16x16 grey thumbnail correlates
less than ``min_similarity`` with the previous frame's: a cut), another face near it,
including a face the tracker lost a moment ago (where tracks swap), or a re-verification
sample far from the accepted subject. Accepted tracks are re-sampled every
``reverify_every`` frames; undecided ones every ``sample_every`` frames (every frame until
``min_samples``), slower (``slow_every``) once ``window`` samples have not been enough, and
only every ``stranger_every`` frames once the evidence is far from everyone enrolled.

``TrackJudge`` holds this state for one stream; the gate feeds it frames and samples. It
never looks at consent: the gate checks consent on every frame for accepted tracks.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import cv2
import numpy as np
import numpy.typing as npt

from bystander.recognition.quality import FaceQuality
from bystander.vision.detections import Detections, FloatArray

if TYPE_CHECKING:
    from bystander.recognition.matcher import ConsentedFaces

Frame = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class TrackRules:
    """When a track's evidence is enough, and how often faces are sampled.

    Distances are dlib descriptor distances; the defaults come from
    ``benchmarks/keep_visible_study.py`` (see BENCHMARKS.md, issue 22).
    """

    accept_distance: float = 0.45
    sample_distance: float = 0.50
    min_samples: int = 3
    min_weight: float = 0.15
    agree_share: float = 0.75
    margin: float = 0.05
    window: int = 10
    sample_every: int = 2
    slow_every: int = 15
    reverify_every: int = 30
    #: a re-verification sample this far from the accepted subject is a doubt; a track whose
    #: evidence is this far from everyone enrolled is a stranger, sampled every
    #: ``stranger_every`` frames only
    reject_distance: float = 0.60
    stranger_every: int = 30
    min_similarity: float = 0.6
    max_jump: float = 0.75
    size_change: tuple[float, float] = (0.6, 1.6)
    #: a track lost this many frames ago still counts as a face nearby (swap risk)
    remember_lost: int = 15

    def __post_init__(self) -> None:
        if not 0.0 < self.accept_distance <= self.sample_distance < 2.0:
            raise ValueError("need 0 < accept_distance <= sample_distance < 2")
        if self.min_samples < 1 or self.window < self.min_samples:
            raise ValueError("need 1 <= min_samples <= window")
        intervals = (self.sample_every, self.slow_every, self.reverify_every, self.stranger_every)
        if min(intervals) < 1:
            raise ValueError("sampling intervals must be >= 1 frame")
        if not 0.0 < self.agree_share <= 1.0:
            raise ValueError("agree_share must be in (0, 1]")


@dataclass(frozen=True, slots=True)
class Verdict:
    """A track accepted as an enrolled subject, on the evidence of ``samples`` samples."""

    subject_id: str
    consent_id: str
    distance: float
    samples: int
    decided_at: int


@dataclass(frozen=True, slots=True)
class SampleTag:
    """Which track (and which stretch of it, ``segment``) a sample was taken from.

    Segments are numbered across all tracks of a judge, so a late sample can never land in
    another stretch or another track that reuses the id (a new file, a new tracker).
    """

    track_id: int
    segment: int
    frame: int


@dataclass
class _Track:
    track_id: int
    first_seen: int
    last_seen: int
    box: FloatArray
    look: FloatArray
    segment: int = 0
    vectors: list[npt.NDArray[np.float32]] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    last_sampled: int = -(10**9)
    verdict: Verdict | None = None
    stranger: bool = False
    restarts: int = 0

    def restart(self, segment: int) -> None:
        """A doubt: the evidence so far may belong to someone else."""
        self.segment = segment
        self.vectors.clear()
        self.weights.clear()
        self.verdict = None
        self.stranger = False
        self.last_sampled = -(10**9)
        self.restarts += 1


class TrackJudge:
    """Per-track evidence and verdicts for one stream (see the module docstring)."""

    def __init__(self, faces: ConsentedFaces, rules: TrackRules | None = None) -> None:
        self.faces = faces
        self.rules = rules or TrackRules()
        self._tracks: dict[int, _Track] = {}
        self._segments = itertools.count(1)
        self.decisions = 0  # decision attempts (vault look-ups), for benchmarks
        self.doubts: Counter[str] = Counter()  # doubts raised, by reason (for studies)

    # -- frames -------------------------------------------------------------------------

    def observe(self, frame: Frame, faces: Detections, rows: Sequence[int], index: int) -> None:
        """Follow the tracked faces ``rows`` of ``faces`` into frame ``index``.

        A track seen for the first time starts with no evidence; a known one keeps its
        evidence only if nothing casts doubt on it (see the module docstring).
        """
        rules = self.rules
        present = {int(faces.track_ids[row]) for row in range(len(faces))}
        lost = [
            t.box
            for t in self._tracks.values()
            if t.track_id not in present and index - t.last_seen <= rules.remember_lost
        ]
        for row in rows:
            track_id = int(faces.track_ids[row])
            box = np.asarray(faces.xyxy[row], dtype=np.float32).copy()
            look = face_look(frame, box)
            track = self._tracks.get(track_id)
            if track is None:
                segment = next(self._segments)
                self._tracks[track_id] = _Track(track_id, index, index, box, look, segment)
                continue
            others = [faces.xyxy[r] for r in range(len(faces)) if r != row] + lost
            reason = self._doubt(track, box, look, others, index)
            if reason is not None:
                self.doubts[reason] += 1
                track.restart(next(self._segments))
            track.last_seen, track.box, track.look = index, box, look
        gone = [t for t, v in self._tracks.items() if index - v.last_seen > 2 * rules.remember_lost]
        for track_id in gone:
            del self._tracks[track_id]

    def _doubt(
        self,
        track: _Track,
        box: FloatArray,
        look: FloatArray,
        others: Sequence[FloatArray],
        index: int,
    ) -> str | None:
        """Why the face in ``box`` may not be the one the track followed so far, or None."""
        rules = self.rules
        if track.last_seen != index - 1:
            return "gap"  # occluded, out of sight, or missed
        ratio = box_area(box) / max(box_area(track.box), 1e-6)
        if not rules.size_change[0] <= ratio <= rules.size_change[1]:
            return "size"
        side = max(float(track.box[3] - track.box[1]), 1.0)
        if _centre_distance(box, track.box) > rules.max_jump * side:
            return "jump"
        if float(look @ track.look) < rules.min_similarity:
            return "look"  # a cut, or another face in its place
        if any(near(box, other) for other in others):
            return "near"
        return None

    def due(self, rows: Sequence[int], faces: Detections, index: int) -> list[int]:
        """The rows whose track should be sampled in this frame, most urgent first."""
        rules = self.rules
        wanted: list[tuple[int, int, int]] = []
        for row in rows:
            track = self._tracks.get(int(faces.track_ids[row]))
            if track is None:
                continue
            if track.verdict is not None:
                every = rules.reverify_every
            elif track.stranger:
                every = rules.stranger_every
            elif len(track.vectors) < rules.min_samples:
                every = 1
            elif len(track.vectors) < rules.window:
                every = rules.sample_every
            else:
                every = rules.slow_every
            if index - track.last_sampled >= every:
                # undecided tracks first, then those waiting longest
                wanted.append((int(track.verdict is not None), track.last_sampled, row))
        wanted.sort()
        return [row for _, _, row in wanted]

    def tags(self, rows: Sequence[int], faces: Detections, index: int) -> list[SampleTag]:
        """Mark ``rows`` as sampled in frame ``index``; the tags travel with the batch."""
        out = []
        for row in rows:
            track = self._tracks[int(faces.track_ids[row])]
            track.last_sampled = index
            out.append(SampleTag(track.track_id, track.segment, index))
        return out

    # -- samples ------------------------------------------------------------------------

    def add(
        self,
        tags: Sequence[SampleTag],
        vectors: npt.NDArray[np.float32],
        quality: npt.NDArray[np.float32],
        index: int,
    ) -> None:
        """Add embedded samples to their tracks' evidence and decide what can be decided.

        Samples of a stretch that has since been doubted are dropped.
        """
        touched: list[_Track] = []
        for tag, vector, row in zip(tags, vectors, quality, strict=True):
            track = self._tracks.get(tag.track_id)
            if track is None or track.segment != tag.segment:
                continue
            weight = FaceQuality.from_row(row).weight
            if track.verdict is not None:
                self._reverify(track, vector, weight)
                continue
            if weight < self.rules.min_weight:
                continue
            track.vectors.append(np.asarray(vector, dtype=np.float32).copy())
            track.weights.append(weight)
            del track.vectors[: -self.rules.window], track.weights[: -self.rules.window]
            if track not in touched:
                touched.append(track)
        for track in touched:
            self._decide(track, index)

    def _decide(self, track: _Track, index: int) -> None:
        rules = self.rules
        if len(track.vectors) < rules.min_samples:
            return
        samples = np.stack(track.vectors)
        weights = np.asarray(track.weights, dtype=np.float64)
        mean = (samples * weights[:, None]).sum(axis=0) / weights.sum()
        probes = np.vstack([mean[None, :], samples]).astype(np.float32)
        self.decisions += 1
        scored = self.faces.distances(probes)
        if not scored:
            return
        ranked = sorted(scored.items(), key=lambda item: float(item[1].distances[0]))
        subject_id, best = ranked[0]
        distance = float(best.distances[0])
        track.stranger = distance > rules.reject_distance
        if distance > rules.accept_distance:
            return
        agree = float(np.mean(best.distances[1:] <= rules.sample_distance))
        if agree < rules.agree_share:
            return
        if len(ranked) > 1 and float(ranked[1][1].distances[0]) - distance < rules.margin:
            return
        track.verdict = Verdict(
            subject_id, best.consent_record_id, distance, len(track.vectors), index
        )

    def _reverify(self, track: _Track, vector: npt.NDArray[np.float32], weight: float) -> None:
        verdict = track.verdict
        if verdict is None or weight < self.rules.min_weight:
            return
        scored = self.faces.distances(np.asarray(vector, dtype=np.float32)[None, :])
        mine = scored.get(verdict.subject_id)
        if mine is None or float(mine.distances[0]) > self.rules.reject_distance:
            self.doubts["reverify"] += 1
            track.restart(next(self._segments))

    # -- answers ------------------------------------------------------------------------

    def verdicts(self, rows: Sequence[int], faces: Detections) -> dict[int, Verdict]:
        """The accepted tracks among ``rows`` (by row)."""
        out: dict[int, Verdict] = {}
        for row in rows:
            track = self._tracks.get(int(faces.track_ids[row]))
            if track is not None and track.verdict is not None:
                out[row] = track.verdict
        return out

    def forget(self) -> None:
        self._tracks.clear()


def box_area(box: FloatArray) -> float:
    return float(max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1]))


def _centre_distance(a: FloatArray, b: FloatArray) -> float:
    return float(np.hypot((a[0] + a[2] - b[0] - b[2]) / 2, (a[1] + a[3] - b[1] - b[3]) / 2))


def near(box: FloatArray, other: FloatArray) -> bool:
    """Whether the tracker could swap ``box``'s face with ``other``: a face of a similar size
    (0.5-2x as tall) overlapping ``box`` grown 1.5x. A much smaller or larger face taking
    over the track changes its size, which is a doubt of its own."""
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    ratio = float(other[3] - other[1]) / max(y2 - y1, 1.0)
    if not 0.5 < ratio < 2.0:
        return False
    mx, my = (x2 - x1) * 0.25, (y2 - y1) * 0.25
    return bool(
        other[0] < x2 + mx and other[2] > x1 - mx and other[1] < y2 + my and other[3] > y1 - my
    )


def face_look(frame: Frame, box: FloatArray) -> FloatArray:
    """A face's 16x16 grey thumbnail, zero-mean and unit-norm (for correlation)."""
    x1, y1, x2, y2 = (round(float(v)) for v in box[:4])
    patch = frame[max(0, y1) : max(y1 + 1, y2), max(0, x1) : max(x1 + 1, x2)]
    grey = patch.mean(axis=2, dtype=np.float32) if patch.size else np.zeros((1, 1), np.float32)
    small = cv2.resize(grey, (16, 16), interpolation=cv2.INTER_AREA).reshape(-1)
    small -= small.mean()
    norm = float(np.linalg.norm(small))
    return (small / norm if norm > 1e-6 else small).astype(np.float32)
