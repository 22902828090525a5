"""`bystander protect`: anonymize every face in videos and images."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

import typer

from bystander.cli.common import (
    BACKEND_OPTION,
    DETECTOR_OPTION,
    KEYFRAME_OPTION,
    MASK_SCALE_OPTION,
    MIN_FACE_OPTION,
    PRECISION_OPTION,
    PRESET_OPTION,
    REGION_INTERVAL_OPTION,
    SEARCH_OPTION,
    SHAPE_OPTION,
    THREADS_OPTION,
    THRESHOLD_OPTION,
    RichProgress,
    Shape,
    State,
    err_console,
    out_console,
    print_error,
    print_json,
    progress_enabled,
    region_interval,
    schedule,
    search_settings,
    signing_identity,
    user_errors,
    visibility_gate,
)
from bystander.cli.corpus_cmd import (
    CORPUS_OPTION,
    MANIFEST_OPTION,
    RAY_ADDRESS_OPTION,
    RAY_OPTION,
    WORKERS_OPTION,
    run_corpus_command,
)
from bystander.cli.signals import terminate_like_interrupt
from bystander.fsutil import write_text_atomic
from bystander.jobs.protect import Preset, ProtectSettings, plan_outputs, protect
from bystander.visibility import parse_keep_visible
from bystander.vision.encoding import EncoderSettings
from bystander.vision.redact import RedactionSettings
from bystander.vision.report import ProtectReport
from bystander.vision.tracker import TrackerSettings


class Mode(StrEnum):
    blur = "blur"
    pixelate = "pixelate"
    solid = "solid"


class OnError(StrEnum):
    redact = "redact-frame"
    abort = "abort"


def protect_command(
    inputs: list[Path] = typer.Argument(
        None, help="Videos, images or folders of them.", show_default=False
    ),
    output: Path = typer.Option(None, "-o", "--output", help="Output file (one input) or folder."),
    mode: Mode = typer.Option(Mode.blur, "--mode", "-m", help="How faces are hidden."),
    shape: Shape = SHAPE_OPTION,
    mask_scale: float = MASK_SCALE_OPTION,
    detail: int = typer.Option(
        6, "--detail", min=1, max=32, help="Samples kept across a face (blur, pixelate)."
    ),
    threshold: float = THRESHOLD_OPTION,
    detector: str = DETECTOR_OPTION,
    backend: str = BACKEND_OPTION,
    threads: int = THREADS_OPTION,
    precision: str = PRECISION_OPTION,
    search: str | None = SEARCH_OPTION,
    min_face: str = MIN_FACE_OPTION,
    hold: int = typer.Option(
        15, "--hold", min=0, help="Frames a lost face stays redacted (videos)."
    ),
    lookback: int | None = typer.Option(
        None,
        "--lookback",
        min=0,
        max=120,
        help="Frames redacted before a face is first seen [default: 5, or keyframe interval - 1].",
    ),
    preset: Preset = PRESET_OPTION,
    keyframe_interval: int | None = KEYFRAME_OPTION,
    region_every: int | None = REGION_INTERVAL_OPTION,
    on_error: OnError = typer.Option(
        OnError.redact, "--on-detector-error", help="Redact the whole frame, or abort."
    ),
    no_audio: bool = typer.Option(False, "--no-audio", help="Drop the audio track."),
    keep_metadata: bool = typer.Option(
        False, "--keep-metadata", help="Keep EXIF/container tags (GPS, serials...)."
    ),
    crf: int = typer.Option(
        20, "--crf", min=0, max=51, help="Video quality (x264 CRF, lower is better)."
    ),
    encoder_preset: str = typer.Option(
        "auto",
        "--encoder-preset",
        help="x264 preset; auto: veryfast up to 1080p, ultrafast above (larger files).",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
    sign: bool = typer.Option(
        True,
        "--sign/--no-sign",
        help="Sign every output with a C2PA manifest (device identity from `bystander keys "
        "init`; a test identity is created on first use).",
    ),
    keep_visible: list[str] = typer.Option(
        [],
        "--keep-visible",
        help="Leave people who consented visible: 'enrolled' (recognised enrolled faces with "
        "valid separate consent), 'badges' (faces wearing a valid consent badge), or both "
        "(comma-separated). Everyone else is still redacted.",
    ),
    database: str | None = typer.Option(
        None, "--database", metavar="URL", help="Evidence store for --keep-visible."
    ),
    fail_fast: bool = typer.Option(False, "--fail-fast", help="Stop at the first file that fails."),
    report: Path = typer.Option(
        None,
        "--report",
        help="Write a JSON report of every redaction here (a corpus job: its corpus report, "
        "default OUTPUT/corpus-report.json).",
    ),
    corpus: bool = CORPUS_OPTION,
    ray: bool = RAY_OPTION,
    ray_address: str | None = RAY_ADDRESS_OPTION,
    workers: int | None = WORKERS_OPTION,
    manifest: list[Path] = MANIFEST_OPTION,
    report_schema: bool = typer.Option(
        False, "--report-schema", help="Print the report's JSON schema and exit."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress or summary."),
    json_out: bool = typer.Option(
        False, "--json", help="Print a machine-readable summary on stdout."
    ),
) -> None:
    """Anonymize every face in videos and images, keeping format, size, frame rate and audio."""
    if report_schema:
        print_json(ProtectReport.model_json_schema(by_alias=True))
        return
    with user_errors(), terminate_like_interrupt():
        if not inputs and not manifest:
            raise typer.BadParameter("give at least one INPUT", param_hint="INPUTS")
        if output is None:
            raise typer.BadParameter("give an output with -o", param_hint="-o")
        interval, lookback = schedule(preset, keyframe_interval, lookback)
        kinds = parse_keep_visible(keep_visible)
        settings = ProtectSettings(
            detector=detector,
            threshold=threshold,
            backend=backend,
            precision=precision,
            threads=threads or None,
            **search_settings(search, min_face),
            redaction=RedactionSettings(
                mode=mode.value, shape=shape.mask_shape(), mask_scale=mask_scale, detail=detail
            ),
            tracking=TrackerSettings(max_gap=hold),
            keyframe_interval=interval,
            region_interval=region_interval(preset, region_every),
            lookback=lookback,
            abort_on_detector_error=on_error is OnError.abort,
            keep_audio=not no_audio,
            keep_metadata=keep_metadata,
            keep_visible=tuple(k.value for k in kinds),
            encoder=EncoderSettings(crf=crf, preset=encoder_preset),
            overwrite=overwrite,
        )
        if corpus or ray or ray_address is not None or manifest:
            run_corpus_command(
                inputs or [],
                manifest,
                output,
                settings,
                sign=sign,
                ray=ray,
                address=ray_address,
                workers=workers,
                report=report,
                quiet=quiet,
                json_out=json_out,
            )
            return
        plan_outputs(inputs, output)  # refuse bad inputs before creating any identity
        identity = signing_identity() if sign else None
        with (
            visibility_gate(kinds, database) as gate,
            RichProgress(enabled=progress_enabled(quiet, json_out)) as progress,
        ):
            result = protect(
                inputs,
                output,
                settings,
                progress=progress,
                fail_fast=fail_fast or State.debug,
                identity=identity,
                visibility=gate,
            )
        if report is not None:
            write_text_atomic(report, result.to_json())
        summary = summarize(result, report)
        if json_out:
            print_json(summary)
        elif not quiet:
            for item in result.items:
                s = item.summary
                kept = f", {s.faces_kept_visible} kept visible" if kinds else ""
                out_console.print(
                    f"[green]protected[/] {item.input} -> {item.output}: {s.frames} frame(s), "
                    f"{s.regions_redacted} region(s) redacted{kept}, {s.tracks} track(s), "
                    f"{s.fps:.1f} fps",
                    highlight=False,
                )
            if report is not None:
                out_console.print(f"report: {report}", highlight=False)
        for path in result.unsigned:
            err_console.print(
                f"note: {path} is not signed (C2PA cannot be embedded in {Path(path).suffix}; "
                "use MP4, MOV, JPEG, PNG or WebP for signed outputs)",
                highlight=False,
                soft_wrap=True,
            )
        for failure in result.failures:
            print_error(failure.error)
        if result.failures:
            raise typer.Exit(1)


def summarize(result: ProtectReport, report: Path | None) -> dict[str, object]:
    return {
        "ok": not result.failures,
        "detector": result.detector,
        "report": str(report) if report else None,
        "items": [
            {
                "input": i.input,
                "output": i.output,
                "kind": i.kind,
                **json.loads(i.summary.model_dump_json()),
            }
            for i in result.items
        ],
        "failures": [f.model_dump() for f in result.failures],
    }
