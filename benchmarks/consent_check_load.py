"""Open-loop load on the consent check: `GET /api/consent/check` at a fixed rate over loopback.

Starts `bystander serve` (uvicorn, one process) on a fresh SQLite home seeded with consent
records, creates a device token, then sends requests on a fixed schedule (500/s by default)
over keep-alive connections. Latency is measured from each request's *scheduled* send time
(no coordinated omission). `GET /health` at the same rate is the baseline, in the same run.

    python benchmarks/consent_check_load.py [--rate 500] [--seconds 20] [--records 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes) -> int:
    writer.write(head)
    await writer.drain()
    status_line = await reader.readline()
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    return int(status_line.split()[1])


async def drive(port: int, paths: list[str], token: str, rate: float, seconds: float,
                connections: int) -> tuple[list[float], int]:  # fmt: skip
    """Latencies (ms) of requests sent on schedule at ``rate``/s; and the error count."""
    total = int(rate * seconds)
    queue: asyncio.Queue[int] = asyncio.Queue()
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter() + 0.2

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while True:
            index = await queue.get()
            if index < 0:
                break
            scheduled = start + index / rate
            head = (f"GET {paths[index % len(paths)]} HTTP/1.1\r\nHost: localhost\r\n"
                    f"Authorization: Bearer {token}\r\n\r\n").encode()  # fmt: skip
            try:
                status = await _request(reader, writer, head)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                errors += 1
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                continue
            if status != 200:
                errors += 1
            latencies.append((time.perf_counter() - scheduled) * 1000)
        writer.close()

    tasks = [asyncio.create_task(worker()) for _ in range(connections)]
    for index in range(total):
        delay = start + index / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait(index)
    for _ in tasks:
        queue.put_nowait(-1)
    await asyncio.gather(*tasks)
    return latencies, errors


def summary(name: str, latencies: list[float], errors: int, seconds: float) -> dict[str, object]:
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 2)

    return {"endpoint": name, "requests": len(ordered) + errors, "errors": errors,
            "achieved_per_s": round(len(ordered) / seconds, 1), "p50_ms": pct(0.50),
            "p95_ms": pct(0.95), "p99_ms": pct(0.99), "max_ms": round(ordered[-1], 2)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="bystander-load-"))
    env = {**os.environ, "BYSTANDER_HOME": str(home)}
    env.pop("BYSTANDER_DATABASE_URL", None)
    os.environ.update({"BYSTANDER_HOME": str(home)})
    from bystander.consent.models import ConsentKind, ConsentRecord, Scope
    from bystander.consent.store import ConsentStore
    from bystander.evidence.db import init_db, make_engine

    engine = make_engine()
    init_db(engine)
    store = ConsentStore(engine)
    template = store.grant("ds-0", [Scope.RECORD_VIDEO], kind=ConsentKind.EXPLICIT)
    body = template.model_dump(mode="json")
    records = []
    for index in range(1, args.records):
        data = json.loads(json.dumps(body))
        data["id"] = f"rec-{index}"
        data["subject"]["id"] = f"ds-{index}"
        records.append(ConsentRecord.model_validate(data))
    store.import_records(records)
    engine.dispose()
    created = subprocess.run(
        [sys.executable, "-m", "bystander", "token", "create", "--role", "device", "--json"],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    token = json.loads(created.stdout)["token"]
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "bystander", "serve", "--port", str(port)], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        rng = random.Random(7)
        subjects = [f"ds-{rng.randrange(args.records)}" for _ in range(5000)]
        check = [f"/api/consent/check?subject={s}&scope=record-video&kind=explicit"
                 for s in subjects]  # fmt: skip
        asyncio.run(drive(port, check[:200], token, args.rate, 2.0, args.connections))  # warm-up
        rows = []
        for name, paths in (("/health", ["/health"]), ("/api/consent/check", check)):
            latencies, errors = asyncio.run(
                drive(port, paths, token, args.rate, args.seconds, args.connections)
            )
            rows.append(summary(name, latencies, errors, args.seconds))
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"{args.rate:.0f} requests/s for {args.seconds:.0f} s each, {args.records} consent "
          f"records, {args.connections} keep-alive connections, one uvicorn process")  # fmt: skip
    for row in rows:
        print(json.dumps(row))
    health, checks = rows
    print(f"p99 consent check / p99 health: {checks['p99_ms'] / max(health['p99_ms'], 0.01):.2f}")  # type: ignore[operator]


if __name__ == "__main__":
    main()
