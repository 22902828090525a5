"""The findings model: one result per rule, from which every report format is written.

A rule whose checks find something is a ``violation`` when the rule is in force and an
``advisory`` otherwise (voluntary codes, drafts, guidance and recommended standards never make
a device "illegal"). Rules whose checks find nothing ``pass``; rules that do not apply to the
device are ``not_applicable``; rules whose evidence is missing (no traffic capture, say) are
``insufficient_evidence``, which is reported, never silently passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from bystander.inspect.profile import InspectedDevice


class Verdict(StrEnum):
    VIOLATION = "violation"
    ADVISORY = "advisory"
    PASS = "pass"
    NOT_APPLICABLE = "not_applicable"
    INSUFFICIENT_EVIDENCE = "insufficient_evidence"


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


# Default rectification deadlines (days from the inspection) when a rule names none.
RECTIFY_WITHIN_DAYS = {
    Severity.CRITICAL: 15,
    Severity.HIGH: 30,
    Severity.MEDIUM: 60,
    Severity.LOW: 90,
}


@dataclass(frozen=True, slots=True)
class EvidenceItem:
    """One piece of evidence behind a finding: a record ``ref`` and what is wrong with it."""

    ref: str
    message: str
    check_id: str


@dataclass(frozen=True, slots=True)
class Finding:
    """The result of one rule for one device."""

    rule_id: str
    title: str
    jurisdiction: str
    instrument: str
    article: str
    rule_status: str  # in-force | voluntary | draft | guidance | recommended-standard | superseded
    family: str  # consent, indicator, biometrics, notice, cross-border, security, ...
    severity: Severity
    verdict: Verdict
    evidence: tuple[EvidenceItem, ...] = ()
    remediation: str = ""
    sources: tuple[str, ...] = ()
    check_ids: tuple[str, ...] = ()
    rectify_within_days: int | None = None
    reason: str = ""  # why not applicable / which evidence is missing
    addressee: tuple[str, ...] = ()  # whom the article binds: manufacturer, deployer...
    scope: str = ""  # the rule's scope condition in plain words
    text: str = ""  # what the article requires
    verify: bool = False  # article number or text seen only in secondary sources

    @property
    def failed(self) -> bool:
        """Whether the rule found something (a violation or an advisory)."""
        return self.verdict in (Verdict.VIOLATION, Verdict.ADVISORY)

    def deadline_days(self) -> int:
        """Days to rectify: the rule's own deadline, or the default for its severity."""
        if self.rectify_within_days is not None:
            return self.rectify_within_days
        return RECTIFY_WITHIN_DAYS[self.severity]


@dataclass
class Inspection:
    """Everything one inspection produced."""

    device: InspectedDevice
    frameworks: tuple[str, ...]
    findings: list[Finding]
    inspected_on: date
    records: int
    sources: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    catalog_version: str = ""
    root: str | None = None  # the bundle folder as given (for report locations)
    artifacts: dict[str, str] = field(default_factory=dict)  # manifest, profile, audit -> file

    @property
    def violations(self) -> list[Finding]:
        return [f for f in self.findings if f.verdict is Verdict.VIOLATION]

    @property
    def advisories(self) -> list[Finding]:
        return [f for f in self.findings if f.verdict is Verdict.ADVISORY]

    def by_verdict(self) -> dict[Verdict, int]:
        """How many findings have each verdict (every verdict present, zero or not)."""
        counts = dict.fromkeys(Verdict, 0)
        for finding in self.findings:
            counts[finding.verdict] += 1
        return counts

    @property
    def exit_code(self) -> int:
        """1 when any in-force rule is violated (to gate a maker's CI), else 0."""
        return 1 if self.violations else 0
