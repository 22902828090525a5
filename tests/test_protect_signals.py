"""`bystander protect` stopped by SIGTERM or SIGHUP cleans up like Ctrl-C, and a run killed
with SIGKILL leaves a partial file that the next run on the same target removes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bystander.fsutil import remove_stale_partials
from bystander.measure.synthetic import make_demo_clip


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("long")
    return make_demo_clip(folder / "long.mp4", width=640, height=360, frames=600).path


def _start(clip: Path, out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bystander", "protect", str(clip), "-o", str(out), "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _wait_for_partial(folder: Path, proc: subprocess.Popen[str]) -> list[Path]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        found = [p for p in folder.iterdir() if ".partial" in p.name]
        if found and all(p.stat().st_size > 0 for p in found):
            return found
        time.sleep(0.05)
    raise AssertionError(f"no partial output appeared (exit {proc.poll()})")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_remove_the_partial_output(
    long_clip: Path, tmp_path: Path, signum: signal.Signals
) -> None:
    out = tmp_path / "out.mp4"
    proc = _start(long_clip, out)
    _wait_for_partial(tmp_path, proc)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert not out.exists() and [p for p in tmp_path.iterdir() if ".partial" in p.name] == []


def test_a_killed_runs_partial_is_removed_by_the_next_run(long_clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    proc = _start(long_clip, out)
    partials = _wait_for_partial(tmp_path, proc)
    proc.kill()
    proc.wait(timeout=30)
    assert all(p.exists() for p in partials)  # SIGKILL cannot clean up
    # a partial of a live process (this one) is left alone; the dead one's is removed
    mine = tmp_path / f".out.{os.getpid()}.abc.partial.mp4"
    mine.write_bytes(b"x")
    assert sorted(remove_stale_partials(out)) == sorted(partials)
    assert mine.exists()
    mine.unlink()
    # and protect itself does it on the same target
    proc = _start(long_clip, out)
    _wait_for_partial(tmp_path, proc)
    proc.kill()
    proc.wait(timeout=30)
    done = subprocess.run(
        [sys.executable, "-m", "bystander", "protect", str(long_clip), "-o", str(out), "--quiet",
         "--overwrite"], capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert out.exists() and [p for p in tmp_path.iterdir() if ".partial" in p.name] == []
