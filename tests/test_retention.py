"""Retention: items are due when the schedule says, deleted through their deleter, and logged."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from sqlalchemy import Engine
from typer.testing import CliRunner

from bystander import config
from bystander.cli import retention_cmd
from bystander.evidence.audit import AuditLog
from bystander.evidence.db import init_db, make_engine
from bystander.evidence.events import AuditEvent, EventType, MemorySink
from bystander.evidence.retention import (
    RetentionError,
    RetentionManager,
    RetentionPolicy,
    RetentionPolicyError,
    StoredItem,
    utcnow,
)

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
RECORDING = "user.media.recording.original"
TEMPLATE = "user.biometric.face.template"


@pytest.fixture()
def sink() -> MemorySink:
    return MemorySink()


@pytest.fixture()
def manager(engine: Engine, sink: MemorySink) -> RetentionManager:
    return RetentionManager(engine, sink)


def recording(folder: Path, name: str = "clip.mp4") -> Path:
    path = folder / name
    path.write_bytes(b"original video")
    return path


def test_retain_until_comes_from_the_policy(manager: RetentionManager, tmp_path: Path) -> None:
    item = manager.register(RECORDING, "anonymisation", str(recording(tmp_path)), now=T0)
    assert item.retain_until == T0 + timedelta(hours=72)
    assert item.created_at == T0 and item.deleted_at is None
    assert manager.due(T0 + timedelta(hours=71, minutes=59)) == []
    assert [i.id for i in manager.due(T0 + timedelta(hours=72))] == [item.id]


def test_register_refuses_data_without_a_rule(manager: RetentionManager) -> None:
    with pytest.raises(RetentionPolicyError, match="no retention rule"):
        manager.register("user.location.trace", "analytics", "/tmp/x", now=T0)
    with pytest.raises(RetentionPolicyError, match="purpose 'advertising'"):
        manager.register(RECORDING, "advertising", "/tmp/x", now=T0)
    assert manager.items() == []


def test_run_deletes_due_items_and_logs_each(
    manager: RetentionManager, sink: MemorySink, tmp_path: Path
) -> None:
    old = recording(tmp_path, "old.mp4")
    new = recording(tmp_path, "new.mp4")
    due = manager.register(RECORDING, "anonymisation", str(old), now=T0)
    kept = manager.register(RECORDING, "anonymisation", str(new), now=T0 + timedelta(days=2))

    report = manager.run(now=T0 + timedelta(days=3))

    assert report.ok and not report.dry_run
    assert [o.item_id for o in report.deleted] == [due.id]
    assert report.deleted[0].reason == "retention_period_ended"
    assert not old.exists() and new.exists()
    assert manager.get(due.id).deleted_at == T0 + timedelta(days=3)
    assert manager.get(kept.id).deleted_at is None
    [event] = sink.events
    assert event.type is EventType.RETENTION_DELETED
    assert event.reason == "retention_period_ended"
    assert event.data == {"item_id": due.id, "data_category": RECORDING, "purpose": "anonymisation"}
    assert str(old) not in event.model_dump_json()  # no references, paths or personal data
    assert manager.run(now=T0 + timedelta(days=3)).deleted == ()


def test_dry_run_deletes_and_logs_nothing(
    manager: RetentionManager, sink: MemorySink, tmp_path: Path
) -> None:
    path = recording(tmp_path)
    item = manager.register(RECORDING, "anonymisation", str(path), now=T0)
    report = manager.run(now=T0 + timedelta(days=4), dry_run=True)
    assert report.dry_run and [o.item_id for o in report.deleted] == [item.id]
    assert path.exists() and manager.get(item.id).deleted_at is None and sink.events == []


def test_failing_deleter_leaves_the_item_and_is_retried(
    manager: RetentionManager, sink: MemorySink
) -> None:
    calls: list[str] = []

    def broken(item: StoredItem) -> None:
        calls.append(item.id)
        raise OSError("device storage is read-only")

    manager.register_deleter("media", broken)
    item = manager.register(RECORDING, "anonymisation", "clip-7", deleter_key="media", now=T0)
    later = T0 + timedelta(days=5)

    report = manager.run(now=later)

    assert not report.ok and report.deleted == ()
    [failure] = report.failed
    assert failure.item_id == item.id and failure.error == "OSError: device storage is read-only"
    stored = manager.get(item.id)
    assert stored.deleted_at is None and stored.failures == 1
    assert stored.last_error == "OSError: device storage is read-only"
    assert sink.events == []

    manager.register_deleter("media", lambda item: calls.append("ok"), replace=True)
    retry = manager.run(now=later)
    assert retry.ok and [o.item_id for o in retry.deleted] == [item.id]
    assert manager.get(item.id).deleted_at == later and len(sink.events) == 1


def test_unknown_deleter_is_a_reported_failure(manager: RetentionManager) -> None:
    manager.register(RECORDING, "anonymisation", "x", deleter_key="nobody", now=T0)
    report = manager.run(now=T0 + timedelta(days=5))
    assert report.failed[0].error == "no deleter registered under 'nobody'"


def test_relative_file_reference_is_refused(manager: RetentionManager) -> None:
    manager.register(RECORDING, "anonymisation", "clip.mp4", now=T0)
    report = manager.run(now=T0 + timedelta(days=5))
    assert "not an absolute path" in (report.failed[0].error or "")


def test_deleter_names_are_unique(manager: RetentionManager) -> None:
    with pytest.raises(RetentionError, match="already registered"):
        manager.register_deleter("file", lambda item: None)


def test_touch_restarts_the_idle_limit(manager: RetentionManager) -> None:
    item = manager.register(TEMPLATE, "identity_verification", "t-1", deleter_key="x", now=T0)
    assert item.retain_until == T0 + timedelta(days=365)
    used = T0 + timedelta(days=300)
    touched = manager.touch(item.id, now=used)
    assert touched.last_used_at == used and touched.retain_until == used + timedelta(days=365)
    assert manager.due(T0 + timedelta(days=400)) == []
    [due] = manager.due(used + timedelta(days=365))
    assert manager.run(now=used + timedelta(days=365)).failed[0].reason == "idle_limit_reached"
    assert due.id == item.id


def test_touch_and_end_purpose_refuse_unknown_or_deleted(
    manager: RetentionManager, tmp_path: Path
) -> None:
    with pytest.raises(RetentionError, match="no stored item"):
        manager.touch("missing")
    item = manager.register(RECORDING, "anonymisation", str(recording(tmp_path)), now=T0)
    manager.run(now=T0 + timedelta(days=3))
    with pytest.raises(RetentionError, match="already deleted"):
        manager.end_purpose(item.id)


def test_consent_withdrawal_makes_linked_items_due(
    manager: RetentionManager, tmp_path: Path
) -> None:
    linked = manager.register(
        RECORDING, "anonymisation", str(recording(tmp_path, "a")), consent_record_id="c1", now=T0
    )
    other = manager.register(
        RECORDING, "anonymisation", str(recording(tmp_path, "b")), consent_record_id="c2", now=T0
    )
    assert manager.end_purpose_for_consent("c1", now=T0 + timedelta(hours=1)) == 1
    report = manager.run(now=T0 + timedelta(hours=1))
    assert [(o.item_id, o.reason) for o in report.deleted] == [(linked.id, "purpose_satisfied")]
    assert manager.get(other.id).deleted_at is None


def test_a_shortened_rule_applies_to_existing_items(engine: Engine, tmp_path: Path) -> None:
    first = RetentionManager(engine)
    item = first.register(RECORDING, "anonymisation", str(recording(tmp_path)), now=T0)
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text(
        '[[rules]]\ndata_category = "user.media.recording.original"\n'
        'purpose = "anonymisation"\nperiod = "P1D"\nbasis = "shorter"\n'
    )
    shorter = RetentionManager(engine, policy=RetentionPolicy.load(policy_file))
    assert [i.id for i in shorter.due(T0 + timedelta(days=1))] == [item.id]
    assert first.due(T0 + timedelta(days=1)) == []


def test_sink_failure_leaves_the_item_live(engine: Engine, tmp_path: Path) -> None:
    class BrokenSink:
        def append(self, event: AuditEvent) -> int:
            raise OSError("audit log unavailable")

    manager = RetentionManager(engine, BrokenSink())
    item = manager.register(RECORDING, "anonymisation", str(recording(tmp_path)), now=T0)
    with pytest.raises(OSError):
        manager.run(now=T0 + timedelta(days=3))
    assert manager.get(item.id).deleted_at is None  # retried (and logged) next run


def test_schedule_is_public_and_complete() -> None:
    policy = RetentionPolicy.default()
    markdown = policy.to_markdown()
    assert markdown.startswith("# Retention schedule and destruction guidelines")
    assert "## Destruction guidelines" in markdown
    assert "BIPA 15(a)" in markdown and "3 years" in markdown
    for rule in policy.rules:
        assert f"| {rule.data_category} | {rule.purpose} |" in markdown
    assert "| user.media.recording.original | anonymisation |" in markdown
    data = json.loads(policy.render("json"))
    rules = {(r["data_category"], r["purpose"]): r for r in data["rules"]}
    assert rules[(RECORDING, "anonymisation")]["period"] == "P3D"
    assert rules[("user.biometric.face.image", "enrolment")]["period"] == "PT1H"
    face = rules[(TEMPLATE, "identity_verification")]
    assert face["idle_limit"] == "P365D" and face["period"] is None
    assert face["kept_for"] == "at most 1 year after last use"
    # BIPA 15(a): no biometric template outlives 3 years after the last interaction
    for rule in policy.rules:
        if rule.data_category.startswith("user.biometric"):
            bound = rule.idle_limit or rule.period
            assert bound is not None and bound <= timedelta(days=3 * 365)


def test_policy_file_overrides_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text(
        json.dumps(
            {
                "title": "ACME doorbell retention schedule",
                "replace_defaults": True,
                "rules": [
                    {
                        "data_category": TEMPLATE,
                        "purpose": "identity_verification",
                        "period": "P2Y",
                        "idle_limit": "P90D",
                    }
                ],
            }
        )
    )
    policy = RetentionPolicy.load(path)
    assert policy.title == "ACME doorbell retention schedule" and len(policy.rules) == 1
    assert "at most 2 years after collection, or at most 90 days after last use, whichever" in (
        policy.to_markdown()
    )
    path.write_text('{"rules": [{"data_category": "x", "purpose": "y"}]}')
    with pytest.raises(RetentionPolicyError, match="needs a period or an idle_limit"):
        RetentionPolicy.load(path)
    path.write_text("{not json")
    with pytest.raises(RetentionPolicyError, match="is not valid JSON") as info:
        RetentionPolicy.load(path)
    assert "\n" not in str(info.value)
    with pytest.raises(RetentionPolicyError, match="cannot read policy"):
        RetentionPolicy.load(tmp_path / "missing.toml")


# --- CLI ------------------------------------------------------------------------------------


def cli(sink: MemorySink | None = None) -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """Test root."""

    retention_cmd.register(app, sink_factory=(lambda engine: sink) if sink else None)
    return app


def test_cli_schedule_formats(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli(), ["retention", "schedule"])
    assert result.exit_code == 0 and "| Data category | Purpose |" in result.output
    result = runner.invoke(cli(), ["retention", "schedule", "--format", "json"])
    assert result.exit_code == 0 and json.loads(result.output)["rules"]
    out = tmp_path / "public" / "retention.md"
    result = runner.invoke(cli(), ["retention", "schedule", "-o", str(out)])
    assert result.exit_code == 0 and out.read_text().startswith("# Retention schedule")
    bad = tmp_path / "bad.toml"
    bad.write_text("rules = [")
    result = runner.invoke(cli(), ["retention", "schedule", "--policy", str(bad)])
    assert result.exit_code == 1 and result.output.startswith("error:")
    assert "is not valid TOML" in result.output and "Traceback" not in result.output


def test_cli_run(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = make_engine(url)
    init_db(engine)
    manager = RetentionManager(engine)
    clip = recording(tmp_path)
    item = manager.register(RECORDING, "anonymisation", str(clip), now=utcnow() - timedelta(days=4))
    runner = CliRunner()
    sink = MemorySink()

    dry = runner.invoke(cli(sink), ["retention", "run", "--database", url, "--dry-run"])
    assert dry.exit_code == 0 and f"would delete {item.id}" in dry.output
    assert clip.exists() and sink.events == []

    result = runner.invoke(cli(sink), ["retention", "run", "--database", url, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert [d["item_id"] for d in report["deleted"]] == [item.id] and report["failed"] == []
    assert not clip.exists() and [e.type for e in sink.events] == [EventType.RETENTION_DELETED]

    manager.register(RECORDING, "anonymisation", "relative.mp4", now=utcnow() - timedelta(days=4))
    failed = runner.invoke(cli(sink), ["retention", "run", "--database", url])
    assert failed.exit_code == 1 and "FAILED" in failed.output
    assert "error: 1 deletion(s) failed" in failed.output
    engine.dispose()


def test_cli_run_logs_to_the_audit_log_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(config.HOME_ENV, str(tmp_path / "home"))
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = make_engine(url)
    init_db(engine)
    clip = recording(tmp_path)
    item = RetentionManager(engine).register(
        RECORDING, "anonymisation", str(clip), now=utcnow() - timedelta(days=4)
    )
    result = CliRunner().invoke(cli(), ["retention", "run", "--database", url])
    assert result.exit_code == 0, result.output
    assert "1 deleted, 0 failed" in result.output and not clip.exists()
    [logged] = list(AuditLog(engine).entries())
    assert logged.event.type is EventType.RETENTION_DELETED
    assert logged.event.data["item_id"] == item.id
    engine.dispose()
