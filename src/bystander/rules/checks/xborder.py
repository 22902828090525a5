"""Exports from China: the PIPL Art 38 mechanisms and the CAC 2024 volume thresholds.

The CAC Provisions on Promoting and Regulating Cross-Border Data Flows (22 March 2024) decide
which Art 38 mechanism an export needs, from the individuals whose personal information a
(non-CIIO) processor has exported since 1 January of the current year:

=====================================================  ===========================================
exported since 1 January                                mechanism
=====================================================  ===========================================
sensitive PI of 10,000+ people, or PI of 1,000,000+     CAC security assessment (Art 7)
sensitive PI of fewer than 10,000 people, or PI of      CAC standard contract (filed) or PI
100,000 to 999,999 people                               protection certification (Art 8)
non-sensitive PI of fewer than 100,000 people           none: exempt (Art 5(4))
=====================================================  ===========================================

Counts come from ``count`` records: ``cross_border_sensitive_subjects_ytd`` and
``cross_border_subjects_ytd`` (the largest value given counts). Sensitive data is judged from
what was seen leaving (face, voice, precise location, a child's data) even without a count.
Only the CAC instruments count as mechanisms: EU SCCs or a generic "transfer mechanism"
document do not satisfy PIPL Art 38.
"""

from __future__ import annotations

from dataclasses import dataclass

from bystander.inspect.records import Document, Evidence
from bystander.rules.checks.base import (
    CheckContext,
    CheckOutcome,
    Hits,
    check,
    insufficient,
    iso,
    not_applicable,
    passed,
)
from bystander.rules.checks.index import is_sensitive
from bystander.rules.checks.transfer import Export, abroad, abroad_gate

ASSESS_SENSITIVE = 10_000
ASSESS_ANY = 1_000_000
CONTRACT_ANY = 100_000
SENSITIVE_METRIC = "cross_border_sensitive_subjects_ytd"
ANY_METRIC = "cross_border_subjects_ytd"
ASSESSMENT = ("security_assessment",)
CONTRACT = ("standard_contract", "certification", "security_assessment")


@dataclass(frozen=True)
class Band:
    """Which mechanism the export volume calls for, and why."""

    name: str  # assessment | contract | exempt | unknown
    why: str
    exports: tuple[Export, ...]


def _count(ev: Evidence, metric: str) -> float | None:
    values = [c.value for c in ev.counts if c.metric == metric]
    return max(values) if values else None


def band(ev: Evidence) -> Band:
    """The CAC 2024 band of this device's exports from China (computed once per inspection)."""
    found = ev.derived.get("cn_export_band")
    if found is None:
        found = ev.derived["cn_export_band"] = _band(ev)
    assert isinstance(found, Band)
    return found


def _band(ev: Evidence) -> Band:
    exports = tuple(abroad(ev, lambda c: c == "CN"))
    kids = ev.device.targets_children
    sensitive_seen = kids or any(is_sensitive(c) for x in exports for c in x.categories)
    sens, total = _count(ev, SENSITIVE_METRIC), _count(ev, ANY_METRIC)
    if sens is not None and sens >= ASSESS_SENSITIVE:
        return Band("assessment", f"sensitive PI of {sens:,.0f} people exported this year "
                    f"(>= {ASSESS_SENSITIVE:,})", exports)  # fmt: skip
    if total is not None and total >= ASSESS_ANY:
        return Band("assessment", f"PI of {total:,.0f} people exported this year "
                    f"(>= {ASSESS_ANY:,})", exports)  # fmt: skip
    if sensitive_seen or (sens is not None and sens > 0):
        counted = f"of {sens:,.0f} people " if sens is not None else ""
        return Band("contract", f"sensitive PI {counted}exported (below {ASSESS_SENSITIVE:,})",
                    exports)  # fmt: skip
    if total is not None and total >= CONTRACT_ANY:
        return Band("contract", f"PI of {total:,.0f} people exported this year", exports)
    if total is not None:
        return Band("exempt", f"non-sensitive PI of {total:,.0f} people exported this year "
                    f"(below {CONTRACT_ANY:,}: exempt, Art 5(4))", exports)  # fmt: skip
    return Band("unknown", "no count of the people whose PI was exported since 1 January",
                exports)  # fmt: skip


def _docs(ev: Evidence, kinds: tuple[str, ...]) -> list[Document]:
    return ev.documents_of(*kinds)


def _hits(b: Band, what: str, needed: str) -> CheckOutcome:
    hits = Hits(what)
    for x in b.exports:
        if hits.want():
            hits.add(x.ref, f"{x.what} at {iso(x.t)}; {b.why}: needs {needed}, none in the bundle")
    if not b.exports:
        hits.hit("counts", f"{b.why}: needs {needed}, none in the bundle")
    return hits.outcome()


def _gate(ev: Evidence) -> tuple[Band | None, CheckOutcome | None]:
    found = band(ev)
    counted = _count(ev, SENSITIVE_METRIC) or _count(ev, ANY_METRIC)
    if found.exports or (counted and found.name in ("assessment", "contract")):
        return found, None
    gate = abroad_gate(ev)
    return None, gate or passed("no personal information left mainland China")


@check(
    "cross_border_without_mechanism_cn",
    "Export from China without the mechanism its volume needs",
    ("egress", "stores", "documents", "counts"),
)
def cross_border_without_mechanism_cn(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """Personal information exported with no CAC mechanism of the kind the volume needs: a
    security assessment at the Art 7 thresholds, else a standard contract, certification or
    assessment; non-sensitive exports below 100,000 people are exempt."""
    found, early = _gate(ev)
    if found is None:
        return early or not_applicable("nothing exported")
    if found.name == "exempt":
        return passed(found.why)
    kinds = ASSESSMENT if found.name == "assessment" else CONTRACT
    docs = _docs(ev, kinds)
    if docs:
        return passed(f"{found.why}; mechanism documented in {docs[0].ref}")
    if found.name == "unknown":
        if _docs(ev, CONTRACT):
            return passed(f"mechanism documented in {_docs(ev, CONTRACT)[0].ref}")
        return insufficient(f"{found.why}: whether the export is exempt cannot be judged")
    needed = (
        "a CAC security assessment"
        if found.name == "assessment"
        else ("a filed CAC standard contract, certification or security assessment")
    )
    return _hits(found, "exports without the mechanism PIPL Art 38 needs", needed)


@check(
    "xborder_assessment_missing",
    "Export volume needs a CAC security assessment",
    ("egress", "stores", "documents", "counts"),
)
def xborder_assessment_missing(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """Sensitive PI of 10,000+ people (or PI of 1,000,000+) exported since 1 January with no
    CAC security assessment (2024 Provisions Art 7)."""
    found, early = _gate(ev)
    if found is None:
        return early or not_applicable("nothing exported")
    if found.name != "assessment":
        counted = _count(ev, SENSITIVE_METRIC) is not None or _count(ev, ANY_METRIC) is not None
        if not counted:
            return insufficient(f"no export count: whether {ASSESS_SENSITIVE:,} sensitive or "
                                f"{ASSESS_ANY:,} people were reached cannot be judged")  # fmt: skip
        return passed(f"below the assessment thresholds: {found.why}")
    docs = _docs(ev, ASSESSMENT)
    if docs:
        return passed(f"security assessment {docs[0].ref}")
    return _hits(found, "exports past the assessment threshold", "a CAC security assessment")


@check(
    "xborder_contract_missing",
    "Export needs a CAC standard contract or certification",
    ("egress", "stores", "documents", "counts"),
)
def xborder_contract_missing(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """Sensitive PI below 10,000 people (or PI of 100,000-999,999) exported since 1 January
    with no filed CAC standard contract or certification (2024 Provisions Art 8)."""
    found, early = _gate(ev)
    if found is None:
        return early or not_applicable("nothing exported")
    if found.name == "assessment":
        return not_applicable(f"{found.why}: a security assessment is needed instead")
    if found.name == "exempt":
        return not_applicable(found.why)
    docs = _docs(ev, CONTRACT)
    if docs:
        return passed(f"mechanism documented in {docs[0].ref}")
    if found.name == "unknown":
        return insufficient(f"{found.why}: whether the export is exempt cannot be judged")
    return _hits(found, "exports without a standard contract or certification",
                 "a filed CAC standard contract or certification")  # fmt: skip
