"""`bystander eval --conditions`: recall on hard faces, per condition and split, vs deface."""

from __future__ import annotations

import json
from pathlib import Path

from rich.table import Table

from bystander.cli.common import err_console, out_console, print_json
from bystander.errors import InputError
from bystander.fsutil import write_text_atomic
from bystander.jobs.protect import ProtectSettings
from bystander.measure.conditions import CONDITIONS
from bystander.measure.contenders import BystanderContender, Contender, DefaceContender
from bystander.measure.facelib import SPLITS, Split, default_shared_dlib, load_library
from bystander.measure.hard_conditions import HardConditionsResult, bucket_order, run_benchmark


def parse_conditions(text: str) -> list[str]:
    """``"edge,motion"`` or ``"all"`` -> condition names (checked)."""
    names = list(CONDITIONS) if text.strip() == "all" else [p for p in text.split(",") if p]
    unknown = [n for n in names if n not in CONDITIONS]
    if unknown or not names:
        raise InputError(
            f"unknown condition {', '.join(unknown) or '(none)'} "
            f"(choose from {', '.join(CONDITIONS)} or all)"
        )
    return names


def parse_splits(text: str) -> list[Split]:
    if text == "both":
        return list(SPLITS)
    if text not in SPLITS:
        raise InputError(f"--split must be dev, held-out or both, got {text!r}")
    return [text]


def run_conditions(
    conditions: str,
    split: str,
    settings: ProtectSettings,
    faces: Path | None,
    dlib: Path | None,
    heights: list[int],
    with_deface: bool,
    seed: int,
    output: Path | None,
    json_out: bool,
) -> HardConditionsResult:
    names, splits = parse_conditions(conditions), parse_splits(split)
    if faces is not None and not faces.is_dir():
        raise InputError(f"--faces must be the folder fetch_face_packages.sh filled: {faces}")
    library = load_library(faces, dlib if dlib is not None else default_shared_dlib())
    if library.missing and not json_out:
        err_console.print(
            "not found (skipped): " + ", ".join(library.missing)
            + " (benchmarks/fetch_face_packages.sh DIR, then --faces DIR)",
            highlight=False,
        )  # fmt: skip
    contenders: list[Contender] = [BystanderContender(settings)]
    if with_deface:
        contenders.append(DefaceContender())

    def say(message: str) -> None:
        if not json_out:
            err_console.print(f"[dim]{message}[/dim]")

    result = run_benchmark(
        library, contenders, names, splits, heights, seed=seed, progress=say
    )
    if output is not None:
        write_text_atomic(output, result.to_json())
    if json_out:
        print_json(json.loads(result.to_json()))
    else:
        for part in splits:
            out_console.print(conditions_table(result, part))
        if output is not None:
            out_console.print(f"result: {output}", highlight=False)
    return result


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def conditions_table(result: HardConditionsResult, split: str) -> Table:
    """One row per condition: faces, recall per contender, the difference, off-face share."""
    names = list(result.contenders)
    table = Table(
        title=f"{split}: faces >= {result.min_coverage * 100:.0f}% hidden", title_justify="left"
    )
    table.add_column("condition")
    table.add_column("faces", justify="right")
    for name in names:
        table.add_column(name, justify="right")
    if len(names) == 2:
        table.add_column("difference", justify="right")
    table.add_column("by height (bystander)")
    table.add_column("off-face", justify="right")
    for row in result.results:
        if row.split != split:
            continue
        scores = [row.contenders[n] for n in names]
        cells = [row.condition, str(scores[0].faces)] + [_pct(s.recall) for s in scores]
        if len(names) == 2 and scores[0].recall is not None and scores[1].recall is not None:
            cells.append(f"{(scores[0].recall - scores[1].recall) * 100:+.1f}")
        elif len(names) == 2:
            cells.append("-")
        buckets = sorted(scores[0].buckets.items(), key=lambda kv: bucket_order(kv[0]))
        cells.append(" ".join(f"{k}:{v.covered}/{v.faces}" for k, v in buckets))
        cells.append(_pct(scores[0].off_face_share))
        table.add_row(*cells)
    table.add_section()
    overall = [result.overall(split, n) for n in names]
    cells = ["all but tiny, 24 px+", str(overall[0].faces)] + [_pct(t.recall) for t in overall]
    if len(names) == 2:
        a, b = overall[0].recall, overall[1].recall
        cells.append(f"{(a - b) * 100:+.1f}" if a is not None and b is not None else "-")
    cells += ["", ""]
    table.add_row(*cells, style="bold")
    return table
