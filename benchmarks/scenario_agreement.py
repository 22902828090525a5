"""Scenario suite: how many expected per-rule verdicts the inspector meets.

Each folder under ``tests/scenarios/<set>/`` is an evidence bundle with an ``expected.yaml``
beside its manifest::

    scenario: h02-glasses-cn-hotel-led-covered
    set: heldout                 # heldout (written before the checks were touched) or dev
    inspected_on: 2026-09-01     # the inspection date the verdicts assume
    expected:
      CN-CIVIL-1033: violation
      CN-CIVIL-1195: [pass, not_applicable]   # any of these
    why: {CN-CIVIL-1033: "Art 1033(2): ..."}

The script inspects every bundle with every rule (``--framework all``) and reports, per set,
the share of expected verdicts met, plus two invariants over *all* findings: violations
from rules that are not in force (voluntary, draft, guidance, recommended standards,
superseded), and violations from rules a scenario expects ``not_applicable``. A bundle that
fails to load meets none of its expectations. ``--json`` prints the figures as JSON;
``--misses`` lists every unmet expectation::

    python benchmarks/scenario_agreement.py [--set heldout] [--misses] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
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

ROOT = Path(__file__).resolve().parent.parent / "tests" / "scenarios"
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", dest="only", help="only this set (heldout, dev)")
    parser.add_argument("--root", type=Path, default=ROOT, help="the scenarios folder")
    parser.add_argument("--misses", action="store_true", help="list every unmet expectation")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    outcomes = [judge(sc) for sc in scenarios(args.root, args.only)]
    figures = summary(outcomes)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for name, row in sorted(figures["sets"].items()):
            print(
                f"{name:8} {row['scenarios']:3} scenarios  {row['met']:4}/{row['expected']:<4} "
                f"expected verdicts met  ({row['agreement_pct']}%)"
            )
        print(f"violations from non-binding rules: {figures['nonbinding_violations']}")
        print(f"violations from rules expected out of scope: {figures['out_of_scope_violations']}")
        for name in figures["load_errors"]:
            print(f"load error: {name}")
    if args.misses:
        for o in outcomes:
            if o.error:
                print(f"{o.scenario.name}: could not load: {o.error}")
            for e, got in o.misses():
                print(f"{o.scenario.name}: {e.rule_id}: expected {'|'.join(e.allowed)}, got {got}")
            for rule_id in o.nonbinding_violations:
                print(f"{o.scenario.name}: {rule_id}: violation from a non-binding rule")
    return 0


if __name__ == "__main__":
    sys.exit(main())
