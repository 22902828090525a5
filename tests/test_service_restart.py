"""Jobs survive a restart: ten protect jobs are started, the server is killed (SIGKILL, no
clean-up) while they run, and after a restart on the same database every one of them
finishes; none is lost. Then Schemathesis walks the OpenAPI document and finds no 5xx."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bystander.measure.synthetic import SyntheticClip
from tests.service_process import ServerProcess, database_url, wait_job

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    if request.param == "postgres" and not os.environ.get("BYSTANDER_TEST_POSTGRES_URL"):
        pytest.skip("BYSTANDER_TEST_POSTGRES_URL is not set")
    home = tmp_path / "home"
    home.mkdir()
    with database_url(request.param, home) as url:
        yield home, url


def test_a_restart_during_ten_jobs_loses_none(backend: tuple[Path, str],
                                              demo_clip: SyntheticClip) -> None:  # fmt: skip
    """After the restart both workers start their first protect jobs together: before
    ``service.native`` primed OpenVINO, that deadlocked now and then (jobs "running" at
    progress 0 forever)."""
    home, url = backend
    server = ServerProcess(home, url, ("--workers", "2"))
    server.tokens = {"device": server.token("device"), "other": server.token("device")}
    server.start()
    clip = demo_clip.path.read_bytes()
    ids, workers = [], []
    try:
        for n in range(10):  # uploads wait while earlier jobs run in the server (see BENCHMARKS)
            with server.client("device" if n % 2 else "other", timeout=240) as client:
                started = client.post("/api/protect", files={"file": ("c.mp4", clip)})
                assert started.status_code == 202, started.text
                ids.append((n % 2, started.json()["id"]))
        with server.client("device") as client:  # wait until work is under way
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if client.get(f"/api/jobs/{ids[1][1]}").json()["state"] != "queued":
                    break
                time.sleep(0.05)
        assert server.proc is not None
        workers = _children(server.proc.pid)  # the job worker processes
        assert workers, "serve runs jobs in worker processes"
    finally:
        server.stop(signal.SIGKILL)
    deadline = time.monotonic() + 10  # they die with the server, not run on beside a new one
    while [p for p in workers if _alive(p)] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in workers if _alive(p)], "worker processes outlived the server"
    server.start()
    try:
        for owner, job_id in ids:
            with server.client("device" if owner else "other") as client:
                job = wait_job(client, job_id, timeout=300)
                assert job["state"] == "done", job
                assert client.get(f"/api/jobs/{job_id}/files/output").status_code == 200
    finally:
        server.stop()
    assert list((home / "service" / "protect").glob("*/input.*")) == []  # originals gone


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper is dead)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(shutil.which("st", path=str(Path(sys.executable).parent)) is None,
                    reason="schemathesis is not installed")  # fmt: skip
def test_schemathesis_finds_no_server_error(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    server = ServerProcess(home, f"sqlite:///{home / 'bystander.db'}")
    server.tokens = {"admin": server.token("admin")}
    server.start()
    try:
        document = httpx.get(server.url + "/openapi.json", timeout=30,
                             headers={"Authorization": f"Bearer {server.tokens['admin']}"})
        spec = tmp_path / "openapi.json"
        spec.write_bytes(document.content)
        st = Path(sys.executable).parent / "st"
        run = subprocess.run(
            [str(st), "run", str(spec), "--url", server.url, "--checks", "not_a_server_error",
             "-H", f"Authorization: Bearer {server.tokens['admin']}",
             "--max-examples", os.environ.get("BYSTANDER_SCHEMATHESIS_EXAMPLES", "15"),
             "--generation-deterministic", "--request-timeout", "60"],
            capture_output=True, text=True, timeout=900, env=server.env, cwd=tmp_path,
        )  # fmt: skip
    finally:
        server.stop()
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
