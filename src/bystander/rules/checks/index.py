"""Indexes checks share: consent state over time, zone and indicator timelines, category tests.

Every index is built in one pass over an already time-sorted record list; queries bisect.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Collection, Iterable, Sequence
from functools import lru_cache

from bystander.inspect.records import (
    BiometricOp,
    BiometricOpKind,
    Consent,
    ConsentAction,
    ConsentKindName,
    Evidence,
    Indicator,
    Sensor,
    Zone,
    ZoneType,
)
from bystander.rules.taxonomy import load_taxonomy

NEG_INF = float("-inf")
FACE = "user.biometric.face"
BIOMETRIC = "user.biometric"
# Kinds that satisfy a "separate consent" requirement (PIPL 29, FRM 6): written and guardian
# consent are separate acts too; "explicit" alone is a GDPR notion and is not enough in China.
SEPARATE_KINDS = frozenset(
    {ConsentKindName.SEPARATE, ConsentKindName.WRITTEN, ConsentKindName.GUARDIAN}
)
EXPLICIT_KINDS = SEPARATE_KINDS | {ConsentKindName.EXPLICIT}
WRITTEN_KINDS = frozenset({ConsentKindName.WRITTEN})
# Biometric operations that identify or prepare identification (detection alone does not).
RECOGNITION_OPS = frozenset(
    {
        BiometricOpKind.TEMPLATE_CREATE,
        BiometricOpKind.VERIFY_1TO1,
        BiometricOpKind.IDENTIFY_1TON,
        BiometricOpKind.CATEGORIZE,
        BiometricOpKind.EMOTION,
    }
)
PROCESSING_OPS = RECOGNITION_OPS
# Identity recognition (FRM Art 19): enrolment, 1:1 verification, 1:N identification. Emotion
# recognition and categorisation identify no one: PIPL applies to them, the FR measures do not.
IDENTIFYING_OPS = frozenset(
    {BiometricOpKind.TEMPLATE_CREATE, BiometricOpKind.VERIFY_1TO1, BiometricOpKind.IDENTIFY_1TON}
)
ENDING = frozenset({ConsentAction.WITHDRAWN, ConsentAction.EXPIRED, ConsentAction.REFUSED})
STARTING = frozenset({ConsentAction.GRANTED, ConsentAction.RENEWED})


def scope_covers(granted: str, required: str) -> bool:
    """Whether a consent scope ``granted`` covers ``required``.

    ``face`` covers ``face.processing``; ``cross_border:api.x.com`` covers ``cross_border``.
    """
    return (
        granted == required
        or required.startswith(granted + ".")
        or granted.startswith(required + ":")
    )


def any_scope_covers(scopes: Iterable[str], required: str) -> bool:
    return any(scope_covers(s, required) for s in scopes)


def is_face(cat: str) -> bool:
    return cat == FACE or cat.startswith(FACE + ".")


def is_biometric(cat: str) -> bool:
    return cat == BIOMETRIC or cat.startswith(BIOMETRIC + ".")


def is_personal(cat: str) -> bool:
    return cat == "user" or cat.startswith("user.")


def is_sensitive(cat: str) -> bool:
    return load_taxonomy().is_sensitive(cat)


def op_scope(op: BiometricOp) -> str:
    """The consent scope a biometric operation needs: ``face.processing``, ``voice.processing``."""
    return f"{op.modality}.processing"


@lru_cache(maxsize=8192)
def is_local_host(host: str) -> bool:
    """A destination on the device or its local network (not "the Internet")."""
    h = host.lower()
    return (
        h in ("localhost", "on_device", "127.0.0.1", "::1")
        or h.endswith(".local")
        or h.startswith(("10.", "192.168.", "127."))
        or any(h.startswith(f"172.{n}.") for n in range(16, 32))
    )


class ConsentIndex:
    """Whether consent to one scope is in effect for a subject at a time.

    Grants count when their kind is acceptable (and not bundled, unless allowed); refusals,
    withdrawals and expiries end consent whatever their kind. A consent with no subject is the
    device user's and covers every subject; a grant without a time counts from the start.
    """

    def __init__(
        self,
        consents: Sequence[Consent],
        scope: str,
        kinds: Collection[ConsentKindName] | None = None,
        *,
        allow_bundled: bool = True,
        guardian_only: bool = False,
    ) -> None:
        self.scope = scope
        per: dict[str | None, tuple[list[float], list[bool], list[Consent]]] = {}
        active: dict[str | None, bool] = {}
        any_times: list[float] = []
        any_state: list[bool] = []
        live = 0
        for c in consents:
            if not any_scope_covers(c.scopes, scope):
                continue
            if c.action in STARTING:
                ok = (kinds is None or c.kind in kinds) and (allow_bundled or not c.bundled)
                if guardian_only:
                    ok = ok and (c.kind is ConsentKindName.GUARDIAN or c.granted_by == "guardian")
                if not ok:
                    continue
                state = True
            elif c.action in ENDING:
                if c.t is None:
                    continue
                state = False
            else:
                continue
            t = NEG_INF if c.t is None else c.t
            times, states, recs = per.setdefault(c.subject_id, ([], [], []))
            times.append(t)
            states.append(state)
            recs.append(c)
            was = active.get(c.subject_id, False)
            active[c.subject_id] = state
            live += int(state) - int(was)
            any_times.append(t)
            any_state.append(live > 0)
        self._per = per
        self._any = (any_times, any_state)
        self.ever_granted = any(any_state)

    @staticmethod
    def _at(times: list[float], states: list[bool], t: float) -> bool:
        i = bisect_right(times, t)
        return bool(i) and states[i - 1]

    def active(self, subject: str | None, t: float | None) -> bool:
        """Consent in effect for ``subject`` at ``t`` (``None`` subject: anyone's consent)."""
        when = float("inf") if t is None else t
        if subject is None:
            return self._at(*self._any, when)
        for key in (subject, None):
            entry = self._per.get(key)
            if entry is not None and self._at(entry[0], entry[1], when):
                return True
        return False

    def own(self, subject: str, t: float | None) -> bool:
        """The subject's own consent in effect at ``t`` (no one else's stands in for it)."""
        entry = self._per.get(subject)
        return entry is not None and self._at(entry[0], entry[1], float("inf") if t is None else t)

    def last_event(self, subject: str | None, t: float | None) -> Consent | None:
        """The subject's own latest grant or ending event at or before ``t``."""
        entry = self._per.get(subject)
        if entry is None:
            return None
        i = bisect_right(entry[0], float("inf") if t is None else t)
        return entry[2][i - 1] if i else None


class ZoneTimeline:
    """Which zone the device was in at a time (the latest zone record at or before it)."""

    def __init__(self, zones: Sequence[Zone]) -> None:
        timed = [z for z in zones if z.t is not None]
        self._times = [z.t for z in timed if z.t is not None]
        self._zones = timed

    def at(self, t: float | None) -> Zone | None:
        if t is None or not self._times:
            return None
        i = bisect_right(self._times, t)
        return self._zones[i - 1] if i else None

    def zone_of(self, own: ZoneType | None, t: float | None) -> tuple[ZoneType | None, str]:
        """The record's own zone, else the timeline's; with the ref that says so."""
        if own is not None:
            return own, ""
        z = self.at(t)
        return (z.zone_type, z.ref) if z is not None else (None, "")


class IndicatorTimeline:
    """The on/off state of one sensor's indicator over time."""

    def __init__(self, indicators: Sequence[Indicator], sensor: Sensor) -> None:
        self.times: list[float] = []
        self.records: list[Indicator] = []
        for i in indicators:
            if i.sensor is sensor and i.t is not None and i.state in ("on", "off"):
                self.times.append(i.t)
                self.records.append(i)

    def state_at(self, t: float) -> Indicator | None:
        i = bisect_right(self.times, t)
        return self.records[i - 1] if i else None

    def first_off_in(self, start: float, end: float) -> Indicator | None:
        """The first ``off`` switch strictly inside (start, end)."""
        i = bisect_right(self.times, start)
        while i < len(self.times) and self.times[i] < end:
            if self.records[i].state == "off":
                return self.records[i]
            i += 1
        return None


def first_time(records: Iterable[float | None]) -> float | None:
    """The earliest known time of an iterable of times."""
    known = [t for t in records if t is not None]
    return min(known) if known else None


def does_biometrics(ev: Evidence) -> bool:
    """The device processes biometrics: declared, or observed recognition operations."""
    d = ev.device
    return bool(
        d.face_recognition
        or d.biometrics
        or any(op.op in RECOGNITION_OPS for op in ev.biometric_ops)
    )


def does_face_recognition(ev: Evidence) -> bool:
    """Face recognition in the FR measures' sense (Art 19): identity recognition from faces,
    declared (``face_recognition: true``) or observed (enrolment, verification,
    identification). Face detection, emotion recognition and categorisation are not."""
    return ev.device.face_recognition or any(
        op.modality == "face" and op.op in IDENTIFYING_OPS for op in ev.biometric_ops
    )


def has_camera_or_mic(ev: Evidence) -> bool:
    sensors = set(ev.device.sensors)
    return bool(sensors & {"camera", "microphone"}) or bool(ev.captures)
