"""Pieces every report format shares: wording, family summaries, evidence references.

The wording respects rule status: only an in-force rule can be *violated*; a failed voluntary
code, draft, guidance or recommended standard is an *advisory* ("recommended"), never "illegal".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from bystander.inspect.findings import Finding, Inspection, Severity, Verdict
from bystander.inspect.plan import SEVERITY_ORDER, deadline_of

FORMATS: Final = ("text", "json", "sarif", "html", "junit")

# Section order and headings, shared by text and HTML.
VERDICT_HEADINGS: Final = {
    Verdict.VIOLATION: "Violations of in-force rules (must be fixed)",
    Verdict.ADVISORY: (
        "Advisories: recommended practices not followed "
        "(voluntary codes, drafts, guidance, standards; not legally binding)"
    ),
    Verdict.INSUFFICIENT_EVIDENCE: "Insufficient evidence (not checked; this is not a pass)",
    Verdict.PASS: "Rules passed",
    Verdict.NOT_APPLICABLE: "Rules not applicable to this device",
}

STATUS_LABELS: Final = {
    "in-force": "in force (legally binding)",
    "voluntary": "voluntary code (recommended)",
    "draft": "draft (not yet in force; recommended)",
    "guidance": "guidance (recommended)",
    "recommended-standard": "recommended standard",
    "superseded": "superseded draft (dropped from the final text; for information)",
}

# Plain-language descriptions of the rule families a non-engineer reads in the HTML report.
FAMILY_BLURBS: Final = {
    "access-control": "Controlling who can see the device's feeds and data.",
    "biometrics": "Handling face and other biometric data, which the law treats as sensitive.",
    "consent": "Asking people for permission before their data is collected or used.",
    "cross-border": "Sending personal data to servers in other countries.",
    "data-minimisation": "Collecting only the data the feature really needs.",
    "impact-assessment": "Assessing the impact on people's privacy before processing starts.",
    "indicator": "Showing clearly, to everyone nearby, when the camera or microphone is on.",
    "minors": "Extra protection for children's data, including parents' consent.",
    "notice": "Telling people what is collected, why, for how long and who to contact.",
    "platform": "Sites that publish footage: screening and taking down covert recordings.",
    "retention": "Keeping data no longer than needed and deleting it on time.",
    "rights": "Letting people see, correct and delete their data.",
    "security": "Protecting data and the device against attackers (encryption, updates).",
    "subscription": "Paid services that renew automatically without the buyer's approval.",
    "zones": "Not using face recognition in private places such as toilets and hotel rooms.",
}

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def clean(text: str, limit: int | None = None) -> str:
    """One printable line: control characters (ANSI escapes included) shown as ``\\xNN``."""
    line = text.replace("\r\n", " ").replace("\n", " ").replace("\t", " ")
    line = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", line)
    if limit is not None and len(line) > limit:
        line = line[: limit - 1] + "…"
    return line


def xml_safe(text: str) -> str:
    """Text XML 1.0 can carry: characters it forbids are shown as ``\\xNN``."""
    return _XML_ILLEGAL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


FAMILY_NAMES: Final = {
    "access-control": "Access control",
    "data-minimisation": "Data minimisation",
    "impact-assessment": "Impact assessment",
}


def family_label(family: str) -> str:
    """A family's display name: ``impact-assessment`` -> ``Impact assessment``."""
    if family in FAMILY_NAMES:
        return FAMILY_NAMES[family]
    name = family.replace("_", " ").strip() or "other"
    return name[0].upper() + name[1:]


def status_label(status: str) -> str:
    """The rule status in words."""
    return STATUS_LABELS.get(status, status)


@dataclass(frozen=True, slots=True)
class FamilySummary:
    """Counts of one rule family's findings by verdict."""

    family: str
    violations: int = 0
    advisories: int = 0
    passed: int = 0
    not_applicable: int = 0
    insufficient: int = 0
    worst: Severity | None = None  # the worst severity among failed findings

    @property
    def total(self) -> int:
        return (
            self.violations
            + self.advisories
            + self.passed
            + self.not_applicable
            + self.insufficient
        )

    @property
    def outcome(self) -> str:
        """A one-word state: ``violation``, ``advisory``, ``insufficient``, ``ok``, ``n/a``."""
        if self.violations:
            return "violation"
        if self.advisories:
            return "advisory"
        if self.insufficient:
            return "insufficient"
        return "ok" if self.passed else "n/a"


def family_summaries(inspection: Inspection) -> list[FamilySummary]:
    """One summary per rule family, families with violations first, then by name."""
    groups: dict[str, list[Finding]] = {}
    for finding in inspection.findings:
        groups.setdefault(finding.family or "other", []).append(finding)
    rows = []
    for family, findings in groups.items():
        count = {v: sum(1 for f in findings if f.verdict is v) for v in Verdict}
        failed = [f.severity for f in findings if f.failed]
        rows.append(
            FamilySummary(
                family=family,
                violations=count[Verdict.VIOLATION],
                advisories=count[Verdict.ADVISORY],
                passed=count[Verdict.PASS],
                not_applicable=count[Verdict.NOT_APPLICABLE],
                insufficient=count[Verdict.INSUFFICIENT_EVIDENCE],
                worst=min(failed, key=SEVERITY_ORDER.__getitem__) if failed else None,
            )
        )
    rows.sort(key=lambda r: (-r.violations, -r.advisories, -r.insufficient, r.family))
    return rows


def sorted_findings(inspection: Inspection, verdict: Verdict) -> list[Finding]:
    """Findings with one verdict, worst severity first, then by rule id."""
    return sorted(
        (f for f in inspection.findings if f.verdict is verdict),
        key=lambda f: (SEVERITY_ORDER[f.severity], f.rule_id),
    )


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def overall_verdict(inspection: Inspection) -> tuple[str, str]:
    """``(state, sentence)``: the overall result in words; state: fail|advise|ok|incomplete."""
    counts = inspection.by_verdict()
    violations = counts[Verdict.VIOLATION]
    advisories = counts[Verdict.ADVISORY]
    insufficient = counts[Verdict.INSUFFICIENT_EVIDENCE]
    parts: list[str] = []
    if violations:
        first = min(deadline_of(f, inspection.inspected_on) for f in inspection.violations)
        state = "fail"
        parts.append(
            f"Does not comply: {_plural(violations, 'legally binding rule')} "
            f"{'is' if violations == 1 else 'are'} not met and must be fixed "
            f"(the first deadline is {first.isoformat()})."
        )
    elif advisories or insufficient:
        state = "advise" if advisories else "incomplete"
        parts.append("No legally binding rule was found broken.")
    else:
        state = "ok"
        parts.append("No problems found in the rules checked.")
    if advisories:
        parts.append(
            f"{_plural(advisories, 'recommended practice')} (voluntary codes, drafts, guidance or "
            "standards) "
            f"{'is' if advisories == 1 else 'are'} not followed; these are recommendations, "
            "not legal requirements."
        )
    if insufficient:
        parts.append(
            f"{_plural(insufficient, 'rule')} could not be checked because evidence was missing; "
            "supply it and inspect again."
        )
    return state, " ".join(parts)


@dataclass(frozen=True, slots=True)
class EvidenceLocation:
    """Where an evidence ``ref`` points: a file (with an optional line or entry) or a name."""

    ref: str
    kind: str  # har | doc | log | billing | audit | profile | ...
    uri: str | None = None  # a file inside the bundle
    line: int | None = None  # a line number in the file
    entry: str | None = None  # an entry/row/event id that is not a line


def _is_file(path: str) -> bool:
    return "." in path or "/" in path


def locate(ref: str) -> EvidenceLocation:
    """Parse a record ref (``har:traffic.har#5``, ``doc:privacy.md:12``, ``audit:123``...).

    Refs that name no file (``audit:123``, ``profile:auth``, ``bundle:documents``) have only an
    ``entry``. A billing ref's number is a line in a CSV file and an event index in JSON.
    """
    kind, sep, rest = ref.partition(":")
    if not sep or not rest:
        return EvidenceLocation(ref=ref, kind="other", entry=ref)
    if kind in ("audit", "profile", "bundle", "count"):
        return EvidenceLocation(ref=ref, kind=kind, entry=rest)
    if "#" in rest:
        path, _, entry = rest.rpartition("#")
        if _is_file(path):
            return EvidenceLocation(ref=ref, kind=kind, uri=path, entry=entry or None)
        return EvidenceLocation(ref=ref, kind=kind, entry=rest)
    path, sep, tail = rest.rpartition(":")
    if sep and _is_file(path) and tail.isdigit():
        if kind == "billing" and not path.lower().endswith(".csv"):
            return EvidenceLocation(ref=ref, kind=kind, uri=path, entry=f"event {tail}")
        return EvidenceLocation(ref=ref, kind=kind, uri=path, line=int(tail))
    if _is_file(rest):
        return EvidenceLocation(ref=ref, kind=kind, uri=rest)
    return EvidenceLocation(ref=ref, kind=kind, entry=rest)
