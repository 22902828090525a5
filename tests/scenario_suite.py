"""The scenario suite's data: expected verdicts per rule next to each bundle, and the judge.

Each folder under ``tests/scenarios/<set>/`` is an evidence bundle with an ``expected.yaml``
beside its manifest::

    scenario: h02-glasses-cn-hotel-led-covered
    set: heldout                 # heldout (written before the checks were touched) or dev
    device: smart-glasses
    market: CN                   # CN, EU, US-IL, or several joined by +
    inspected_on: 2026-09-01     # the inspection date the verdicts assume
    expected:
      CN-CIVIL-1033: violation
      CN-CIVIL-1195: [pass, not_applicable]   # any of these
    why: {CN-CIVIL-1033: "Art 1033(2): ..."}

Used by ``tests/test_scenarios.py`` and ``benchmarks/scenario_agreement.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from bystander.errors import BystanderError
from bystander.inspect.bundle import load_bundle
from bystander.inspect.findings import Inspection, Verdict
from bystander.rules import inspect_evidence

ROOT = Path(__file__).resolve().parent / "scenarios"
VERDICTS = {v.value for v in Verdict}


@dataclass
class Expectation:
    """What one scenario expects of one rule."""

    rule_id: str
    allowed: tuple[str, ...]
    why: str = ""


@dataclass
class Scenario:
    """A bundle folder and its expectations."""

    name: str
    set: str
    path: Path
    inspected_on: date
    expected: list[Expectation]


@dataclass
class Outcome:
    """The inspector's result on one scenario."""

    scenario: Scenario
    got: dict[str, str] = field(default_factory=dict)  # rule id -> verdict
    error: str | None = None
    nonbinding_violations: list[str] = field(default_factory=list)
    out_of_scope_violations: list[str] = field(default_factory=list)

    def misses(self) -> list[tuple[Expectation, str]]:
        """Unmet expectations with what the inspector said (``missing`` when no finding)."""
        out = []
        for e in self.scenario.expected:
            verdict = self.got.get(e.rule_id, "error" if self.error else "missing")
            if verdict not in e.allowed:
                out.append((e, verdict))
        return out


def read_scenario(folder: Path) -> Scenario:
    """Parse ``expected.yaml``; raises ``ValueError`` on a malformed one."""
    data: Any = yaml.safe_load((folder / "expected.yaml").read_text("utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("expected"), dict):
        raise ValueError(f"{folder.name}/expected.yaml: needs an 'expected' mapping")
    why = data.get("why") or {}
    expected = []
    for rule_id, value in data["expected"].items():
        allowed = tuple(value) if isinstance(value, list) else (value,)
        bad = [v for v in allowed if v not in VERDICTS]
        if bad:
            raise ValueError(f"{folder.name}/expected.yaml: {rule_id}: unknown verdict {bad[0]!r}")
        expected.append(Expectation(str(rule_id), allowed, str(why.get(rule_id, ""))))
    day = data.get("inspected_on", "2026-09-01")
    return Scenario(
        name=str(data.get("scenario", folder.name)),
        set=str(data.get("set", folder.parent.name)),
        path=folder,
        inspected_on=day if isinstance(day, date) else date.fromisoformat(str(day)),
        expected=expected,
    )


def scenarios(root: Path = ROOT, only: str | None = None) -> Iterator[Scenario]:
    """Every scenario under ``root`` (``<set>/<name>/expected.yaml``), sorted by path."""
    for exp in sorted(root.glob("*/*/expected.yaml")):
        sc = read_scenario(exp.parent)
        if only is None or sc.set == only:
            yield sc


def inspect_scenario(sc: Scenario) -> tuple[Inspection | None, str | None]:
    """The inspection of one scenario, or the one-line error that stopped it."""
    try:
        evidence = load_bundle(sc.path)
        return inspect_evidence(evidence, ("all",), today=sc.inspected_on), None
    except BystanderError as exc:
        return None, str(exc)


def judge(sc: Scenario) -> Outcome:
    """Inspect one scenario and compare with its expectations."""
    inspection, error = inspect_scenario(sc)
    out = Outcome(sc, error=error)
    if inspection is None:
        return out
    out.got = {f.rule_id: f.verdict.value for f in inspection.findings}
    status = {f.rule_id: f.rule_status for f in inspection.findings}
    expected_na = {e.rule_id for e in sc.expected if e.allowed == ("not_applicable",)}
    for rule_id, verdict in out.got.items():
        if verdict != Verdict.VIOLATION.value:
            continue
        if status[rule_id] != "in-force":
            out.nonbinding_violations.append(rule_id)
        if rule_id in expected_na:
            out.out_of_scope_violations.append(rule_id)
    return out


def summary(outcomes: list[Outcome]) -> dict[str, Any]:
    """Agreement per set, and the two invariants."""
    sets: dict[str, dict[str, int]] = {}
    for o in outcomes:
        row = sets.setdefault(o.scenario.set, {"scenarios": 0, "expected": 0, "met": 0})
        row["scenarios"] += 1
        row["expected"] += len(o.scenario.expected)
        row["met"] += len(o.scenario.expected) - len(o.misses())
    for row in sets.values():
        share = row["met"] / row["expected"] if row["expected"] else 0.0
        row["agreement_pct"] = round(100.0 * share, 1)
    return {
        "sets": sets,
        "load_errors": [o.scenario.name for o in outcomes if o.error],
        "nonbinding_violations": sum(len(o.nonbinding_violations) for o in outcomes),
        "out_of_scope_violations": sum(len(o.out_of_scope_violations) for o in outcomes),
    }
