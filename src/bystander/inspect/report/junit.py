"""JUnit XML for CI test dashboards: one suite per rule family, one test case per rule.

Only violations fail; an advisory passes with its recommendation in ``<system-out>``; rules not
applicable and rules with insufficient evidence are skipped (with the reason).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from bystander.inspect.findings import Finding, Inspection, Verdict
from bystander.inspect.plan import deadline_of
from bystander.inspect.report.common import xml_safe

MAX_EVIDENCE = 50


def _evidence(finding: Finding) -> list[str]:
    lines = [f"- {e.ref}: {e.message}" for e in finding.evidence[:MAX_EVIDENCE]]
    if len(finding.evidence) > MAX_EVIDENCE:
        lines.append(f"... and {len(finding.evidence) - MAX_EVIDENCE} more")
    return lines


def _details(finding: Finding, inspection: Inspection) -> str:
    where = " ".join(p for p in (finding.instrument, finding.article) if p)
    lines = [
        f"{finding.rule_id}: {finding.title}",
        f"{where} ({finding.jurisdiction}, {finding.rule_status}, severity "
        f"{finding.severity.value})",
        *_evidence(finding),
    ]
    if finding.remediation:
        lines.append(f"Remediation: {finding.remediation}")
    if finding.failed:
        due = deadline_of(finding, inspection.inspected_on)
        lines.append(f"Rectify within {finding.deadline_days()} days (by {due})")
    return xml_safe("\n".join(lines))


def _case(suite: ET.Element, finding: Finding, inspection: Inspection) -> None:
    case = ET.SubElement(
        suite,
        "testcase",
        name=xml_safe(f"{finding.rule_id} {finding.title}".strip()),
        classname=xml_safe(f"bystander.{finding.family or 'other'}.{finding.rule_id}"),
        time="0",
    )
    if finding.verdict is Verdict.VIOLATION:
        failure = ET.SubElement(
            case,
            "failure",
            message=xml_safe(f"violation: {finding.title} ({len(finding.evidence)} evidence)"),
            type=finding.severity.value,
        )
        failure.text = _details(finding, inspection)
    elif finding.verdict is Verdict.ADVISORY:
        out = ET.SubElement(case, "system-out")
        out.text = "ADVISORY (recommended, not a legal requirement)\n" + _details(
            finding, inspection
        )
    elif finding.verdict is Verdict.NOT_APPLICABLE:
        reason = f": {finding.reason}" if finding.reason else ""
        ET.SubElement(case, "skipped", message=xml_safe(f"not applicable{reason}"))
    elif finding.verdict is Verdict.INSUFFICIENT_EVIDENCE:
        reason = finding.reason or "evidence missing"
        ET.SubElement(case, "skipped", message=xml_safe(f"insufficient evidence: {reason}"))


def junit_tree(inspection: Inspection) -> ET.Element:
    """The ``<testsuites>`` element."""
    families: dict[str, list[Finding]] = {}
    for finding in inspection.findings:
        families.setdefault(finding.family or "other", []).append(finding)
    counts = inspection.by_verdict()
    skipped = counts[Verdict.NOT_APPLICABLE] + counts[Verdict.INSUFFICIENT_EVIDENCE]
    root = ET.Element(
        "testsuites",
        name=xml_safe(f"bystander inspect {inspection.device.device_id}"),
        tests=str(len(inspection.findings)),
        failures=str(counts[Verdict.VIOLATION]),
        errors="0",
        skipped=str(skipped),
        time="0",
    )
    timestamp = f"{inspection.inspected_on.isoformat()}T00:00:00"
    for family in sorted(families):
        findings = sorted(families[family], key=lambda f: f.rule_id)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=xml_safe(family),
            tests=str(len(findings)),
            failures=str(sum(f.verdict is Verdict.VIOLATION for f in findings)),
            errors="0",
            skipped=str(
                sum(
                    f.verdict in (Verdict.NOT_APPLICABLE, Verdict.INSUFFICIENT_EVIDENCE)
                    for f in findings
                )
            ),
            time="0",
            timestamp=timestamp,
        )
        for finding in findings:
            _case(suite, finding, inspection)
    return root


def render_junit(inspection: Inspection) -> str:
    """The inspection as JUnit XML text."""
    root = junit_tree(inspection)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"
