"""`bystander eval --real-video`: leaks on annotated real clips, Bystander vs deface."""

from __future__ import annotations

import json
from pathlib import Path

from rich.table import Table

from bystander.cli.common import err_console, out_console, print_json
from bystander.errors import InputError
from bystander.fsutil import write_text_atomic
from bystander.jobs.protect import ProtectSettings
from bystander.measure.leak import ClipLeaks, annotation_files, load_clip, measure_clip


def default_shared_egoblur() -> Path | None:
    candidate = Path("../shared/data/egoblur")
    return candidate if candidate.is_dir() else None


def run_real_video(
    settings: ProtectSettings,
    faces: Path | None,
    egoblur: Path | None,
    with_deface: bool,
    output: Path | None,
    json_out: bool,
) -> list[ClipLeaks]:
    shared = egoblur if egoblur is not None else default_shared_egoblur()
    results: list[ClipLeaks] = []
    for name in annotation_files():
        clip = load_clip(name, faces, shared)
        if clip is None:
            if not json_out:
                err_console.print(f"[dim]{name}: clip not found, skipped[/dim]")
            continue
        if not json_out:
            err_console.print(f"[dim]{clip.name}: {clip.face_frames} face-frames[/dim]")
        results.append(measure_clip(clip, settings, with_deface))
    if not results:
        raise InputError(
            "no annotated clip found: give --egoblur DIR and/or --faces DIR "
            "(benchmarks/fetch_face_packages.sh)"
        )
    document = [r.model_dump() for r in results]
    if output is not None:
        write_text_atomic(output, json.dumps(document, indent=2))
    if json_out:
        print_json(document)
    else:
        out_console.print(leak_table(results))
    return results


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f}%"


def leak_table(results: list[ClipLeaks]) -> Table:
    names = list(results[0].contenders)
    table = Table(title="face-frames less than 90% hidden (leaks)", title_justify="left")
    for column in ("clip", "split", "face-frames", *names):
        table.add_column(column, justify="left" if column in ("clip", "split") else "right")
    totals = {split: {n: [0, 0] for n in names} for split in ("dev", "held-out")}
    for row in results:
        cells = [row.clip, row.split, str(row.contenders[names[0]].face_frames)]
        for name in names:
            score = row.contenders[name]
            cells.append(f"{score.leaks} ({_pct(score.leak_rate)})")
            totals[row.split][name][0] += score.leaks
            totals[row.split][name][1] += score.face_frames
        table.add_row(*cells)
    table.add_section()
    for split, per in totals.items():
        frames = per[names[0]][1]
        if frames:
            cells = ["all", split, str(frames)]
            cells += [f"{per[n][0]} ({_pct(per[n][0] / per[n][1])})" for n in names]
            table.add_row(*cells, style="bold")
    return table
