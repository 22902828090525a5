"""Inspection reports: text, JSON (against its schema), SARIF, JUnit, HTML and the plan."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from bystander.inspect.findings import EvidenceItem, Finding, Inspection, Severity, Verdict
from bystander.inspect.plan import rectification_plan
from bystander.inspect.profile import InspectedDevice
from bystander.inspect.report import FORMATS, render
from bystander.inspect.report.common import locate

SCHEMA = Path(__file__).resolve().parents[1] / "docs" / "inspection-schema.json"
DAY = date(2026, 11, 1)
XSS = "<script>alert('pwned')</script>"


def _ev(ref: str, message: str, check: str = "chk") -> EvidenceItem:
    return EvidenceItem(ref=ref, message=message, check_id=check)


def device() -> InspectedDevice:
    return InspectedDevice.model_validate(
        {
            "device_id": "lock-0042",
            "device_type": "door-lock",
            "vendor": "Example Locks Ltd",
            "model": "FaceLock 2",
            "markets": ["CN", "EU"],
            "sensors": ["camera"],
            "face_recognition": True,
            "biometrics": ["face"],
            "authentication": {"methods": ["face"]},
            "data_flows": [
                {
                    "data_categories": ["user.biometric.face.template"],
                    "destination": "api.example-cloud.com",
                    "country": "SG",
                    "purpose": "remote unlock",
                },
                {
                    "data_categories": ["user.device.telemetry"],
                    "destination": "on_device",
                    "purpose": "diagnostics",
                    "encrypted": True,
                },
            ],
            "retention_days": {"user.biometric.face.template": 365},
            "access_control": {"encryption_in_transit": True, "default_password": True},
        }
    )


def finding(rule_id: str, verdict: Verdict, **kw: Any) -> Finding:
    defaults: dict[str, Any] = {
        "title": f"Title of {rule_id}",
        "jurisdiction": "CN",
        "instrument": "CAC/MPS FRM",
        "article": "Art 8",
        "rule_status": "in-force",
        "family": "biometrics",
        "severity": Severity.HIGH,
        "remediation": f"Fix {rule_id}.",
        "sources": ("GB/T 41819", "https://www.gov.cn/zhengce/frm"),
    }
    defaults.update(kw)
    return Finding(rule_id=rule_id, verdict=verdict, **defaults)


def violations_inspection() -> Inspection:
    """2 violations, 1 advisory, 1 insufficient evidence, 2 passes, 1 not applicable."""
    findings = [
        finding(
            "CN-FRM-08-LOCAL-STORE",
            Verdict.VIOLATION,
            title="Face information stays on the device",
            family="cross-border",
            severity=Severity.CRITICAL,
            remediation="Keep face templates on the device, or obtain separate consent.",
            evidence=tuple(
                _ev(f"har:traffic.har#{i}", f"face template sent to api.example-cloud.com ({i})")
                for i in range(7)
            ),
        ),
        finding(
            "CN-FRM-10-NOT-SOLE",
            Verdict.VIOLATION,
            title="Face is not the only way to unlock",
            article="Art 10",
            family="biometrics",
            severity=Severity.HIGH,
            remediation="Offer a PIN or card as an alternative to face unlock.",
            rectify_within_days=15,
            evidence=(
                _ev("profile:authentication", "only 'face' is declared"),
                _ev("doc:privacy.md:12", XSS),
                _ev("audit:123", "unlock by face only"),
            ),
        ),
        finding(
            "CN-CAICT-GLASSES-INDICATOR",
            Verdict.ADVISORY,
            title="Visible indicator while recording",
            instrument="CAICT smart-glasses code",
            article="3.2",
            rule_status="voluntary",
            family="indicator",
            severity=Severity.MEDIUM,
            remediation="Add a hardwired recording LED.",
            evidence=(_ev("log:records.jsonl:17", "capture with indicator off"),),
        ),
        finding(
            "EU-GDPR-35",
            Verdict.INSUFFICIENT_EVIDENCE,
            title="DPIA before processing",
            jurisdiction="EU",
            instrument="GDPR",
            article="Art 35",
            family="impact-assessment",
            reason="no documents in the bundle",
        ),
        finding("CN-PIPL-17-NOTICE", Verdict.PASS, family="notice", article="Art 17"),
        finding("EU-GDPR-44", Verdict.PASS, family="cross-border", jurisdiction="EU"),
        finding(
            "CN-FRM-13B-PRIVATE-SPACE",
            Verdict.NOT_APPLICABLE,
            family="zones",
            reason="no deployment zones",
        ),
    ]
    return Inspection(
        device=device(),
        frameworks=("cn-frm", "gdpr"),
        findings=findings,
        inspected_on=DAY,
        records=1234,
        catalog_version="2026.11",
        notes=["traffic capture covers 10 minutes"],
    )


def clean_inspection() -> Inspection:
    findings = [
        finding("CN-PIPL-17-NOTICE", Verdict.PASS, family="notice"),
        finding("CN-FRM-10-NOT-SOLE", Verdict.PASS),
    ]
    return Inspection(device(), ("cn-frm",), findings, DAY, 10)


# --- dispatch -------------------------------------------------------------------------------


def test_every_format_renders_and_unknown_format_lists_them() -> None:
    for fmt in FORMATS:
        assert render(violations_inspection(), fmt)
        assert render(clean_inspection(), fmt)
    with pytest.raises(ValueError, match="text, json, sarif, html, junit"):
        render(violations_inspection(), "pdf")


# --- plan -----------------------------------------------------------------------------------


def test_plan_groups_by_deadline_earliest_first_violations_before_advisories() -> None:
    inspection = violations_inspection()
    inspection.findings.append(
        finding("ADV-CRIT", Verdict.ADVISORY, rule_status="guidance", severity=Severity.CRITICAL)
    )
    plan = rectification_plan(inspection)
    assert [g.deadline for g in plan] == [date(2026, 11, 16), date(2026, 12, 31)]
    assert [g.days for g in plan] == [15, 60]
    first = plan[0]
    # Critical violation (15 days default), high violation with its own 15-day deadline and a
    # critical advisory share one date: violations first, then by severity.
    assert [i.rule_id for i in first.items] == [
        "CN-FRM-08-LOCAL-STORE",
        "CN-FRM-10-NOT-SOLE",
        "ADV-CRIT",
    ]
    assert (first.violations, first.advisories) == (2, 1)
    assert first.items[0].evidence_count == 7
    assert first.items[0].remediation.startswith("Keep face templates")
    assert plan[1].items[0].rule_id == "CN-CAICT-GLASSES-INDICATOR"
    assert not plan[1].items[0].required
    assert rectification_plan(clean_inspection()) == []


# --- text -----------------------------------------------------------------------------------


def _section(text: str, start: str, stops: tuple[str, ...]) -> str:
    body = text.split(start, 1)[1]
    for stop in stops:
        body = body.split(stop, 1)[0]
    return body


def test_text_lists_violations_with_refs_remediation_and_caps_evidence() -> None:
    text = render(violations_inspection(), "text")
    assert "\x1b" not in text
    assert "lock-0042" in text and "Example Locks Ltd" in text
    assert "2 violations, 1 advisory (recommended), 2 passed, 1 insufficient evidence" in text
    violations = _section(text, "VIOLATIONS: IN-FORCE", ("ADVISORIES",))
    assert "CN-FRM-08-LOCAL-STORE" in violations and "CN-FRM-10-NOT-SOLE" in violations
    assert "har:traffic.har#0" in violations and "har:traffic.har#4" in violations
    assert "har:traffic.har#5" not in violations and "and 2 more" in violations
    assert "Keep face templates on the device" in violations
    assert "doc:privacy.md:12" in violations and "audit:123" in violations
    assert "by 2026-11-16" in violations
    advisories = _section(text, "ADVISORIES", ("INSUFFICIENT EVIDENCE",))
    assert "CN-CAICT-GLASSES-INDICATOR" in advisories
    assert "Recommended: Add a hardwired recording LED." in advisories
    insufficient = _section(text, "INSUFFICIENT EVIDENCE", ("PASSED",))
    assert "EU-GDPR-35" in insufficient and "no documents in the bundle" in insufficient
    plan = text.split("RECTIFICATION PLAN", 1)[1]
    assert plan.index("By 2026-11-16") < plan.index("By 2026-12-31")
    assert "[recommended, medium] CN-CAICT-GLASSES-INDICATOR" in plan


def test_text_neutralises_terminal_escapes_and_reports_clean_device() -> None:
    inspection = violations_inspection()
    inspection.findings[0] = finding(
        "X", Verdict.VIOLATION, evidence=(_ev("har:t.har#1", "evil\x1b[2J\nnext line"),)
    )
    text = render(inspection, "text")
    assert "\x1b" not in text and "evil\\x1b[2J next line" in text
    inspection.findings[0] = finding("X", Verdict.VIOLATION, evidence=(_ev("a:1", "y" * 5000),))
    assert "y" * 400 not in render(inspection, "text")
    clean = render(clean_inspection(), "text")
    assert "Result: OK" in clean and "Nothing to rectify." in clean
    assert "VIOLATIONS" not in clean


# --- JSON -----------------------------------------------------------------------------------


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "null": type(None),
}


def validate(value: Any, schema: dict[str, Any], root: dict[str, Any], path: str = "$") -> None:
    """A validator for the JSON Schema subset the inspection schema uses."""
    schema = _resolve(schema, root)
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        ok = any(
            isinstance(value, _TYPES[t])
            and not (t in ("integer", "number") and value is True)
            and not (t in ("integer", "number") and value is False)
            for t in types
        )
        assert ok, f"{path}: {value!r} is not {types}"
    if "const" in schema:
        assert value == schema["const"], path
    if "enum" in schema:
        assert value in schema["enum"], f"{path}: {value!r} not in {schema['enum']}"
    if "minimum" in schema and isinstance(value, int):
        assert value >= schema["minimum"], path
    if schema.get("format") == "date" and isinstance(value, str):
        date.fromisoformat(value)
    if isinstance(value, dict):
        for key in schema.get("required", []):
            assert key in value, f"{path}: missing {key}"
        props = schema.get("properties", {})
        for key, item in value.items():
            if key in props:
                validate(item, props[key], root, f"{path}.{key}")
            else:
                assert schema.get("additionalProperties", True) is not False, f"{path}.{key}"
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            validate(item, schema["items"], root, f"{path}[{i}]")


def test_json_round_trips_and_validates_against_the_schema() -> None:
    schema = json.loads(SCHEMA.read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    for inspection in (violations_inspection(), clean_inspection()):
        data = json.loads(render(inspection, "json"))
        validate(data, schema, schema)
        assert json.loads(json.dumps(data)) == data
    data = json.loads(render(violations_inspection(), "json"))
    assert data["format"] == "bystander.inspection/1"
    assert data["summary"]["verdicts"] == {
        "violation": 2,
        "advisory": 1,
        "pass": 2,
        "not_applicable": 1,
        "insufficient_evidence": 1,
    }
    assert data["summary"]["exit_code"] == 1
    by_id = {f["rule_id"]: f for f in data["findings"]}
    local = by_id["CN-FRM-08-LOCAL-STORE"]
    assert len(local["evidence"]) == 7 and local["deadline"] == "2026-11-16"
    assert by_id["CN-CAICT-GLASSES-INDICATOR"]["verdict"] == "advisory"
    assert by_id["CN-PIPL-17-NOTICE"]["deadline"] is None
    assert [g["deadline"] for g in data["plan"]] == ["2026-11-16", "2026-12-31"]
    assert data["device"]["device_id"] == "lock-0042"


def test_the_validator_rejects_a_broken_report() -> None:
    schema = json.loads(SCHEMA.read_text())
    data = json.loads(render(violations_inspection(), "json"))
    del data["findings"][0]["verdict"]
    with pytest.raises(AssertionError, match="missing verdict"):
        validate(data, schema, schema)
    data = json.loads(render(violations_inspection(), "json"))
    data["findings"][0]["verdict"] = "illegal"
    with pytest.raises(AssertionError):
        validate(data, schema, schema)


# --- SARIF ----------------------------------------------------------------------------------


def test_evidence_refs_are_located() -> None:
    har = locate("har:traffic.har#5")
    assert (har.uri, har.line, har.entry) == ("traffic.har", None, "5")
    doc = locate("doc:privacy.md:12")
    assert (doc.uri, doc.line) == ("privacy.md", 12)
    assert locate("audit:123").uri is None and locate("audit:123").entry == "123"
    assert locate("billing:billing.csv:3").line == 3
    assert locate("billing:events.json:3").entry == "event 3"
    bundle = locate("bundle:documents")
    assert bundle.uri is None and bundle.entry == "documents"
    assert locate("doc:notice.pdf").uri == "notice.pdf"
    assert locate("profile:data_flows[0]").entry == "data_flows[0]"


def test_sarif_levels_rule_ids_and_locations() -> None:
    log = json.loads(render(violations_inspection(), "sarif"))
    assert log["version"] == "2.1.0" and "sarif" in log["$schema"]
    run = log["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "bystander" and "informationUri" not in driver  # no project URL yet
    rules = {r["id"]: r for r in driver["rules"]}
    assert len(rules) == 7
    frm = rules["CN-FRM-08-LOCAL-STORE"]
    assert frm["helpUri"] == "https://www.gov.cn/zhengce/frm"  # the first URL, not the first source
    assert frm["properties"]["status"] == "in-force"
    assert frm["properties"]["family"] == "cross-border"
    assert {"shortDescription", "fullDescription", "name"} <= frm.keys()
    results = run["results"]
    levels = {r["ruleId"]: r["level"] for r in results}
    assert levels == {
        "CN-FRM-08-LOCAL-STORE": "error",
        "CN-FRM-10-NOT-SOLE": "error",
        "CN-CAICT-GLASSES-INDICATOR": "warning",
        "EU-GDPR-35": "note",
    }
    for result in results:
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
    local = next(r for r in results if r["ruleId"] == "CN-FRM-08-LOCAL-STORE")
    assert len(local["locations"]) == 7
    first = local["locations"][0]
    assert first["physicalLocation"]["artifactLocation"]["uri"] == "traffic.har"
    assert first["logicalLocations"][0]["fullyQualifiedName"] == "har:traffic.har#0"
    sole = next(r for r in results if r["ruleId"] == "CN-FRM-10-NOT-SOLE")
    doc = sole["locations"][1]["physicalLocation"]
    assert doc["artifactLocation"]["uri"] == "privacy.md" and doc["region"]["startLine"] == 12
    audit = sole["locations"][2]  # no audit export known: the manifest, with the ref kept
    assert audit["physicalLocation"]["artifactLocation"]["uri"] == "manifest.yaml"
    assert audit["logicalLocations"][0]["fullyQualifiedName"] == "audit:123"
    missing = next(r for r in results if r["ruleId"] == "EU-GDPR-35")  # insufficient evidence
    assert missing["locations"][0]["physicalLocation"]["region"] == {"startLine": 1}
    advisory = next(r for r in results if r["level"] == "warning")
    assert "Violation" not in advisory["message"]["text"]
    assert json.loads(render(clean_inspection(), "sarif"))["runs"][0]["results"] == []


# --- JUnit ----------------------------------------------------------------------------------


def test_junit_failures_are_violations_only() -> None:
    inspection = violations_inspection()
    root = ET.fromstring(render(inspection, "junit"))
    assert root.tag == "testsuites"
    assert root.get("failures") == str(len(inspection.violations)) == "2"
    assert root.get("tests") == "7" and root.get("skipped") == "2"
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {
        "cross-border",
        "biometrics",
        "indicator",
        "impact-assessment",
        "notice",
        "zones",
    }
    assert sum(int(s.get("failures", "0")) for s in suites.values()) == 2
    failing = {
        c.get("name", "").split()[0] for c in root.iter("testcase") if c.find("failure") is not None
    }
    assert failing == {"CN-FRM-08-LOCAL-STORE", "CN-FRM-10-NOT-SOLE"}
    indicator = suites["indicator"].find("testcase")
    assert indicator is not None
    assert indicator.find("failure") is None and indicator.find("skipped") is None
    out = indicator.findtext("system-out") or ""
    assert out.startswith("ADVISORY (recommended") and "hardwired recording LED" in out
    skipped = {c.get("name", "").split()[0]: c.find("skipped") for c in root.iter("testcase")}
    gdpr = skipped["EU-GDPR-35"]
    assert gdpr is not None
    assert gdpr.get("message") == "insufficient evidence: no documents in the bundle"
    zones = skipped["CN-FRM-13B-PRIVATE-SPACE"]
    assert zones is not None and (zones.get("message") or "").startswith("not applicable")
    # The <script> from the evidence is escaped text, and control characters cannot break XML.
    failure = next(c for c in root.iter("testcase") if "NOT-SOLE" in (c.get("name") or ""))
    assert XSS in (failure.findtext("failure") or "")
    clean = ET.fromstring(render(clean_inspection(), "junit"))
    assert clean.get("failures") == "0"


def test_junit_survives_control_characters() -> None:
    inspection = violations_inspection()
    inspection.findings[0] = finding(
        "X", Verdict.VIOLATION, evidence=(_ev("har:t.har#1", "nul\x00 and esc\x1b"),)
    )
    root = ET.fromstring(render(inspection, "junit"))
    assert "nul\\x00 and esc\\x1b" in "".join(root.itertext())


# --- HTML -----------------------------------------------------------------------------------


def test_html_escapes_evidence_and_summarises_families() -> None:
    html = render(violations_inspection(), "html")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in html
    assert "<link" not in html and "src=" not in html  # self-contained
    assert "Summary by topic" in html
    summary = html.split('id="families"', 1)[1].split("</table>", 1)[0]
    for family in ("Cross-border", "Biometrics", "Indicator", "Impact assessment", "Zones"):
        assert family in summary
    assert "Does not comply" in html
    assert "Keep face templates on the device" in html and "2026-11-16" in html
    assert "<details>" in html and "har:traffic.har#6" in html
    appendix = html.split('id="appendix"', 1)[1]
    assert "CN-PIPL-17-NOTICE" in appendix and "EU-GDPR-44" in appendix
    clean = render(clean_inspection(), "html")
    assert "No problems found" in clean and "Nothing to rectify." in clean


# --- wording: an advisory is never a violation -------------------------------------------------


def test_an_advisory_never_appears_under_a_violation_heading() -> None:
    inspection = violations_inspection()
    advisory = "CN-CAICT-GLASSES-INDICATOR"
    text = render(inspection, "text")
    assert advisory not in _section(text, "VIOLATIONS", ("ADVISORIES",))
    html = render(inspection, "html")
    violations = html.split('id="s-violation"', 1)[1].split("</section>", 1)[0]
    assert advisory not in violations and "CN-FRM-08-LOCAL-STORE" in violations
    advisories = html.split('id="s-advisory"', 1)[1].split("</section>", 1)[0]
    assert advisory in advisories and not re.search("violation", advisories, re.IGNORECASE)
    plan = html.split('id="plan"', 1)[1].split("</section>", 1)[0]
    row = next(r for r in plan.split("<tr>") if advisory in r)
    assert "Recommended" in row and "Required by law" not in row
    data = json.loads(render(inspection, "json"))
    assert next(f for f in data["findings"] if f["rule_id"] == advisory)["verdict"] == "advisory"
    sarif = json.loads(render(inspection, "sarif"))["runs"][0]["results"]
    assert next(r for r in sarif if r["ruleId"] == advisory)["level"] == "warning"
    junit = ET.fromstring(render(inspection, "junit"))
    case = next(c for c in junit.iter("testcase") if advisory in (c.get("name") or ""))
    assert case.find("failure") is None


def test_advisory_only_device_passes_ci_and_is_not_called_illegal() -> None:
    inspection = violations_inspection()
    inspection.findings = [f for f in inspection.findings if f.verdict is not Verdict.VIOLATION]
    assert inspection.exit_code == 0
    for fmt in ("text", "html"):
        out = render(inspection, fmt)
        assert "illegal" not in out.lower() and "Does not comply" not in out
        assert "No legally binding rule was found broken" in out
    assert ET.fromstring(render(inspection, "junit")).get("failures") == "0"
