"""Scenario suite: how many expected per-rule verdicts the inspector meets.

Inspects every bundle under ``tests/scenarios/<set>/`` with every rule (``--framework all``)
on the date its ``expected.yaml`` names, and reports, per set, the share of expected verdicts
met, plus two invariants over *all* findings: violations from rules that are not in force
(voluntary, draft, guidance, recommended standards, superseded), and violations from rules a
scenario expects ``not_applicable``. A bundle that fails to load meets none of its
expectations. ``--json`` prints the figures as JSON; ``--misses`` lists every unmet
expectation::

    python benchmarks/scenario_agreement.py [--set heldout] [--misses] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.scenario_suite import ROOT, judge, scenarios, summary


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
