"""`bystander bench`: structure of the result, ratios, trimming, clean-up, deface failures.

Only tiny clips and no timed assertions: speed itself is measured by running the command.
"""

from __future__ import annotations

import json
import stat
import statistics
import tempfile
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from bystander.cli import bench_cmd
from bystander.cli.common import State
from bystander.errors import InputError
from bystander.measure.bench import (
    BENCH_SCHEMA,
    BenchOptions,
    BenchResult,
    Contender,
    machine_info,
    parse_size,
    prepare_clip,
    run_bench,
)
from bystander.measure.synthetic import moving_face_frames, write_clip
from bystander.vision.video_io import probe_video

WIDTH, HEIGHT, FRAMES, FPS = 160, 96, 10, 30


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bench") / "tiny.mp4"
    frames, _ = moving_face_frames(WIDTH, HEIGHT, FRAMES, min_face=30, max_face=60)
    write_clip(path, frames, fps=FPS)
    return path


def _app() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)

    @app.callback()
    def root() -> None:  # a callback keeps `bench` a sub-command, as in the real app
        State.debug = False

    bench_cmd.register(app)
    return app


def _fake_deface(folder: Path, body: str) -> Path:
    script = folder / "fake-deface"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def _assert_ratio(result: BenchResult, ratio: float | None, a: Contender, b: Contender) -> None:
    fps_a, fps_b = result.result(a).fps, result.result(b).fps
    assert fps_a and fps_b and ratio is not None
    assert ratio == pytest.approx(fps_a / fps_b, rel=1e-9)


def test_cli_json_structure_ratio_and_cleanup(
    tiny_clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    run = CliRunner().invoke(
        _app(), ["bench", str(tiny_clip), "--no-deface", "--repeat", "1", "--json"]
    )
    assert run.exit_code == 0, run.output
    data = json.loads(run.stdout)
    result = BenchResult.model_validate(data)
    assert data["schema"] == BENCH_SCHEMA
    assert [r.name for r in result.results] == ["ceiling", "protect", "deface"]
    ceiling, protect, deface = result.results
    assert ceiling.status == protect.status == "ok"
    assert deface.status == "skipped" and deface.fps is None
    assert result.clip.frames == ceiling.frames == protect.frames == FRAMES
    assert (result.clip.width, result.clip.height) == (WIDTH, HEIGHT)
    assert result.clip.prepared is None and result.clip.path == str(tiny_clip)
    for item in (ceiling, protect):
        assert item.seconds is not None and item.seconds > 0 and len(item.runs) == 1
        assert item.fps == pytest.approx(FRAMES / item.seconds)
    _assert_ratio(result, result.ratios.protect_vs_ceiling, "protect", "ceiling")
    assert result.ratios.protect_vs_deface is None and result.ratios.deface_vs_ceiling is None
    assert result.detector["name"] == "centerface"
    from bystander.vision.detectors.quantize import video_precision

    # the detector video ran (its plan and precision), not the stills' base
    assert result.detector["search"] == "multi"
    if video_precision("auto", "auto") == "int8":
        assert result.detector["precision"] == "int8"
    assert result.machine.cores >= 1 and "bystander" in result.machine.versions
    assert "excluded" in result.warmup and "cores" in result.threads
    assert list(scratch.iterdir()) == []  # the run's temp folder and every output are gone
    # coverage recall with the same settings, on the astronaut pasted at 16-64 px, still and
    # moving; the default preset's schedule is recorded
    assert [r.motion.split(" ")[0] for r in result.recall] == ["still", "moving"]
    for recall in result.recall:
        assert recall.faces > 0 and 0 < recall.covered <= recall.faces
        assert recall.recall == pytest.approx(recall.covered / recall.faces, abs=1e-4)
        assert recall.dataset.startswith("astronaut@160x96")
    assert protect.detail["settings"]["preset"] == "realtime"
    assert protect.detail["settings"]["keyframe_interval"] == 5


def test_preset_option_sets_the_schedule(tiny_clip: Path) -> None:
    run = CliRunner().invoke(
        _app(),
        ["bench", str(tiny_clip), "--no-deface", "--no-recall", "--preset", "accurate", "--json"],
    )
    assert run.exit_code == 0, run.output
    data = json.loads(run.stdout)
    assert data["results"][1]["detail"]["settings"]["keyframe_interval"] == 1
    assert data["recall"] == []


def test_seconds_trims_to_the_first_frames(tiny_clip: Path, tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    options = BenchOptions(
        video=tiny_clip, seconds=0.2, deface=False, temp_dir=scratch, recall=False
    )
    result = run_bench(options)
    expected = 6  # frames at 0, 1/30, ..., 5/30 s start before 0.2 s
    assert result.clip.frames == expected
    assert result.result("ceiling").frames == result.result("protect").frames == expected
    assert result.clip.prepared is not None and "first 0.2 s" in result.clip.prepared
    assert list(scratch.iterdir()) == []


def test_resize_and_repeat(tiny_clip: Path, tmp_path: Path) -> None:
    options = BenchOptions(
        video=tiny_clip,
        resize=(128, 64),
        repeat=2,
        deface=False,
        temp_dir=tmp_path / "t",
        recall=False,
    )
    result = run_bench(options)
    assert (result.clip.width, result.clip.height) == (128, 64)
    assert result.clip.frames == FRAMES
    for name in ("ceiling", "protect"):
        item = result.result(name)
        assert len(item.runs) == 2
        assert item.seconds == pytest.approx(statistics.median(item.runs), abs=1e-3)


def test_prepare_clip_counts(tiny_clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "one.mp4"
    assert prepare_clip(tiny_clip, out, max_frames=1) == 1
    info = probe_video(out)
    assert (info.width, info.height, info.frames, info.has_audio) == (WIDTH, HEIGHT, 1, False)


def test_cli_synthetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    run = CliRunner().invoke(
        _app(),
        ["bench", "--synthetic", "160x96", "--frames", "8", "--no-deface", "--no-recall", "--json"],
    )
    assert run.exit_code == 0, run.output
    result = BenchResult.model_validate_json(run.stdout)
    assert result.clip.source == "synthetic 160x96"
    assert result.clip.frames == result.result("protect").frames == 8
    assert list(tmp_path.iterdir()) == []


def test_deface_failure_is_reported_not_raised(tiny_clip: Path, tmp_path: Path) -> None:
    fake = _fake_deface(tmp_path, 'echo "loading" >&2\necho "boom: no model here" >&2\nexit 3')
    options = BenchOptions(
        video=tiny_clip, deface_command=str(fake), temp_dir=tmp_path / "t", recall=False
    )
    result = run_bench(options)
    deface = result.result("deface")
    assert deface.status == "failed" and deface.error == "boom: no model here"
    assert result.ratios.protect_vs_deface is None
    assert result.result("protect").status == "ok"


def test_deface_ratios_with_a_stand_in(tiny_clip: Path, tmp_path: Path) -> None:
    # Arguments are: SRC -o OUT ...; the stand-in copies the clip and reports its provider.
    fake = _fake_deface(tmp_path, 'cp "$1" "$3"\necho "Running on CPUExecutionProvider."')
    options = BenchOptions(
        video=tiny_clip, deface_command=str(fake), temp_dir=tmp_path / "t", recall=False
    )
    result = run_bench(options)
    deface = result.result("deface")
    assert deface.status == "ok" and deface.frames == FRAMES
    assert deface.startup_seconds is not None
    assert deface.detail["execution_provider"] == "CPUExecutionProvider"
    assert deface.detail["output_frames"] == FRAMES
    _assert_ratio(result, result.ratios.protect_vs_deface, "protect", "deface")
    _assert_ratio(result, result.ratios.deface_vs_ceiling, "deface", "ceiling")
    assert list((tmp_path / "t").iterdir()) == []


def test_missing_deface_is_skipped(tiny_clip: Path, tmp_path: Path) -> None:
    options = BenchOptions(
        video=tiny_clip, deface_command="no-such-deface-here", temp_dir=tmp_path / "t", recall=False
    )
    deface = run_bench(options).result("deface")
    assert deface.status == "skipped" and "not found" in (deface.error or "")


@pytest.mark.parametrize(
    "args",
    [
        ["bench"],
        ["bench", "missing.mp4", "--synthetic", "160x96"],
        ["bench", "does-not-exist.mp4", "--no-deface"],
        ["bench", "--synthetic", "160x"],
        ["bench", "--synthetic", "161x96"],
    ],
)
def test_cli_errors_are_one_line(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    run = CliRunner().invoke(_app(), args)
    assert run.exit_code != 0
    assert run.exception is None or isinstance(run.exception, SystemExit)
    assert "Traceback" not in run.output


def test_parse_size() -> None:
    assert parse_size("1280x720") == (1280, 720)
    assert parse_size(" 608X1080 ") == (608, 1080)
    for bad in ("1280", "x720", "0x0", "99999x10", "641x360"):
        with pytest.raises(InputError):
            parse_size(bad)


def test_machine_info() -> None:
    info = machine_info()
    assert info.cores >= 1 and info.cpu
    assert set(info.versions) >= {"bystander", "openvino", "onnxruntime", "av", "deface"}
