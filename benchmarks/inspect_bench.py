"""A busy device-month: 1,000,000 evidence records inspected end to end.

Writes an evidence bundle (a face-recognition home camera: captures with indicator on/off,
consents, biometric operations, egress, stores, notices, permissions; its profile and
complete processing rules) into a temporary folder, then times `bystander inspect` against
every rule (`--framework all`), in process, split into loading and rule evaluation:

    python benchmarks/inspect_bench.py [--records 1000000] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

from bystander.inspect.bundle import load_bundle
from bystander.rules import inspect_evidence

T0 = datetime(2026, 3, 1, tzinfo=UTC).timestamp()
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

PROFILE = """\
device_id: cam-bench-1
device_type: home-camera
vendor: Bench Cameras Ltd
markets: [CN]
processor: {name: Bench Cameras Ltd, contact: privacy@bench.example}
sensors: [camera]
face_recognition: true
biometrics: [face]
indicator: {present: true, kind: led, covers: [camera], hardwired: true, tamper_detection: true}
authentication: {methods: [face, pin]}
access_control: {remote_view_requires_auth: true, default_password: false, unique_credentials: true}
declared_data_categories: [user.sensor.camera, user.biometric.face.template]
data_flows:
  - {data_categories: [user.sensor.camera], destination: api.bench-cloud.cn, country: CN,
     purpose: cloud recording, consent_scope: cloud_transfer}
"""


def record(i: int, rng: random.Random) -> dict[str, object]:
    """The i-th record: a mix of what a camera logs in a month (2.6 s apart)."""
    t = T0 + i * 2.6
    subject = f"p{i % 500}"
    kind = i % 20
    if kind < 4:
        return {"type": "indicator", "t": t - 0.2, "state": "on", "session_id": f"s{i}"}
    if kind < 8:
        return {"type": "capture", "t_start": t, "t_end": t + 2.0, "session_id": f"s{i - 4}"}
    if kind < 10:
        return {"type": "indicator", "t": t + 2.1, "state": "off", "session_id": f"s{i - 8}"}
    if kind < 13:
        return {
            "type": "egress",
            "t": t,
            "host": "api.bench-cloud.cn",
            "data_categories": ["user.sensor.camera"],
            "bytes_sent": rng.randint(1_000, 500_000),
            "tls": True,
        }
    if kind < 15:
        return {"type": "biometric_op", "t": t, "op": "verify_1to1", "subject_id": subject}
    if kind == 15:
        return {
            "type": "consent",
            "t": t,
            "action": "granted",
            "scopes": ["recording", "cloud_transfer", "face.processing"],
            "kind": "separate",
            "subject_id": subject,
        }
    if kind == 16:
        return {"type": "notice", "t": t, "notice_id": "face", "biometric": True}
    if kind == 17:
        return {
            "type": "store",
            "record_id": f"clip-{i}",
            "data_category": "user.sensor.camera",
            "t_created": t,
            "t_deleted": t + 86_400,
            "retention_days": 30,
            "encrypted": True,
        }
    if kind == 18:
        return {
            "type": "permission",
            "t": t,
            "permission": "camera",
            "result": "granted",
            "purpose_shown": True,
        }
    return {"type": "count", "t": t, "metric": "distinct_face_subjects", "value": 500}


def write_bundle(root: Path, records: int) -> None:
    from tests.bundles import PIA_EN, POLICY_EN, POLICY_ZH

    (root / "logs").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "profile.yaml").write_text(PROFILE, encoding="utf-8")
    (root / "docs" / "privacy-en.md").write_text(POLICY_EN, encoding="utf-8")
    (root / "docs" / "privacy-zh.md").write_text(POLICY_ZH, encoding="utf-8")
    (root / "docs" / "pia.md").write_text(PIA_EN, encoding="utf-8")
    rng = random.Random(1)
    # consent and notice first, so the month opens compliant
    head = [
        {"type": "notice", "t": T0 - 60, "notice_id": "face", "biometric": True},
        *(
            {
                "type": "consent",
                "t": T0 - 30,
                "action": "granted",
                "scopes": ["recording", "cloud_transfer", "face.processing"],
                "kind": "separate",
                "subject_id": f"p{s}",
            }
            for s in range(500)
        ),
    ]
    with (root / "logs" / "device.jsonl").open("w", encoding="utf-8") as out:
        for item in head:
            out.write(json.dumps(item) + "\n")
        for i in range(records - len(head)):
            out.write(json.dumps(record(i, rng)) + "\n")
    manifest = {
        "format": "bystander.evidence-bundle",
        "version": 1,
        "profile": "profile.yaml",
        "records": ["logs/device.jsonl"],
        "documents": [
            {
                "path": "docs/privacy-en.md",
                "type": "privacy_policy",
                "lang": "en",
                "date": "2026-01-15",
            },
            {
                "path": "docs/privacy-zh.md",
                "type": "processing_rules",
                "lang": "zh",
                "date": "2026-01-15",
            },
            {"path": "docs/pia.md", "type": "pia", "date": "2026-01-10", "public": False},
        ],
    }
    (root / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "bundle"
        started = time.perf_counter()
        write_bundle(root, args.records)
        size = (root / "logs" / "device.jsonl").stat().st_size
        print(f"bundle written in {time.perf_counter() - started:.1f} s ({size / 1e6:.0f} MB log)")
        loads, checks = [], []
        for _ in range(args.rounds):
            started = time.perf_counter()
            evidence = load_bundle(root)
            loaded = time.perf_counter()
            inspection = inspect_evidence(evidence, today=date(2026, 4, 1))
            done = time.perf_counter()
            loads.append(loaded - started)
            checks.append(done - loaded)
        total = [a + b for a, b in zip(loads, checks, strict=True)]
        counts = inspection.by_verdict()
        print(
            f"records: {evidence.record_count():,}; rules: {len(inspection.findings)}; "
            + ", ".join(f"{v.value} {n}" for v, n in counts.items())
        )
        print(
            f"load: {statistics.median(loads):.1f} s, rules: {statistics.median(checks):.1f} s, "
            f"total: {statistics.median(total):.1f} s "
            f"({evidence.record_count() / statistics.median(total):,.0f} records/s)"
        )
        failed = [f"{f.rule_id} ({f.verdict.value})" for f in inspection.findings if f.failed]
        print("failed rules:", ", ".join(failed) or "none")


if __name__ == "__main__":
    main()
