"""The example bundles: one compliant, three that show violations, with their reports.

The reports in ``examples/reports`` are what ``examples/reports/regenerate.sh`` writes; this
test fails when a catalog or report change makes them stale (run the script to refresh).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bystander.inspect.bundle import load_bundle
from bystander.inspect.report import render
from bystander.rules import inspect_evidence

ROOT = Path(__file__).resolve().parents[1]
EXPECTED = {
    "glasses-hotel-room": {
        "CN-CIVIL-1033": "violation",
        "CN-PSAPL-PEEP": "violation",
        "CN-CAICT-GLASSES-INDICATOR": "advisory",
        "CN-CAICT-GLASSES-TAMPER": "advisory",
    },
    "doorlock-faces-abroad": {
        "CN-FRM-08-LOCAL-STORE": "violation",
        "CN-PIPL-13-BASIS": "violation",
        "CN-PIPL-38-XBORDER": "violation",
        "CN-PIPL-39-XBORDER-CONSENT": "violation",
        "CN-XB-ASSESS": "violation",
        "CN-GBT35273-6.3-BIO-STORE": "advisory",
    },
    "speaker-silent-renewal": {"CN-AUTORENEW-REMINDER": "violation"},
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_shows_its_violations_and_its_reports_are_current(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # the reports were written from the repository root
    ins = inspect_evidence(load_bundle(Path("examples/bundles") / name), today=date(2026, 9, 1))
    assert {f.rule_id: f.verdict.value for f in ins.findings if f.failed} == EXPECTED[name]
    for fmt, ext in (("text", "txt"), ("sarif", "sarif")):
        committed = (ROOT / "examples" / "reports" / f"{name}.{ext}").read_text("utf-8")
        assert render(ins, fmt) == committed, f"stale: run examples/reports/regenerate.sh ({ext})"


def test_readme_points_at_the_examples() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    for name in EXPECTED:
        assert f"examples/bundles/{name}" in readme and f"examples/reports/{name}" in readme
