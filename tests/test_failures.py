"""Fail closed: bad inputs give one clear line, a non-zero exit, and no output at all."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bystander.cli.app import app
from bystander.errors import OutputError
from bystander.fsutil import atomic_output
from bystander.measure.synthetic import moving_face_frames, write_clip
from tests.detector_rig import CountingDetector

runner = CliRunner()


def run_protect(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["protect", *args])
    return result.exit_code, result.output


def assert_failed_cleanly(code: int, output: str, out_dir: Path, expected: str) -> None:
    assert code != 0
    assert expected in output, output
    assert "Traceback" not in output
    assert [line for line in output.splitlines() if line.startswith("error:")], output
    leftovers = [p for p in out_dir.rglob("*") if p.is_file()] if out_dir.exists() else []
    assert leftovers == [], leftovers


@pytest.fixture()
def good_clip(tmp_path: Path) -> Path:
    images, _ = moving_face_frames(160, 96, frames=30)
    path = tmp_path / "good.mkv"
    write_clip(path, images)
    return path


def test_random_bytes_are_not_a_video(tmp_path: Path) -> None:
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(bytes(range(256)) * 200)
    code, output = run_protect(str(bad), "-o", str(tmp_path / "out"))
    assert_failed_cleanly(code, output, tmp_path / "out", "cannot open video")


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".avi"])
def test_truncated_video_is_refused(tmp_path: Path, suffix: str) -> None:
    images, _ = moving_face_frames(160, 96, frames=40)
    whole = tmp_path / f"whole{suffix}"
    write_clip(whole, images)
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * 0.6)])
    code, output = run_protect(str(cut), "-o", str(tmp_path / "out"))
    assert code != 0
    assert "truncated video" in output or "cannot open video" in output, output
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_unsupported_format(tmp_path: Path) -> None:
    gif = tmp_path / "anim.gif"
    gif.write_bytes(b"GIF89a" + b"\0" * 100)
    code, output = run_protect(str(gif), "-o", str(tmp_path / "out"))
    assert_failed_cleanly(code, output, tmp_path / "out", "unsupported format .gif")


def test_missing_path(tmp_path: Path) -> None:
    code, output = run_protect(str(tmp_path / "nope.mp4"), "-o", str(tmp_path / "out"))
    assert_failed_cleanly(code, output, tmp_path / "out", "no such file")


def test_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.touch()
    code, output = run_protect(str(empty), "-o", str(tmp_path / "out"))
    assert_failed_cleanly(code, output, tmp_path / "out", "empty file")


def test_video_with_no_frames(tmp_path: Path) -> None:
    import av

    from bystander.measure.synthetic import _write_tone

    path = tmp_path / "zero.mkv"  # a video track that holds no frames, beside real audio
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        audio = container.add_stream("aac", rate=48000)
        _write_tone(container, audio, seconds=0.5)
    code, output = run_protect(str(path), "-o", str(tmp_path / "out"))
    assert code != 0
    assert "no video frames" in output or "cannot open video" in output, output
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def _png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def test_absurd_dimensions_are_refused_before_decoding(tmp_path: Path) -> None:
    huge = tmp_path / "huge.png"
    huge.write_bytes(_png_header(100_000, 100_000))
    code, output = run_protect(str(huge), "-o", str(tmp_path / "out"))
    assert_failed_cleanly(code, output, tmp_path / "out", "exceeds the")


def test_corrupt_image(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0" + b"garbage" * 50)
    code, output = run_protect(str(broken), "-o", str(tmp_path / "out"))
    assert_failed_cleanly(code, output, tmp_path / "out", "cannot decode image")


def test_one_bad_file_does_not_stop_the_batch_but_fails_the_exit_code(
    tmp_path: Path, good_clip: Path
) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\0" * 4096)
    out = tmp_path / "out"
    code, output = run_protect(str(good_clip), str(bad), "-o", str(out), "--quiet")
    assert code == 1
    assert "bad.mp4" in output
    assert sorted(p.name for p in out.iterdir()) == ["good.mkv"]
    assert "good.mkv is not signed" in output  # C2PA cannot be embedded in MKV


def test_existing_output_is_not_replaced_without_overwrite(tmp_path: Path, good_clip: Path) -> None:
    target = tmp_path / "exists.mkv"
    target.write_bytes(b"keep me")
    code, output = run_protect(str(good_clip), "-o", str(target))
    assert code != 0 and "output exists" in output
    assert target.read_bytes() == b"keep me"


def test_output_must_keep_the_input_format(tmp_path: Path, good_clip: Path) -> None:
    code, output = run_protect(str(good_clip), "-o", str(tmp_path / "x.mp4"))
    assert code != 0 and "must keep the input's format" in output


def test_folder_without_media(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("x")
    code, output = run_protect(str(tmp_path / "docs"), "-o", str(tmp_path / "out"))
    assert code != 0 and "no videos or images" in output


def test_atomic_output_leaves_nothing_on_error(tmp_path: Path) -> None:
    target = tmp_path / "result.mp4"
    with pytest.raises(KeyboardInterrupt), atomic_output(target) as temp:
        temp.write_bytes(b"half written")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_atomic_output_refuses_existing_target(tmp_path: Path) -> None:
    target = tmp_path / "result.mp4"
    target.write_bytes(b"old")
    with pytest.raises(OutputError), atomic_output(target):
        pass


def test_console_script_prints_one_line_and_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "corrupt.mov"
    bad.write_bytes(b"\0\0\0\x18ftypqt  " + b"\x01" * 1000)
    proc = subprocess.run(
        [sys.executable, "-m", "bystander", "protect", str(bad), "-o", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("error: cannot open video")
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(b"\0" * 2048)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bystander",
            "--debug",
            "protect",
            str(bad),
            "-o",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr


def test_an_existing_image_output_is_refused_before_any_search(tmp_path: Path) -> None:
    import cv2

    from bystander.jobs.protect import Protector, ProtectSettings

    source = tmp_path / "face.png"
    assert cv2.imwrite(str(source), moving_face_frames(320, 240, 1)[0][0][:, :, ::-1])
    target = tmp_path / "out.png"
    target.write_bytes(b"keep me")
    detector = CountingDetector()
    with pytest.raises(OutputError, match="output exists"):
        Protector(ProtectSettings(), detector=detector).protect_file(source, target)  # type: ignore[arg-type]
    assert detector.full == [0]
    assert target.read_bytes() == b"keep me"
    target.unlink()  # the same call with the way clear does search
    Protector(ProtectSettings(), detector=detector).protect_file(source, target)  # type: ignore[arg-type]
    assert detector.full == [1]
