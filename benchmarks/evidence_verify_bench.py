"""Full evidence verification benchmark: the signed log, then the derived state rebuilt from it.

    python benchmarks/evidence_verify_bench.py --entries 1000000 --records 20000

Builds a fresh SQLite evidence database (or a private PostgreSQL schema with --database):
``--records`` consent records imported through the consent store (each logged with its
record hash), a tenth of them withdrawn, then other events up to ``--entries`` in total, with
a signed checkpoint covering everything. Then times, in the same run:

- the baseline: ``verify_database`` alone (signatures, every entry, coverage, consistency);
- the full check ``bystander audit verify`` does: the same plus the consent, deletion,
  template and retention state rebuilt from the log and compared with the rows.

Building the log is not timed.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bystander.consent.audit_state import check_state, database_events, rebuild
from bystander.consent.models import (
    ConsentEvent,
    ConsentRecord,
    DataSubject,
    EventType,
    Processing,
    Scope,
)
from bystander.consent.store import ConsentStore
from bystander.evidence.audit import AuditLog, verify_database
from bystander.evidence.db import scratch_database
from bystander.evidence.events import AuditEvent, MemorySink
from bystander.evidence.events import EventType as AuditType

T0 = datetime(2025, 1, 1, tzinfo=UTC)
_FILLER = [t for t in AuditType if not t.value.startswith(("consent.", "template.", "deletion.",
                                                           "retention."))]  # fmt: skip


def build(engine: object, entries: int, records: int, batch: int) -> AuditLog:
    log = AuditLog(engine, key=Ed25519PrivateKey.generate())  # type: ignore[arg-type]
    buffer = MemorySink()
    store = ConsentStore(engine, buffer)  # type: ignore[arg-type]
    items = [
        ConsentRecord(
            subject=DataSubject(id=f"ds-{i}"),
            processing=Processing(scopes=(Scope.RECORD_VIDEO,)),
            events=(ConsentEvent(type=EventType.GIVEN, at=T0, by=f"ds-{i}"),),
        )
        for i in range(records)
    ]
    for start in range(0, records, batch):
        store.import_records(items[start : start + batch])
    for record in items[: records // 10]:
        store.withdraw(record.id, at=T0 + timedelta(days=1))
    log.append_many(buffer.events)
    for start in range(log.size(), entries, batch):
        count = min(batch, entries - start)
        log.append_many(
            AuditEvent(
                type=_FILLER[i % len(_FILLER)], device_id="bench-device",
                session_id=f"session-{i // 50}", reason="benchmark",
                data={"seq": i, "decision": "redact", "faces": i % 4},
            )
            for i in range(start, start + count)
        )  # fmt: skip
    log.checkpoint()
    return log


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--database", default=None, help="PostgreSQL URL (default: SQLite)")
    args = parser.parse_args()
    with scratch_database(args.database) as engine:
        started = time.perf_counter()
        log = build(engine, args.entries, args.records, args.batch)
        built = time.perf_counter() - started
        size = log.size()
        print(f"built {size:,} entries ({args.records:,} consent records) in {built:.1f} s")
        verifiers = [log.verifier()]

        started = time.perf_counter()
        report = verify_database(engine, verifiers)
        baseline = time.perf_counter() - started
        assert report.ok, report.headline()

        started = time.perf_counter()
        report = verify_database(engine, verifiers)
        log_part = time.perf_counter() - started
        state = check_state(engine, rebuild(database_events(engine, report.entries)))
        full = time.perf_counter() - started
        assert report.ok and state.ok, state.problems[:3]
        print(f"verify log only (baseline):       {baseline:6.1f} s ({size / baseline:,.0f}/s)")
        print(f"verify log + state rebuild:       {full:6.1f} s ({size / full:,.0f}/s)")
        print(f"  of which the state rebuild:     {full - log_part:6.1f} s")
        print(f"full check / baseline:            {full / baseline:6.2f}x")
        print(f"rows checked: {state.checked}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
