"""Latency of ``ConsentStore.check`` with many records (target: p99 under 1 ms at 100,000).

    python benchmarks/consent_bench.py                       # SQLite file in a temp folder
    python benchmarks/consent_bench.py --database postgresql+psycopg://u:p@127.0.0.1/db

A PostgreSQL run works in a private schema that is dropped afterwards. The store is filled
with a realistic mix (several records per subject; separate, general, guardian kinds;
withdrawn, expired and refused records); then ``--checks`` random checks are timed one by
one (80% for known subjects, 20% for unknown ones), after a warm-up.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from bystander.consent import (
    ConsentEvent,
    ConsentKind,
    ConsentRecord,
    ConsentStore,
    DataSubject,
    EventType,
    Processing,
    Scope,
)
from bystander.evidence.db import scratch_database

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SCOPES = list(Scope)
KINDS = [ConsentKind.GENERAL, ConsentKind.SEPARATE, ConsentKind.EXPLICIT, ConsentKind.WRITTEN]


def make_record(rng: random.Random, subject: int) -> ConsentRecord:
    """One plausible record for subject number ``subject``."""
    minor = subject % 50 == 0
    kind = ConsentKind.GUARDIAN if minor else rng.choice(KINDS)
    given = T0 + timedelta(minutes=rng.randrange(500_000))
    roll = rng.random()
    if roll < 0.05:
        events = [ConsentEvent(type=EventType.REFUSED, at=given, by=f"ds-{subject}")]
    else:
        until = given + timedelta(days=rng.randrange(30, 800)) if roll < 0.4 else None
        events = [
            ConsentEvent(type=EventType.GIVEN, at=given, by=f"ds-{subject}", valid_until=until)
        ]
        if roll > 0.9:
            events.append(
                ConsentEvent(
                    type=EventType.WITHDRAWN, at=given + timedelta(days=3), by=f"ds-{subject}"
                )
            )
    return ConsentRecord(
        kind=kind,
        subject=DataSubject(id=f"ds-{subject}", under_14=minor),
        guardian_id=f"gd-{subject}" if minor else None,
        processing=Processing(
            scopes=tuple(rng.sample(SCOPES, rng.randint(1, 3))), purposes=("benchmark",)
        ),
        events=tuple(events),
    )


def open_engine(url: str | None) -> contextlib.AbstractContextManager[Engine]:
    """A fresh database: a temporary SQLite file, or a private PostgreSQL schema."""
    return scratch_database(url)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--per-subject", type=int, default=5, help="Records per subject.")
    parser.add_argument("--checks", type=int, default=20_000)
    parser.add_argument("--database", default=None, help="URL (default: temporary SQLite).")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    subjects = max(1, args.records // args.per_subject)
    with open_engine(args.database) as engine:
        store = ConsentStore(engine)
        started = time.perf_counter()
        batch: list[ConsentRecord] = []
        for index in range(args.records):
            batch.append(make_record(rng, index % subjects))
            if len(batch) == 5_000:
                store.import_records(batch)
                batch = []
        store.import_records(batch)
        fill = time.perf_counter() - started

        now = T0 + timedelta(days=200)
        queries = [
            (
                f"ds-{rng.randrange(subjects)}" if rng.random() < 0.8 else f"nobody-{i}",
                rng.choice(SCOPES),
                rng.choice(list(ConsentKind)),
            )
            for i in range(args.checks)
        ]
        for subject, scope, kind in queries[:2_000]:  # warm-up: pool, statement cache
            store.check(subject, scope, at=now, kind=kind)
        times: list[float] = []
        allowed = 0
        for subject, scope, kind in queries:
            start = time.perf_counter_ns()
            decision = store.check(subject, scope, at=now, kind=kind)
            times.append((time.perf_counter_ns() - start) / 1_000)
            allowed += decision.allowed

    print(
        f"consent check: {engine.dialect.name}, {args.records:,} records, {subjects:,} subjects, "
        f"filled in {fill:.1f} s"
    )
    print(
        f"  {len(times):,} checks ({allowed:,} allowed): "
        f"mean {statistics.fmean(times):.0f} us, p50 {percentile(times, 0.50):.0f} us, "
        f"p90 {percentile(times, 0.90):.0f} us, p99 {percentile(times, 0.99):.0f} us, "
        f"p99.9 {percentile(times, 0.999):.0f} us, max {max(times):.0f} us"
    )


if __name__ == "__main__":
    main()
