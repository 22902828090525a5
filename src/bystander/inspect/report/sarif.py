"""SARIF 2.1.0 for code-scanning dashboards and CI annotations.

Violations are ``error``, advisories ``warning`` (recommended, not a legal requirement) and
insufficient evidence ``note``. Passing and not-applicable rules are listed as rules only.

GitHub code scanning rejects a result without a physical location, so every result has at
least one: each evidence ref is resolved to a file of the bundle and a line
(:mod:`bystander.inspect.report.regions`); a finding without evidence (insufficient
evidence) points at the bundle's manifest. Locations are relative to the working directory
when the bundle lies under it (as in a CI checkout, so code scanning links the files),
else relative to the ``BUNDLE`` base URI.
"""

from __future__ import annotations

import json
import posixpath
import re
from pathlib import Path, PurePosixPath
from typing import Any

from bystander._version import __version__
from bystander.inspect.findings import Finding, Inspection, Severity, Verdict
from bystander.inspect.plan import deadline_of
from bystander.inspect.report.regions import Place, Regions

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
            f"{finding.rule_status}, a {kind}). {finding.text}".strip()
        },
        "defaultConfiguration": {"level": "error" if binding else "warning"},
        "properties": {
            "article": finding.article,
            "instrument": finding.instrument,
            "jurisdiction": finding.jurisdiction,
            "status": finding.rule_status,
            "addressee": list(finding.addressee),
            "scope": finding.scope,
            "verify": finding.verify,
            "family": finding.family,
            "severity": finding.severity.value,
            "security-severity": SECURITY_SEVERITY[finding.severity],
            "tags": ["privacy", finding.family, finding.jurisdiction, finding.rule_status],
        },
    }
    rule["help"] = {"text": finding.remediation or finding.text or finding.title}
    uri = _help_uri(finding.sources)
    if uri:
        rule["helpUri"] = uri
    return rule


def _relative_root(root: str | None) -> str | None:
    """The bundle folder as a clean relative POSIX path, or None if not under the cwd."""
    if root is None:
        return None
    path = PurePosixPath(Path(root).as_posix())
    if path.is_absolute():
        try:
            path = PurePosixPath(Path(root).resolve().relative_to(Path.cwd().resolve()).as_posix())
        except ValueError:
            return None
    clean = posixpath.normpath(str(path))
    return None if clean == ".." or clean.startswith("../") else clean


class _Locations:
    """Builds SARIF locations for refs: a file and a region, always."""

    def __init__(self, inspection: Inspection) -> None:
        root = Path(inspection.root) if inspection.root else None
        self.regions = Regions(root, inspection.artifacts)
        self.prefix = _relative_root(inspection.root)

    def artifact(self, uri: str) -> dict[str, Any]:
        if self.prefix is not None:
            return {"uri": posixpath.normpath(posixpath.join(self.prefix, uri))}
        return {"uri": uri, "uriBaseId": "BUNDLE"}

    def location(self, ref: str, message: str) -> dict[str, Any]:
        return self._physical(self.regions.place(ref), message, ref)

    def manifest(self, message: str) -> dict[str, Any]:
        return self._physical(Place(self.regions.manifest), message, None)

    def _physical(self, place: Place, message: str, ref: str | None) -> dict[str, Any]:
        region: dict[str, Any] = {"startLine": place.line}
        if place.column is not None:
            region["startColumn"] = place.column
        location: dict[str, Any] = {
            "physicalLocation": {"artifactLocation": self.artifact(place.uri), "region": region},
            "message": {"text": message},
        }
        if ref is not None:
            location["logicalLocations"] = [{"fullyQualifiedName": ref, "kind": "object"}]
        return location


def _result(
    finding: Finding, index: int, inspection: Inspection, where: _Locations
) -> dict[str, Any]:
    if finding.verdict is Verdict.INSUFFICIENT_EVIDENCE:
        text = f"{finding.title}: insufficient evidence, not checked. {finding.reason}".strip()
    else:
        label = "Violation" if finding.verdict is Verdict.VIOLATION else "Advisory (recommended)"
        first = f" First: {finding.evidence[0].message}" if finding.evidence else ""
        text = f"{label}: {finding.title} ({len(finding.evidence)} evidence).{first}"
        if finding.remediation:
            text += f" Remediation: {finding.remediation}"
    locations = [where.location(e.ref, e.message) for e in finding.evidence[:MAX_LOCATIONS]]
    if not locations:
        missing = finding.reason or "the evidence this rule needs is not in the bundle"
        locations = [where.manifest(f"{finding.rule_id}: {missing}")]
    result: dict[str, Any] = {
        "ruleId": finding.rule_id,
        "ruleIndex": index,
        "level": LEVELS[finding.verdict],
        "message": {"text": text},
        "locations": locations,
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
    where = _Locations(inspection)
    results = [
        _result(f, index[f.rule_id], inspection, where)
        for f in inspection.findings
        if f.verdict in LEVELS
    ]
    base: dict[str, Any] = {"description": {"text": "The evidence bundle's directory."}}
    if inspection.root and where.prefix is None:
        base["uri"] = Path(inspection.root).resolve().as_uri().rstrip("/") + "/"
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
                "originalUriBaseIds": {"BUNDLE": base},
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
