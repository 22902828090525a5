"""`FrameProtector`: detect -> track -> redact for a stream of frames, failing closed."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from bystander.errors import DetectorError
from bystander.vision.detections import (
    SOURCE_INTERPOLATED,
    SOURCE_LOOKBACK,
    Detections,
    FloatArray,
    iou_matrix,
)
from bystander.vision.detectors import FaceDetector
from bystander.vision.redact import Redactor
from bystander.vision.resample import shrink
from bystander.vision.tracker import FaceTracker, Track

Frame = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class KeptVisible:
    """Why one detected face was left visible: a reason without personal data, and the
    consent record that permits it (when there is one)."""

    reason: str
    consent_id: str | None = None


@runtime_checkable
class VisibilityGate(Protocol):
    """Decides which faces detected in a frame may stay visible (people who consented).

    ``visible`` gets the frame (RGB), the faces the detector found in it (with their track
    ids when a tracker runs, else -1) and the frame's index, and returns the indices of
    ``faces`` to leave visible. Anything it does not name
    is redacted; if it raises, every face is redacted.
    """

    def visible(self, frame: Frame, faces: Detections, index: int) -> Mapping[int, KeptVisible]: ...


@dataclass
class ProtectedFrame:
    """One output frame and what was done to it.

    ``visible`` holds the detected faces a ``VisibilityGate`` left unredacted (with
    ``kept``, one reason each); ``visibility_error`` says why the gate was not consulted or
    failed (every face was then redacted).
    """

    index: int
    image: Frame
    regions: Detections
    detected: int = 0
    whole_frame: bool = False
    error: str | None = None
    visible: Detections = field(default_factory=Detections.empty)
    kept: tuple[KeptVisible, ...] = ()
    visibility_error: str | None = None


@dataclass
class _Pending:
    index: int
    image: Frame
    regions: list[Detections] = field(default_factory=list)
    detected: int = 0
    whole_frame: bool = False
    error: str | None = None
    visible: Detections = field(default_factory=Detections.empty)
    kept: tuple[KeptVisible, ...] = ()
    visibility_error: str | None = None
    #: a coasted frame (not searched): the tracks' boxes at the last searched frame before it
    before: Detections | None = None


@runtime_checkable
class RegionDetector(Protocol):
    """A detector that can also look for faces only near given boxes (cheaply).

    ``region_pixels`` is the number of pixels one region search processes, which the
    pipeline weighs against a full-frame search (a detector whose regions can share a crop
    also offers ``regions_pixels(boxes)``, the pixels a search of those boxes processes).
    """

    region_pixels: int

    def detect_regions(self, frame: Frame, regions: FloatArray) -> Detections: ...


class FrameProtector:
    """Protects a sequence of frames (a video) or a single image.

    With ``keyframe_interval`` 1 every frame is run through the full-frame detector. With
    N > 1 (video with a tracker only), the full frame is searched every Nth frame; in the
    frames between, each live track is re-found by searching a small region around its
    predicted box (``detect_regions``), which costs a few percent of a full pass. A face
    that appears between keyframes is found at the next keyframe and carried back through
    the held-back frames (``lookback`` must be at least N - 1), where it is also re-found
    region by region, so its box follows its motion.

    With ``region_interval`` N > 1, tracked faces are re-found only every Nth frame between
    keyframes; a frame in between ("coasted") is redacted where each face was in the searched
    frames on both sides of it (the union of its two boxes, which holds a face moving at any
    steady speed) and, until the later one is searched, at the track's predicted box. It
    halves region searches in crowds; it needs ``lookback`` >= N - 1 and is not used with a
    visibility gate (a consenting face is shown only in a frame where it was detected).

    With a tracker, faces stay redacted across short detection gaps; with ``lookback`` > 0,
    a new track's box is also redacted in the ``lookback`` frames before its first
    detection (frames are held back that long, so output lags input by ``lookback``
    frames). If the detector raises, the frame is redacted whole, or the job stops when
    ``abort_on_detector_error`` is set.

    With a ``visibility`` gate, the faces *detected* in a frame are offered to it, and those
    it names stay visible in that frame (consenting people). Only detections qualify: a
    face's predicted box (a detection gap) and its look-back boxes stay redacted, and any
    error in the gate redacts every face.

    ``push`` returns the frames that are ready, in order; ``flush`` returns the rest.
    """

    def __init__(
        self,
        detector: FaceDetector,
        redactor: Redactor | None = None,
        tracker: FaceTracker | None = None,
        lookback: int = 0,
        abort_on_detector_error: bool = False,
        keyframe_interval: int = 1,
        visibility: VisibilityGate | None = None,
        region_interval: int = 1,
    ) -> None:
        if lookback < 0:
            raise ValueError("lookback must be >= 0")
        if keyframe_interval < 1:
            raise ValueError("keyframe_interval must be >= 1")
        self.detector = detector
        self.redactor = redactor or Redactor()
        self.tracker = tracker
        self.lookback = lookback if tracker is not None else 0
        regional = isinstance(detector, RegionDetector) and tracker is not None
        self.keyframe_interval = keyframe_interval if regional else 1
        if self.keyframe_interval > 1 and self.lookback < self.keyframe_interval - 1:
            raise ValueError(
                f"lookback must be at least keyframe_interval - 1 "
                f"({self.keyframe_interval - 1}) so faces that appear between keyframes "
                "are redacted from their first frame"
            )
        if region_interval < 1:
            raise ValueError("region_interval must be >= 1")
        self.abort_on_detector_error = abort_on_detector_error
        self.visibility = visibility
        coasting = self.keyframe_interval > 1 and visibility is None
        self.region_interval = min(region_interval, self.lookback + 1) if coasting else 1
        self._coasted: list[_Pending] = []  # coasted frames waiting for the next search
        self._tracked = Detections.empty()  # the tracker's boxes at the last searched frame
        self._window: deque[_Pending] = deque()
        self._count = 0
        self._searched = -1  # index of the last frame searched in full
        self._thumb: npt.NDArray[np.float32] | None = None
        self.cuts = 0  # shot changes seen (each searched in full at once)
        self.on_protected: list[Callable[[ProtectedFrame], None]] = []

    def protect(self, frame: Frame) -> ProtectedFrame:
        """Protect one frame immediately (images, or callers that cannot wait)."""
        out = list(self._push(frame)) + list(self._drain(0))
        assert len(out) == 1
        return out[0]

    def push(self, frame: Frame) -> list[Frame]:
        """FrameProcessor interface: images of the frames now ready."""
        return [p.image for p in self._push(frame)]

    def flush(self) -> list[Frame]:
        self._search_coasted_tail()
        self._search_tail()
        return [p.image for p in self._drain(0)]

    def push_frames(self, frame: Frame) -> list[ProtectedFrame]:
        return list(self._push(frame))

    def flush_frames(self) -> list[ProtectedFrame]:
        self._search_coasted_tail()
        self._search_tail()
        return list(self._drain(0))

    def _push(self, frame: Frame) -> Iterator[ProtectedFrame]:
        pending = _Pending(index=self._count, image=frame)
        self._count += 1
        height, width = frame.shape[:2]
        keyframe = self._is_keyframe(pending.index)
        cut = self._shot_changed(frame)
        keyframe = keyframe or (cut and self.keyframe_interval > 1)
        if not keyframe and self._coasting(pending.index):
            assert self.tracker is not None
            pending.regions.append(self.tracker.coast(frame_size=(width, height)))
            pending.before = self._tracked
            self._coasted.append(pending)
            self._window.append(pending)
            yield from self._drain(self.lookback)
            return
        expected = None
        if not keyframe:
            assert self.tracker is not None
            # misses are counted in frames; a coasted frame is one no search could miss in
            expected = self.tracker.expected_boxes(max_missed=_SEARCH_MISSED * self.region_interval)
            keyframe = self._cheaper_in_full(expected, height, width)
        if keyframe:
            self._searched = pending.index
        try:
            detections = self._detect(frame, expected if not keyframe else None)
        except Exception as exc:
            if self.abort_on_detector_error:
                raise DetectorError(
                    f"face detector failed on frame {pending.index}: {exc}"
                ) from exc
            detections = Detections.empty()
            pending.whole_frame = True
            pending.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        pending.detected = len(detections)
        if self.tracker is not None:
            regions = self.tracker.update(detections, frame_size=(width, height), spawn=keyframe)
            self._fill_coasted(regions, cut)
            self._tracked = regions
            self._carry_back(self.tracker.born)
        else:
            regions = detections
        if self.visibility is not None and len(detections) and not pending.whole_frame:
            regions = self._keep_visible(pending, detections, regions)
        pending.regions.append(regions)
        self._window.append(pending)
        yield from self._drain(self.lookback)

    def _coasting(self, index: int) -> bool:
        """Whether this frame between keyframes goes unsearched (``region_interval``)."""
        if self.region_interval == 1 or self._searched < 0:
            return False
        last = self._coasted[0].index - 1 if self._coasted else index - 1
        return index - last < self.region_interval

    def _fill_coasted(self, now: Detections, cut: bool) -> None:
        """Redact each coasted frame where its faces were on both sides of it: the union of a
        track's box before the frame and its box now. Across a cut the boxes say nothing
        (the frames keep their predicted boxes)."""
        coasted, self._coasted = self._coasted, []
        if cut or len(now) == 0:
            return
        for pending in coasted:
            before = pending.before
            if before is None or len(before) == 0:
                continue
            rows, boxes = [], []
            for row, track_id in enumerate(now.track_ids.tolist()):
                match = np.flatnonzero(before.track_ids == track_id)
                if track_id < 0 or len(match) == 0:
                    continue
                a, b = before.xyxy[match[0]], now.xyxy[row]
                boxes.append([min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])])
                rows.append(track_id)
            if boxes:
                pending.regions.append(
                    Detections.from_boxes(
                        np.asarray(boxes, dtype=np.float32),
                        track_ids=rows,
                        sources=[SOURCE_INTERPOLATED] * len(rows),
                    )
                )

    def _search_coasted_tail(self) -> None:
        """At the end of a stream, coasted frames with no searched frame after them are
        searched around their predicted boxes (nothing comes to interpolate from)."""
        coasted, self._coasted = self._coasted, []
        if not isinstance(self.detector, RegionDetector):
            return
        for pending in coasted:
            boxes = Detections.merge(pending.regions)
            if len(boxes) == 0:
                continue
            hits = [hit for hit in self._refind(pending, boxes.xyxy) if hit is not None]
            if hits:
                pending.regions.append(Detections.from_boxes(np.stack(hits)))

    def _shot_changed(self, frame: Frame) -> bool:
        """Whether ``frame`` starts a new shot (a cut): its 32x18 grey thumbnail differs from
        the previous frame's by more than ``_CUT_DIFFERENCE`` on average. A cut is searched
        in full at once: tracks from the old shot say nothing about where faces are now."""
        # every 4th pixel of every 4th row of a large frame is plenty for a 32x18 average
        step = max(1, min(frame.shape[0] // 18, frame.shape[1] // 32) // 8)
        thumb = shrink(frame[::step, ::step], (32, 18)).astype(np.float32).mean(axis=2)
        previous, self._thumb = self._thumb, thumb
        if previous is None:
            return False
        changed = float(np.abs(thumb - previous).mean()) > _CUT_DIFFERENCE
        self.cuts += int(changed)
        return changed

    def _search_tail(self) -> None:
        """At the end of a stream, search the last held frame in full if no keyframe came
        after it, and carry any new face back through the held frames since the last full
        search: a face that appears in the last frames of a video is found too."""
        if not self._window or self._window[-1].index <= self._searched:
            return
        last = self._window[-1]
        unsearched = [p for p in self._window if p.index > self._searched]
        self._searched = last.index
        try:
            found = self.detector.detect(last.image)
        except Exception as exc:
            if self.abort_on_detector_error:
                raise DetectorError(f"face detector failed on frame {last.index}: {exc}") from exc
            for pending in unsearched:  # fail closed: these frames were never fully searched
                pending.whole_frame = True
                pending.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            return
        if len(found) == 0:
            return
        known = Detections.merge([*last.regions, last.visible])  # kept-visible faces too
        if len(known):
            overlap = iou_matrix(found.xyxy, known.xyxy).max(axis=1)
            found = found[np.flatnonzero(overlap < _REFIND_MIN_IOU)]
        if len(found) == 0:
            return
        last.regions.append(found)
        boxes = found.xyxy.copy()
        growth = self.tracker.settings.growth if self.tracker is not None else 0.0
        for pending in reversed(unsearched[:-1]):
            hits = self._refind(pending, boxes) if isinstance(self.detector, RegionDetector) else []
            grown = np.stack([_grow(box, 1.0 + growth) for box in boxes])
            for row, hit in enumerate(hits):
                if hit is not None:
                    grown[row] = hit
            boxes = grown
            pending.regions.append(
                Detections.from_boxes(boxes, sources=[SOURCE_LOOKBACK] * len(boxes))
            )

    def _keep_visible(
        self, pending: _Pending, detections: Detections, regions: Detections
    ) -> Detections:
        """Ask the gate about this frame's detections; return the regions still to redact.

        The first ``len(detections)`` rows of ``regions`` are the detections themselves (the
        tracker returns them first, in order, with their track ids); only those can be kept
        visible.
        """
        assert self.visibility is not None
        try:
            offered = regions[np.arange(len(detections))]
            decided = dict(self.visibility.visible(pending.image, offered, pending.index))
            keep = sorted(i for i in decided if 0 <= i < len(detections))
            if len(keep) != len(decided):
                raise ValueError(f"face indices out of range: {sorted(decided)}")
            kept = tuple(KeptVisible(*_kept_fields(decided[i])) for i in keep)
        except Exception as exc:  # fail closed: every face is redacted
            pending.visibility_error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            return regions
        if not keep:
            return regions
        rows = np.ones(len(regions), dtype=bool)
        rows[keep] = False
        pending.visible = regions[np.asarray(keep, dtype=np.int64)]
        pending.kept = kept
        return regions[np.flatnonzero(rows)]

    def _is_keyframe(self, index: int) -> bool:
        return self.keyframe_interval == 1 or index % self.keyframe_interval == 0

    def _cheaper_in_full(self, expected: FloatArray, height: int, width: int) -> bool:
        """Whether searching around the ``expected`` boxes would cost more than a good share
        of a full-frame search (many faces): then the whole frame is searched instead. A
        detector says what its region search of these boxes processes (``regions_pixels``:
        nearby faces may share a crop) and how many pixels a large frame's search is
        (``search_pixels``), where it can."""
        assert isinstance(self.detector, RegionDetector)
        search_pixels = getattr(self.detector, "search_pixels", None)
        full = int(search_pixels(height, width)) if callable(search_pixels) else height * width
        regions_pixels = getattr(self.detector, "regions_pixels", None)
        if callable(regions_pixels):
            cost = int(regions_pixels(expected))
        else:
            cost = len(expected) * self.detector.region_pixels
        return cost > _FULL_SEARCH_SHARE * full

    def _detect(self, frame: Frame, expected: FloatArray | None) -> Detections:
        """Full-frame detection (``expected`` None), or a search around expected boxes."""
        if expected is None:
            return self.detector.detect(frame)
        assert isinstance(self.detector, RegionDetector)
        if len(expected) == 0:
            return Detections.empty()
        return self.detector.detect_regions(frame, expected)

    def _carry_back(self, born: list[Track]) -> None:
        """Redact new tracks in the held-back frames before their first detection.

        Walking back frame by frame from the first detection, each track's box is the
        previous one grown by the tracker's ``growth``; with region search (keyframe
        interval > 1), a face re-found near it replaces the grown box, so the box follows
        the face's motion instead of staying where the face was first seen.
        """
        if not born or len(self._window) == 0:
            return
        growth = self.tracker.settings.growth if self.tracker is not None else 0.0
        search = self.keyframe_interval > 1 and isinstance(self.detector, RegionDetector)
        boxes = np.stack([_xyxy(track.box) for track in born])
        searching = np.full(len(born), search)
        for pending in reversed(self._window):
            found = self._refind(pending, boxes[searching]) if searching.any() else []
            grown = np.stack([_grow(box, 1.0 + growth) for box in boxes])
            for row, hit in zip(np.flatnonzero(searching).tolist(), found, strict=True):
                if hit is None:
                    searching[row] = False  # not here: the face appeared after this frame
                else:
                    grown[row] = hit
            boxes = grown
            pending.regions.append(
                Detections.from_boxes(
                    boxes,
                    track_ids=[t.track_id for t in born],
                    sources=[SOURCE_LOOKBACK] * len(born),
                )
            )

    def _refind(self, pending: _Pending, boxes: FloatArray) -> list[FloatArray | None]:
        """The face nearest each box in a held-back frame, or None where none was found."""
        assert isinstance(self.detector, RegionDetector)
        try:
            found = self.detector.detect_regions(pending.image, boxes)
        except Exception as exc:
            if self.abort_on_detector_error:
                raise DetectorError(
                    f"face detector failed on frame {pending.index}: {exc}"
                ) from exc
            pending.whole_frame = True
            pending.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            return [None] * len(boxes)
        if len(found) == 0:
            return [None] * len(boxes)
        overlap = iou_matrix(boxes, found.xyxy)
        best = overlap.argmax(axis=1)
        return [
            found.xyxy[best[row]] if overlap[row, best[row]] >= _REFIND_MIN_IOU else None
            for row in range(len(boxes))
        ]

    def _drain(self, keep: int) -> Iterator[ProtectedFrame]:
        while len(self._window) > keep:
            pending = self._window.popleft()
            yield self._finish(pending)

    def _finish(self, pending: _Pending) -> ProtectedFrame:
        regions = Detections.merge(pending.regions)
        image = pending.image
        if not image.flags.writeable:
            image = image.copy()
        try:
            if pending.whole_frame:
                self.redactor.redact_whole(image)
            else:
                self.redactor.apply(image, regions)
        except Exception as exc:  # a redaction bug must never release the frame as it was
            image[:] = 0
            pending.whole_frame = True
            pending.error = f"redaction failed: {type(exc).__name__}: {exc}".splitlines()[0]
        result = ProtectedFrame(
            index=pending.index,
            image=image,
            regions=regions,
            detected=pending.detected,
            whole_frame=pending.whole_frame,
            error=pending.error,
            visible=Detections.empty() if pending.whole_frame else pending.visible,
            kept=() if pending.whole_frame else pending.kept,
            visibility_error=pending.visibility_error,
        )
        for hook in self.on_protected:
            hook(result)
        return result


_REFIND_MIN_IOU = 0.2
#: Mean grey-level change (0-255) between two frames' thumbnails that counts as a cut.
_CUT_DIFFERENCE = 30.0
#: Between keyframes, a track not re-found for this many frames is no longer searched for
#: (it stays redacted at its predicted box until it expires; the next keyframe finds it
#: again if it is still there).
_SEARCH_MISSED = 2
#: Region searches are replaced by one full-frame search when their pixels would exceed
#: this share of the frame's (per-call overheads make many small searches dearer).
_FULL_SEARCH_SHARE = 0.4


def _kept_fields(value: object) -> tuple[str, str | None]:
    """A gate's answer for one face as (reason, consent id); it must say why."""
    if isinstance(value, KeptVisible):
        reason, consent = value.reason, value.consent_id
    else:
        reason, consent = str(value), None
    if not reason:
        raise ValueError("a face kept visible needs a reason")
    return reason, consent


def _xyxy(cxcywh: FloatArray) -> FloatArray:
    cx, cy, w, h = (float(v) for v in cxcywh)
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dtype=np.float32)


def _grow(xyxy: FloatArray, factor: float) -> FloatArray:
    cx, cy = (xyxy[0] + xyxy[2]) / 2, (xyxy[1] + xyxy[3]) / 2
    w, h = (xyxy[2] - xyxy[0]) * factor, (xyxy[3] - xyxy[1]) * factor
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dtype=np.float32)
