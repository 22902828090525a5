"""`bystander audit replay`: R1, R4 and R8 recomputed from hand-built capture sessions, and the
CLI end to end on a real audit log and its export bundle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy import Engine
from typer.testing import CliRunner

from bystander.cli import replay_cmd
from bystander.evidence.audit import AuditIntegrityError, AuditLog
from bystander.evidence.events import AuditEvent, EventType
from bystander.evidence.replay import (
    Outcome,
    SessionVerdict,
    Verdict,
    all_ok,
    events_from_bundle,
    replay,
    unattributed,
)
from bystander.guard.ledger import encode_steps

MS = 1_000_000
T0 = 10_000 * MS  # session clock origin


def ev(kind: EventType, session: str = "s1", reason: str | None = None, **data: Any) -> AuditEvent:
    return AuditEvent(
        type=kind, session_id=session, device_id="glasses-1", reason=reason, data=data
    )


def session(
    sid: str = "s1",
    *,
    lead_ms: float = 200,
    confirmed: int = T0 + 50 * MS,
    first_sample: int | None = None,
    last_sample: int | None = None,
    frames: int = 30,
    stop_after_ms: int = 5,
    off_after_ms: int = 2,
    fault: int | None = None,
    stopped_at: int | None = None,
) -> list[AuditEvent]:
    """A session that passes by default: armed, lit, confirmed, samples released, stopped."""
    first = first_sample if first_sample is not None else confirmed + lead_ms * MS + 10 * MS
    first = int(first)
    last = last_sample if last_sample is not None else first + 1000 * MS
    last_released = last + 1 * MS
    stopped_ns = stopped_at if stopped_at is not None else last_released + stop_after_ms * MS
    events = [
        ev(EventType.CAPTURE_ARMED, sid, t_lead_ms=lead_ms, profile="p", consents=["c1"]),
        ev(EventType.CAPTURE_STATE, sid, **{"from": "OFF", "to": "ARMING"}),
        ev(EventType.INDICATOR_COMMANDED, sid, commanded_ns=T0, pattern="video"),
        ev(EventType.INDICATOR_CONFIRMED, sid, confirmed_ns=confirmed),
        ev(EventType.FIRST_FRAME, sid, sample_ns=first, released_ns=first + 1 * MS),
    ]
    if fault is not None:
        events.append(ev(EventType.CAPTURE_FAULT, sid, "read-back lost", fault_ns=fault, rule="R2"))
    stopped: dict[str, Any] = {
        "stopped_ns": stopped_ns,
        "released": frames,
        "last_sample_ns": last,
        "last_released_ns": last_released,
        "indicator_off_ns": max(stopped_ns, last_released) + off_after_ms * MS,
        "fault": fault is not None,
    }
    events.append(ev(EventType.CAPTURE_STOPPED, sid, **stopped))
    return events


def only(events: list[AuditEvent]) -> SessionVerdict:
    verdicts = replay(events)
    assert len(verdicts) == 1
    return verdicts[0]


def replace_data(events: list[AuditEvent], kind: EventType, **data: Any) -> list[AuditEvent]:
    return [
        e.model_copy(update={"data": {**e.data, **data}}) if e.type is kind else e for e in events
    ]


# -- the rules ------------------------------------------------------------------------------


def test_a_passing_session_reports_margins() -> None:
    v = only(session())
    assert v.verdict is Verdict.PASS and v.ok and not v.reasons
    assert v.device_id == "glasses-1" and v.frames_released == 30
    assert v.r1.outcome is Outcome.PASS and v.r1.margin_ms == pytest.approx(10.0)
    assert v.r4.outcome is Outcome.NOT_APPLICABLE
    assert v.r8.outcome is Outcome.PASS and v.r8.margin_ms == pytest.approx(7.0)


def test_r1_exactly_at_the_bound_passes() -> None:
    v = only(session(first_sample=T0 + 250 * MS))
    assert v.r1.outcome is Outcome.PASS and v.r1.margin_ns == 0


def test_r1_fractional_t_lead() -> None:
    v = only(session(lead_ms=0.5, confirmed=T0, first_sample=T0 + 499_999))
    assert v.r1.outcome is Outcome.FAIL and v.r1.margin_ns == -1


def test_r1_sample_too_early_fails() -> None:
    v = only(session(first_sample=T0 + 50 * MS + 150 * MS))  # 150 ms after ON, T_lead 200
    assert v.verdict is Verdict.FAIL and not v.ok
    assert v.r1.outcome is Outcome.FAIL and v.r1.margin_ms == pytest.approx(-50.0)
    assert any("R1" in r and "50.000 ms short" in r for r in v.reasons)


def test_r1_last_sample_before_the_bound_fails() -> None:
    events = replace_data(session(), EventType.CAPTURE_STOPPED, last_sample_ns=T0)
    v = only(events)
    assert v.r1.outcome is Outcome.FAIL and v.r1.margin_ms == pytest.approx(-250.0)


def test_r1_first_frame_without_confirmation_fails() -> None:
    events = [e for e in session() if e.type is not EventType.INDICATOR_CONFIRMED]
    v = only(events)
    assert v.verdict is Verdict.FAIL and v.r1.outcome is Outcome.FAIL and v.r1.margin_ns is None
    assert "no indicator_confirmed" in v.r1.detail


def test_r1_confirmation_logged_after_the_first_frame_does_not_count() -> None:
    events = session()
    confirmed = events.pop(3)
    events.insert(5, confirmed)  # after the first frame
    assert only(events).r1.outcome is Outcome.FAIL


def test_r1_uses_the_latest_confirmation_before_the_first_frame() -> None:
    events = session(confirmed=T0 + 100 * MS, first_sample=T0 + 320 * MS)
    assert only(events).r1.outcome is Outcome.PASS
    early = ev(EventType.INDICATOR_CONFIRMED, confirmed_ns=T0)
    assert only([*events[:3], early, *events[3:]]).r1.outcome is Outcome.PASS
    late = ev(EventType.INDICATOR_CONFIRMED, confirmed_ns=T0 + 200 * MS)  # re-lit
    v = only([*events[:4], late, *events[4:]])
    assert v.r1.outcome is Outcome.FAIL and v.r1.margin_ms == pytest.approx(-80.0)


def test_r4_fast_stop_and_no_post_fault_sample_passes() -> None:
    last = T0 + 2000 * MS
    v = only(session(last_sample=last, fault=last + 5 * MS, stopped_at=last + 45 * MS))
    assert v.verdict is Verdict.FAULT and v.ok  # its own verdict, never pass
    assert v.reasons[0] == "fault R2: read-back lost"
    assert v.r4.outcome is Outcome.PASS and v.r4.margin_ms == pytest.approx(5.0)
    assert "stopped 40.000 ms after the fault" in v.r4.detail


def test_r4_slow_stop_fails() -> None:
    last = T0 + 2000 * MS
    v = only(session(last_sample=last, fault=last + 5 * MS, stopped_at=last + 5 * MS + 130 * MS))
    assert v.verdict is Verdict.FAIL
    assert v.r4.outcome is Outcome.FAIL and v.r4.margin_ms == pytest.approx(-30.0)
    assert any(r.startswith("R4: stopped 130.000 ms") for r in v.reasons)


def test_r4_stop_exactly_at_100_ms_passes() -> None:
    last = T0 + 2000 * MS
    v = only(session(last_sample=last, fault=last, stopped_at=last + 100 * MS))
    assert v.r4.outcome is Outcome.PASS and v.r4.margin_ns == 0


def test_r4_sample_stamped_after_the_fault_fails() -> None:
    last = T0 + 2000 * MS
    v = only(session(last_sample=last, fault=last - 20 * MS, stopped_at=last + 10 * MS))
    assert v.verdict is Verdict.FAIL
    assert v.r4.outcome is Outcome.FAIL and v.r4.margin_ms == pytest.approx(-20.0)
    assert "20.000 ms after the fault" in v.r4.detail


def test_r4_uses_the_earliest_fault() -> None:
    last = T0 + 2000 * MS
    events = session(last_sample=last, fault=last + 1 * MS, stopped_at=last + 50 * MS)
    early = ev(EventType.CAPTURE_FAULT, fault_ns=last - 100 * MS, rule="R5")
    v = only([*events[:-1], early, events[-1]])
    assert v.r4.outcome is Outcome.FAIL and v.r4.margin_ms == pytest.approx(-100.0)


def test_r4_fault_before_any_sample_with_nothing_released() -> None:
    events = [
        ev(EventType.CAPTURE_ARMED, t_lead_ms=200),
        ev(EventType.INDICATOR_COMMANDED, commanded_ns=T0),
        ev(EventType.CAPTURE_FAULT, fault_ns=T0 + 300 * MS, rule="R2"),
        ev(EventType.CAPTURE_STOPPED, stopped_ns=T0 + 301 * MS, released=0,
           indicator_off_ns=T0 + 302 * MS, fault=True),
    ]  # fmt: skip
    v = only(events)
    assert v.verdict is Verdict.FAULT and v.frames_released == 0
    assert v.reasons == ("fault R2: no reason logged",)
    assert [c.outcome for c in v.checks] == [Outcome.NOT_APPLICABLE, Outcome.PASS,
                                             Outcome.NOT_APPLICABLE]  # fmt: skip


def test_r8_indicator_off_before_the_last_release_fails() -> None:
    events = replace_data(session(), EventType.CAPTURE_STOPPED, indicator_off_ns=T0)
    v = only(events)
    assert v.verdict is Verdict.FAIL and v.r8.outcome is Outcome.FAIL
    assert v.r8.margin_ns is not None and v.r8.margin_ns < 0
    assert "before the last release" in v.r8.detail


def test_r8_off_at_the_last_release_passes() -> None:
    stopped = next(e for e in session() if e.type is EventType.CAPTURE_STOPPED)
    events = replace_data(
        session(), EventType.CAPTURE_STOPPED, indicator_off_ns=stopped.data["last_released_ns"]
    )
    v = only(events)
    assert v.r8.outcome is Outcome.PASS and v.r8.margin_ns == 0


# -- incomplete and refused sessions ---------------------------------------------------------


def test_armed_but_never_stopped_is_incomplete() -> None:
    v = only(session()[:-1])
    assert v.verdict is Verdict.INCOMPLETE and not v.ok
    assert "armed but never stopped" in v.reasons
    assert v.r1.outcome is Outcome.PASS  # what can be checked still is
    assert v.r8.outcome is Outcome.UNKNOWN and v.frames_released is None


def test_first_frame_without_armed_is_incomplete() -> None:
    events = [e for e in session() if e.type is not EventType.CAPTURE_ARMED]
    v = only(events)
    assert v.verdict is Verdict.INCOMPLETE and "no capture.armed event" in v.reasons
    assert v.r1.outcome is Outcome.UNKNOWN


def test_fault_without_stop_is_incomplete() -> None:
    events = session(fault=T0 + 900 * MS)[:-1]
    v = only(events)
    assert v.verdict is Verdict.INCOMPLETE and v.r4.outcome is Outcome.UNKNOWN


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"indicator_off_ns": None}, "capture.stopped has no integer indicator_off_ns"),
        ({"last_sample_ns": "soon"}, "capture.stopped has no integer last_sample_ns"),
        ({"released": True}, "capture.stopped has no integer released"),
    ],
)
def test_malformed_fields_are_incomplete(change: dict[str, Any], reason: str) -> None:
    v = only(replace_data(session(), EventType.CAPTURE_STOPPED, **change))
    assert v.verdict is Verdict.INCOMPLETE and reason in v.reasons


def test_stopped_counting_frames_without_a_first_frame_is_incomplete() -> None:
    v = only([e for e in session() if e.type is not EventType.FIRST_FRAME])
    assert v.verdict is Verdict.INCOMPLETE and v.r1.outcome is Outcome.UNKNOWN
    assert any("no capture.first_frame was logged" in r for r in v.reasons)


def test_duplicated_and_inconsistent_events_are_incomplete() -> None:
    events = session()
    v = only([*events, events[-1]])
    assert v.verdict is Verdict.INCOMPLETE and "2 capture.stopped events (a session has one)" in (
        v.reasons
    )
    # a failed switch-off command sets ``fault`` on the stop without a capture.fault: no R4 fault
    v = only(replace_data(events, EventType.CAPTURE_STOPPED, fault=True))
    assert v.verdict is Verdict.PASS and v.r4.outcome is Outcome.NOT_APPLICABLE
    other = events[0].model_copy(update={"device_id": "glasses-2"})
    v = only([other, *events[1:]])
    assert any("several devices" in r for r in v.reasons)


@pytest.mark.parametrize("lead", [-1, None, "200", True, float("inf"), float("nan")])
def test_a_bad_t_lead_is_incomplete(lead: object) -> None:
    v = only(replace_data(session(), EventType.CAPTURE_ARMED, t_lead_ms=lead))
    assert v.verdict is Verdict.INCOMPLETE and v.r1.outcome is Outcome.UNKNOWN
    assert "capture.armed has no valid t_lead_ms" in v.reasons
    assert "R1 not checked: needs t_lead_ms, confirmed_ns and sample_ns" in v.reasons


def test_refused_sessions_have_nothing_to_check() -> None:
    refused = [
        ev(EventType.CAPTURE_REFUSED, "z", "hotel room", rule="zone"),
        ev(EventType.CAPTURE_ARMED, "o", t_lead_ms=200),
        ev(EventType.CAPTURE_REFUSED, "o", "indicator occluded", rule="R3"),
    ]
    verdicts = replay(refused)
    assert [v.verdict for v in verdicts] == [Verdict.REFUSED, Verdict.REFUSED]
    assert all_ok(verdicts)
    assert verdicts[0].reasons == ("refused (zone): hotel room",)
    assert all(c.outcome is Outcome.NOT_APPLICABLE for v in verdicts for c in v.checks)


def test_a_refused_session_that_released_samples_is_still_judged() -> None:
    events = [*session(first_sample=T0), ev(EventType.CAPTURE_REFUSED, rule="R10")]
    assert only(events).verdict is Verdict.FAIL


def test_sessions_interleave_and_other_events_are_ignored() -> None:
    good, early, slow = session("a"), session("b", first_sample=T0), session("c")
    noise = [
        AuditEvent(type=EventType.CONSENT_GIVEN, session_id="a", subject_id="p1"),
        AuditEvent(type=EventType.CAPTURE_STATE, data={"from": "OFF", "to": "ARMING"}),
    ]
    mixed: list[AuditEvent] = []
    for i in range(max(len(good), len(early), len(slow))):
        for events in (good, early, slow):
            if i < len(events):
                mixed.append(events[i])
        mixed.extend(noise if i == 2 else [])
    verdicts = replay(mixed)
    assert [(v.session_id, v.verdict) for v in verdicts] == [
        ("a", Verdict.PASS), ("b", Verdict.FAIL), ("c", Verdict.PASS)
    ]  # fmt: skip
    assert not all_ok(verdicts) and unattributed(mixed) == 1
    assert verdicts[0].events == len(good)  # the consent event is not a capture event
    assert replay([]) == [] and all_ok([])


def test_verdicts_serialize() -> None:
    data = only(session(first_sample=T0)).to_dict()
    assert data["verdict"] == "fail" and data["rules"]["R1"]["outcome"] == "fail"
    assert data["rules"]["R1"]["margin_ms"] == pytest.approx(-250.0)
    assert data["rules"]["R4"] == {"outcome": "n.a.", "margin_ms": None, "detail": "no fault"}
    json.dumps(data)


# -- the CLI end to end ----------------------------------------------------------------------


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "home"
    monkeypatch.setenv("BYSTANDER_HOME", str(folder))
    monkeypatch.delenv("BYSTANDER_DATABASE_URL", raising=False)
    return folder


def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """bystander"""

    audit_group = typer.Typer()
    replay_cmd.register(audit_group)
    app.add_typer(audit_group, name="audit")
    return app


def replay_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli(), ["audit", "replay", *args])
    return result.exit_code, result.stdout, result.stderr


def test_cli_on_a_database_and_its_bundle(engine: Engine, tmp_path: Path) -> None:
    log = AuditLog(engine)  # the local audit key in BYSTANDER_HOME
    log.append_many([*session("good"), *session("refused")[:1]])
    log.append(ev(EventType.CAPTURE_REFUSED, "refused", "consent missing", rule="R10"))
    log.checkpoint()
    bundle = tmp_path / "ok.jsonl"
    log.export(bundle)
    targets = [str(bundle)]
    if engine.dialect.name == "sqlite":  # a PostgreSQL scratch schema is not in its URL
        targets.append(engine.url.render_as_string(hide_password=False))
    for target in targets:
        code, out, err = replay_cli(target)
        assert code == 0, err
        assert "good" in out and "pass +10.0" in out and "refused" in out
        assert "2 capture sessions: 1 pass, 1 refused" in out

    log.append_many(session("late", first_sample=T0 + 100 * MS))
    log.checkpoint()
    bundle = tmp_path / "log.jsonl"
    log.export(bundle)
    targets[0] = str(bundle)
    for target in targets:
        code, out, err = replay_cli(target, "--json")
        assert code == 3, err
        result = json.loads(out)
        assert result["ok"] is False and result["verified"] is True
        assert result["summary"] == {
            "pass": 1, "fail": 1, "incomplete": 0, "refused": 1, "fault": 0,
        }  # fmt: skip
        late = result["sessions"][-1]
        assert late["session_id"] == "late" and late["rules"]["R1"]["margin_ms"] == -150.0
    code, out, _ = replay_cli(str(bundle))
    assert code == 3 and "FAIL late: R1: sample released early" in out
    root = log.root()
    assert [e.session_id for e in events_from_bundle(bundle, expect_root=root)][-1] == "late"
    with pytest.raises(AuditIntegrityError, match="changed after it was verified"):
        events_from_bundle(bundle, expect_root=bytes(32))


def test_cli_on_a_sqlite_file(tmp_path: Path) -> None:
    from bystander.evidence.db import init_db, make_engine

    path = tmp_path / "evidence.db"
    engine = make_engine(f"sqlite:///{path}")
    init_db(engine)
    log = AuditLog(engine)
    log.append_many(session("s") + session("open")[:3])
    engine.dispose()
    code, out, err = replay_cli(str(path))
    assert code == 3 and "is covered by a checkpoint signed by a trusted key" in err
    log.checkpoint()
    code, out, err = replay_cli(str(path))
    assert code == 3, err
    assert "INCOMPLETE open: armed but never stopped" in out
    code, out, _ = replay_cli(str(path), "--no-verify", "--json")
    assert code == 3 and json.loads(out)["verified"] is False


def test_cli_tampered_bundle_gives_no_verdict(engine: Engine, tmp_path: Path) -> None:
    log = AuditLog(engine)
    log.append_many(session("s", first_sample=T0))  # an R1 failure the tamperer hides
    log.checkpoint()
    bundle = tmp_path / "log.jsonl"
    log.export(bundle)
    text = bundle.read_text(encoding="utf-8")
    forged = text.replace(f'\\"sample_ns\\":{T0},', f'\\"sample_ns\\":{T0 + 300 * MS},')
    assert forged != text
    bundle.write_text(forged, encoding="utf-8")
    code, out, err = replay_cli(str(bundle))
    assert code == 3 and not out
    assert err.count("\n") == 1 and "failed verification" in err
    code, out, _ = replay_cli(str(bundle), "--no-verify", "--json")
    assert code == 0 and json.loads(out)["sessions"][0]["verdict"] == "pass"  # the forgery


def test_cli_bundle_entry_that_is_not_an_event(engine: Engine, tmp_path: Path) -> None:
    log = AuditLog(engine)
    log.append_many(session("s"))
    log.checkpoint()
    bundle = tmp_path / "log.jsonl"
    log.export(bundle)
    text = bundle.read_text(encoding="utf-8")
    bundle.write_text(text.replace("capture.first_frame", "capture.bogus"), encoding="utf-8")
    code, out, err = replay_cli(str(bundle), "--no-verify")
    assert code == 1 and not out and "entry 4 is not a valid audit event" in err
    code, out, err = replay_cli(str(bundle))
    assert code == 3 and not out and "entry 4 (capture.bogus) was altered" in err


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing.jsonl", "no such file"),
        (lambda p: p, "is a folder"),
        (lambda p: _write(p / "junk.jsonl", "not json\n"), "not valid JSON"),
        (lambda p: _write(p / "empty.db", ""), "truncated"),
    ],
)
def test_cli_unreadable_input_exits_1(tmp_path: Path, make: Any, message: str) -> None:
    for extra in ((), ("--no-verify",)):
        code, out, err = replay_cli(str(make(tmp_path)), *extra)
        assert code == 1 and message in err and not out


def test_cli_database_without_audit_log_exits_1(tmp_path: Path) -> None:
    code, _, err = replay_cli(f"sqlite:///{tmp_path / 'none.db'}")
    assert code == 1 and "no database" in err


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def proven(reads: list[int], released: int, first: int, last: int) -> AuditEvent:
    return ev(
        EventType.PROVEN_ON, first_read_ns=reads[0], read_steps_ns=encode_steps(reads),
        released=released, first_sample_ns=first, last_sample_ns=last,
    )  # fmt: skip


def with_proof(*intervals: AuditEvent, gap_ms: float = 100) -> list[AuditEvent]:
    """The default passing session, armed with a proof gap and these proven_on events."""
    events = session(frames=30)
    armed = events[0].model_copy(update={"data": events[0].data | {"proof_gap_ms": gap_ms}})
    return [armed, *events[1:-1], *intervals, events[-1]]


def test_r1_proven_on_intervals_cover_every_release() -> None:
    first = T0 + 50 * MS + 210 * MS
    last = first + 1000 * MS
    reads = list(range(first - 20 * MS, last + 40 * MS, 50 * MS))
    v = only(with_proof(proven(reads, 30, first, last)))
    assert v.verdict is Verdict.PASS, v.reasons
    assert "30 sample(s) in 1 interval(s) proven ON" in v.r1.detail


def test_r1_a_gap_between_read_backs_over_the_bound_fails() -> None:
    first = T0 + 260 * MS
    reads = [first - 10 * MS, first + 90 * MS, first + 230 * MS, first + 1010 * MS]
    v = only(with_proof(proven(reads, 30, first, first + 1000 * MS), gap_ms=200))
    assert v.verdict is Verdict.FAIL and "read-backs 780.000 ms apart" in v.r1.detail


def test_r1_samples_outside_their_proof_or_unaccounted_fail() -> None:
    first = T0 + 260 * MS
    reads = list(range(first, first + 500 * MS, 50 * MS))
    outside = only(with_proof(proven(reads, 30, first, first + 1000 * MS)))
    assert outside.verdict is Verdict.FAIL and "outside the read-backs" in outside.r1.detail
    missing = only(with_proof(proven(reads, 10, first, first + 400 * MS)))
    assert missing.verdict is Verdict.FAIL
    assert "20 released sample(s) outside any interval proven ON" in missing.r1.detail
