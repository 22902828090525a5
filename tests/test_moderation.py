"""The moderation queue: items from real screening outcomes, reviewer decisions, complaints with
deadlines, takedowns and time to takedown; every action an audit event; SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bystander.cli.app import app
from bystander.evidence.audit import AuditLog
from bystander.evidence.events import EventType
from bystander.measure.synthetic import SyntheticClip
from bystander.screening.faces import FaceCensus
from bystander.screening.policy import Decision
from bystander.screening.queue import ModerationError, ModerationQueue
from bystander.screening.screen import PORTRAIT, Reason, ScreenOutcome
from tests.helpers import runner

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def outcome(decision: Decision, sha: str = "ab" * 32, people: int = 2) -> ScreenOutcome:
    """What ``Screener.screen`` returns for an upload with visible strangers."""
    faces = FaceCensus(10, people, 3 * people, people, 90)
    reason = Reason(f"no provenance manifest; {people} identifiable face(s)", PORTRAIT)
    return ScreenOutcome("uploads/clip.mp4", sha, 1234, decision, "unsigned_with_faces",
                         (reason,), faces=faces)  # fmt: skip


@pytest.fixture()
def log(engine: Engine) -> AuditLog:
    return AuditLog(engine)


@pytest.fixture()
def queue(engine: Engine, log: AuditLog) -> ModerationQueue:
    return ModerationQueue(engine, log, takedown_deadline=timedelta(hours=24))


def events(log: AuditLog) -> list[tuple[str, dict[str, object]]]:
    return [(e.event.type.value, e.event.data) for e in log.entries()]


def test_a_held_item_is_queued_and_a_reviewer_decides(
    queue: ModerationQueue, log: AuditLog
) -> None:
    item = queue.submit(outcome(Decision.HOLD), at=T0)
    assert item.status == "held" and item.decided_at is None
    assert [i.id for i in queue.list("held")] == [item.id]

    decided = queue.decide(item.id, "reviewer-3", Decision.REJECT, "a stranger, filmed covertly",
                           at=T0 + timedelta(minutes=5))  # fmt: skip
    assert decided.status == "rejected" and decided.decided_at == T0 + timedelta(minutes=5)
    assert queue.list("held") == []
    assert [a["action"] for a in queue.actions(item.id)] == ["screened", "decided"]
    kinds = [kind for kind, _ in events(log)]
    assert kinds == ["screening.decided", "moderation.queued", "moderation.decided"]
    screened = events(log)[0][1]
    assert screened["rules"] == sorted(PORTRAIT) and screened["people"] == 2
    assert "uploads/clip.mp4" not in json.dumps(events(log))  # ids, not file names


def test_complaint_deadline_takedown_and_time_to_takedown(
    queue: ModerationQueue, log: AuditLog
) -> None:
    item = queue.submit(outcome(Decision.ACCEPT), at=T0)
    complaint = queue.complain("ab" * 32, "complainant-ref-17", "I am the person in this clip",
                               at=T0 + timedelta(hours=1))  # fmt: skip
    assert complaint.item_id == item.id  # found by the upload's SHA-256
    assert complaint.deadline == T0 + timedelta(hours=25)
    assert [c.id for c in queue.complaints(open_only=True)] == [complaint.id]
    assert queue.stats(now=T0 + timedelta(hours=2)).open_complaints == 1

    down = queue.take_down(item.id, "moderator-1", "Civil Code 1195 notice upheld",
                           at=T0 + timedelta(hours=4))  # fmt: skip
    assert down.status == "taken_down" and down.taken_down_at == T0 + timedelta(hours=4)
    (closed,) = queue.complaints()
    assert closed.outcome == "taken_down" and not closed.overdue(T0 + timedelta(days=3))
    stats = queue.stats(now=T0 + timedelta(days=3))
    assert stats.takedowns == 1 and stats.open_complaints == 0 and stats.overdue_complaints == 0
    assert stats.median_hours_to_takedown == 3.0
    takedown = events(log)[-1]
    assert takedown[0] == EventType.TAKEDOWN.value
    assert takedown[1]["complaints"] == [complaint.id]
    assert takedown[1]["seconds_since_complaint"] == [3 * 3600.0]
    assert takedown[1]["rules"] == ["CN-CIVIL-1195"]
    with pytest.raises(ModerationError, match="already taken down"):
        queue.take_down(item.id, "moderator-1", "again")
    with pytest.raises(ModerationError, match="taken down"):
        queue.decide(item.id, "reviewer-3", Decision.ACCEPT)


def test_an_unanswered_complaint_becomes_overdue(queue: ModerationQueue) -> None:
    item = queue.submit(outcome(Decision.ANONYMIZE), at=T0)
    late = queue.complain(item.id, "ref-9", "my child is in this", at=T0)
    assert not late.overdue(T0 + timedelta(hours=23))
    assert late.overdue(T0 + timedelta(hours=25))
    stats = queue.stats(now=T0 + timedelta(hours=25))
    assert stats.overdue_complaints == 1 and stats.items_by_status == {"anonymized": 1}
    resolved = queue.resolve(late.id, "moderator-1", "rejected", at=T0 + timedelta(hours=30))
    assert resolved.outcome == "rejected" and resolved.overdue(T0 + timedelta(days=9))
    assert queue.stats(now=T0 + timedelta(days=9)).open_complaints == 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda q: q.get("nope"), "no moderation item"),
        (lambda q: q.complain("nope", "ref", "grounds"), "no moderation item or upload"),
        (lambda q: q.list("lost"), "unknown status"),
        (lambda q: q.resolve("nope", "m", "x"), "no complaint"),
    ],
)
def test_bad_requests_are_refused(queue: ModerationQueue, call: object, message: str) -> None:
    with pytest.raises(ModerationError, match=message):
        call(queue)  # type: ignore[operator]


def test_reviewers_cannot_anonymize_or_leave_blanks(queue: ModerationQueue) -> None:
    item = queue.submit(outcome(Decision.HOLD))
    with pytest.raises(ModerationError, match="not anonymize"):
        queue.decide(item.id, "reviewer-3", Decision.ANONYMIZE)
    with pytest.raises(ModerationError, match="reviewer must not be empty"):
        queue.decide(item.id, "  ", Decision.ACCEPT)
    with pytest.raises(ModerationError, match="grounds must not be empty"):
        queue.complain(item.id, "ref", "")


def test_moderation_commands_end_to_end(home: Path, demo_clip: SyntheticClip) -> None:
    screened = runner.invoke(app, ["screen", str(demo_clip.path), "--json",
                                   "--policy", str(_reject_policy(home))])  # fmt: skip
    assert screened.exit_code == 2, screened.output
    (row,) = json.loads(screened.stdout)
    item = row["item_id"]
    complaint = runner.invoke(
        app, ["moderation", "complain", row["sha256"], "--from", "ref-1", "--grounds", "me",
              "--json"],
    )  # fmt: skip
    assert complaint.exit_code == 0, complaint.output
    assert json.loads(complaint.stdout)["item_id"] == item
    decided = runner.invoke(app, ["moderation", "decide", item, "hold", "--reviewer", "r-1"])
    assert decided.exit_code == 0 and "held" in decided.output
    down = runner.invoke(app, ["moderation", "takedown", item, "--by", "m-1", "--reason", "1195"])
    assert down.exit_code == 0, down.output
    shown = runner.invoke(app, ["moderation", "show", item])
    data = json.loads(shown.stdout)
    assert data["status"] == "taken_down" and data["complaints"][0]["outcome"] == "taken_down"
    assert [a["action"] for a in data["actions"]] == [
        "screened", "complaint", "decided", "taken_down",
    ]  # fmt: skip
    stats = json.loads(runner.invoke(app, ["moderation", "stats"]).stdout)
    assert stats["takedowns"] == 1 and stats["median_hours_to_takedown"] is not None
    bad = runner.invoke(app, ["moderation", "decide", item, "maybe", "--reviewer", "r-1"])
    assert bad.exit_code == 1 and "accept, hold or reject" in bad.output
    verify = runner.invoke(app, ["audit", "verify"])
    assert verify.exit_code == 0, verify.output


def _reject_policy(home: Path) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    policy = home / "reject.yaml"
    policy.write_text("decisions:\n  unsigned_with_faces: reject\n")
    return policy
