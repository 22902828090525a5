"""Shared CLI plumbing: one-line errors, JSON output, Rich progress."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from bystander.errors import BystanderError, InputError
from bystander.jobs.protect import DEFAULT_PRESET, Preset, ProtectSettings
from bystander.vision.redact import MaskShape, RedactionSettings

if TYPE_CHECKING:
    from bystander.provenance.pki import DeviceIdentity
    from bystander.visibility import KeepVisible
    from bystander.vision.pipeline import VisibilityGate

err_console = Console(stderr=True)
out_console = Console(soft_wrap=True)

T = TypeVar("T")


class Shape(StrEnum):
    """The ``--shape`` choices shared by commands that redact."""

    ellipse = "ellipse"
    box = "box"

    def mask_shape(self) -> MaskShape:
        return "box" if self is Shape.box else "ellipse"


# Detector and mask options shared by every command that redacts (one definition, one default).
THRESHOLD_OPTION = typer.Option(
    0.2, "--threshold", "-t", min=0.01, max=0.99, help="Detector score threshold."
)
MASK_SCALE_OPTION = typer.Option(
    RedactionSettings().mask_scale,
    "--mask-scale",
    min=1.0,
    max=4.0,
    help="Enlarge face boxes by this factor.",
)
SHAPE_OPTION = typer.Option(Shape.ellipse, "--shape", help="Mask shape around each face.")
DETECTOR_OPTION = typer.Option("centerface", "--detector", help="Face detector.")
BACKEND_OPTION = typer.Option(
    "auto", "--backend", help="Inference backend: auto, openvino, onnxruntime."
)
THREADS_OPTION = typer.Option(0, "--threads", min=0, help="Inference threads (0: all cores).")
PRECISION_OPTION = typer.Option(
    "auto", "--precision",
    help="auto (video and live: int8, made once on this machine and kept in the model cache; "
    "photos: bf16 where the CPU has it), f32, bf16 or int8.",
)
SEARCH_OPTION = typer.Option(
    None,
    "--search",
    help="Full-frame face search: single (the frame as it is), multi (+ half size: large and "
    "blurred faces) or thorough (+ double size: faces down to 10 px). Default: thorough "
    "for photos, multi for video keyframes.",
)


MIN_FACE_OPTION = typer.Option(
    "auto",
    "--min-face",
    help="Smallest face (px high) the full-frame search of video keyframes looks for: auto "
    "(16 px at 720p and the same share of taller frames, so 1080p and 4K cost what 720p "
    "costs), native (16 px at any size: slower above 720p) or a number. Photos are always "
    "searched at their own size.",
)


def search_settings(search: str | None, min_face: str = "auto") -> dict[str, Any]:
    """``ProtectSettings`` fields for ``--search`` (none: the defaults per media kind) and
    ``--min-face``."""
    from bystander.errors import DetectorError
    from bystander.vision.detectors.centerface import SEARCH_PLANS, checked_min_face

    try:
        fields: dict[str, Any] = {"video_min_face": checked_min_face(min_face)}
    except DetectorError as exc:
        raise InputError(f"--min-face: {exc}") from None
    if search is None:
        return fields
    if search not in SEARCH_PLANS:
        raise InputError(f"--search must be one of {', '.join(SEARCH_PLANS)}, got {search!r}")
    return {**fields, "image_search": search, "video_search": search}


PRESET_OPTION = typer.Option(
    DEFAULT_PRESET,
    "--preset",
    help="Video speed/recall trade-off: accurate (full-frame search every frame), balanced "
    "(every 3rd) or realtime (every 5th); tracked faces are re-found in between.",
)
KEYFRAME_OPTION = typer.Option(
    None,
    "--keyframe-interval",
    min=1,
    max=30,
    help="Override the preset: search the whole frame every N frames.",
)

REGION_INTERVAL_OPTION = typer.Option(
    None,
    "--region-interval",
    min=1,
    max=4,
    help="Between keyframes, re-find tracked faces every N frames; frames in between are "
    "redacted where each face was on both sides [default: the preset's].",
)


def region_interval(preset: Preset, value: int | None) -> int:
    """``--region-interval``, or the preset's."""
    return value or preset.region_interval


def schedule(
    preset: Preset, keyframe_interval: int | None, lookback: int | None
) -> tuple[int, int]:
    """``(keyframe_interval, lookback)`` from the CLI's preset options.

    Look-back defaults to at least the keyframe interval - 1, so a face that appears between
    two keyframes is redacted from its first frame; a smaller explicit value is an error.
    """
    interval = keyframe_interval or preset.keyframe_interval
    needed = interval - 1
    if lookback is None:
        lookback = max(ProtectSettings.lookback, needed)
    elif lookback < needed:
        raise InputError(
            f"--lookback must be at least {needed} with a keyframe interval of {interval} "
            "(faces appearing between keyframes would show until found)"
        )
    return interval, lookback


class State:
    """Global options set by the root callback."""

    debug: bool = False


def print_error(message: str) -> None:
    """One line on stderr, never wrapped, so scripts can grep it."""
    err_console.print(
        f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True, markup=True
    )


def fail(message: str, code: int = 1) -> typer.Exit:
    print_error(message.replace("\n", " "))
    return typer.Exit(code)


def progress_enabled(quiet: bool, json_out: bool) -> bool:
    """Progress bars only for a person at a terminal; never in pipes, CI logs or --json."""
    return not quiet and not json_out and err_console.is_terminal


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn any exception into one line on stderr and a non-zero exit (tracebacks with --debug)."""
    try:
        yield
    except (typer.Exit, typer.BadParameter):
        raise  # usage errors keep click's own message and exit code 2
    except BystanderError as exc:
        if State.debug:
            raise
        raise fail(str(exc), exc.exit_code) from None
    except KeyboardInterrupt:
        raise fail("interrupted; no partial output was kept", 130) from None
    except Exception as exc:
        if State.debug:
            raise
        first = (str(exc).strip().splitlines() or [""])[0]
        raise fail(f"{type(exc).__name__}: {first} (run with --debug for details)") from None


def run_command(func: Callable[[], T]) -> T:
    with user_errors():
        return func()


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


class FpsColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:5.1f} fps" if speed else "  ... fps", style="cyan")


class RichProgress:
    """ProgressListener that draws a Rich bar per file with fps and ETA."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Progress | None = None
        self._task: Any = None
        self._done = 0

    def __enter__(self) -> RichProgress:
        if self.enabled:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                FpsColumn(),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=err_console,
                transient=False,
            )
            self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)

    def start_item(self, path: Path, total_frames: int | None) -> None:
        self._done = 0
        if self._progress is not None:
            name = path.name if len(path.name) <= 40 else path.name[:37] + "..."
            self._task = self._progress.add_task(name, total=total_frames)

    def advance(self, frames_done: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=frames_done)
        self._done = frames_done

    def end_item(self) -> None:
        if self._progress is not None and self._task is not None:
            task = self._progress.tasks[-1]
            if task.total is None or task.completed < task.total:
                self._progress.update(
                    self._task, total=max(self._done, 1), completed=max(self._done, 1)
                )
        self._task = None


def signing_identity() -> DeviceIdentity:
    """The device identity outputs are signed with; a TEST one is created on first use."""
    from bystander.jobs.signing import signing_identity as identity_for_jobs

    return identity_for_jobs(lambda line: err_console.print(line, highlight=False))


@contextmanager
def visibility_gate(
    kinds: Sequence[KeepVisible], database: str | None
) -> Iterator[VisibilityGate | None]:
    """The ``--keep-visible`` gate for protecting files over the evidence store (None when no
    kinds are asked); batches of face samples are waited for once they are a few frames late."""
    if not kinds:
        yield None
        return
    from bystander.evidence.audit import AuditLog
    from bystander.evidence.db import init_db, make_engine
    from bystander.visibility import FILE_MAX_LAG, close_gate, open_gate

    engine = make_engine(database)
    try:
        init_db(engine)
        log = AuditLog(engine)
        gate = open_gate(kinds, engine, log, max_lag=FILE_MAX_LAG)
        try:
            yield gate
        finally:
            close_gate(gate)
            log.seal()  # the gate's decisions are covered by a signed checkpoint
    finally:
        engine.dispose()
