"""A self-contained HTML report a non-engineer can read and print.

Rendered with Jinja2 with autoescaping on: evidence messages can carry attacker-controlled text
(from captured traffic, documents), so nothing from the inspection is ever marked safe.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache

import jinja2

from bystander.inspect.findings import EvidenceItem, Finding, Inspection, Verdict
from bystander.inspect.plan import PlanGroup, deadline_of, rectification_plan
from bystander.inspect.report.common import (
    FAMILY_BLURBS,
    VERDICT_HEADINGS,
    FamilySummary,
    family_label,
    family_summaries,
    overall_verdict,
    sorted_findings,
    status_label,
)

MAX_EVIDENCE = 200


@cache
def environment() -> jinja2.Environment:
    """The Jinja2 environment for the inspector's templates (autoescape always on)."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("bystander.inspect", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@dataclass(frozen=True, slots=True)
class Card:
    """One finding in plain words."""

    rule_id: str
    title: str
    where: str  # instrument and article
    jurisdiction: str
    status: str
    severity: str
    family: str
    verdict: str
    asks: str
    found: str
    todo: str
    deadline: date | None
    days: int | None
    required: bool
    evidence: tuple[EvidenceItem, ...]
    more: int


def _found(finding: Finding) -> str:
    n = len(finding.evidence)
    if finding.verdict is Verdict.INSUFFICIENT_EVIDENCE:
        return "We could not check this rule: " + (finding.reason or "evidence is missing.")
    if finding.verdict is Verdict.NOT_APPLICABLE:
        return "This rule does not apply to this device. " + finding.reason
    if finding.verdict is Verdict.PASS:
        return "We found nothing against this rule."
    first = f" For example: {finding.evidence[0].message}" if n else ""
    what = "is not met" if finding.verdict is Verdict.VIOLATION else "is not followed"
    return f"We found {n} piece{'s' if n != 1 else ''} of evidence that this {what}.{first}"


def _card(finding: Finding, inspection: Inspection) -> Card:
    where = " ".join(p for p in (finding.instrument, finding.article) if p)
    if finding.rule_status == "in-force":
        asks = f"{finding.title}. A legal requirement: {where}."
    else:
        asks = (
            f"{finding.title}. A recommendation, not a legal requirement: "
            f"{status_label(finding.rule_status)}, {where}."
        )
    due = deadline_of(finding, inspection.inspected_on) if finding.failed else None
    todo = finding.remediation
    if finding.verdict is Verdict.INSUFFICIENT_EVIDENCE:
        todo = "Provide the missing evidence and inspect again."
    return Card(
        rule_id=finding.rule_id,
        title=finding.title,
        where=where,
        jurisdiction=finding.jurisdiction,
        status=status_label(finding.rule_status),
        severity=finding.severity.value,
        family=family_label(finding.family),
        verdict=finding.verdict.value,
        asks=asks,
        found=_found(finding),
        todo=todo,
        deadline=due,
        days=finding.deadline_days() if finding.failed else None,
        required=finding.verdict is Verdict.VIOLATION,
        evidence=finding.evidence[:MAX_EVIDENCE],
        more=max(0, len(finding.evidence) - MAX_EVIDENCE),
    )


@dataclass(frozen=True, slots=True)
class Section:
    """A group of cards under one heading."""

    verdict: str
    heading: str
    cards: tuple[Card, ...]


def render_html(inspection: Inspection) -> str:
    """The inspection as one HTML page (inline CSS, no external assets)."""
    state, sentence = overall_verdict(inspection)
    sections = [
        Section(
            verdict=v.value,
            heading=VERDICT_HEADINGS[v],
            cards=tuple(_card(f, inspection) for f in sorted_findings(inspection, v)),
        )
        for v in (Verdict.VIOLATION, Verdict.ADVISORY, Verdict.INSUFFICIENT_EVIDENCE)
    ]
    families: list[FamilySummary] = family_summaries(inspection)
    plan: list[PlanGroup] = rectification_plan(inspection)
    template = environment().get_template("report.html.j2")
    return template.render(
        inspection=inspection,
        device=inspection.device,
        counts={v.value: n for v, n in inspection.by_verdict().items()},
        state=state,
        sentence=sentence,
        families=families,
        family_label=family_label,
        blurbs=FAMILY_BLURBS,
        sections=[s for s in sections if s.cards],
        plan=plan,
        passed=sorted_findings(inspection, Verdict.PASS),
        not_applicable=sorted_findings(inspection, Verdict.NOT_APPLICABLE),
    )
