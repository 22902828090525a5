"""Throughput in one run: Bystander vs the transcode ceiling vs ``deface``, as ratios.

Absolute frame rates depend on the machine and on whatever else it is doing; ratios taken
in one run on the same clip do not (much). Three contenders process the same frames:

* ``ceiling``: decode + encode with no detection (``transcode(src, out, None)``), the
  fastest any protect pipeline built on this I/O could be;
* ``protect``: ``Protector(ProtectSettings()).protect_file(src, out)`` with the default
  settings; the detector is loaded and warmed up before timing starts;
* ``deface``: the ``deface`` command as a subprocess (onnxruntime backend, its defaults
  otherwise), wall clock including its start-up, which is also measured on a one-frame
  clip and reported separately.

>>> result = run_bench(BenchOptions(video=Path("clip.mp4"), seconds=10))   # doctest: +SKIP
>>> result.ratios.protect_vs_deface                                       # doctest: +SKIP
2.4
"""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bystander.errors import InputError
from bystander.jobs.protect import Protector, ProtectSettings
from bystander.measure.bench_clips import (
    PREPARE_ENCODER,
    first_frame,
    make_synthetic_clip,
    prepare_clip,
)
from bystander.measure.bench_results import (
    BENCH_SCHEMA,
    BenchResult,
    ClipInfo,
    Contender,
    ContenderResult,
    MachineInfo,
    Ratios,
    RecallSummary,
    Status,
    machine_info,
)
from bystander.measure.datasets import astronaut_dataset, paste_into, read_dataset
from bystander.measure.evaluation import evaluate_video
from bystander.measure.motion import MotionSpec
from bystander.vision.detectors.backends import default_threads
from bystander.vision.media import check_readable
from bystander.vision.pipeline import RegionDetector
from bystander.vision.video_io import (
    Frame,
    probe_video,
    transcode,
)

Progress = Callable[[str], None]


@dataclass
class BenchOptions:
    """What to measure. Give ``video`` or ``synthetic`` (width, height), not both."""

    video: Path | None = None
    synthetic: tuple[int, int] | None = None
    frames: int = 150  # synthetic clip length
    repeat: int = 1
    seconds: float | None = None  # trim to the first S seconds
    resize: tuple[int, int] | None = None  # re-encode scaled to (width, height)
    deface: bool = True
    deface_command: str = "deface"  # looked up with shutil.which
    settings: ProtectSettings = field(default_factory=ProtectSettings)
    recall: bool = True  # also measure coverage recall (still and moving faces)
    recall_dataset: Path | None = None  # annotations for recall (default: the astronaut)
    temp_dir: Path | None = None  # parent of the run's temporary folder (system default if None)


def parse_size(text: str) -> tuple[int, int]:
    """``"1280x720"`` -> ``(1280, 720)``.

    >>> parse_size("1280x720")
    (1280, 720)
    """
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match:
        raise InputError(f"size must look like WIDTHxHEIGHT (e.g. 1280x720), got {text!r}")
    width, height = int(match.group(1)), int(match.group(2))
    if not (16 <= width <= 8192 and 16 <= height <= 8192):
        raise InputError(f"size {width}x{height} is outside 16..8192 pixels")
    if width % 2 or height % 2:
        raise InputError(f"size {width}x{height} must have even width and height (H.264 4:2:0)")
    return width, height


# --- contenders -----------------------------------------------------------------------------


class ToolFailed(Exception):
    """An external contender failed; the message is its last line of output."""


def deface_args(executable: str, source: Path, target: Path) -> list[str]:
    """The deface command line: its defaults (threshold 0.2, full resolution), on onnxruntime."""
    return [
        executable,
        str(source),
        "-o",
        str(target),
        "--backend",
        "onnxrt",
        "--ep",
        "CPUExecutionProvider",
    ]


def run_deface(executable: str, source: Path, target: Path) -> tuple[float, str | None]:
    """Run deface once; ``(wall-clock seconds, execution provider it reported)``."""
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            deface_args(executable, source, target),
            capture_output=True,
            text=True,
            errors="replace",
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except OSError as exc:
        raise ToolFailed(f"cannot run {executable}: {exc}") from None
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        last = _last_line(proc.stderr) or _last_line(proc.stdout)
        raise ToolFailed(last or f"exit code {proc.returncode}")
    if not target.is_file() or target.stat().st_size == 0:
        raise ToolFailed(_last_line(proc.stdout) or _last_line(proc.stderr) or "no output written")
    found = re.search(r"Running on (\w+)", proc.stdout)
    return seconds, found.group(1) if found else None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in re.split(r"[\r\n]+", text or "") if line.strip()]
    return lines[-1] if lines else ""


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


# --- the run --------------------------------------------------------------------------------


def run_bench(options: BenchOptions, progress: Progress | None = None) -> BenchResult:
    """Measure the three contenders on one clip; every file lives in a temp folder removed after."""
    if (options.video is None) == (options.synthetic is None):
        raise InputError("give a VIDEO or --synthetic WxH (one of them)")
    if options.repeat < 1:
        raise InputError("--repeat must be at least 1")
    if options.seconds is not None and options.seconds <= 0:
        raise InputError("--seconds must be positive")
    say = progress or (lambda message: None)
    if options.temp_dir is not None:
        options.temp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bystander-bench-", dir=options.temp_dir) as folder:
        return _run(options, Path(folder), say)


def warm_up(protector: Protector, frame: Frame) -> None:
    """Build and run every model shape protect will use on ``frame``'s size (with the
    detector video runs: its search plan and precision)."""
    detector = protector.detector_for(video=True)
    for _ in range(2):
        detector.detect(frame)
    if protector.settings.keyframe_interval > 1 and isinstance(detector, RegionDetector):
        height, width = frame.shape[:2]
        centre = np.array([[width / 2 - 16, height / 2 - 16, width / 2 + 16, height / 2 + 16]])
        for _ in range(2):
            detector.detect_regions(frame, centre.astype(np.float32))


def _run(options: BenchOptions, work: Path, say: Progress) -> BenchResult:
    notes: list[str] = []
    clip, source_name, prepared = _clip(options, work, say)
    info = probe_video(clip)
    settings = options.settings
    suffix = clip.suffix.lower() or ".mp4"

    say("loading the detector")
    started = time.perf_counter()
    protector = Protector(settings)
    frame = first_frame(clip)
    warm_up(protector, frame)
    warmup_seconds = time.perf_counter() - started
    warmup = (
        "detector built and run twice on the clip's first frame (full frame and, for "
        f"keyframe intervals > 1, a region) before timing ({warmup_seconds:.2f} s, excluded "
        "from protect's time)"
    )

    deface_exe = shutil.which(options.deface_command) if options.deface else None
    deface_error: str | None = None
    tiny: Path | None = None
    if deface_exe is not None:
        tiny = work / "startup.mp4"
        prepare_clip(clip, tiny, max_frames=1)
        say("deface warm-up: one-frame clip (untimed; fills the OS file cache)")
        small = work / "startup-out.mp4"
        try:
            run_deface(deface_exe, tiny, small)
        except ToolFailed as exc:
            deface_error = str(exc)
        finally:
            _remove(small)

    runs: dict[str, list[float]] = {"ceiling": [], "protect": [], "deface": [], "startup": []}
    frames: dict[str, int] = {}
    deface_provider: str | None = None
    deface_frames_out: int | None = None
    for attempt in range(1, options.repeat + 1):
        tag = f"{attempt}/{options.repeat}"
        say(f"ceiling {tag}: decode + encode, no detection")
        out = work / f"ceiling{suffix}"
        started = time.perf_counter()
        result = transcode(clip, out, None, encoder=settings.encoder)
        runs["ceiling"].append(time.perf_counter() - started)
        frames["ceiling"] = result.frames
        _remove(out)

        say(f"protect {tag}")
        out = work / f"protect{suffix}"
        started = time.perf_counter()
        item = protector.protect_file(clip, out)
        runs["protect"].append(time.perf_counter() - started)
        frames["protect"] = item.summary.frames
        _remove(out)

        if deface_exe is not None and tiny is not None and deface_error is None:
            say(f"deface {tag}")
            out = work / f"deface{suffix}"
            try:
                seconds, deface_provider = run_deface(deface_exe, clip, out)
                runs["deface"].append(seconds)
                deface_frames_out = probe_video(out).frames or None
                _remove(out)
                say(f"deface start-up {tag}: one-frame clip")
                small = work / "startup-out.mp4"
                runs["startup"].append(run_deface(deface_exe, tiny, small)[0])
                _remove(small)
            except (ToolFailed, InputError) as exc:
                deface_error = str(exc)
            finally:
                _remove(out)

    clip_frames = frames["ceiling"]
    if frames["protect"] != clip_frames:
        notes.append(f"protect wrote {frames['protect']} frames, the clip decodes to {clip_frames}")
    ceiling = _contender(
        "ceiling",
        runs["ceiling"],
        clip_frames,
        "PyAV decode -> RGB -> x264 encode (same EncoderSettings as protect), no detection",
    )
    protect = _contender(
        "protect",
        runs["protect"],
        frames["protect"],
        "Protector.protect_file with default ProtectSettings: probe, decode, detect, track, "
        "redact, encode, audio copy; detector load excluded",
    )
    protect.detail = {"settings": settings.describe()}
    deface = _deface_result(
        options,
        deface_exe,
        runs,
        clip_frames,
        deface_error,
        deface_provider,
        deface_frames_out,
    )
    if deface.status == "ok":
        notes.append(
            "deface encodes with imageio-ffmpeg's libx264 defaults (crf 25, preset medium) and "
            "pads the frame to a multiple of 16; Bystander uses x264 crf "
            f"{settings.encoder.crf}, preset {settings.encoder.preset}"
        )
        if deface_frames_out is not None and deface_frames_out != clip_frames:
            notes.append(f"deface wrote {deface_frames_out} frames, the clip has {clip_frames}")

    ratios = Ratios(
        protect_vs_ceiling=_ratio(protect.fps, ceiling.fps),
        protect_vs_deface=_ratio(protect.fps, deface.fps),
        deface_vs_ceiling=_ratio(deface.fps, ceiling.fps),
        protect_vs_deface_excluding_startup=_ratio(protect.fps, deface.fps_excluding_startup),
    )
    recall: list[RecallSummary] = []
    if options.recall:
        recall = measure_recall(
            options.settings, (info.width, info.height), options.recall_dataset, protector, say
        )
    cores = default_threads()
    detector = protector.detector_for(video=True).describe()
    return BenchResult(
        machine=machine_info(),
        clip=ClipInfo(
            source=source_name,
            path=str(clip),
            prepared=prepared,
            width=info.width,
            height=info.height,
            frames=clip_frames,
            frame_rate=round(info.fps, 3),
            duration=round(clip_frames / info.fps, 3) if info.fps else 0.0,
        ),
        repeat=options.repeat,
        threads=(
            f"all {cores} cores for everyone: detector threads {detector.get('threads')}, "
            "FFmpeg decode and x264 encode threads auto (PyAV); deface: onnxruntime default "
            "intra-op threads (all cores), imageio-ffmpeg's ffmpeg threads auto"
        ),
        detector=detector,
        warmup=warmup,
        warmup_seconds=round(warmup_seconds, 3),
        results=[ceiling, protect, deface],
        ratios=ratios,
        recall=recall,
        notes=notes,
    )


#: Face heights (px) the recall set is pasted at, and the motions it is measured under.
RECALL_FACE_HEIGHTS = (16.0, 20.0, 24.0, 32.0, 48.0, 64.0)
RECALL_MOTIONS = (MotionSpec(speed=0.0, zoom=0.0), MotionSpec())


def measure_recall(
    settings: ProtectSettings,
    size: tuple[int, int],
    dataset: Path | None,
    protector: Protector | None = None,
    say: Progress | None = None,
) -> list[RecallSummary]:
    """Coverage recall of ``settings`` on faces pasted into ``size`` frames, still and moving.

    The faces are ``dataset``'s (dlib XML or WIDER txt) or scikit-image's astronaut, pasted
    at ``RECALL_FACE_HEIGHTS``; each pasted frame becomes a clip run through the video
    pipeline (``evaluate_video``).
    """
    source = read_dataset(dataset) if dataset is not None else astronaut_dataset()
    pasted = paste_into(source, size, RECALL_FACE_HEIGHTS)
    detector = protector.detector if protector is not None else None
    out: list[RecallSummary] = []
    for motion in RECALL_MOTIONS:
        label = (
            "still"
            if motion.still
            else f"moving ({motion.speed:g} px/frame pan, zoom +-{motion.zoom:.0%})"
        )
        if say is not None:
            say(f"recall: {source.name} {label}")
        result = evaluate_video(pasted, settings, motion, detector=detector)
        counted = [b for b in result.buckets if b.min_height >= 16]
        faces = sum(b.faces for b in counted)
        covered = sum(b.covered for b in counted)
        out.append(
            RecallSummary(
                dataset=pasted.name,
                motion=label,
                frames=len(pasted.images) * motion.frames,
                faces=faces,
                covered=covered,
                recall=round(covered / faces, 4) if faces else None,
                buckets=result.buckets,
            )
        )
    return out


def _clip(options: BenchOptions, work: Path, say: Progress) -> tuple[Path, str, str | None]:
    """The clip to benchmark: ``(path, source description, how it was prepared)``."""
    steps: list[str] = []
    if options.synthetic is not None:
        width, height = options.synthetic
        source_name = f"synthetic {width}x{height}"
        say(f"building a synthetic {width}x{height} clip of {options.frames} frames")
        source = work / "synthetic.mp4"
        make_synthetic_clip(source, width, height, options.frames)
        steps.append(
            f"synthetic moving real face, {options.frames} frames at 30 fps, x264 crf 16, no audio"
        )
    else:
        assert options.video is not None
        source = options.video
        source_name = str(source)
        check_readable(source)
    if options.seconds is None and options.resize is None:
        return source, source_name, "; ".join(steps) or None
    what = []
    if options.seconds is not None:
        what.append(f"first {options.seconds:g} s")
    if options.resize is not None:
        what.append("scaled to {}x{} with cv2.resize".format(*options.resize))
    say("preparing the clip: " + ", ".join(what))
    clip = work / "clip.mp4"
    count = prepare_clip(source, clip, seconds=options.seconds, size=options.resize)
    steps.append(", ".join(what) + f", re-encoded x264 crf 16, no audio ({count} frames)")
    return clip, source_name, "; ".join(steps)


def _contender(name: Contender, runs: list[float], frames: int, timing: str) -> ContenderResult:
    seconds = round(_median(runs), 4)  # fps is frames / the seconds reported
    return ContenderResult(
        name=name,
        status="ok",
        seconds=seconds,
        runs=[round(r, 4) for r in runs],
        frames=frames,
        fps=frames / seconds if seconds > 0 else None,
        timing=timing,
    )


def _deface_result(
    options: BenchOptions,
    executable: str | None,
    runs: dict[str, list[float]],
    frames: int,
    error: str | None,
    provider: str | None,
    frames_out: int | None,
) -> ContenderResult:
    timing = (
        "wall clock of the deface subprocess, including Python start-up, model load and "
        "imageio-ffmpeg decode/encode (after one untimed run on a one-frame clip); start-up "
        "measured on that one-frame clip of the same size"
    )
    if not options.deface:
        return ContenderResult(
            name="deface", status="skipped", seconds=None, timing=timing, error="--no-deface"
        )
    if executable is None:
        return ContenderResult(
            name="deface",
            status="skipped",
            seconds=None,
            timing=timing,
            error=f"{options.deface_command!r} not found on PATH",
        )
    if error is not None or not runs["deface"] or not runs["startup"]:
        return ContenderResult(
            name="deface",
            status="failed",
            seconds=None,
            timing=timing,
            error=error or "no successful run",
        )
    result = _contender("deface", runs["deface"], frames, timing)
    startup = round(_median(runs["startup"]), 4)
    result.startup_seconds = startup
    assert result.seconds is not None
    rest = result.seconds - startup
    result.fps_excluding_startup = (frames - 1) / rest if rest > 0 and frames > 1 else None
    result.detail = {
        "command": " ".join(deface_args("deface", Path("SRC"), Path("OUT"))),
        "execution_provider": provider,
        "startup_runs": [round(r, 4) for r in runs["startup"]],
        "output_frames": frames_out,
    }
    return result


__all__ = [
    "BENCH_SCHEMA",
    "PREPARE_ENCODER",
    "BenchOptions",
    "BenchResult",
    "ClipInfo",
    "Contender",
    "ContenderResult",
    "MachineInfo",
    "Ratios",
    "RecallSummary",
    "Status",
    "first_frame",
    "machine_info",
    "make_synthetic_clip",
    "measure_recall",
    "parse_size",
    "prepare_clip",
    "run_bench",
    "warm_up",
]
