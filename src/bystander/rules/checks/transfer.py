"""Data leaving the device: face data off the device, cloud transfer, recipients, borders."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from bystander.inspect.records import Egress, Evidence
from bystander.rules.checks.base import (
    CheckContext,
    CheckOutcome,
    Hits,
    check,
    insufficient,
    iso,
    not_applicable,
)
from bystander.rules.checks.index import (
    SEPARATE_KINDS,
    ConsentIndex,
    does_face_recognition,
    is_biometric,
    is_face,
    is_local_host,
    is_personal,
)

# EEA members (GDPR Art 44 transfers are to countries outside these).
_EEA = "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE IS LI NO"
EEA = frozenset(_EEA.split())
# Countries with a general EU adequacy decision (the US one covers only certified
# organisations, so the US is not listed: a transfer there needs a documented mechanism).
ADEQUATE = frozenset("AD AR CA FO GG IL IM JP JE NZ KR CH GB UY".split())  # noqa: SIM905
EU_MECHANISMS = ("transfer_mechanism", "scc", "bcr", "adequacy", "xborder_mechanism")


def label(cat: str) -> str:
    """``user.biometric.face.template`` -> ``face template``."""
    parts = cat.split(".")
    return " ".join(parts[2:] if parts[:2] == ["user", "biometric"] else parts[1:]) or cat


def _where(e: Egress) -> str:
    return f"{e.host} ({e.country})" if e.country else e.host


def _outbound(ev: Evidence, keep: Callable[[str], bool]) -> Iterator[tuple[Egress, list[str]]]:
    """Allowed, non-local egress with the categories ``keep`` selects."""
    memo: dict[frozenset[str], list[str]] = {}
    for e in ev.egress:
        if not e.allowed or is_local_host(e.host):
            continue
        cats = memo.get(e.data_categories)
        if cats is None:
            cats = memo[e.data_categories] = sorted(c for c in e.data_categories if keep(c))
        if cats:
            yield e, cats


def _no_traffic(ev: Evidence) -> CheckOutcome | None:
    if ev.has_traffic or ev.egress:
        return None
    return insufficient("no traffic capture in the bundle")


def _cloud_country(location: str) -> str | None:
    """``cloud:SG`` -> ``SG``; regions such as ``cloud:eu-west-1`` give None."""
    if not location.startswith("cloud:"):
        return None
    code = location[6:]
    return code if len(code) == 2 and code.isalpha() and code.isupper() else None


@check(
    "face_data_leaves_device",
    "Face data sent or stored off the device without separate consent",
    ("egress", "stores", "consents"),
)
def face_data_leaves_device(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """Face data in egress or in a cloud store with no separate face.cloud_transfer consent."""
    face_stores = [s for s in ev.stores if is_face(s.data_category)]
    face_egress = any(is_face(c) for e in ev.egress for c in e.data_categories)
    if not does_face_recognition(ev) and not face_stores and not face_egress:
        return not_applicable("the device handles no face data")
    idx = ConsentIndex(ev.consents, "face.cloud_transfer", SEPARATE_KINDS, allow_bundled=False)
    hits = Hits("transfers of face data off the device without separate consent")
    for e, cats in _outbound(ev, is_face):
        if not idx.active(None, e.t) and hits.want():
            hits.add(
                e.ref,
                f"{' and '.join(label(c) for c in cats)} sent to {_where(e)} at {iso(e.t)} "
                "with no separate face.cloud_transfer consent",
            )
    for s in face_stores:
        cloud = s.location.startswith("cloud")
        if cloud and not idx.active(s.subject_id, s.t_created) and hits.want():
            hits.add(
                s.ref,
                f"{label(s.data_category)} {s.record_id} stored in {s.location} "
                f"at {iso(s.t_created)} with no separate face.cloud_transfer consent",
            )
    if not hits.total:
        missing = _no_traffic(ev)
        if missing is not None:
            return missing
    return hits.outcome("face data stayed on the device or left under separate consent")


def _flow_scope(ev: Evidence) -> Callable[[str], tuple[bool, str | None]]:
    """Host -> (declared in a data flow, the consent scope that flow relies on)."""
    flows = [(f.destination.lower(), f.consent_scope) for f in ev.device.data_flows]
    memo: dict[str, tuple[bool, str | None]] = {}

    def lookup(host: str) -> tuple[bool, str | None]:
        found = memo.get(host)
        if found is None:
            h = host.lower()
            found = next(
                ((True, scope) for dest, scope in flows if h == dest or h.endswith("." + dest)),
                (False, None),
            )
            memo[host] = found
        return found

    return lookup


@check(
    "cloud_transfer_without_consent",
    "Personal data sent to the cloud without consent",
    ("egress", "consents"),
)
def cloud_transfer_without_consent(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """Personal data sent off the device with no consent for the flow in effect.

    The scope needed is the declared data flow's ``consent_scope``, else ``cloud_transfer``.
    """
    missing = _no_traffic(ev)
    if missing is not None:
        return missing
    lookup = _flow_scope(ev)
    indexes: dict[str, ConsentIndex] = {}
    hits = Hits("transfers of personal data without consent")
    for e, cats in _outbound(ev, is_personal):
        scope = lookup(e.host)[1] or "cloud_transfer"
        idx = indexes.get(scope)
        if idx is None:
            idx = indexes[scope] = ConsentIndex(ev.consents, scope, allow_bundled=True)
        if not idx.active(None, e.t) and hits.want():
            hits.add(
                e.ref,
                f"{', '.join(label(c) for c in cats)} sent to {_where(e)} at {iso(e.t)} "
                f"with no {scope} consent in effect",
            )
    return hits.outcome("every transfer of personal data ran under consent")


@check(
    "undisclosed_recipient",
    "Personal data sent to an undisclosed recipient",
    ("egress",),
)
def undisclosed_recipient(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """Personal data sent to a host no declared data flow names (a hidden SDK or third party)."""
    missing = _no_traffic(ev)
    if missing is not None:
        return missing
    lookup = _flow_scope(ev)
    hits = Hits("transfers to undisclosed recipients")
    for e, cats in _outbound(ev, is_personal):
        if not lookup(e.host)[0] and hits.want():
            hits.add(
                e.ref,
                f"{', '.join(label(c) for c in cats)} sent at {iso(e.t)} to {_where(e)}, "
                "a recipient no declared data flow names",
            )
    return hits.outcome("every recipient is declared")


@dataclass(frozen=True, slots=True)
class Export:
    """Personal data sent or stored outside a jurisdiction."""

    ref: str
    t: float | None
    what: str
    country: str
    categories: tuple[str, ...]


def abroad(ev: Evidence, home: Callable[[str], bool]) -> Iterator[Export]:
    """Personal data sent or stored outside ``home``."""
    for e, cats in _outbound(ev, is_personal):
        if e.country and not home(e.country.upper()):
            what = f"{', '.join(label(c) for c in cats)} sent to {_where(e)}"
            yield Export(e.ref, e.t, what, e.country, tuple(cats))
    for s in ev.stores:
        country = _cloud_country(s.location)
        if country and is_personal(s.data_category) and not home(country):
            what = f"{label(s.data_category)} stored in {s.location}"
            yield Export(s.ref, s.t_created, what, country, (s.data_category,))


def abroad_gate(ev: Evidence) -> CheckOutcome | None:
    if ev.has_traffic or ev.egress or any(_cloud_country(s.location) for s in ev.stores):
        return None
    return insufficient("no traffic capture or cloud storage inventory in the bundle")


@check(
    "cross_border_without_separate_consent",
    "Personal data exported from China without separate consent",
    ("egress", "stores", "consents"),
)
def cross_border_without_separate_consent(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """Personal data sent or stored outside mainland China with no separate cross_border consent."""
    gate = abroad_gate(ev)
    if gate is not None:
        return gate
    idx = ConsentIndex(ev.consents, "cross_border", SEPARATE_KINDS, allow_bundled=False)
    hits = Hits("exports without separate cross-border consent")
    for x in abroad(ev, lambda c: c == "CN"):
        if not idx.active(None, x.t) and hits.want():
            hits.add(x.ref, f"{x.what} at {iso(x.t)} with no separate cross_border consent")
    return hits.outcome("no export without separate consent")


def _mechanism(ev: Evidence, home: Callable[[str], bool], docs: tuple[str, ...]) -> CheckOutcome:
    gate = abroad_gate(ev)
    if gate is not None:
        return gate
    found = ev.documents_of(*docs)
    hits = Hits("transfers abroad without a documented transfer mechanism")
    if found:
        return hits.outcome(f"transfer mechanism documented in {found[0].ref}")
    for x in abroad(ev, home):
        if hits.want():
            hits.add(
                x.ref,
                f"{x.what} at {iso(x.t)} with no transfer mechanism document ({', '.join(docs)})",
            )
    return hits.outcome("no personal data left the jurisdiction")


@check(
    "transfer_outside_eea_without_mechanism",
    "Transfer outside the EEA without a mechanism",
    ("egress", "stores", "documents"),
)
def transfer_outside_eea_without_mechanism(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """Personal data to a non-adequate country outside the EEA with no SCCs, BCRs or similar."""
    return _mechanism(ev, lambda c: c in EEA or c in ADEQUATE, EU_MECHANISMS)


@check(
    "biometric_disclosed_without_consent",
    "Biometric data disclosed without consent",
    ("egress", "consents"),
)
def biometric_disclosed_without_consent(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """Biometric data sent off the device with no consent to its disclosure in effect.

    Accepted scopes: the declared flow's ``consent_scope``, ``<modality>.cloud_transfer``, or
    ``share``.
    """
    if not any(is_biometric(c) for e in ev.egress for c in e.data_categories):
        missing = _no_traffic(ev)
        if missing is not None:
            return missing
        return not_applicable("no biometric data left the device")
    lookup = _flow_scope(ev)
    indexes: dict[str, ConsentIndex] = {}

    def active(scope: str, t: float | None) -> bool:
        idx = indexes.get(scope)
        if idx is None:
            idx = indexes[scope] = ConsentIndex(ev.consents, scope, allow_bundled=False)
        return idx.active(None, t)

    hits = Hits("disclosures of biometric data without consent")
    for e, cats in _outbound(ev, is_biometric):
        modality = cats[0].split(".")[2] if cats[0].count(".") >= 2 else "biometric"
        scopes = [s for s in (lookup(e.host)[1], f"{modality}.cloud_transfer", "share") if s]
        if not any(active(s, e.t) for s in scopes) and hits.want():
            hits.add(
                e.ref,
                f"{', '.join(label(c) for c in cats)} disclosed to {_where(e)} at {iso(e.t)} "
                "with no consent to the disclosure",
            )
    return hits.outcome("biometric data left the device only under consent")
