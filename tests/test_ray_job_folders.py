"""A Ray actor killed mid-job (with its server, or by ``RaySlot.close``) cannot remove its
work folder, which holds the unredacted upload: the next actor on the node removes it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bystander.service.job_ray import process_tag, sweep_dead_folders, work_root

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


def _dead_process_tag() -> str:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        tag = process_tag(child.pid)
    finally:
        child.kill()
        child.wait()
    assert tag is not None and tag.startswith(f"{child.pid}.")
    return tag


def test_folders_of_dead_actors_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    dead = tmp_path / f"{_dead_process_tag()}-abc"
    dead.mkdir()
    (dead / "input.mp4").write_bytes(b"unredacted")
    alive = tmp_path / f"{process_tag(os.getpid())}-def"
    alive.mkdir()
    reused = tmp_path / f"{os.getpid()}.1-ghi"  # this pid, another process's start time
    reused.mkdir()
    other = tmp_path / "notes"  # not an actor's folder
    other.mkdir()

    removed = sweep_dead_folders(tmp_path)

    assert sorted(removed) == sorted([dead.name, reused.name])
    assert not dead.exists() and not reused.exists()
    assert alive.is_dir() and other.is_dir()


def test_the_work_root_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    root = work_root()
    assert root.parent == tmp_path and root.stat().st_mode & 0o777 == 0o700
    root.chmod(0o755)  # another user could read the uploads in it
    with pytest.raises(RuntimeError, match="unsafe Ray work folder"):
        work_root()
    root.rmdir()
    root.symlink_to(tmp_path)  # planted link
    with pytest.raises(RuntimeError, match="unsafe Ray work folder"):
        work_root()
