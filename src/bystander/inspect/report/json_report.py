"""The stable machine format, ``bystander.inspection/1`` (schema: docs/inspection-schema.json).

Keys are never renamed within a format version; new optional keys may be added.
"""

from __future__ import annotations

import json
from typing import Any

from bystander.inspect.findings import Finding, Inspection, Verdict
from bystander.inspect.plan import PlanGroup, deadline_of, rectification_plan
from bystander.inspect.report.common import family_summaries

FORMAT_ID = "bystander.inspection/1"


def _finding(finding: Finding, inspection: Inspection) -> dict[str, Any]:
    failed = finding.failed
    return {
        "rule_id": finding.rule_id,
        "title": finding.title,
        "verdict": finding.verdict.value,
        "severity": finding.severity.value,
        "rule_status": finding.rule_status,
        "jurisdiction": finding.jurisdiction,
        "instrument": finding.instrument,
        "article": finding.article,
        "family": finding.family,
        "evidence": [
            {"ref": e.ref, "message": e.message, "check_id": e.check_id} for e in finding.evidence
        ],
        "remediation": finding.remediation,
        "reason": finding.reason,
        "sources": list(finding.sources),
        "check_ids": list(finding.check_ids),
        "addressee": list(finding.addressee),
        "scope": finding.scope,
        "text": finding.text,
        "verify": finding.verify,
        "rectify_within_days": finding.deadline_days() if failed else None,
        "deadline": deadline_of(finding, inspection.inspected_on).isoformat() if failed else None,
    }


def _group(group: PlanGroup) -> dict[str, Any]:
    return {
        "deadline": group.deadline.isoformat(),
        "days": group.days,
        "items": [
            {
                "rule_id": item.rule_id,
                "title": item.title,
                "verdict": item.verdict.value,
                "severity": item.severity.value,
                "remediation": item.remediation,
                "evidence_count": item.evidence_count,
            }
            for item in group.items
        ],
    }


def inspection_dict(inspection: Inspection) -> dict[str, Any]:
    """The inspection as plain JSON-ready data."""
    counts = inspection.by_verdict()
    return {
        "format": FORMAT_ID,
        "device": inspection.device.model_dump(mode="json"),
        "frameworks": list(inspection.frameworks),
        "inspected_on": inspection.inspected_on.isoformat(),
        "catalog_version": inspection.catalog_version,
        "records": inspection.records,
        "sources": list(inspection.sources),
        "notes": list(inspection.notes),
        "summary": {
            "verdicts": {v.value: counts[v] for v in Verdict},
            "exit_code": inspection.exit_code,
            "families": [
                {
                    "family": row.family,
                    "violations": row.violations,
                    "advisories": row.advisories,
                    "passed": row.passed,
                    "not_applicable": row.not_applicable,
                    "insufficient_evidence": row.insufficient,
                }
                for row in family_summaries(inspection)
            ],
        },
        "findings": [_finding(f, inspection) for f in inspection.findings],
        "plan": [_group(g) for g in rectification_plan(inspection)],
    }


def render_json(inspection: Inspection) -> str:
    """The inspection as indented JSON (UTF-8 text, keys in a fixed order)."""
    return json.dumps(inspection_dict(inspection), indent=2, ensure_ascii=False) + "\n"
