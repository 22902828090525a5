"""/health and consent-check latency while protect jobs run: jobs on threads of the server's
process (``--job-threads``, the old way) against jobs in worker processes (``--job-processes``).

For each mode, one `bystander serve` (SQLite in a temporary home, ``--workers 2``) gets two
phases of ``--seconds``: quiet, then with protect jobs running (queued before the phase, more
than the phase can finish; it starts once two of them report progress). In each phase the
consent check is requested open-loop at ``--rate`` per second from 4 threads and ``/health``
at 50/s. Prints JSON: p50/p99, the rate
achieved, the frames the jobs protected during the phase, and the load average.

    python benchmarks/service_jobs_latency.py --rate 500 --seconds 12
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.service_under_attack import _load, _stats
from tests.service_process import ServerProcess

from bystander.measure.synthetic import make_demo_clip

CHECK = "/api/consent/check?subject=ds-bench&scope=record-video"


def _frames_done(server: ServerProcess, ids: list[str]) -> float:
    """Frames protected so far over all ``ids`` (progress x frames of the clip)."""
    total = 0.0
    with server.client("device", timeout=60) as client:
        for job_id in ids:
            job = client.get(f"/api/jobs/{job_id}").json()
            total += job["progress"]
    return total


def _under_way(server: ServerProcess, ids: list[str], timeout: float = 120) -> None:
    """Until both workers' jobs report progress (worker processes started, models loaded)."""
    deadline = time.monotonic() + timeout
    with server.client("device", timeout=60) as client:
        while time.monotonic() < deadline:
            jobs = [client.get(f"/api/jobs/{i}").json() for i in ids]
            if sum(1 for j in jobs if j["progress"] > 0 or j["state"] == "done") >= 2:
                return
            time.sleep(0.2)
    raise RuntimeError("the jobs did not start")


def _phase(server: ServerProcess, rate: float, seconds: float) -> dict[str, Any]:
    checks: list[float] = []
    health: list[float] = []
    errors = [0]
    device = {"Authorization": f"Bearer {server.tokens['device']}"}
    threads = [threading.Thread(target=_load, args=(server.url, CHECK, device, rate / 4,
                                                    seconds, checks, errors))
               for _ in range(4)]  # fmt: skip
    threads.append(threading.Thread(target=_load, args=(server.url, "/health", {}, 50.0,
                                                        seconds, health, errors)))  # fmt: skip
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.perf_counter() - started
    return {"consent_check": _stats(checks), "health": _stats(health), "errors": errors[0],
            "achieved_check_rate": round(len(checks) / took, 1),
            "load_average": [round(x, 2) for x in os.getloadavg()]}  # fmt: skip


def run_mode(mode: str, clip: bytes, frames: int, jobs: int, rate: float,
             seconds: float) -> dict[str, Any]:  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bystander-jobs-") as folder:
        home = Path(folder) / "home"
        home.mkdir()
        server = ServerProcess(home, f"sqlite:///{home / 'bystander.db'}",
                               ("--workers", "2", f"--job-{mode}"))  # fmt: skip
        server.tokens = {"device": server.token("device")}
        server.start()
        try:
            with server.client("device") as client:
                client.post("/api/consent", json={"subject_id": "ds-bench",
                                                  "scopes": ["record-video"]})  # fmt: skip
            quiet = _phase(server, rate, seconds)
            ids = []
            with server.client("device", timeout=120) as client:
                for _ in range(jobs):
                    made = client.post("/api/protect", files={"file": ("c.mp4", clip)})
                    ids.append(made.json()["id"])
            _under_way(server, ids)
            before = _frames_done(server, ids)
            busy = _phase(server, rate, seconds)
            after = _frames_done(server, ids)
            busy["job_frames_per_s"] = round((after - before) * frames / seconds, 1)
        finally:
            server.stop()
    return {"mode": mode, "quiet": quiet, "jobs_running": busy}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--jobs", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bystander-clip-") as folder:
        frames = 240
        made = make_demo_clip(Path(folder) / "clip.mp4", width=640, height=360, frames=frames)
        clip = made.path.read_bytes()
    results = []
    for _ in range(args.rounds):
        for mode in ("threads", "processes"):
            results.append(run_mode(mode, clip, frames, args.jobs, args.rate, args.seconds))
    print(json.dumps({"rate": args.rate, "seconds": args.seconds, "cpus": os.cpu_count(),
                      "results": results}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
