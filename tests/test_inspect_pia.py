"""The pre-filled impact assessment: structure, facts from the profile, TODOs for the rest."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from bystander.inspect.findings import Verdict
from bystander.inspect.pia import build_pia, render_pia
from tests.test_inspect_reports import XSS, clean_inspection, device, violations_inspection

SECTIONS = (
    "1 Context",
    "2 Necessity and proportionality",
    "3 Risks",
    "4 Measures",
    "5 Validation",
)


def _md_section(markdown: str, title: str) -> str:
    body = markdown.split(f"\n## {title}\n", 1)[1]
    return body.split("\n## ", 1)[0]


def test_markdown_has_the_sections_in_order_and_is_marked_a_draft() -> None:
    markdown = render_pia(build_pia(violations_inspection()), "markdown")
    positions = [markdown.index(f"\n## {s}\n") for s in SECTIONS]
    assert positions == sorted(positions)
    assert "Pre-filled draft: review and complete" in markdown
    for anchor in ("CAC FRM Art 9", "PIPL Art 56", "GDPR Art 35(7)"):
        assert anchor in markdown
    for feared in ("Illegitimate access", "Unwanted modification", "Disappearance"):
        assert feared in _md_section(markdown, "3 Risks")


def test_context_uses_the_profile_data_flows_retention_and_subjects() -> None:
    markdown = render_pia(build_pia(violations_inspection()), "markdown")
    context = _md_section(markdown, "1 Context")
    row = next(line for line in context.splitlines() if "api.example-cloud.com" in line)
    assert "user.biometric.face.template" in row and "SG" in row and "remote unlock" in row
    local = next(line for line in context.splitlines() if line.startswith("| user.device.tel"))
    assert "on_device" in local and "stays on the device" in local
    assert "| user.biometric.face.template | 365 days |" in context
    assert "| user.device.telemetry | **TODO: retention period** |" in context
    assert "Bystanders" in context and "Example Locks Ltd" in context
    assert "**TODO: can children be captured" in context  # not targeted: unknown, not "no"


def test_unknowns_are_todo_placeholders_never_invented() -> None:
    pia = build_pia(violations_inspection())
    context = {f.label: f for f in pia.context}
    assert context["Contact (DPO / PI protection officer)"].todo
    assert context["Processor country"].todo
    assert all(f.todo for f in pia.validation if f.source != "law")
    validation = {f.label: f.value for f in pia.validation}
    assert "at least 3 years" in validation["Keep this assessment"]
    necessity = {f.label: f for f in pia.necessity}
    assert necessity["Legal basis and consent"].todo
    assert necessity["Purpose: remote unlock"].todo
    measures = {m.name: m for m in pia.existing_measures}
    assert measures["Encryption in transit"].state == "in place (declared)"
    assert measures["Encryption at rest"].todo
    assert measures["No shared default password"].state == "not in place (declared)"
    local = measures["Face/biometric data stored only on the device"]
    assert "api.example-cloud.com" in local.state
    assert pia.todos > 10
    markdown = render_pia(pia, "markdown")
    assert markdown.count("**TODO:") >= pia.todos


def test_failing_rules_raise_risks_and_become_planned_measures() -> None:
    pia = build_pia(violations_inspection())
    access = next(r for r in pia.risks if r.key == "illegitimate_access")
    ids = [r.rule_id for r in access.rules]
    assert "CN-FRM-08-LOCAL-STORE" in ids and "CN-PIPL-17-NOTICE" not in ids
    assert access.severity == "maximum"  # face data
    assert access.likelihood == "maximum"  # a critical violation
    assert "CN-FRM-08-LOCAL-STORE" in access.justification
    modification = next(r for r in pia.risks if r.key == "unwanted_modification")
    assert modification.rules == () and modification.likelihood == "limited"
    planned = [(m.rule_id, m.required) for m in pia.planned_measures]
    assert planned == [
        ("CN-FRM-08-LOCAL-STORE", True),
        ("CN-FRM-10-NOT-SOLE", True),
        ("CN-CAICT-GLASSES-INDICATOR", False),
    ]
    assert [m.deadline.isoformat() for m in pia.planned_measures] == [
        "2026-11-16",
        "2026-11-16",
        "2026-12-31",
    ]
    markdown = render_pia(pia, "markdown")
    risks = _md_section(markdown, "3 Risks")
    assert "`CN-FRM-08-LOCAL-STORE` (violation, critical)" in risks
    assert "`CN-CAICT-GLASSES-INDICATOR` (advisory, recommended, medium)" in risks
    measures = _md_section(markdown, "4 Measures")
    row = next(line for line in measures.splitlines() if "CN-CAICT-GLASSES-INDICATOR" in line)
    assert "recommended" in row and "required by law" not in row
    assert "Add a hardwired recording LED." in row
    assert "| 2026-11-16 | `CN-FRM-08-LOCAL-STORE`" in measures
    assert "EU-GDPR-35" in measures and "no documents in the bundle" in measures  # open question
    necessity = _md_section(markdown, "2 Necessity and proportionality")
    assert "face is the only method" in necessity and "CN-FRM-10-NOT-SOLE" in necessity


def test_a_clean_device_still_gets_a_full_draft() -> None:
    pia = build_pia(clean_inspection())
    assert pia.planned_measures == ()
    assert all(r.rules == () and r.likelihood == "limited" for r in pia.risks)
    markdown = render_pia(pia, "markdown")
    assert all(f"\n## {s}\n" in markdown for s in SECTIONS)
    assert "no measure planned by this inspection" in markdown


def test_children_and_alternatives_follow_the_profile() -> None:
    kid = device().model_copy(
        update={
            "targets_children": True,
            "authentication": device().authentication.model_copy(
                update={"methods": ["face", "pin"]}
            ),
        }
    )
    inspection = clean_inspection()
    inspection.device = kid
    pia = build_pia(inspection)
    subjects = {f.label: f for f in pia.subjects}
    assert not subjects["Children under 14"].todo
    assert "targets children" in subjects["Children under 14"].value
    alternatives = next(f for f in pia.necessity if f.label.startswith("Alternatives"))
    assert alternatives.value == "pin"


def test_html_is_escaped_and_has_the_sections() -> None:
    inspection = violations_inspection()
    flows = list(inspection.device.data_flows)
    flows[0] = flows[0].model_copy(update={"purpose": XSS})
    inspection.device = inspection.device.model_copy(update={"data_flows": flows})
    inspection.findings[0] = replace(inspection.findings[0], title=f"evil {XSS}")
    html = render_pia(build_pia(inspection), "html")
    assert "<script>" not in html and "&lt;script&gt;" in html
    for section in SECTIONS:
        assert f">{section}</h2>" in html
    assert "Pre-filled draft: review and complete" in html
    assert re.search(r'class="todo">TODO: contact details<', html)
    assert "api.example-cloud.com" in html and "CN-FRM-08-LOCAL-STORE" in html
    markdown = render_pia(build_pia(inspection), "markdown")
    assert "<script>" not in markdown and "&lt;script>" in markdown


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="markdown, html"):
        render_pia(build_pia(clean_inspection()), "docx")


def test_advisory_findings_are_never_labelled_violations_in_the_pia() -> None:
    pia = build_pia(violations_inspection())
    advisories = [r for risk in pia.risks for r in risk.rules if r.verdict is Verdict.ADVISORY]
    assert advisories and all("violation" not in r.label for r in advisories)
