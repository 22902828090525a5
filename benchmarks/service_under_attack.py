"""Latency of /health and the consent check at a fixed request rate, quiet and under attack.

Starts a real `bystander serve` (SQLite in a temporary home), then runs two phases of
``--seconds`` each: a quiet baseline, and the same load while attacker threads loop the
hostile suite's cheap attacks (zip and tar.gz bombs, a YAML alias bomb, unauthenticated 2 GB
uploads, a 16000x7000 PNG, NaN JSON, server-path zone policies). Prints JSON with p50/p99 per
phase and the request rate actually achieved.

    python benchmarks/service_under_attack.py --rate 500 --seconds 15
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import cast

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.service_process import ServerProcess
from tests.test_service_hostile import _png_header, _tar_bomb, _zip_bomb


def _load(url: str, path: str, headers: dict[str, str], rate: float, seconds: float,
          out: list[float], errors: list[int]) -> None:  # fmt: skip
    """Open-loop requests at ``rate`` per second from one thread (keep-alive)."""
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        start = time.perf_counter()
        n = 0
        while (now := time.perf_counter()) - start < seconds:
            due = start + n / rate
            if due > now:
                time.sleep(due - now)
            t0 = time.perf_counter()
            try:
                ok = client.get(path).status_code == 200
            except httpx.HTTPError:
                ok = False
            out.append(time.perf_counter() - t0)
            errors[0] += not ok
            n += 1


def payloads() -> dict[str, object]:
    """Built once, before any timing (a 1 GB bomb takes the client seconds to make)."""
    alias = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n"
        for i in range(9)
    )
    return {"bombs": [_zip_bomb(1 << 30), _tar_bomb(1 << 30)], "alias": alias,
            "png": _png_header(16000, 7000)}  # fmt: skip


def _attacks(server: ServerProcess, stop: threading.Event, counts: dict[str, int],
             made: dict[str, object]) -> None:  # fmt: skip
    bombs = cast(list[bytes], made["bombs"])
    alias, png = str(made["alias"]), cast(bytes, made["png"])
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    device = {"Authorization": f"Bearer {server.tokens['device']}"}
    auditor = {"Authorization": f"Bearer {server.tokens['auditor']}"}
    with httpx.Client(base_url=server.url, timeout=60) as client:
        while not stop.is_set():
            for bomb in bombs:
                client.post("/api/inspections", headers=auditor, files={"file": ("b", bomb)})
            client.post("/api/capture/sessions", headers=device,
                        data={"profile": "zone_policy: /etc/passwd\n" + alias},
                        files={"source": ("c.mp4", b"\x00\x00\x00\x18ftypmp42")})  # fmt: skip
            client.post("/api/enrolment", headers=device, data={"subject_id": "x"},
                        files={"photo": ("p.png", png)})  # fmt: skip
            client.post("/api/consent", headers={**device, "Content-Type": "application/json"},
                        content=b'{"subject_id": NaN, "scopes": [NaN]}')  # fmt: skip
            with socket.create_connection((host, int(port)), timeout=10) as sock:
                sock.sendall(b"POST /api/protect HTTP/1.1\r\nHost: x\r\n"
                             b"Content-Length: 2147483648\r\n\r\n--b\r\n")  # fmt: skip
                sock.recv(1024)
            counts["rounds"] += 1


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values) or [0.0]

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000

    return {"n": len(values), "p50_ms": round(pick(0.5), 2), "p99_ms": round(pick(0.99), 2)}


def _phase(server: ServerProcess, rate: float, seconds: float, attack: bool,
           made: dict[str, object]) -> dict[str, object]:  # fmt: skip
    checks: list[float] = []
    health: list[float] = []
    errors = [0]
    device = {"Authorization": f"Bearer {server.tokens['device']}"}
    threads = 4  # the consent load split over threads, each open-loop at rate/threads
    workers = [
        threading.Thread(target=_load, args=(server.url, "/api/consent/check?subject=ds-bench&"
                         "scope=record-video", device, rate / threads, seconds, checks, errors))
        for _ in range(threads)
    ]  # fmt: skip
    workers.append(threading.Thread(target=_load, args=(server.url, "/health", {}, 50.0,
                                                        seconds, health, errors)))  # fmt: skip
    stop, counts = threading.Event(), {"rounds": 0}
    attacker = threading.Thread(target=_attacks, args=(server, stop, counts, made),
                                daemon=True)  # fmt: skip
    started = time.perf_counter()
    for t in workers:
        t.start()
    if attack:
        attacker.start()
    for t in workers:
        t.join()
    stop.set()
    if attack:
        attacker.join(timeout=120)
    took = time.perf_counter() - started
    return {"attack": attack, "consent_check": _stats(checks), "health": _stats(health),
            "achieved_check_rate": round(len(checks) / took, 1), "errors": errors[0],
            "attack_rounds": counts["rounds"]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bystander-attack-") as folder:
        home = Path(folder) / "home"
        home.mkdir()
        server = ServerProcess(home, f"sqlite:///{home / 'bystander.db'}")
        server.tokens = {r: server.token(r) for r in ("device", "auditor")}
        server.start()
        try:
            with httpx.Client(base_url=server.url, timeout=30) as client:
                client.post("/api/consent", json={"subject_id": "ds-bench",
                            "scopes": ["record-video"]},
                            headers={"Authorization": f"Bearer {server.tokens['device']}"})
            made = payloads()
            quiet = _phase(server, args.rate, args.seconds, False, made)
            attacked = _phase(server, args.rate, args.seconds, True, made)
        finally:
            server.stop()
    print(json.dumps({"rate": args.rate, "seconds": args.seconds, "cpus": os.cpu_count(),
                      "load_average": os.getloadavg(), "quiet": quiet,
                      "under_attack": attacked}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
