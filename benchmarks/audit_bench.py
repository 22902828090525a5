"""Audit log benchmark: durable appends, proofs and full verification at a given size.

    python benchmarks/audit_bench.py --entries 1000000
    python benchmarks/audit_bench.py --entries 100000 --database postgresql+psycopg://...

Builds a fresh log (a temporary SQLite file unless --database is given; PostgreSQL URLs
get a private schema, dropped afterwards), appends --entries events with ``append_many``
in --batch sized transactions, then times single durable appends, a checkpoint, random
inclusion and consistency proofs at the full size (generation from the database, and
RFC 9162 verification) and, unless --no-verify, ``verify_database`` over the whole log.
Event construction is not timed; serialization, hashing and the database writes are.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine

from bystander.evidence import merkle
from bystander.evidence.audit import AuditLog, verify_database
from bystander.evidence.checkpoint import NoteVerifier
from bystander.evidence.db import scratch_database
from bystander.evidence.events import AuditEvent, EventType
from bystander.evidence.keys import public_key_bytes

TYPES = list(EventType)
T = TypeVar("T")


def make_events(start: int, count: int) -> list[AuditEvent]:
    return [
        AuditEvent(
            type=TYPES[i % len(TYPES)],
            device_id="bench-device",
            session_id=f"session-{i // 50}",
            subject_id=f"subject-{i % 97}",
            reason="benchmark",
            data={"seq": i, "decision": "redact", "faces": i % 4},
        )
        for i in range(start, start + count)
    ]


@contextmanager
def database(url: str | None) -> Iterator[tuple[Engine, Path | None]]:
    """A fresh database and, for SQLite, its file (to report the size on disk)."""
    with scratch_database(url) as engine:
        name = engine.url.database
        yield engine, Path(name) if engine.dialect.name == "sqlite" and name else None


def fill(log: AuditLog, entries: int, batch: int) -> float:
    """Seconds spent inside ``append_many`` for ``entries`` events."""
    spent = 0.0
    done = 0
    while done < entries:
        events = make_events(done, min(batch, entries - done))
        start = time.perf_counter()
        log.append_many(events)
        spent += time.perf_counter() - start
        done += len(events)
        if done % (batch * 100) == 0:
            print(f"  {done:,} / {entries:,}", file=sys.stderr)
    return spent


def timed(func: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    result = func()
    return time.perf_counter() - start, result


def summary(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return f"median {statistics.median(ms):.3f} ms, p99 {p99:.3f} ms, max {ms[-1]:.3f} ms"


def bench_inclusion(log: AuditLog, size: int, root: bytes, count: int, cold: bool) -> list[str]:
    """Random audit paths at ``size``: generation from the database, then RFC 9162 checks."""
    gen, ver = [], []
    rng = random.Random(1)
    for _ in range(count):
        index = rng.randrange(size)
        leaf = merkle.leaf_hash(log.event(index).canonical_bytes())
        if cold:
            log._node_cache.clear()  # measure the database lookup, not the cache
        t0 = time.perf_counter()
        proof = log.inclusion_proof(index, size)
        t1 = time.perf_counter()
        ok = merkle.verify_inclusion(leaf, index, size, proof, root)
        t2 = time.perf_counter()
        assert ok, index
        gen.append(t1 - t0)
        ver.append(t2 - t1)
    return [summary(gen), summary(ver)]


def bench_consistency(log: AuditLog, size: int, root: bytes, count: int, cold: bool) -> list[str]:
    """Consistency proofs from random older sizes to ``size``."""
    gen, ver = [], []
    rng = random.Random(2)
    for _ in range(count):
        old = rng.randrange(1, size)
        old_root = log.root(old)
        if cold:
            log._node_cache.clear()
        t0 = time.perf_counter()
        proof = log.consistency_proof(old, size)
        t1 = time.perf_counter()
        ok = merkle.verify_consistency(old, size, proof, old_root, root)
        t2 = time.perf_counter()
        assert ok, old
        gen.append(t1 - t0)
        ver.append(t2 - t1)
    return [summary(gen), summary(ver)]


def run(args: argparse.Namespace) -> None:
    key = Ed25519PrivateKey.generate()
    rows: list[tuple[str, str]] = []
    with database(args.database) as (engine, path):
        log = AuditLog(engine, key=key, origin="bench.example/audit")
        print(f"appending {args.entries:,} events in batches of {args.batch} ...", file=sys.stderr)
        spent = fill(log, args.entries, args.batch)
        rows.append(
            (f"append_many, batch {args.batch}", f"{args.entries / spent:,.0f} entries/s durable")
        )
        singles = make_events(args.entries, args.singles)
        seconds, _ = timed(lambda: [log.append(e) for e in singles])
        rows.append(("append (one per transaction)", f"{args.singles / seconds:,.0f} entries/s"))
        size = log.size()
        seconds, cp = timed(log.checkpoint)
        rows.append(("checkpoint (sign + store)", f"{seconds * 1000:.2f} ms at {size:,}"))
        root = log.root(size)
        assert root == cp.root_hash
        for cold in (True, False):
            label = "cold (no cache)" if cold else "warm cache"
            gen, ver = bench_inclusion(log, size, root, args.proofs, cold)
            rows += [(f"inclusion proof gen, {label}", gen), ("inclusion proof verify", ver)]
            gen, ver = bench_consistency(log, size, root, args.proofs, cold)
            rows += [(f"consistency proof gen, {label}", gen), ("consistency proof verify", ver)]
        if path is not None:
            disk = sum(p.stat().st_size for p in path.parent.iterdir())
            rows.append(("database on disk", f"{disk / size:.0f} bytes/entry"))
        if not args.no_verify:
            seconds, report = timed(
                lambda: verify_database(engine, [NoteVerifier(public_key_bytes(key))])
            )
            assert report.ok, report.problems
            rows.append(("verify whole log", f"{seconds:.1f} s ({size / seconds:,.0f} entries/s)"))
    print_table(args, rows)


def print_table(args: argparse.Namespace, rows: list[tuple[str, str]]) -> None:
    where = args.database.split("@")[-1] if args.database else "SQLite file (WAL, synchronous=FULL)"
    print(f"\naudit log benchmark: {args.entries:,} entries, {where}, {args.proofs} proofs each")
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--singles", type=int, default=300, help="single appends to time")
    parser.add_argument("--proofs", type=int, default=1000, help="proofs of each kind")
    parser.add_argument("--database", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--no-verify", action="store_true", help="skip verify_database")
    args = parser.parse_args()
    if args.entries < 2 or args.batch < 1:
        parser.error("--entries must be at least 2 and --batch at least 1")
    run(args)


if __name__ == "__main__":
    main()
