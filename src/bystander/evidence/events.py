"""Audit events: the typed facts every component records, and the sink they are written to.

Events carry identifiers, decisions and reasons, never raw images, audio or biometric data.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field


class EventType(StrEnum):
    """Event types. Capture-session events carry ``session_id`` and, in ``data``, monotonic
    times in nanoseconds on the session's clock (see ``bystander.guard``):

    - ``capture.armed``: ``t_lead_ms``, ``profile`` (device profile id), ``consents`` (ids);
      since issue 16 also ``proof_gap_ms`` (the most two read-backs proving ON may be apart)
      and ``delay_frames`` (frames the live protector holds back for its look-back)
    - ``capture.refused``: ``rule`` (e.g. ``R3``, ``R10``, ``zone``), reason in ``reason``
    - ``capture.indicator_commanded``: ``commanded_ns``, ``pattern``
    - ``capture.indicator_confirmed``: ``confirmed_ns`` (read-back first seen ON)
    - ``capture.first_frame``: ``sample_ns`` (timestamp of the first released sample),
      ``released_ns`` (when it was handed to consumers)
    - ``capture.fault``: ``fault_ns``, ``rule``, reason in ``reason``
    - ``capture.stopped``: ``stopped_ns`` (release stopped), ``released`` (count),
      ``last_sample_ns``, ``last_released_ns``, ``indicator_off_ns``, ``fault`` (bool)
    - ``capture.state``: ``from``, ``to``
    - ``capture.proven_on``: ``first_read_ns`` and ``read_steps_ns`` (the read-back times,
      all ON, that prove the interval: the first, then the comma-separated gaps in ns),
      ``released``, ``first_sample_ns``, ``last_sample_ns`` (the samples released inside it)
    - ``capture.withheld``: ``count``, ``first_sample_ns``, ``last_sample_ns``: samples
      withheld because no read-back proved the indicator ON around them; why in ``reason``
    - ``capture.frame_redacted``: ``sample_ns``, ``action`` (``blanked`` or ``dropped``): the
      protector failed on a frame (R11), the reason in ``reason``
    """

    CAPTURE_ARMED = "capture.armed"
    CAPTURE_REFUSED = "capture.refused"
    INDICATOR_COMMANDED = "capture.indicator_commanded"
    INDICATOR_CONFIRMED = "capture.indicator_confirmed"
    FIRST_FRAME = "capture.first_frame"
    CAPTURE_FAULT = "capture.fault"
    CAPTURE_STOPPED = "capture.stopped"
    CAPTURE_STATE = "capture.state"
    FRAME_REDACTED = "capture.frame_redacted"
    PROVEN_ON = "capture.proven_on"
    SAMPLES_WITHHELD = "capture.withheld"
    CONSENT_GIVEN = "consent.given"
    CONSENT_REFUSED = "consent.refused"
    CONSENT_WITHDRAWN = "consent.withdrawn"
    CONSENT_EXPIRED = "consent.expired"
    CONSENT_RENEWED = "consent.renewed"
    DELETION_QUEUED = "deletion.queued"
    TEMPLATE_CREATED = "template.created"
    TEMPLATE_DELETED = "template.deleted"
    TEMPLATE_ACCESS_REFUSED = "template.access_refused"
    VAULT_KEY_ROTATED = "vault.key_rotated"
    EGRESS_ALLOWED = "egress.allowed"
    EGRESS_DENIED = "egress.denied"
    RETENTION_DELETED = "retention.deleted"
    MEDIA_PROTECTED = "media.protected"
    # consent badges (issue 8): ``token_id``, ``kind`` (qr or aruco), ``consent_id``
    BADGE_ISSUED = "badge.issued"
    BADGE_REVOKED = "badge.revoked"
    # platform screening and moderation (issue 9): item ids, decisions, rule ids, deadlines
    SCREEN_DECIDED = "screening.decided"
    MODERATION_QUEUED = "moderation.queued"
    MODERATION_DECIDED = "moderation.decided"
    MODERATION_ACTION = "moderation.action"
    COMPLAINT_RECEIVED = "moderation.complaint_received"
    TAKEDOWN = "moderation.taken_down"
    # the HTTP service (issue 10): ``token_id``, ``role``, ``method``, ``path``, ``resource``
    API_TOKEN_CREATED = "api.token_created"
    API_TOKEN_REVOKED = "api.token_revoked"
    PERSONAL_DATA_ACCESSED = "api.personal_data_accessed"
    API_ACCESS_DENIED = "api.access_denied"


class AuditEvent(BaseModel):
    """One fact for the audit log.

    ``wall_time`` is UTC ISO 8601; ``mono_ns`` a monotonic clock reading (orders events
    within one boot even if the wall clock jumps). ``data`` holds small, non-personal
    details (ids, hashes, counts, decisions).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: EventType
    wall_time: str = Field(
        default_factory=lambda: datetime.now(UTC).isoformat(timespec="microseconds")
    )
    mono_ns: int = Field(default_factory=time.monotonic_ns)
    device_id: str | None = None
    session_id: str | None = None
    subject_id: str | None = Field(default=None, description="pseudonymous data-subject id")
    reason: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    def canonical_bytes(self) -> bytes:
        """Deterministic serialization: the bytes that are hashed into the Merkle log."""
        return self.model_dump_json(exclude_none=False).encode("utf-8")


class EventSink(Protocol):
    """Where components send audit events (``AuditLog`` implements it)."""

    def append(self, event: AuditEvent) -> int:
        """Durably record ``event``; return its index in the log."""
        ...


class MemorySink:
    """An in-memory sink for callers that need no durable log (and for tests)."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def append(self, event: AuditEvent) -> int:
        self.events.append(event)
        return len(self.events) - 1
