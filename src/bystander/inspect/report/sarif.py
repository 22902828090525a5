"""SARIF 2.1.0 for code-scanning dashboards and CI annotations.

Violations are ``error``, advisories ``warning`` (recommended, not a legal requirement) and
insufficient evidence ``note``. Passing and not-applicable rules are listed as rules only.
"""

from __future__ import annotations

import json
import re
from typing import Any

from bystander import __version__
from bystander.inspect.findings import Finding, Inspection, Severity, Verdict
from bystander.inspect.plan import deadline_of
from bystander.inspect.report.common import locate

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
MAX_LOCATIONS = 100

LEVELS = {
    Verdict.VIOLATION: "error",
    Verdict.ADVISORY: "warning",
    Verdict.INSUFFICIENT_EVIDENCE: "note",
}
# GitHub code scanning reads a 0-10 ``security-severity`` from rule properties.
SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
}


def _name(title: str, rule_id: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", title) or re.findall(r"[A-Za-z0-9]+", rule_id)
    return "".join(w[0].upper() + w[1:] for w in words) or "Rule"


def _help_uri(sources: tuple[str, ...]) -> str | None:
    return next((s for s in sources if s.startswith(("https://", "http://"))), None)


def _rule(finding: Finding) -> dict[str, Any]:
    where = " ".join(p for p in (finding.instrument, finding.article) if p)
    binding = finding.rule_status == "in-force"
    kind = "legal requirement" if binding else "recommendation"
    rule: dict[str, Any] = {
        "id": finding.rule_id,
        "name": _name(finding.title, finding.rule_id),
        "shortDescription": {"text": finding.title or finding.rule_id},
        "fullDescription": {
            "text": f"{finding.title} ({where}; {finding.jurisdiction}; status "
            f"{finding.rule_status}, a {kind})."
        },
        "defaultConfiguration": {"level": "error" if binding else "warning"},
        "properties": {
            "article": finding.article,
            "instrument": finding.instrument,
            "jurisdiction": finding.jurisdiction,
            "status": finding.rule_status,
            "family": finding.family,
            "severity": finding.severity.value,
            "security-severity": SECURITY_SEVERITY[finding.severity],
            "tags": ["privacy", finding.family, finding.jurisdiction, finding.rule_status],
        },
    }
    if finding.remediation:
        rule["help"] = {"text": finding.remediation}
    uri = _help_uri(finding.sources)
    if uri:
        rule["helpUri"] = uri
    return rule


def _location(ref: str, message: str) -> dict[str, Any]:
    where = locate(ref)
    location: dict[str, Any] = {"message": {"text": message}}
    if where.uri:
        physical: dict[str, Any] = {"artifactLocation": {"uri": where.uri, "uriBaseId": "BUNDLE"}}
        if where.line is not None and where.line > 0:
            physical["region"] = {"startLine": where.line}
        location["physicalLocation"] = physical
    if where.entry is not None or not where.uri:
        location["logicalLocations"] = [
            {"name": where.entry or ref, "fullyQualifiedName": ref, "kind": "object"}
        ]
    return location


def _result(finding: Finding, index: int, inspection: Inspection) -> dict[str, Any]:
    if finding.verdict is Verdict.INSUFFICIENT_EVIDENCE:
        text = f"{finding.title}: insufficient evidence, not checked. {finding.reason}".strip()
    else:
        label = "Violation" if finding.verdict is Verdict.VIOLATION else "Advisory (recommended)"
        first = f" First: {finding.evidence[0].message}" if finding.evidence else ""
        text = f"{label}: {finding.title} ({len(finding.evidence)} evidence).{first}"
        if finding.remediation:
            text += f" Remediation: {finding.remediation}"
    result: dict[str, Any] = {
        "ruleId": finding.rule_id,
        "ruleIndex": index,
        "level": LEVELS[finding.verdict],
        "message": {"text": text},
        "locations": [_location(e.ref, e.message) for e in finding.evidence[:MAX_LOCATIONS]],
        "properties": {
            "verdict": finding.verdict.value,
            "severity": finding.severity.value,
            "evidenceCount": len(finding.evidence),
        },
    }
    if finding.failed:
        result["properties"]["deadline"] = deadline_of(finding, inspection.inspected_on).isoformat()
    return result


def sarif_dict(inspection: Inspection) -> dict[str, Any]:
    """The inspection as a SARIF 2.1.0 log (one run)."""
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    for finding in inspection.findings:
        if finding.rule_id not in index:
            index[finding.rule_id] = len(rules)
            rules.append(_rule(finding))
    results = [
        _result(f, index[f.rule_id], inspection) for f in inspection.findings if f.verdict in LEVELS
    ]
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "bystander",
                        "version": __version__,
                        "rules": rules,
                    }
                },
                "originalUriBaseIds": {
                    "BUNDLE": {"description": {"text": "The evidence bundle's directory."}}
                },
                "invocations": [{"executionSuccessful": True, "exitCode": inspection.exit_code}],
                "properties": {
                    "device": inspection.device.device_id,
                    "frameworks": list(inspection.frameworks),
                    "inspectedOn": inspection.inspected_on.isoformat(),
                    "catalogVersion": inspection.catalog_version,
                },
                "results": results,
            }
        ],
    }


def render_sarif(inspection: Inspection) -> str:
    """The inspection as SARIF 2.1.0 JSON text."""
    return json.dumps(sarif_dict(inspection), indent=2, ensure_ascii=False) + "\n"
