"""`FrameProtector`: detect -> track -> redact for a stream of frames, failing closed."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from bystander.errors import DetectorError
from bystander.vision.detections import SOURCE_LOOKBACK, Detections
from bystander.vision.detectors import FaceDetector
from bystander.vision.redact import Redactor
from bystander.vision.tracker import FaceTracker, Track

Frame = npt.NDArray[np.uint8]


@dataclass
class ProtectedFrame:
    """One output frame and what was done to it."""

    index: int
    image: Frame
    regions: Detections
    detected: int = 0
    whole_frame: bool = False
    error: str | None = None


@dataclass
class _Pending:
    index: int
    image: Frame
    regions: list[Detections] = field(default_factory=list)
    detected: int = 0
    whole_frame: bool = False
    error: str | None = None


class FrameProtector:
    """Protects a sequence of frames (a video) or a single image.

    Every frame is run through the detector; with a tracker, faces stay redacted across
    short detection gaps; with ``lookback`` > 0, a new track's box is also redacted in the
    ``lookback`` frames before its first detection (frames are held back that long, so
    output lags input by ``lookback`` frames). If the detector raises, the frame is
    redacted whole, or the job stops when ``abort_on_detector_error`` is set.

    ``push`` returns the frames that are ready, in order; ``flush`` returns the rest.
    """

    def __init__(
        self,
        detector: FaceDetector,
        redactor: Redactor | None = None,
        tracker: FaceTracker | None = None,
        lookback: int = 0,
        abort_on_detector_error: bool = False,
    ) -> None:
        if lookback < 0:
            raise ValueError("lookback must be >= 0")
        self.detector = detector
        self.redactor = redactor or Redactor()
        self.tracker = tracker
        self.lookback = lookback if tracker is not None else 0
        self.abort_on_detector_error = abort_on_detector_error
        self._window: deque[_Pending] = deque()
        self._count = 0
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
        return [p.image for p in self._drain(0)]

    def push_frames(self, frame: Frame) -> list[ProtectedFrame]:
        return list(self._push(frame))

    def flush_frames(self) -> list[ProtectedFrame]:
        return list(self._drain(0))

    def _push(self, frame: Frame) -> Iterator[ProtectedFrame]:
        pending = _Pending(index=self._count, image=frame)
        self._count += 1
        height, width = frame.shape[:2]
        try:
            detections = self.detector.detect(frame)
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
            regions = self.tracker.update(detections, frame_size=(width, height))
            self._carry_back(self.tracker.born)
        else:
            regions = detections
        pending.regions.append(regions)
        self._window.append(pending)
        yield from self._drain(self.lookback)

    def _carry_back(self, born: list[Track]) -> None:
        """Redact new tracks in the held-back frames before their first detection."""
        if not born or len(self._window) == 0:
            return
        growth = self.tracker.settings.growth if self.tracker is not None else 0.0
        earlier = list(self._window)[::-1]
        for steps, pending in enumerate(earlier, start=1):
            boxes = []
            for track in born:
                cx, cy, w, h = (float(v) for v in track.box)
                grow = 1.0 + growth * steps
                boxes.append(
                    [cx - w * grow / 2, cy - h * grow / 2, cx + w * grow / 2, cy + h * grow / 2]
                )
            pending.regions.append(
                Detections.from_boxes(
                    boxes,
                    track_ids=[t.track_id for t in born],
                    sources=[SOURCE_LOOKBACK] * len(born),
                )
            )

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
        )
        for hook in self.on_protected:
            hook(result)
        return result
