"""SARIF that GitHub code scanning accepts, for every bundle of the scenario suite.

Every result has a physical location with a file and a line; the checker in
``tests/sarif_github.py`` encodes GitHub's upload rules, and when ``SARIF_MULTITOOL`` names
the Microsoft SARIF multitool (installed from npm by ``.ci/run``) it validates the same files
with its GitHub rules (``validate --rule-kind Gh``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest

from bystander.inspect.bundle import load_bundle
from bystander.inspect.report.regions import Regions, har_entry_lines, yaml_key_lines
from bystander.inspect.report.sarif import sarif_dict
from bystander.rules import inspect_evidence
from tests.sarif_github import check_github

ROOT = Path(__file__).resolve().parents[1]
BUNDLES = sorted(
    p.parent
    for pattern in ("tests/scenarios/*/*/manifest.yaml", "examples/bundles/*/manifest.yaml")
    for p in ROOT.glob(pattern)
)


def sarif_of(bundle: Path) -> dict:
    return sarif_dict(inspect_evidence(load_bundle(bundle), today=date(2026, 9, 1)))


@pytest.mark.parametrize("bundle", BUNDLES, ids=[b.name for b in BUNDLES])
def test_every_bundle_gives_sarif_github_accepts(bundle: Path) -> None:
    log = sarif_of(bundle)
    assert check_github(log) == []
    for result in log["runs"][0]["results"]:
        for loc in result["locations"]:
            uri = loc["physicalLocation"]["artifactLocation"]["uri"]
            assert (bundle / uri).is_file() or Path(uri).is_file() or (ROOT / uri).is_file()


def test_checker_catches_what_github_rejects() -> None:
    log = sarif_of(ROOT / "tests/scenarios/heldout/h04-doorlock-cn-faces-to-singapore")
    result = log["runs"][0]["results"][0]
    result["locations"] = []
    log["runs"][0]["results"].append({"ruleId": "nope", "message": {"text": "x"}})
    problems = check_github(log)
    assert any("expected at least one location" in p for p in problems)
    assert any("not among the rules" in p for p in problems)
    loc = {"physicalLocation": {"artifactLocation": {"uri": "https://x.example/a"}}}
    log["runs"][0]["results"][0]["locations"] = [loc]
    problems = check_github(log)
    assert any("GH1005" in p for p in problems) and any("GH1003" in p for p in problems)


def test_locations_are_repo_relative_under_the_cwd(monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = "tests/scenarios/heldout/h04-doorlock-cn-faces-to-singapore"
    monkeypatch.chdir(ROOT)
    log = sarif_dict(inspect_evidence(load_bundle(Path(bundle)), today=date(2026, 9, 1)))
    run = log["runs"][0]
    frm = next(r for r in run["results"] if r["ruleId"] == "CN-FRM-08-LOCAL-STORE")
    phys = frm["locations"][0]["physicalLocation"]
    assert phys["artifactLocation"] == {"uri": f"{bundle}/traffic/session.har"}
    har = (ROOT / bundle / "traffic/session.har").read_text("utf-8").splitlines()
    assert har[phys["region"]["startLine"] - 1].strip() == "{"  # the entry's opening brace
    assert "uri" not in run["originalUriBaseIds"]["BUNDLE"]


def test_outside_the_cwd_uris_are_relative_to_the_bundle_base(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = tmp_path / "h13-toy-usil-face-scan-no-release"
    shutil.copytree(ROOT / "tests/scenarios/heldout" / bundle.name, bundle)
    monkeypatch.chdir(ROOT)
    log = sarif_of(bundle)
    run = log["runs"][0]
    base = run["originalUriBaseIds"]["BUNDLE"]["uri"]
    assert base.startswith("file:///") and base.endswith("/h13-toy-usil-face-scan-no-release/")
    for result in run["results"]:
        art = result["locations"][0]["physicalLocation"]["artifactLocation"]
        assert art["uriBaseId"] == "BUNDLE" and not art["uri"].startswith("/")


def test_har_entry_lines_and_profile_keys() -> None:
    text = '{"log": {"pages": [{"id": "entries"}],\n "entries": [\n  {"a": 1},\n  {"b": [2]}\n]}}'
    assert har_entry_lines(text) == [(3, 3), (4, 3)]
    assert har_entry_lines("not json") == []
    profile = "device_id: x\naccess_control:\n  default_password: true\n  roles: []\n"
    keys = yaml_key_lines(profile)
    assert keys["access_control.default_password"] == 3 and keys["device_id"] == 1


def test_refs_resolve_to_files_and_lines(tmp_path: Path) -> None:
    (tmp_path / "profile.yaml").write_text("a: 1\naccess_control:\n  user_roles: false\n")
    (tmp_path / "audit.jsonl").write_text('{"format": 1}\n{"index": 0}\n{"index": 1}\n')
    regions = Regions(
        tmp_path, {"manifest": "manifest.yaml", "profile": "profile.yaml", "audit": "audit.jsonl"}
    )
    assert regions.place("profile:access_control.user_roles").line == 3
    assert regions.place("profile:data_flows[0]").uri == "profile.yaml"
    assert (regions.place("audit:1").uri, regions.place("audit:1").line) == ("audit.jsonl", 3)
    assert regions.place("doc:docs/p.md:12").line == 12
    assert regions.place("bundle:documents").uri == "manifest.yaml"
    assert regions.place("har:missing.har#3").line == 1  # unreadable: a location all the same


MULTITOOL = os.environ.get("SARIF_MULTITOOL")


@pytest.mark.skipif(
    not MULTITOOL or not Path(MULTITOOL).is_file(),
    reason="SARIF_MULTITOOL (the npm @microsoft/sarif-multitool binary) is not set",
)
def test_sarif_multitool_github_rules_accept_every_bundle(tmp_path: Path) -> None:
    files = []
    for bundle in BUNDLES:
        target = tmp_path / f"{bundle.name}.sarif"
        target.write_text(json.dumps(sarif_of(bundle)), "utf-8")
        files.append(str(target))
    out = tmp_path / "validation.sarif"
    cmd = [str(MULTITOOL), "validate", "--rule-kind", "Gh", "--log", "ForceOverwrite"]
    done = subprocess.run(
        [*cmd, "-o", str(out), *files], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(out.read_text("utf-8"))
    errors = [r for run in report["runs"] for r in run.get("results", []) if r["level"] == "error"]
    assert errors == [], [e["message"] for e in errors][:5]
