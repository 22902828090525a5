"""`bystander bench`: throughput vs the transcode ceiling and vs deface, in one run."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.table import Table

from bystander.cli.common import (
    KEYFRAME_OPTION,
    MIN_FACE_OPTION,
    PRECISION_OPTION,
    PRESET_OPTION,
    REGION_INTERVAL_OPTION,
    err_console,
    out_console,
    region_interval,
    schedule,
    search_settings,
    user_errors,
)
from bystander.jobs.protect import Preset, ProtectSettings
from bystander.measure.bench import (
    BenchOptions,
    BenchResult,
    ContenderResult,
    parse_size,
    run_bench,
)


def bench_command(
    video: Path | None = typer.Argument(
        None, help="Clip to measure (or use --synthetic).", show_default=False
    ),
    synthetic: str | None = typer.Option(
        None, "--synthetic", metavar="WxH", help="Measure a generated clip of a moving real face."
    ),
    frames: int = typer.Option(
        150, "--frames", min=1, max=100_000, help="Length of the --synthetic clip."
    ),
    seconds: float | None = typer.Option(
        None, "--seconds", min=0.001, help="Keep the first S seconds (re-encoded at crf 16)."
    ),
    resize: str | None = typer.Option(
        None, "--resize", metavar="WxH", help="Re-encode the clip scaled to this size first."
    ),
    repeat: int = typer.Option(
        1, "--repeat", min=1, max=100, help="Runs per contender; the median is kept."
    ),
    no_deface: bool = typer.Option(False, "--no-deface", help="Do not run deface."),
    preset: Preset = PRESET_OPTION,
    keyframe_interval: int | None = KEYFRAME_OPTION,
    region_every: int | None = REGION_INTERVAL_OPTION,
    min_face: str = MIN_FACE_OPTION,
    precision: str = PRECISION_OPTION,
    no_recall: bool = typer.Option(
        False, "--no-recall", help="Skip the coverage-recall measurement."
    ),
    recall_dataset: Path | None = typer.Option(
        None,
        "--recall-dataset",
        help="Annotated faces (dlib XML / WIDER txt) for recall [default: the astronaut].",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the full result as JSON on stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress lines."),
) -> None:
    """Measure protect throughput against the transcode ceiling and deface on the same frames.

    Prints seconds, frames, fps and ratios; compare ratios across machines, not fps.
    """
    if (video is None) == (synthetic is None):
        raise typer.BadParameter("give a VIDEO or --synthetic WxH", param_hint="VIDEO")
    if synthetic is not None and resize is not None:
        raise typer.BadParameter("--synthetic WxH already sets the size", param_hint="--resize")
    with user_errors():
        interval, lookback = schedule(preset, keyframe_interval, None)
        options = BenchOptions(
            video=video,
            synthetic=parse_size(synthetic) if synthetic is not None else None,
            frames=frames,
            repeat=repeat,
            seconds=seconds,
            resize=parse_size(resize) if resize is not None else None,
            deface=not no_deface,
            settings=ProtectSettings(
                keyframe_interval=interval,
                lookback=lookback,
                region_interval=region_interval(preset, region_every),
                precision=precision,
                **search_settings(None, min_face),
            ),
            recall=not no_recall,
            recall_dataset=recall_dataset,
        )
        show = not quiet and not json_out
        result = run_bench(options, progress=_say if show else None)
        if json_out:
            sys.stdout.write(result.to_json() + "\n")
            sys.stdout.flush()
        else:
            print_result(result)


def _say(message: str) -> None:
    err_console.print(f"[dim]bench:[/] {message}", highlight=False)


def _fmt(value: float | None, digits: int = 2, suffix: str = "") -> str:
    return "-" if value is None else f"{value:.{digits}f}{suffix}"


def print_result(result: BenchResult) -> None:
    clip = result.clip
    out_console.print(
        f"[bold]bystander bench[/]: {clip.source} -> {clip.width}x{clip.height}, "
        f"{clip.frames} frames at {clip.frame_rate:g} fps ({clip.duration:g} s)"
        + (f"\n  clip: {clip.prepared}" if clip.prepared else ""),
        highlight=False,
    )
    ceiling = result.result("ceiling")
    table = Table(show_edge=False, header_style="bold")
    numeric = ("seconds", "frames", "fps", "vs ceiling")
    for column in ("contender", "status", *numeric):
        table.add_column(column, justify="right" if column in numeric else "left")
    for item in result.results:
        table.add_row(
            item.name,
            _status(item),
            _fmt(item.seconds, 3),
            str(item.frames) if item.frames is not None else "-",
            _fmt(item.fps),
            _fmt(item.fps / ceiling.fps if item.fps and ceiling.fps else None, 2, "x"),
        )
    out_console.print(table)
    r, m = result.ratios, result.machine
    lines = [
        f"protect / ceiling: {_fmt(r.protect_vs_ceiling, 3, 'x')}",
        f"protect / deface:  {_fmt(r.protect_vs_deface, 2, 'x')}",
        f"deface / ceiling:  {_fmt(r.deface_vs_ceiling, 3, 'x')}",
    ]
    deface = result.result("deface")
    if deface.startup_seconds is not None:
        lines.append(
            f"deface start-up (one-frame clip): {deface.startup_seconds:.2f} s; without it "
            f"deface runs {_fmt(deface.fps_excluding_startup)} fps and protect / deface is "
            f"{_fmt(r.protect_vs_deface_excluding_startup, 2, 'x')}"
        )
    for recall in result.recall:
        buckets = ", ".join(
            f"{b.bucket}: {b.covered}/{b.faces}" for b in recall.buckets if b.faces
        )
        lines.append(
            f"recall, {recall.motion} ({recall.dataset}, {recall.frames} frames): "
            f"{_fmt(recall.recall, 4)} of {recall.faces} face-frames 16 px and up ({buckets})"
        )
    settings = result.results[1].detail.get("settings", {})
    lines.append(
        f"preset: {settings.get('preset') or 'custom'} "
        f"(keyframe interval {settings.get('keyframe_interval')})"
    )
    lines += [f"timed ({item.name}): {item.timing}" for item in result.results]
    lines += [
        f"warm-up: {result.warmup}",
        f"threads: {result.threads}",
        f"detector: {result.detector.get('name')} on {result.detector.get('backend')}",
        f"machine: {m.cpu}, {m.cores} cores, Python {m.python}, "
        + ", ".join(f"{k} {v}" for k, v in m.versions.items() if v),
        f"repeat: {result.repeat} (median)",
    ]
    lines += [f"note: {note}" for note in result.notes]
    for line in lines:
        out_console.print(line, highlight=False, soft_wrap=True)


def _status(item: ContenderResult) -> str:
    if item.status == "ok":
        return "[green]ok[/]"
    colour = "red" if item.status == "failed" else "yellow"
    return f"[{colour}]{item.status}[/]: {item.error}"


def register(app: typer.Typer) -> None:
    app.command("bench")(bench_command)
