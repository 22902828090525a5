"""Acceptance: `bystander inspect` on evidence bundles that reproduce MIIT's October 2025
findings, the smart-glasses cases and the face-only door lock. Each scenario is a compliant
device with one defect, so the right rules must fire and nothing else may."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bystander.cli.app import app
from tests.bundles import BundleBuilder, scenario
from tests.helpers import runner

V, A = "violation", "advisory"
DATE = "2026-11-22"

EXPECTED: dict[str, dict[str, str]] = {
    "compliant": {},
    # MIIT, October 2025: the six kinds of finding
    "miit_no_processing_rules": {"CN-PIPL-17-NOTICE": V, "CN-APP19-1.1": A},
    "miit_no_access_control": {"CN-PIPL-51-SECURITY": V},
    "miit_biometric_without_notice": {
        "CN-FRM-05-NOTICE": V,
        "CN-PIPL-30-EXTRA-NOTICE": V,
        "CN-GBT35273-5.4-BIO": A,  # the recommended standard asks for the same notice
    },
    "miit_cloud_without_consent": {
        "CN-FRM-08-LOCAL-STORE": V,
        "CN-PIPL-13-BASIS": V,
        "CN-GBT35273-6.3-BIO-STORE": A,  # a raw face image left the terminal
    },
    "miit_over_collection": {
        "CN-PIPL-06-MIN": V,
        "CN-PIPL-13-BASIS": V,
        "CN-PIPL-23-PROVIDE": V,
        "CN-APP19-4.1": A,
        "CN-APP19-5.1": A,
        "CN-MIIT164-1.3": A,
    },
    "miit_auto_renewal": {
        "CN-AUTORENEW-OPT-IN": V,
        "CN-AUTORENEW-REMINDER": V,
        "CN-AUTORENEW-CANCEL": V,
    },
    # smart glasses: the covenant is voluntary (advisories); face recognition in a hotel room
    # breaks the in-force measures
    "glasses_indicator_off": {"CN-CAICT-GLASSES-INDICATOR": A},
    # recording before any consent also has no legal basis (PIPL Art 13)
    "glasses_before_consent": {"CN-CAICT-GLASSES-CONSENT": A, "CN-PIPL-13-BASIS": V},
    # identifying an unnamed person: no consent or notice of theirs can exist; the wearer's
    # own recording consent does not cover the people in the hotel room
    "glasses_hotel_fr": {
        "CN-FRM-13B-PRIVATE-SPACE": V,
        "CN-CIVIL-1033": V,
        "CN-FRM-05-NOTICE": V,
        "CN-FRM-06-SEPARATE-CONSENT": V,
        "CN-PIPL-13-BASIS": V,
        "CN-PIPL-29-SEPARATE": V,
        "CN-PIPL-30-EXTRA-NOTICE": V,
        "CN-GBT35273-5.4-BIO": A,
        "CN-CAICT-GLASSES-ALGORITHM": A,
    },
    # door lock: face the only unlock method, no PIA, templates sent to Singapore
    "door_lock_face_only": {
        "CN-FRM-10-NOT-SOLE": V,
        "CN-PIPL-16-NO-FORCED": V,
        "CN-FRM-09-PIA": V,
        "CN-PIPL-55-PIA-TRIGGER": V,
        "CN-FRM-08-LOCAL-STORE": V,
        "CN-PIPL-13-BASIS": V,
        "CN-PIPL-38-XBORDER": V,
        "CN-PIPL-39-XBORDER-CONSENT": V,
        "CN-XB-CONTRACT": V,  # sensitive data exported with no CAC standard contract
    },
}


def inspect_json(bundle: Path, *args: str) -> tuple[int, dict]:
    result = runner.invoke(app, ["inspect", str(bundle), "--format", "json", "--date", DATE, *args])
    return result.exit_code, json.loads(result.stdout)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_right_rules_fire_and_nothing_else(name: str, tmp_path: Path) -> None:
    code, report = inspect_json(scenario(name, tmp_path))
    failed = {
        f["rule_id"]: f["verdict"]
        for f in report["findings"]
        if f["verdict"] in ("violation", "advisory")
    }
    assert failed == EXPECTED[name]
    assert code == (1 if V in failed.values() else 0)  # advisories never fail the gate


def test_findings_name_the_evidence(tmp_path: Path) -> None:
    _, report = inspect_json(scenario("door_lock_face_only", tmp_path))
    by_rule = {f["rule_id"]: f for f in report["findings"]}
    sent = by_rule["CN-FRM-08-LOCAL-STORE"]
    assert [e["ref"] for e in sent["evidence"]] == ["har:traffic/traffic.har#1"]
    assert "api.lockcloud.sg" in sent["evidence"][0]["message"]
    assert sent["article"] == "Art 8" and sent["rule_status"] == "in-force"
    assert sent["remediation"]
    assert [e["ref"] for e in by_rule["CN-FRM-10-NOT-SOLE"]["evidence"]] == [
        "profile:authentication.methods"
    ]


def test_framework_selects_rules(tmp_path: Path) -> None:
    bundle = scenario("glasses_hotel_fr", tmp_path)
    code, report = inspect_json(bundle, "--framework", "caict-glasses-2026")
    assert code == 0  # the covenant alone is voluntary: nothing here is "illegal"
    assert {f["rule_id"] for f in report["findings"]} == {
        f["rule_id"] for f in report["findings"] if f["rule_id"].startswith("CN-CAICT-")
    }
    code, report = inspect_json(bundle, "--framework", "cn-frm-2025")
    assert code == 1
    assert "CN-FRM-13B-PRIVATE-SPACE" in {f["rule_id"] for f in report["findings"]}


def test_every_format_and_the_pia(tmp_path: Path) -> None:
    bundle = scenario("door_lock_face_only", tmp_path)
    outputs = {}
    for fmt in ("text", "json", "sarif", "html", "junit"):
        target = tmp_path / f"report.{fmt}"
        result = runner.invoke(
            app, ["inspect", str(bundle), "-f", fmt, "-o", str(target), "--date", DATE]
        )
        assert result.exit_code == 1, result.output
        outputs[fmt] = target.read_text(encoding="utf-8")
    assert "CN-FRM-10-NOT-SOLE" in outputs["text"]
    sarif = json.loads(outputs["sarif"])
    assert {r["ruleId"] for r in sarif["runs"][0]["results"]} >= {"CN-FRM-08-LOCAL-STORE"}
    suites = ET.fromstring(outputs["junit"])
    failures = sum(int(s.get("failures", 0)) for s in suites.iter("testsuite"))
    assert failures == len(EXPECTED["door_lock_face_only"])
    assert "<html" in outputs["html"].lower() and "CN-FRM-09-PIA" in outputs["html"]
    pia = tmp_path / "pia.md"
    result = runner.invoke(app, ["pia", str(bundle), "-o", str(pia), "--date", DATE])
    assert result.exit_code == 0, result.output
    text = pia.read_text(encoding="utf-8")
    assert "CN-FRM-09-PIA" in text and "api.lockcloud.sg" in text and "TODO" in text


@pytest.mark.parametrize(
    ("breaks", "message"),
    [
        (lambda b: b.manifest(version=2), "unknown manifest version 2"),
        (lambda b: b.manifest(traffic=["traffic/missing.har"]), "missing.har"),
        (
            lambda b: b.file("traffic/bad.har", '{"log": {"entries": [').manifest(
                traffic=["traffic/bad.har"]
            ),
            "bad.har",
        ),
    ],
    ids=["unknown-version", "missing-file", "broken-har"],
)
def test_malformed_bundles_give_one_line_errors(tmp_path: Path, breaks, message: str) -> None:
    bundle = breaks(BundleBuilder(tmp_path, "bad").complete_policies()).write()
    result = runner.invoke(app, ["inspect", str(bundle)])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]


def test_unknown_framework_and_bad_date(tmp_path: Path) -> None:
    bundle = scenario("compliant", tmp_path)
    result = runner.invoke(app, ["inspect", str(bundle), "--framework", "nope"])
    assert result.exit_code == 1 and "cn-frm-2025" in result.output
    result = runner.invoke(app, ["inspect", str(bundle), "--date", "yesterday"])
    assert result.exit_code == 1 and "--date" in result.output


def test_example_bundle_passes(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[1] / "examples" / "bundles" / "glasses-compliant"
    code, report = inspect_json(example)
    assert code == 0
    assert not [f for f in report["findings"] if f["verdict"] in ("violation", "advisory")]


def test_cli_default_framework_is_the_catalogs_all() -> None:
    from bystander.cli import inspect_cmd
    from bystander.rules import ALL

    assert inspect_cmd.ALL == ALL
