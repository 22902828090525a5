"""Bystander's C2PA assertions: typed, validated, and free of personal data.

Labels are reverse-DNS (``c2pa.`` is reserved for the standard):

- ``org.bystander.capture-guard``: what the capture guard saw (indicator confirmed, first and
  last released frame on the device's monotonic clock, faults, session and device profile id);
- ``org.bystander.consent``: consent record ids and/or SHA-256 hashes of records, with scopes;
  never names, e-mail addresses or other personal data (validated);
- ``org.bystander.protection``: detector, settings, frames, regions redacted, tracks;
- ``org.bystander.audit-checkpoint``: the signed audit-log checkpoint covering the session;
- ``c2pa.actions`` (C2PA 2.x), saying exactly what happened:

  - a recording made by ``bystander capture``: ``c2pa.created`` with ``digitalSourceType``
    ``digitalCapture``, dated at its first frame, then ``c2pa.redacted``;
  - a file ``bystander protect`` (or ``bystander sign``) processed: ``c2pa.opened`` of the
    input, recorded as a ``parentOf`` ingredient titled ``input`` with its format only (no
    file name, no thumbnail, nothing of the unredacted original), then ``c2pa.redacted``;
  - ``c2pa.redacted`` has reason ``c2pa.PII.present`` and the regions of interest: spatial
    rectangles for images, time ranges (from the file's frame timestamps) and frame ranges
    for videos (no region ``role``: c2pa 0.91 fails to decode it).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bystander._version import __version__

CAPTURE_GUARD = "org.bystander.capture-guard"
CONSENT = "org.bystander.consent"
PROTECTION = "org.bystander.protection"
AUDIT_CHECKPOINT = "org.bystander.audit-checkpoint"
ACTIONS = "c2pa.actions"
BYSTANDER_LABELS = (CAPTURE_GUARD, CONSENT, PROTECTION, AUDIT_CHECKPOINT)

DIGITAL_CAPTURE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
#: The manifest label of the input ingredient that ``c2pa.opened`` refers to.
INPUT_INGREDIENT = "input"
PII_PRESENT = "c2pa.PII.present"
HUMAN_REGION = "http://cv.iptc.org/newscodes/imageregiontype/human"
#: Spatial regions listed one by one in ``c2pa.edited`` (images); beyond this, a summary.
MAX_LISTED_REGIONS = 32

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SCOPE = re.compile(r"^[a-z0-9][a-z0-9._:-]{0,63}$")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_PHONE = re.compile(r"\+?\d[\d ()./-]{6,}\d")
_DIGIT_RUN = re.compile(r"\d{7,}")


def _check_identifier(value: str, what: str) -> str:
    """An opaque identifier: no spaces, no '@', no long digit runs (phone-like)."""
    if not _ID.match(value) or _EMAIL.search(value):
        raise ValueError(f"{what} {value[:40]!r} is not an opaque id (looks like personal data?)")
    if _DIGIT_RUN.search(value.replace("-", "")) and not _looks_like_uuid(value):
        raise ValueError(f"{what} {value[:40]!r} looks like a phone or ID number")
    return value


def _looks_like_uuid(value: str) -> bool:
    hexed = value.rsplit(":", 1)[-1].replace("-", "")
    return len(hexed) == 32 and all(c in "0123456789abcdefABCDEF" for c in hexed)


class _Assertion(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    label: ClassVar[str]

    def to_c2pa(self) -> dict[str, Any]:
        """The assertion as the Builder wants it; ``created``: attested by the signer."""
        return {
            "label": self.label,
            "data": self.model_dump(mode="json", exclude_none=True),
            "created": True,
        }


class Fault(BaseModel):
    """A capture-guard fault: the rule (R1..R12), when, and the guard's one-line reason."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    rule: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,16}$")
    at_ns: int | None = None
    reason: str = Field(default="", max_length=200)

    @field_validator("reason")
    @classmethod
    def _no_contact_data(cls, value: str) -> str:
        if _EMAIL.search(value) or _PHONE.search(value):
            raise ValueError("fault reason must not carry personal data")
        return value


class CaptureGuardAssertion(_Assertion):
    """What the capture guard attests. Times are the device's monotonic clock, in ns."""

    label: ClassVar[str] = CAPTURE_GUARD
    session_id: str
    device_id: str
    clock: str = "monotonic_ns"
    indicator_confirmed_ns: int | None
    first_frame_ns: int | None
    last_frame_ns: int | None
    indicator_lead_ms: float | None = Field(
        default=None, description="first frame minus indicator confirmation, ms"
    )
    required_lead_ms: float | None = None
    frames_released: int | None = Field(default=None, ge=0)
    frames_withheld: int | None = Field(default=None, ge=0)
    faults: list[Fault] = Field(default_factory=list)
    duration_s: float | None = Field(
        default=None, ge=0, description="what the recording holds, from its frame timestamps"
    )
    media_frames: int | None = Field(default=None, ge=0, description="frames in the file")
    delay_frames: int | None = Field(
        default=None, ge=0, description="frames held back for the protector's look-back"
    )
    latency_p99_ms: float | None = Field(
        default=None, ge=0, description="sensor stamp to release, 99th percentile (live lag)"
    )
    frames_dropped: int | None = Field(
        default=None, ge=0, description="frames dropped to keep up with the camera"
    )
    frames_unproven: int | None = Field(
        default=None, ge=0, description="samples withheld: indicator not proven ON around them"
    )

    @field_validator("session_id", "device_id")
    @classmethod
    def _ids(cls, value: str) -> str:
        return _check_identifier(value, "session or device id")

    @model_validator(mode="after")
    def _lead(self) -> CaptureGuardAssertion:
        if self.indicator_lead_ms is None and None not in (
            self.indicator_confirmed_ns,
            self.first_frame_ns,
        ):
            lead = ((self.first_frame_ns or 0) - (self.indicator_confirmed_ns or 0)) / 1e6
            object.__setattr__(self, "indicator_lead_ms", round(lead, 3))
        return self


def capture_assertion(
    session: Any,
    *,
    first_frame_ns: int | None = None,
    last_frame_ns: int | None = None,
    faults: Sequence[Fault] | None = None,
) -> CaptureGuardAssertion:
    """From a ``bystander.guard.session.CaptureSession`` after ``stop()``.

    The session keeps the last release time but not the first; pass ``first_frame_ns`` (the
    ``capture.first_frame`` event's ``sample_ns``, or the recorder's first frame). Faults
    default to the session's latched fault rule.
    """
    if faults is None:
        rule = getattr(session, "fault_rule", None)
        faults = [Fault(rule=rule, at_ns=getattr(session, "fault_ns", None))] if rule else []
    profile = session.profile
    return CaptureGuardAssertion(
        session_id=str(session.session_id),
        device_id=str(profile.device_id),
        indicator_confirmed_ns=session.confirmed_ns,
        first_frame_ns=first_frame_ns,
        last_frame_ns=last_frame_ns if last_frame_ns is not None else session.last_released_ns,
        required_lead_ms=float(profile.indicator.t_lead_ms),
        frames_released=session.released,
        frames_withheld=session.withheld,
        faults=list(faults),
        **_live_fields(session),
    )


def _live_fields(session: Any) -> dict[str, Any]:
    """The live lag and what was dropped or unproven, from a session that reports them."""
    summary = getattr(session, "latency_summary", None)
    if not callable(summary):
        return {}
    lag = summary()
    ledger = getattr(session, "ledger", None)
    return {
        "delay_frames": lag.get("delay_frames"),
        "latency_p99_ms": lag.get("latency_p99_ms"),
        "frames_dropped": getattr(session, "dropped", None),
        "frames_unproven": getattr(ledger, "unproven", None),
    }


class ConsentReference(BaseModel):
    """A pointer to a consent record: its id and/or the SHA-256 of the record, and scope."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    record_id: str | None = None
    sha256: str | None = None
    scope: str | None = None

    @field_validator("record_id")
    @classmethod
    def _record_id(cls, value: str | None) -> str | None:
        return None if value is None else _check_identifier(value, "consent record id")

    @field_validator("sha256")
    @classmethod
    def _hash(cls, value: str | None) -> str | None:
        if value is not None and not _SHA256.match(value):
            raise ValueError("sha256 must be 64 lowercase hex digits")
        return value

    @field_validator("scope")
    @classmethod
    def _scope(cls, value: str | None) -> str | None:
        if value is not None and not _SCOPE.match(value):
            raise ValueError(f"scope {value[:40]!r} must be a short lowercase token")
        return value

    @model_validator(mode="after")
    def _something(self) -> ConsentReference:
        if self.record_id is None and self.sha256 is None:
            raise ValueError("a consent reference needs a record id or a sha256")
        return self

    @classmethod
    def of(cls, ref: str | ConsentReference) -> ConsentReference:
        """A reference from a record id, or from a hash when ``ref`` is 64 hex digits."""
        if isinstance(ref, ConsentReference):
            return ref
        return cls(sha256=ref) if _SHA256.match(ref) else cls(record_id=ref)

    @classmethod
    def of_record(cls, record_bytes: bytes, record_id: str | None = None) -> ConsentReference:
        """A reference by the SHA-256 of a serialized record (the record stays elsewhere)."""
        return cls(record_id=record_id, sha256=hashlib.sha256(record_bytes).hexdigest())


class ConsentAssertion(_Assertion):
    label: ClassVar[str] = CONSENT
    schema_: str = Field(default="ISO/IEC TS 27560:2023", alias="schema")
    records: list[ConsentReference] = Field(min_length=1)

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    def to_c2pa(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", exclude_none=True, by_alias=True)
        return {"label": self.label, "data": data, "created": True}

    @classmethod
    def of(cls, refs: Iterable[str | ConsentReference]) -> ConsentAssertion | None:
        records = [ConsentReference.of(ref) for ref in refs]
        return cls(records=records) if records else None


class DetectorInfo(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    backend: str | None = None
    threshold: float | None = None
    precision: str | None = None
    weights: str | None = None


class MaskInfo(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    mode: str | None = None
    shape: str | None = None
    mask_scale: float | None = None


class ProtectionAssertion(_Assertion):
    """How bystanders were protected in this file (no pixels, no biometric templates)."""

    label: ClassVar[str] = PROTECTION
    detector: DetectorInfo
    mask: MaskInfo
    preset: str | None = None
    keyframe_interval: int | None = None
    kind: str | None = None
    width: int | None = None
    height: int | None = None
    frames: int = Field(ge=0)
    faces_detected: int = Field(ge=0)
    regions_redacted: int = Field(ge=0)
    frames_with_regions: int | None = Field(default=None, ge=0)
    tracks: int = Field(default=0, ge=0)
    whole_frames_redacted: int = Field(default=0, ge=0)
    faces_kept_visible: int = Field(
        default=0, ge=0, description="faces left visible because their person consented"
    )
    keep_visible: list[str] = Field(
        default_factory=list, description="how consenting people were recognised: enrolled, badges"
    )
    biometric_templates_created: bool = False
    software: str = f"bystander {__version__}"

    @classmethod
    def from_descriptions(
        cls,
        settings: Mapping[str, Any],
        summary: Mapping[str, Any],
        detector: Mapping[str, Any] | None = None,
        **extra: Any,
    ) -> ProtectionAssertion:
        """From ``ProtectSettings.describe()``, an ``ItemSummary`` dump and the detector's
        ``describe()`` (which wins over the settings where both say something)."""
        det = dict(detector or {})
        redaction = settings.get("redaction") or {}
        info = DetectorInfo(
            name=str(det.get("name") or settings.get("detector") or "unknown"),
            backend=_opt_str(det.get("backend", settings.get("backend"))),
            threshold=_opt_float(det.get("threshold", settings.get("threshold"))),
            precision=_opt_str(det.get("precision", settings.get("precision"))),
            weights=_opt_str(det.get("weights")),
        )
        mask = MaskInfo(
            mode=_opt_str(redaction.get("mode")),
            shape=_opt_str(redaction.get("shape")),
            mask_scale=_opt_float(redaction.get("mask_scale")),
        )
        return cls(
            detector=info,
            mask=mask,
            preset=_opt_str(settings.get("preset")),
            keyframe_interval=settings.get("keyframe_interval"),
            frames=int(summary.get("frames", 0)),
            faces_detected=int(summary.get("faces_detected", 0)),
            regions_redacted=int(summary.get("regions_redacted", 0)),
            tracks=int(summary.get("tracks", 0)),
            whole_frames_redacted=int(summary.get("whole_frames_redacted", 0)),
            faces_kept_visible=int(summary.get("faces_kept_visible", 0)),
            keep_visible=[str(k) for k in settings.get("keep_visible") or ()],
            **extra,
        )


class AuditCheckpointAssertion(_Assertion):
    """The signed audit checkpoint (C2SP signed note) that covers the session's events."""

    label: ClassVar[str] = AUDIT_CHECKPOINT
    origin: str = Field(min_length=1, max_length=200)
    tree_size: int = Field(ge=0)
    root_hash: str = Field(description="base64 RFC 6962 root, as in the checkpoint")
    note_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    verifier_key: str | None = Field(default=None, max_length=300)

    @classmethod
    def of(cls, checkpoint: Any, verifier_key: str | None = None) -> AuditCheckpointAssertion:
        """From a ``bystander.evidence.checkpoint.Checkpoint``."""
        return cls(
            origin=checkpoint.origin,
            tree_size=checkpoint.size,
            root_hash=base64.b64encode(checkpoint.root_hash).decode("ascii"),
            note_sha256=hashlib.sha256(checkpoint.note.encode("utf-8")).hexdigest(),
            verifier_key=verifier_key,
        )


class ProtectionTally:
    """Counts what a ``FrameProtector`` did: append it to ``protector.on_protected``.

    Keeps counts and runs of frame numbers only, never pixels (captures can be long).
    """

    def __init__(self) -> None:
        self.frames = 0
        self.faces_detected = 0
        self.regions_redacted = 0
        self.whole_frames_redacted = 0
        self.frames_with_regions = 0
        self.faces_kept_visible = 0
        self.consents: dict[str, None] = {}  # consent records that kept someone visible
        self.ranges: list[tuple[int, int]] = []

    def __call__(self, frame: Any) -> None:
        """Take one ``ProtectedFrame`` (index, regions, detected, whole_frame)."""
        self.frames += 1
        self.faces_detected += int(frame.detected)
        regions = len(frame.regions)
        self.regions_redacted += regions
        self.whole_frames_redacted += int(bool(frame.whole_frame))
        kept = getattr(frame, "kept", ())
        self.faces_kept_visible += len(kept)
        for item in kept:
            if item.consent_id:
                self.consents.setdefault(item.consent_id, None)
        if regions or frame.whole_frame:
            self.frames_with_regions += 1
            index = int(frame.index)
            if self.ranges and self.ranges[-1][1] + 1 == index:
                self.ranges[-1] = (self.ranges[-1][0], index)
            else:
                self.ranges.append((index, index))

    def assertion(
        self,
        settings: Mapping[str, Any],
        detector: Mapping[str, Any] | None = None,
        **extra: Any,
    ) -> ProtectionAssertion:
        """``settings``: ``ProtectSettings.describe()``; ``extra``: tracks, width, height..."""
        summary = {
            "frames": self.frames,
            "faces_detected": self.faces_detected,
            "regions_redacted": self.regions_redacted,
            "whole_frames_redacted": self.whole_frames_redacted,
            "faces_kept_visible": self.faces_kept_visible,
            "tracks": extra.pop("tracks", 0),
        }
        extra.setdefault("kind", "video")
        return ProtectionAssertion.from_descriptions(
            settings, summary, detector, frames_with_regions=self.frames_with_regions, **extra
        )


def software_agent() -> dict[str, str]:
    return {"name": "bystander", "version": __version__}


def created_action(
    when: datetime | None = None, source_type: str = DIGITAL_CAPTURE
) -> dict[str, Any]:
    return {
        "action": "c2pa.created",
        "digitalSourceType": source_type,
        "softwareAgent": software_agent(),
        "when": _iso(when),
    }


def opened_action(when: datetime | None = None) -> dict[str, Any]:
    """``c2pa.opened`` of the input ingredient (see ``input_ingredient``)."""
    return {
        "action": "c2pa.opened",
        "softwareAgent": software_agent(),
        "when": _iso(when),
        "parameters": {"ingredientIds": [INPUT_INGREDIENT]},
    }


def input_ingredient(title: str, format: str) -> dict[str, Any]:
    """The input as a ``parentOf`` ingredient: its name and format, nothing of its content."""
    return {
        "title": title[:200] or "input",
        "format": format,
        "relationship": "parentOf",
        "label": INPUT_INGREDIENT,
    }


def redacted_action(
    protection: ProtectionAssertion,
    boxes: Sequence[tuple[float, float, float, float]] = (),
    frame_ranges: Sequence[tuple[int, int]] = (),
    when: datetime | None = None,
    times: Sequence[tuple[float, float]] | None = None,
) -> dict[str, Any]:
    """``c2pa.redacted`` (reason ``c2pa.PII.present``): bystander faces redacted.

    ``boxes`` (images: x1, y1, x2, y2 pixels) become spatial rectangles; ``frame_ranges``
    (videos: first and last frame of each run of frames holding redactions) become frame
    regions, each with its time range (``times``, seconds from the file's timestamps, one
    per frame range) when given. At most ``MAX_LISTED_REGIONS`` of each are listed (the
    counts are in the protection assertion). No ``parameters``: c2pa-rs reads any
    parameters of ``c2pa.redacted`` as an assertion redaction and rejects them.
    """
    mode = protection.mask.mode or "mask"
    description = (
        f"Bystander faces redacted ({mode}): {protection.regions_redacted} regions in "
        f"{protection.frames} frame{'s' if protection.frames != 1 else ''}"
    )
    changes: list[dict[str, Any]] = []
    for x1, y1, x2, y2 in list(boxes)[:MAX_LISTED_REGIONS]:
        shape = {
            "type": "rectangle",
            "unit": "pixel",
            "origin": {"x": round(x1, 1), "y": round(y1, 1)},
            "width": round(max(x2 - x1, 0.0), 1),
            "height": round(max(y2 - y1, 0.0), 1),
        }
        changes.append(
            {
                "region": [{"type": "spatial", "shape": shape}],
                "type": HUMAN_REGION,
                "description": "face redacted",
            }
        )
    if times is not None and len(times) != len(frame_ranges):
        raise ValueError("one time range per frame range")
    for i, (start, end) in enumerate(list(frame_ranges)[:MAX_LISTED_REGIONS]):
        region: list[dict[str, Any]] = [{"type": "frame", "frame": {"start": start, "end": end}}]
        if times is not None:
            t0, t1 = times[i]
            npt = {"type": "npt", "start": f"{t0:.3f}", "end": f"{t1:.3f}"}
            region.insert(0, {"type": "temporal", "time": npt})
        changes.append(
            {"region": region, "type": HUMAN_REGION, "description": "frames with redacted faces"}
        )
    action: dict[str, Any] = {
        "action": "c2pa.redacted",
        "reason": PII_PRESENT,
        "description": description,
        "softwareAgent": software_agent(),
        "when": _iso(when),
    }
    if changes:
        action["changes"] = changes
    return action


#: The earlier name of ``redacted_action``.
anonymized_action = redacted_action


def frame_ranges(frame_indices: Iterable[int]) -> list[tuple[int, int]]:
    """Runs of consecutive frame numbers, e.g. [0, 1, 2, 7] -> [(0, 2), (7, 7)]."""
    runs: list[tuple[int, int]] = []
    for index in sorted(set(frame_indices)):
        if runs and index == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], index)
        else:
            runs.append((index, index))
    return runs


def _iso(when: datetime | None) -> str:
    return (when or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


def _opt_float(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None
