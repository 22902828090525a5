"""The rectification plan: failed findings grouped by the date they must be fixed by.

Every violation and advisory gets a deadline, ``inspected_on + finding.deadline_days()`` (the
rule's own deadline or the default for its severity). Groups are sorted earliest first; within a
group violations come before advisories, then by severity and rule id.

>>> from bystander.inspect.plan import rectification_plan
>>> for group in rectification_plan(inspection):  # doctest: +SKIP
...     print(group.deadline, [item.rule_id for item in group.items])
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from bystander.inspect.findings import Finding, Inspection, Severity, Verdict

SEVERITY_ORDER = {Severity.CRITICAL: 0, Severity.HIGH: 1, Severity.MEDIUM: 2, Severity.LOW: 3}
VERDICT_ORDER = {Verdict.VIOLATION: 0, Verdict.ADVISORY: 1}


@dataclass(frozen=True, slots=True)
class PlanItem:
    """One thing to fix: a failed rule and its remediation."""

    rule_id: str
    title: str
    remediation: str
    severity: Severity
    verdict: Verdict
    evidence_count: int
    instrument: str = ""
    article: str = ""
    family: str = ""

    @property
    def required(self) -> bool:
        """True for a violation of an in-force rule; False for a recommended (advisory) fix."""
        return self.verdict is Verdict.VIOLATION


@dataclass(frozen=True, slots=True)
class PlanGroup:
    """Everything due by one date."""

    deadline: date
    days: int  # days from the inspection
    items: tuple[PlanItem, ...]

    @property
    def violations(self) -> int:
        return sum(1 for item in self.items if item.required)

    @property
    def advisories(self) -> int:
        return len(self.items) - self.violations


def deadline_of(finding: Finding, inspected_on: date) -> date:
    """The date by which a failed finding should be rectified."""
    return inspected_on + timedelta(days=finding.deadline_days())


def _item(finding: Finding) -> PlanItem:
    return PlanItem(
        rule_id=finding.rule_id,
        title=finding.title,
        remediation=finding.remediation,
        severity=finding.severity,
        verdict=finding.verdict,
        evidence_count=len(finding.evidence),
        instrument=finding.instrument,
        article=finding.article,
        family=finding.family,
    )


def _order(finding: Finding) -> tuple[int, int, str]:
    return (VERDICT_ORDER[finding.verdict], SEVERITY_ORDER[finding.severity], finding.rule_id)


def rectification_plan(inspection: Inspection) -> list[PlanGroup]:
    """Failed findings (violations and advisories) grouped by deadline, earliest first."""
    by_date: dict[date, list[Finding]] = {}
    for finding in inspection.findings:
        if finding.failed:
            by_date.setdefault(deadline_of(finding, inspection.inspected_on), []).append(finding)
    return [
        PlanGroup(
            deadline=day,
            days=(day - inspection.inspected_on).days,
            items=tuple(_item(f) for f in sorted(by_date[day], key=_order)),
        )
        for day in sorted(by_date)
    ]
