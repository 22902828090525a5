"""Plain-text report for a terminal or a CI log (no colours, no control characters)."""

from __future__ import annotations

import textwrap

from bystander.inspect.findings import Finding, Inspection, Verdict
from bystander.inspect.plan import deadline_of, rectification_plan
from bystander.inspect.report.common import (
    clean,
    family_summaries,
    overall_verdict,
    sorted_findings,
    status_label,
)

MAX_EVIDENCE = 5
MAX_MESSAGE = 300  # characters of one evidence message (the JSON report has them whole)
HEADINGS = {
    Verdict.VIOLATION: "VIOLATIONS: IN-FORCE RULES NOT MET (MUST BE FIXED)",
    Verdict.ADVISORY: "ADVISORIES: RECOMMENDED PRACTICES (VOLUNTARY, DRAFT, GUIDANCE, STANDARD)",
    Verdict.INSUFFICIENT_EVIDENCE: "INSUFFICIENT EVIDENCE: NOT CHECKED (THIS IS NOT A PASS)",
}
SUMMARY_WORDS = {
    Verdict.VIOLATION: ("violation", "violations"),
    Verdict.ADVISORY: ("advisory (recommended)", "advisories (recommended)"),
    Verdict.PASS: ("passed", "passed"),
    Verdict.INSUFFICIENT_EVIDENCE: ("insufficient evidence", "insufficient evidence"),
    Verdict.NOT_APPLICABLE: ("not applicable", "not applicable"),
}
WIDTH = 100
_INDENT = "    "


def _wrap(text: str, indent: str = _INDENT) -> list[str]:
    return textwrap.wrap(
        clean(text), WIDTH, initial_indent=indent, subsequent_indent=indent + "  "
    ) or [indent]


def _finding(n: int, finding: Finding, inspection: Inspection) -> list[str]:
    lines = [f"[{n}] {clean(finding.rule_id)}  {clean(finding.title)}"]
    where = " ".join(p for p in (clean(finding.instrument), clean(finding.article)) if p)
    lines.extend(
        _wrap(
            f"{where} | {clean(finding.jurisdiction)} | {status_label(finding.rule_status)}"
            f" | severity {finding.severity.value} | family {clean(finding.family)}"
        )
    )
    if finding.failed and finding.text:
        binds = f" Binds: {', '.join(finding.addressee)}." if finding.addressee else ""
        verify = " (Article seen only in secondary sources: verify.)" if finding.verify else ""
        lines.extend(_wrap(f"Says: {finding.text}{binds}{verify}"))
    if finding.evidence:
        lines.append(f"{_INDENT}Evidence ({len(finding.evidence)}):")
        for item in finding.evidence[:MAX_EVIDENCE]:
            message = clean(item.message, MAX_MESSAGE)
            lines.extend(_wrap(f"- {item.ref}: {message}", _INDENT + "  "))
        if len(finding.evidence) > MAX_EVIDENCE:
            lines.append(f"{_INDENT}  ... and {len(finding.evidence) - MAX_EVIDENCE} more")
    if finding.reason:
        label = {Verdict.INSUFFICIENT_EVIDENCE: "Missing", Verdict.NOT_APPLICABLE: "Reason"}.get(
            finding.verdict, "Checks"
        )
        lines.extend(_wrap(f"{label}: {finding.reason}"))
    if finding.failed:
        required = finding.verdict is Verdict.VIOLATION
        if finding.remediation:
            lines.extend(
                _wrap(f"{'Remediation' if required else 'Recommended'}: {finding.remediation}")
            )
        due = deadline_of(finding, inspection.inspected_on)
        verb = "Rectify" if required else "Suggested"
        lines.append(f"{_INDENT}{verb} within {finding.deadline_days()} days (by {due})")
    return lines


def _header(inspection: Inspection) -> list[str]:
    device = inspection.device
    counts = inspection.by_verdict()
    what = ", ".join(clean(p) for p in (device.vendor, device.model) if p)
    lines = [
        "BYSTANDER INSPECTION REPORT",
        f"Device:      {clean(device.device_id)} ({clean(device.device_type)})"
        + (f", {what}" if what else ""),
        f"Inspected:   {inspection.inspected_on}    Records: {inspection.records}"
        + (
            f"    Catalog: {clean(inspection.catalog_version)}"
            if inspection.catalog_version
            else ""
        ),
        f"Frameworks:  {', '.join(clean(f) for f in inspection.frameworks) or 'all'}",
        "",
    ]
    state, sentence = overall_verdict(inspection)
    lines += _wrap(f"Result: {state.upper()}. {sentence}", "")
    lines.append(
        "Summary:     "
        + ", ".join(f"{counts[v]} {SUMMARY_WORDS[v][counts[v] != 1]}" for v in SUMMARY_WORDS)
    )
    lines.append(f"Exit code:   {inspection.exit_code}")
    return lines


def _families(inspection: Inspection) -> list[str]:
    rows = family_summaries(inspection)
    if not rows:
        return []
    width = max(12, *(len(r.family) for r in rows))
    lines = [
        "",
        "BY RULE FAMILY",
        f"  {'family':<{width}}  violations  advisories  passed  insufficient  n/a",
    ]
    for r in rows:
        lines.append(
            f"  {clean(r.family):<{width}}  {r.violations:>10}  {r.advisories:>10}  "
            f"{r.passed:>6}  {r.insufficient:>12}  {r.not_applicable:>3}"
        )
    return lines


def _plan(inspection: Inspection) -> list[str]:
    groups = rectification_plan(inspection)
    lines = ["", "RECTIFICATION PLAN"]
    if not groups:
        return [*lines, "  Nothing to rectify."]
    for group in groups:
        lines.append(
            f"  By {group.deadline} ({group.days} days): {group.violations} required, "
            f"{group.advisories} recommended"
        )
        for item in group.items:
            kind = "required" if item.required else "recommended"
            lines.extend(
                _wrap(
                    f"- [{kind}, {item.severity.value}] {item.rule_id} {item.title}: "
                    f"{item.remediation or 'see the rule'} ({item.evidence_count} evidence)",
                    _INDENT,
                )
            )
    return lines


def render_text(inspection: Inspection) -> str:
    """The whole inspection as plain text."""
    lines = _header(inspection) + _families(inspection)
    for verdict in (Verdict.VIOLATION, Verdict.ADVISORY, Verdict.INSUFFICIENT_EVIDENCE):
        findings = sorted_findings(inspection, verdict)
        if not findings:
            continue
        lines += ["", f"{HEADINGS[verdict]} ({len(findings)})"]
        for n, finding in enumerate(findings, 1):
            lines += [*_finding(n, finding, inspection), ""]
        lines.pop()
    passed = sorted_findings(inspection, Verdict.PASS)
    if passed:
        lines += ["", f"PASSED ({len(passed)}): " + ", ".join(clean(f.rule_id) for f in passed)]
    lines += _plan(inspection)
    if inspection.notes:
        lines += ["", "NOTES"]
        lines += [ln for note in inspection.notes for ln in _wrap(f"- {note}", "  ")]
    return "\n".join(lines) + "\n"
