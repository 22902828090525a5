"""How the frame pipeline is configured: presets, ``ProtectSettings``, and the pipeline they build.

``FrameProtection`` turns settings (plus an optional detector and visibility gate) into
loaded detectors and ``FrameProtector`` instances; the files job (``bystander.jobs.protect``)
and the live capture guard (``bystander.guard``) both build their pipelines with it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from bystander.vision.detectors import FaceDetector, create_detector
from bystander.vision.encoding import EncoderSettings
from bystander.vision.pipeline import FrameProtector, VisibilityGate
from bystander.vision.redact import RedactionSettings, Redactor
from bystander.vision.tracker import FaceTracker, TrackerSettings


class Preset(StrEnum):
    """Named speed/recall trade-offs for video (images always get a full-frame search).

    - ``accurate``: the full frame is searched in every frame.
    - ``balanced``: the full frame every 3rd frame; tracked faces are re-found in small
      regions in between, and new faces carried back to their first frame.
    - ``realtime``: the full frame every 5th frame, as above (default: it keeps coverage
      recall >= 0.99 on moving faces of 16 px and up, see BENCHMARKS.md).
    """

    ACCURATE = "accurate"
    BALANCED = "balanced"
    REALTIME = "realtime"

    @property
    def keyframe_interval(self) -> int:
        return _KEYFRAME_INTERVAL[self]

    @property
    def region_interval(self) -> int:
        """Tracked faces are re-found every Nth frame between keyframes (``FrameProtector``)."""
        return _REGION_INTERVAL[self]


_KEYFRAME_INTERVAL = {Preset.ACCURATE: 1, Preset.BALANCED: 3, Preset.REALTIME: 5}
_REGION_INTERVAL = {Preset.ACCURATE: 1, Preset.BALANCED: 1, Preset.REALTIME: 1}
DEFAULT_PRESET = Preset.REALTIME


@dataclass(frozen=True)
class ProtectSettings:
    """Everything that decides how files are protected.

    >>> ProtectSettings(threshold=0.3).redaction.mode
    'blur'
    """

    detector: str = "centerface"
    threshold: float = 0.2
    #: full-frame search plan for still images and for video keyframes
    #: (``bystander.vision.detectors.centerface.SEARCH_PLANS``)
    image_search: str = "thorough"
    video_search: str = "multi"
    #: smallest face (px high) the full-frame search of video keyframes looks for: ``auto``
    #: (16 px at 720 rows, the same share of taller frames: the search costs what it costs at
    #: 720p), ``native`` (16 px at any size) or a number (``CenterFace.min_face``); photos
    #: are always searched at their own size
    video_min_face: float | str = "auto"
    backend: str = "auto"
    #: ``auto``: int8 for video where it can be kept (``quantize.video_precision``), the
    #: runtime's float choice for photos
    precision: str = "auto"
    threads: int | None = None
    redaction: RedactionSettings = field(default_factory=RedactionSettings)
    tracking: TrackerSettings = field(default_factory=TrackerSettings)
    lookback: int = 5
    keyframe_interval: int = DEFAULT_PRESET.keyframe_interval
    #: between keyframes, tracked faces are re-found every Nth frame; the frames in between
    #: are redacted where each face was on both sides (``FrameProtector.region_interval``)
    region_interval: int = DEFAULT_PRESET.region_interval
    abort_on_detector_error: bool = False
    keep_audio: bool = True
    keep_metadata: bool = False
    #: how consenting people are recognised and left visible (``bystander.visibility``);
    #: recorded in reports, the gate itself is handed to ``Protector``
    keep_visible: tuple[str, ...] = ()
    encoder: EncoderSettings = field(default_factory=EncoderSettings)
    overwrite: bool = False

    @classmethod
    def from_preset(cls, preset: Preset | str, **changes: Any) -> ProtectSettings:
        """Settings of a named preset, with ``changes`` applied on top."""
        interval = Preset(preset).keyframe_interval
        changes.setdefault("keyframe_interval", interval)
        changes.setdefault("region_interval", Preset(preset).region_interval)
        changes.setdefault("lookback", max(cls.lookback, interval - 1))
        return cls(**changes)

    @property
    def preset(self) -> str | None:
        """The preset these settings' detection schedule matches, if any."""
        for preset in Preset:
            if preset.keyframe_interval == self.keyframe_interval:
                return preset.value
        return None

    def describe(self) -> dict[str, object]:
        data = asdict(self)
        data.pop("threads")
        data["preset"] = self.preset
        return data


class FrameProtection:
    """Builds the frame pipeline of ``settings``: one loaded detector, shared by every
    ``FrameProtector`` made for stills (full search, no tracking) or video (tracking,
    keyframes, look-back). ``visibility`` leaves consenting people visible.
    """

    def __init__(
        self,
        settings: ProtectSettings | None = None,
        detector: FaceDetector | None = None,
        visibility: VisibilityGate | None = None,
    ):
        self.settings = settings or ProtectSettings()
        self._detector = detector
        if bool(self.settings.keep_visible) != (visibility is not None):
            raise ValueError("settings.keep_visible and the visibility gate go together")
        self.visibility = visibility

    @property
    def detector(self) -> FaceDetector:
        if self._detector is None:
            s = self.settings
            options: dict[str, object] = {"threshold": s.threshold, "backend": s.backend}
            if s.precision != "auto":
                options["precision"] = s.precision
            if s.threads:
                options["threads"] = s.threads
            self._detector = create_detector(s.detector, **options)
        return self._detector

    def detector_for(self, video: bool) -> FaceDetector:
        """The detector with the search plan for stills or for video keyframes."""
        detector = self.detector
        with_search = getattr(detector, "with_search", None)
        if with_search is None:
            return detector
        plan = self.settings.video_search if video else self.settings.image_search
        if video:
            from bystander.vision.detectors.quantize import video_precision

            options: dict[str, Any] = {"min_face": self.settings.video_min_face}
            precision = video_precision(self.settings.precision, self.settings.backend)
            if precision != self.settings.precision:
                options["precision"] = precision
            chosen: FaceDetector = with_search(plan, **options)
        else:
            chosen = with_search(plan, min_face="native", any_shape=True)
        return chosen

    def frame_protector(self, video: bool) -> FrameProtector:
        s = self.settings
        return FrameProtector(
            self.detector_for(video),
            Redactor(s.redaction),
            FaceTracker(s.tracking) if video else None,
            lookback=s.lookback if video else 0,
            abort_on_detector_error=s.abort_on_detector_error,
            keyframe_interval=s.keyframe_interval if video else 1,
            region_interval=s.region_interval if video else 1,
            visibility=self.visibility,
        )
