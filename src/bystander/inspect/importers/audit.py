"""Bystander audit exports -> typed records, after offline verification (fail closed).

The export is first verified with ``bystander.evidence.audit.verify_bundle`` (against the
manifest's ``audit_keys`` when given, else the export's own keys, which is noted). Every entry
must be covered by a signed checkpoint; an export that fails verification (an altered or
uncovered entry, a stripped or forged checkpoint) is an ``AuditExportRejected`` (exit 3),
one that cannot be read a ``BundleError``. Then each event becomes records (``ref`` is
``audit:<index>``):

======================================  ==========================================================
event                                   records
======================================  ==========================================================
``capture.armed``                       remembered for the session (consent ids, mode, audio,
                                        location); a ``Zone`` when the location changes
``capture.first_frame`` + ``stopped``   ``Capture`` (camera; and microphone when armed with audio):
                                        ``t_start`` = ``sample_ns``; ``t_end`` = the later of
                                        ``stopped_ns`` and ``last_released_ns``; ``consent_ids``
                                        from ``armed``; a session never stopped has ``t_end=None``
``capture.indicator_confirmed``         ``Indicator`` on at ``confirmed_ns``
``capture.stopped``                     ``Indicator`` off at ``indicator_off_ns``
``capture.fault`` (R2-R5: indicator)    ``Indicator`` tampered at ``fault_ns``
``capture.refused`` rule R3 / ``zone``  ``Indicator`` tampered / ``Zone`` of the refused location
``capture.fault`` rule ``zone``         ``Zone`` of the location entered
``consent.*``                           ``Consent`` (scopes mapped, kind, bundled, record id,
                                        the subject's role and under-14 flag)
``template.created`` / ``deleted``      ``BiometricOp`` template_create / template_delete, and a
                                        ``Store`` of the face template (on device, encrypted)
                                        whose ``t_deleted`` the deletion sets
``egress.allowed`` / ``denied``         ``Egress`` with ``allowed`` true / false
``retention.deleted``                   ``Store`` with ``t_deleted`` (creation time unknown)
======================================  ==========================================================

Every ``capture.*`` event is also kept as it is (``Evidence.guard_events``): the capture
checks replay them with ``bystander.evidence.replay``, exactly as ``bystander audit replay``.

Session times: capture events carry monotonic nanoseconds on the session's clock
(``*_ns`` fields), and the event itself a ``mono_ns`` reading on that same clock and its
``wall_time``. A field becomes epoch seconds as ``wall_time + (field_ns - mono_ns) / 1e9``:
the offset is taken from the event that carries the field, so wall-clock jumps between
events do not accumulate.

Consent scopes map to the rule vocabulary: ``record-video`` -> ``recording``,
``record-audio`` -> ``recording.audio``, ``live-stream`` -> ``live_stream``,
``ai-processing`` -> ``ai_processing``, ``cloud-processing`` -> ``cloud_transfer``,
``face-enrolment`` -> ``face.processing``, ``face-cloud-transfer`` -> ``face.cloud_transfer``,
``cross-border-transfer`` -> ``cross_border``, ``publication`` -> ``publish``; others pass
through. A ``general`` record that bundles a separate-consent scope with others is
``bundled``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bystander.errors import BystanderError
from bystander.evidence.audit import VerifyPolicy, verify_bundle
from bystander.evidence.checkpoint import NoteVerifier
from bystander.evidence.events import AuditEvent
from bystander.inspect import records as R
from bystander.inspect import traffic as T
from bystander.inspect.importers.common import (
    MAX_STREAM_BYTES,
    BundleError,
    check_size,
    open_binary,
    parse_time,
)

SCOPES = {
    "record-video": "recording",
    "record-audio": "recording.audio",
    "live-stream": "live_stream",
    "ai-processing": "ai_processing",
    "cloud-processing": "cloud_transfer",
    "face-enrolment": "face.processing",
    "face-cloud-transfer": "face.cloud_transfer",
    "cross-border-transfer": "cross_border",
    "publication": "publish",
}
_SEPARATE = frozenset(
    {"face-enrolment", "face-cloud-transfer", "cross-border-transfer", "publication"}
)
DATA_KINDS = {
    "video": T.CAMERA,
    "image": T.CAMERA,
    "audio": T.MICROPHONE,
    "face-image": T.FACE_IMAGE,
    "face-template": T.FACE_TEMPLATE,
    "face-embedding": T.FACE_EMBEDDING,
    "voiceprint": T.VOICE,
    "location": T.LOCATION,
    "telemetry": "user.device",
}
ZONES = {
    "hotel_room": R.ZoneType.HOTEL_ROOM,
    "public_bath": R.ZoneType.PUBLIC_BATH,
    "changing_room": R.ZoneType.CHANGING_ROOM,
    "toilet": R.ZoneType.TOILET,
    "public": R.ZoneType.PUBLIC_PLACE,
    "street": R.ZoneType.PUBLIC_PLACE,
    "home": R.ZoneType.HOME,
    "workplace": R.ZoneType.WORKPLACE,
}
_ZONE_WORD = re.compile(r"\b(" + "|".join(ZONES) + r")\b")
_INDICATOR_RULES = frozenset({"R2", "R3", "R4", "R5"})
_ACTIONS = {
    "consent.given": R.ConsentAction.GRANTED,
    "consent.refused": R.ConsentAction.REFUSED,
    "consent.withdrawn": R.ConsentAction.WITHDRAWN,
    "consent.expired": R.ConsentAction.EXPIRED,
    "consent.renewed": R.ConsentAction.RENEWED,
}


class AuditExportRejected(BundleError):
    """An audit export failed verification: altered, truncated, uncovered or forged."""

    exit_code = 3


def load_audit(
    path: Path, name: str, evidence: R.Evidence, verifiers: Sequence[NoteVerifier] | None = None
) -> int:
    """Verify one audit export, then append its records to ``evidence``; returns the count."""
    check_size(path, name, MAX_STREAM_BYTES)
    try:
        report = verify_bundle(path, list(verifiers) if verifiers else None, VerifyPolicy())
    except BystanderError as exc:
        raise BundleError(f"{name}: {str(exc).replace(str(path), name)}") from None
    if not report.ok:
        first = report.first_tampered or report.problems[0]
        total = len(report.problems) + report.omitted
        more = f" ({total} problems in all)" if total > 1 else ""
        raise AuditExportRejected(
            f"{name}: audit export failed verification: {first.message}{more}"
        )
    evidence.notes.extend(f"{name}: {w}" for w in report.warnings)
    mapper = _Mapper(evidence)
    with open_binary(path, name, MAX_STREAM_BYTES) as stream:
        header = json.loads(stream.readline())
        for _ in range(header["checkpoints"]):
            stream.readline()
        for raw in stream:
            entry = json.loads(raw)
            try:
                mapper.event(entry["index"], json.loads(entry["event"]))
            except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
                raise BundleError(
                    f"{name}: entry {entry.get('index')}: unexpected event ({exc})"
                ) from None
    mapper.finish()
    return mapper.count


@dataclass
class _Session:
    consents: tuple[str, ...] = ()
    t_lead_ms: float | None = None
    mode: str = "video"
    audio: bool = False
    zone: R.ZoneType | None = None
    first: tuple[str, float | None] | None = None  # (ref, t_start)


@dataclass
class _Mapper:
    ev: R.Evidence
    count: int = 0
    sessions: dict[str, _Session] = field(default_factory=dict)
    templates: dict[str, int] = field(default_factory=dict)  # template id -> index in stores
    zone: R.ZoneType | None = None

    def event(self, index: int, event: dict[str, Any]) -> None:
        kind = event["type"]
        ref = f"audit:{index}"
        wall = parse_time(event["wall_time"])
        if kind.startswith("capture."):
            self._capture(kind, ref, wall, event)
        elif kind in _ACTIONS:
            self._consent(kind, ref, wall, event)
        elif kind in ("template.created", "template.deleted"):
            self._template(kind, ref, wall, event)
        elif kind in ("egress.allowed", "egress.denied"):
            self._egress(kind, ref, wall, event)
        elif kind == "retention.deleted":
            data = event.get("data") or {}
            cat = str(data.get("data_category") or "unknown")
            self._add(
                self.ev.stores,
                R.Store(ref, str(data.get("item_id") or ref), _category(cat), t_deleted=wall),
            )

    def _add(self, target: list[Any], record: Any) -> None:
        target.append(record)
        self.count += 1

    # capture sessions

    def _capture(self, kind: str, ref: str, wall: float | None, event: dict[str, Any]) -> None:
        data = event.get("data") or {}
        sid = event.get("session_id")
        session = self.sessions.setdefault(sid or "", _Session())

        def at(key: str) -> float | None:
            ns, mono = data.get(key), event.get("mono_ns")
            if wall is None or not isinstance(ns, int) or isinstance(ns, bool):
                return None
            return wall + (ns - mono) / 1e9 if isinstance(mono, int) else wall

        self.ev.guard_events.append((ref, AuditEvent.model_validate(event)))
        sensors = [R.Sensor.CAMERA] + ([R.Sensor.MICROPHONE] if session.audio else [])
        if kind == "capture.armed":
            session.consents = tuple(str(c) for c in data.get("consents") or ())
            lead = data.get("t_lead_ms")
            ok = isinstance(lead, int | float) and not isinstance(lead, bool)
            session.t_lead_ms = float(lead) if ok and lead is not None else None
            session.mode = "photo" if data.get("mode") == "still" else "video"
            session.audio = bool(data.get("audio"))
            session.zone = ZONES.get(str(data.get("location")))
            if session.zone is not None and session.zone is not self.zone:
                self._zone(ref, wall, session.zone, sid)
        elif kind == "capture.indicator_confirmed":
            for sensor in sensors:
                self._add(
                    self.ev.indicators, R.Indicator(ref, at("confirmed_ns"), "on", sensor, sid)
                )
        elif kind == "capture.first_frame":
            session.first = (ref, at("sample_ns"))
        elif kind == "capture.stopped":
            ends = [t for t in (at("stopped_ns"), at("last_released_ns")) if t is not None]
            self._close(sid, session, max(ends) if ends else wall)
            for sensor in sensors:
                off = at("indicator_off_ns")
                self._add(self.ev.indicators, R.Indicator(ref, off, "off", sensor, sid))
        elif kind in ("capture.fault", "capture.refused"):
            rule = str(data.get("rule") or "")
            t = at("fault_ns") if kind == "capture.fault" else wall
            if rule == "zone":
                found = _ZONE_WORD.search(event.get("reason") or "")
                if found:
                    self._zone(ref, t, ZONES[found.group(1)], sid)
            elif (rule in _INDICATOR_RULES and kind == "capture.fault") or rule == "R3":
                for sensor in sensors:
                    self._add(self.ev.indicators, R.Indicator(ref, t, "tampered", sensor, sid))

    def _zone(self, ref: str, t: float | None, zone: R.ZoneType, sid: str | None) -> None:
        self.zone = zone
        self._add(self.ev.zones, R.Zone(ref, t, zone, sid))

    def _close(self, sid: str | None, session: _Session, t_end: float | None) -> None:
        if session.first is None:
            return
        ref, t_start = session.first
        session.first = None
        sensors = [R.Sensor.CAMERA] + ([R.Sensor.MICROPHONE] if session.audio else [])
        for sensor in sensors:
            capture = R.Capture(
                ref, t_start, t_end, sensor, session.mode, sid, session.zone, session.consents,
                session.t_lead_ms,
            )  # fmt: skip
            self._add(self.ev.captures, capture)

    def finish(self) -> None:
        """Sessions whose stop is not in the log: captures with an unknown end."""
        for sid, session in self.sessions.items():
            self._close(sid or None, session, None)

    # consent, templates, egress

    def _consent(self, kind: str, ref: str, wall: float | None, event: dict[str, Any]) -> None:
        data = event.get("data") or {}
        raw_scopes = [str(s) for s in data.get("scopes") or ()]
        try:
            ckind = R.ConsentKindName(str(data.get("kind") or "general"))
        except ValueError:
            ckind = R.ConsentKindName.GENERAL
        bundled = (
            ckind is R.ConsentKindName.GENERAL
            and len(raw_scopes) > 1
            and any(s in _SEPARATE for s in raw_scopes)
        )
        record = R.Consent(
            ref=ref,
            t=wall,
            action=_ACTIONS[kind],
            scopes=frozenset(SCOPES.get(s, s) for s in raw_scopes),
            kind=ckind,
            subject_id=event.get("subject_id"),
            record_id=data.get("record_id"),
            granted_by="guardian" if ckind is R.ConsentKindName.GUARDIAN else None,
            bundled=bundled,
            subject_role=str(data["role"]) if data.get("role") else None,
            under_14=data["under_14"] if isinstance(data.get("under_14"), bool) else None,
        )
        self._add(self.ev.consents, record)

    def _template(self, kind: str, ref: str, wall: float | None, event: dict[str, Any]) -> None:
        data = event.get("data") or {}
        subject = event.get("subject_id")
        tid = str(data.get("template_id") or ref)
        purpose = data.get("purpose")
        created = kind == "template.created"
        op = R.BiometricOpKind.TEMPLATE_CREATE if created else R.BiometricOpKind.TEMPLATE_DELETE
        self._add(self.ev.biometric_ops, R.BiometricOp(ref, wall, op, subject, purpose=purpose))
        stores = self.ev.stores
        if created:
            self.templates[tid] = len(stores)
            store = R.Store(ref, tid, T.FACE_TEMPLATE, "on_device", wall, encrypted=True,
                            subject_id=subject)  # fmt: skip
            self._add(stores, store)
        elif tid in self.templates:
            i = self.templates.pop(tid)
            stores[i] = dataclasses.replace(stores[i], t_deleted=wall)
        else:
            store = R.Store(ref, tid, T.FACE_TEMPLATE, "on_device", None, wall, encrypted=True,
                            subject_id=subject)  # fmt: skip
            self._add(stores, store)

    def _egress(self, kind: str, ref: str, wall: float | None, event: dict[str, Any]) -> None:
        data = event.get("data") or {}
        allowed = kind == "egress.allowed"
        kinds = [str(k) for k in data.get("data_kinds") or ()]
        purpose = data.get("purpose")
        verdict = "allowed" if allowed else "denied"
        record = R.Egress(
            ref=ref,
            t=wall,
            host=str(data.get("host") or "unknown"),
            data_categories=frozenset(DATA_KINDS.get(k, k) for k in kinds),
            country=(str(data["country"]).upper() or None) if data.get("country") else None,
            allowed=allowed,
            findings=(f"egress gate {verdict} {', '.join(kinds) or 'data'} for {purpose}",),
        )
        self._add(self.ev.egress, record)


def _category(value: str) -> str:
    return value if value.startswith("user") else DATA_KINDS.get(value, value)
