"""Frame protection for the capture guard (R11): every frame passes the protect pipeline
before any consumer sees it.

Two shapes of protector plug into a ``CaptureSession``:

- a *frame hook*: any callable ``frame -> protected frame`` (tests, simple devices), applied
  to each frame at once;
- a *stream protector* (``StreamProtector``): frames go in, protected frames come out in the
  same order, up to ``delay_frames`` later. ``PipelineProtector`` is the real one: the
  keyframe + region-search schedule ``bystander protect`` uses (``realtime``: the whole frame
  every 5th frame, tracked faces re-found in small regions in between, new faces carried
  back through the held frames), so live capture runs at ``protect``'s speed and its output
  lags the camera by a known number of frames (recorded in the session's evidence).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from bystander.vision.pipeline import FrameProtector, ProtectedFrame, VisibilityGate

FrameHook = Callable[[Any], Any]
#: What a stream protector hands back: the protected image and whether it was blanked whole.
Protected = tuple[Any, bool]


@runtime_checkable
class StreamProtector(Protocol):
    """Protects a stream of frames with a bounded delay (frames out in the order in)."""

    #: the most frames held back at once (the live output's lag, in frames)
    delay_frames: int

    def push(self, frame: Any) -> list[Protected]:
        """Add a frame; return the frames now ready (oldest first)."""
        ...

    def flush(self) -> list[Protected]:
        """Return every frame still held (end of the stream)."""
        ...

    def reset(self) -> None:
        """Forget every held frame and all tracking state (a new session, or after an error)."""
        ...


class PipelineProtector:
    """The real protect pipeline, live: detect (keyframes + region search) -> track ->
    look-back -> redact, whole-frame redaction on a detector error.

    ``preset`` picks the schedule (default ``realtime``: a keyframe every 5th frame and the
    least look-back that needs, 4 frames, so output lags input by ``delay_frames`` = 4 frames,
    133 ms at 30 fps, plus the protection time);
    ``accurate`` searches every frame in full with no delay. Hooks appended to
    ``frames.on_protected`` see each ``ProtectedFrame`` (e.g. to count redactions). With a
    ``visibility`` gate, people who consented stay visible (``bystander.visibility``);
    ``keep_visible`` names how, for the recording's manifest. ``precision`` is the
    detector's (``--precision``; ``int8`` is cheaper, see BENCHMARKS.md, issue 20).
    """

    def __init__(
        self,
        visibility: VisibilityGate | None = None,
        keep_visible: Sequence[str] = (),
        preset: str = "realtime",
        precision: str = "auto",
    ) -> None:
        from bystander.vision.settings import FrameProtection, ProtectSettings

        interval = ProtectSettings.from_preset(preset).keyframe_interval
        settings = ProtectSettings.from_preset(
            preset,
            keep_visible=tuple(keep_visible),
            lookback=max(0, interval - 1),  # the least look-back keyframes need: least lag
            precision=precision,
        )
        self.protector = FrameProtection(settings, visibility=visibility)
        self.settings: Any = replace(settings)
        self.on_protected: list[Callable[[ProtectedFrame], None]] = []
        self.frames: FrameProtector = self._make()

    @property
    def delay_frames(self) -> int:
        return self.frames.lookback

    def _make(self) -> FrameProtector:
        frames = self.protector.frame_protector(video=True)
        frames.on_protected = self.on_protected  # shared: hooks survive a reset
        return frames

    def warm(self, width: int, height: int) -> None:
        """Load and compile the detector for this frame size, and the visibility gate's face
        model, before capture starts (the first detection otherwise takes seconds, and a
        live stream would drop those frames)."""
        import numpy as np

        blank = np.zeros((height, width, 3), np.uint8)
        detector = self.frames.detector
        detector.detect(blank)
        warm_regions = getattr(detector, "warm_regions", None)
        if callable(warm_regions):  # every region batch shape now, not mid-stream when a
            warm_regions()  # crowd first appears
        if self.frames.visibility is not None:
            from bystander.visibility import warm_gate

            warm_gate(self.frames.visibility)

    def push(self, frame: Any) -> list[Protected]:
        return [(p.image, p.whole_frame) for p in self.frames.push_frames(frame)]

    def flush(self) -> list[Protected]:
        return [(p.image, p.whole_frame) for p in self.frames.flush_frames()]

    def reset(self) -> None:
        tracks = self.frames.tracker.total_tracks if self.frames.tracker else 0
        self.frames = self._make()
        self._tracks_before = getattr(self, "_tracks_before", 0) + tracks

    @property
    def total_tracks(self) -> int:
        """Face tracks started over every session this protector served."""
        now = self.frames.tracker.total_tracks if self.frames.tracker else 0
        return int(getattr(self, "_tracks_before", 0)) + now

    def __call__(self, frame: Any) -> Any:
        """Protect one frame at once (a frame hook: no look-back, for callers that cannot
        wait); prefer ``push`` for video."""
        return self.frames.protect(frame).image


def default_protector() -> FrameHook | StreamProtector:
    """The real protect pipeline (``PipelineProtector``, live keyframe schedule)."""
    return PipelineProtector()
