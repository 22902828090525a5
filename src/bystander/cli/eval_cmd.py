"""`bystander eval`: measure how well `protect` hides annotated faces (coverage recall)."""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bystander.cli.common import (
    BACKEND_OPTION,
    DETECTOR_OPTION,
    KEYFRAME_OPTION,
    MASK_SCALE_OPTION,
    PRECISION_OPTION,
    PRESET_OPTION,
    REGION_INTERVAL_OPTION,
    SHAPE_OPTION,
    THREADS_OPTION,
    THRESHOLD_OPTION,
    Shape,
    err_console,
    out_console,
    print_json,
    region_interval,
    schedule,
    user_errors,
)
from bystander.cli.conditions_cmd import run_conditions
from bystander.cli.leak_cmd import run_real_video
from bystander.errors import InputError
from bystander.fsutil import write_text_atomic
from bystander.jobs.protect import Preset, ProtectSettings
from bystander.measure.conditions import CONDITIONS
from bystander.measure.datasets import (
    DEFAULT_FACE_HEIGHTS,
    FaceDataset,
    paste_into,
    read_dataset,
)
from bystander.measure.evaluation import EvalResult, SyntheticSpec, evaluate, evaluate_video
from bystander.measure.motion import MotionSpec
from bystander.vision.redact import RedactionSettings

#: Missed faces listed in the table output (all of them are in --json / --output).
_MISSED_SHOWN = 10
_DEFAULT_HEIGHTS = ",".join(map(str, DEFAULT_FACE_HEIGHTS))


class BackgroundKind(StrEnum):
    coffee = "coffee"
    grey = "grey"


def parse_size(text: str) -> tuple[int, int]:
    """``"1280x720"`` -> ``(1280, 720)``."""
    parts = text.lower().replace("*", "x").split("x")
    try:
        width, height = (int(p) for p in parts)
    except ValueError:
        raise InputError(f"--paste-into must look like 1280x720, got {text!r}") from None
    if not (16 <= width <= 16384 and 16 <= height <= 16384):
        raise InputError(f"--paste-into size out of range: {text!r}")
    return width, height


def parse_heights(text: str) -> list[float]:
    """``"16,24,32"`` -> ``[16.0, 24.0, 32.0]``."""
    try:
        heights = [float(p) for p in text.replace(" ", "").split(",") if p]
    except ValueError:
        raise InputError(f"--face-heights must be numbers like 16,24,32, got {text!r}") from None
    if not heights or any(not 1 <= h <= 4096 for h in heights):
        raise InputError(f"--face-heights must be between 1 and 4096 px, got {text!r}")
    return heights


def eval_command(
    dataset: Path = typer.Argument(
        None,
        help="Annotations: a dlib imglab .xml or a WIDER FACE .txt (not with --conditions).",
        show_default=False,
    ),
    conditions: str = typer.Option(
        None,
        "--conditions",
        help="Hard-conditions benchmark on the face library instead of DATASET: "
        f"{','.join(CONDITIONS)} (any of them, or all), with deface on the same frames.",
    ),
    real_video: bool = typer.Option(
        False,
        "--real-video",
        help="Leaks on the annotated real clips (EgoBlur's, and those in --faces) instead of "
        "DATASET: face-frames less than 90% hidden, with deface on the same frames.",
    ),
    egoblur_dir: Path = typer.Option(
        None,
        "--egoblur",
        help="--real-video: EgoBlur's demo clips (default ../shared/data/egoblur).",
    ),
    split: str = typer.Option(
        "both", "--split", help="--conditions: dev (may be tuned on), held-out, or both."
    ),
    faces_dir: Path = typer.Option(
        None, "--faces", help="--conditions: the folder benchmarks/fetch_face_packages.sh filled."
    ),
    dlib_dir: Path = typer.Option(
        None,
        "--dlib",
        help="--conditions: dlib's example photos (default ../shared/data/dlib-faces).",
    ),
    condition_heights: str = typer.Option(
        "24,32,48,64", "--condition-heights", help="--conditions: face heights (px)."
    ),
    deface: bool = typer.Option(
        True, "--deface/--no-deface", help="--conditions: run deface on the same frames."
    ),
    seed: int = typer.Option(0, "--seed", help="--conditions: seed of every random choice."),
    search: str = typer.Option(
        "thorough", "--search", help="Full-frame search for stills: single, multi or thorough."
    ),
    images: Path = typer.Option(
        None, "--images", help="Image folder (default: the annotation file's folder)."
    ),
    paste_into_size: str = typer.Option(
        None,
        "--paste-into",
        help="Paste each photo into frames of this size (e.g. 1280x720) at set face heights.",
    ),
    face_heights: str = typer.Option(
        _DEFAULT_HEIGHTS,
        "--face-heights",
        help="Median face heights (px) for --paste-into.",
    ),
    background: BackgroundKind = typer.Option(
        BackgroundKind.coffee, "--background", help="Frame background for --paste-into."
    ),
    min_coverage: float = typer.Option(
        0.9, "--min-coverage", min=0.01, max=1.0, help="Share of a face box that must be hidden."
    ),
    video: bool = typer.Option(
        False,
        "--video",
        help="Turn each image into a clip and run the video pipeline (tracking, keyframes); "
        "every face in every frame is scored.",
    ),
    speed: float = typer.Option(
        16.0, "--speed", min=0.0, max=200.0, help="--video: peak pan speed, px per frame."
    ),
    zoom: float = typer.Option(
        0.1, "--zoom", min=0.0, max=0.45, help="--video: zoom amplitude (0.1 = +-10%)."
    ),
    clip_frames: int = typer.Option(
        25, "--clip-frames", min=1, max=10_000, help="--video: frames per clip."
    ),
    preset: Preset = PRESET_OPTION,
    keyframe_interval: int | None = KEYFRAME_OPTION,
    region_every: int | None = REGION_INTERVAL_OPTION,
    threshold: float = THRESHOLD_OPTION,
    mask_scale: float = MASK_SCALE_OPTION,
    shape: Shape = SHAPE_OPTION,
    detector: str = DETECTOR_OPTION,
    backend: str = BACKEND_OPTION,
    threads: int = THREADS_OPTION,
    precision: str = PRECISION_OPTION,
    limit: int = typer.Option(None, "--limit", min=1, help="Evaluate only the first N images."),
    output: Path = typer.Option(None, "--output", "-o", help="Write the full result (JSON) here."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Measure privacy quality: the share of annotated faces `protect` hides, by face size."""
    with user_errors():
        if real_video:
            if dataset is not None or conditions is not None:
                raise InputError("--real-video goes alone (no DATASET, no --conditions)")
            interval, lookback = schedule(preset, keyframe_interval, None)
            settings = ProtectSettings(
                detector=detector,
                threshold=threshold,
                backend=backend,
                precision=precision,
                threads=threads or None,
                redaction=RedactionSettings(shape=shape.mask_shape(), mask_scale=mask_scale),
                keyframe_interval=interval,
                region_interval=region_interval(preset, region_every),
                lookback=lookback,
            )
            run_real_video(settings, faces_dir, egoblur_dir, deface, output, json_out)
            return
        if conditions is not None:
            if dataset is not None:
                raise InputError("give either DATASET or --conditions, not both")
            settings = ProtectSettings(
                detector=detector,
                threshold=threshold,
                backend=backend,
                precision=precision,
                threads=threads or None,
                image_search=search,
                redaction=RedactionSettings(shape=shape.mask_shape(), mask_scale=mask_scale),
            )
            run_conditions(
                conditions, split, settings, faces_dir, dlib_dir,
                [int(h) for h in parse_heights(condition_heights)],
                deface, seed, output, json_out,
            )  # fmt: skip
            return
        if dataset is None:
            raise InputError("give an annotation file (DATASET) or --conditions")
        data = read_dataset(dataset, images)
        synthetic = None
        if paste_into_size is not None:
            size = parse_size(paste_into_size)
            heights = parse_heights(face_heights)
            data = paste_into(data, size, heights, background.value)
            synthetic = SyntheticSpec(
                frame_size=size, face_heights=heights, background=background.value
            )
        data = data.limited(limit)
        if not data.images:
            raise InputError(f"no images to evaluate in {dataset}")
        interval, lookback = schedule(preset, keyframe_interval, None)
        settings = ProtectSettings(
            detector=detector,
            threshold=threshold,
            backend=backend,
            precision=precision,
            threads=threads or None,
            image_search=search,
            redaction=RedactionSettings(shape=shape.mask_shape(), mask_scale=mask_scale),
            keyframe_interval=interval,
            region_interval=region_interval(preset, region_every),
            lookback=lookback,
        )
        motion = MotionSpec(clip_frames, speed, zoom) if video else None
        show_progress = not (quiet or json_out)
        result = _run(data, settings, min_coverage, synthetic, motion, show_progress)
        if output is not None:
            write_text_atomic(output, result.to_json())
        if json_out:
            print_json(json.loads(result.to_json()))
        else:
            print_result(result, output)


def _run(
    data: FaceDataset,
    settings: ProtectSettings,
    min_coverage: float,
    synthetic: SyntheticSpec | None,
    motion: MotionSpec | None,
    show_progress: bool,
) -> EvalResult:
    def run(progress: Callable[[int, int], None] | None) -> EvalResult:
        if motion is None:
            return evaluate(data, settings, min_coverage, synthetic=synthetic, progress=progress)
        return evaluate_video(
            data, settings, motion, min_coverage, synthetic=synthetic, progress=progress
        )

    if not show_progress:
        return run(None)
    columns = (
        TextColumn("[bold]eval"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err_console, transient=True) as progress:
        task = progress.add_task("eval", total=len(data.images))

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        return run(advance)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def recall_table(result: EvalResult) -> Table:
    """Recall by face-height bucket, plus the overall row."""
    title = f"{result.dataset}: faces >= {result.min_coverage * 100:.0f}% hidden"
    table = Table(title=title, title_justify="left")
    table.add_column("face height (px)")
    table.add_column("faces", justify="right")
    table.add_column("covered", justify="right")
    table.add_column("recall", justify="right")
    for record in result.buckets:
        table.add_row(
            record.bucket, str(record.faces), str(record.covered), _percent(record.recall)
        )
    table.add_section()
    table.add_row(
        "all", str(result.faces), str(result.covered), _percent(result.recall), style="bold"
    )
    return table


def missed_table(result: EvalResult) -> Table:
    """The first missed faces, for debugging."""
    table = Table(title=f"missed faces ({len(result.missed)})", title_justify="left")
    for column in ("image", "box (x1, y1, x2, y2)", "height", "coverage"):
        table.add_column(column, justify="left" if column == "image" else "right")
    for miss in result.missed[:_MISSED_SHOWN]:
        box = ", ".join(f"{v:.0f}" for v in miss.box)
        table.add_row(miss.image, box, f"{miss.height:.0f}", _percent(miss.coverage))
    return table


def print_result(result: EvalResult, output: Path | None) -> None:
    """The human-readable summary: tables and one line per headline figure."""
    out_console.print(recall_table(result))
    speed = result.throughput
    warm = speed.warm_images_per_s
    lines = [
        f"images: {result.images}, faces: {result.faces} (+{result.ignored_faces} ignored), "
        f"detections: {result.detections}, whole frames redacted: {result.whole_frames}",
        f"redacted area on no face: {_percent(result.off_face_share)}",
        f"speed: {speed.protect_images_per_s:.2f} images/s in protect"
        + (f" ({warm:.2f} warm)" if warm is not None else "")
        + f", {speed.total_images_per_s:.2f} images/s in all ({speed.total_seconds:.1f} s)",
    ]
    for line in lines:
        out_console.print(line, highlight=False)
    if result.missed:
        out_console.print(missed_table(result))
        if len(result.missed) > _MISSED_SHOWN:
            out_console.print("(all missed faces are listed with --json or --output)")
    if output is not None:
        out_console.print(f"result: {output}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the ``eval`` command to ``app``."""
    app.command("eval")(eval_command)
