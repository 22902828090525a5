"""Capture guard with the real consent store (R10): arming needs consent, withdrawal stops."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from bystander.consent.models import ConsentKind, Scope
from bystander.consent.store import ConsentStore
from bystander.evidence.events import EventType, MemorySink
from bystander.guard.session import CaptureRefused, State, WithdrawalListener
from tests.guard_rig import Rig, assert_invariants, profile


def test_arming_needs_the_wearers_consent(engine: Engine) -> None:
    store = ConsentStore(engine)
    rig = Rig(consents=store, profile=profile(ai=True))
    with pytest.raises(CaptureRefused) as caught:
        rig.session.start()
    assert caught.value.rule == "R10" and "record-video" in caught.value.reason
    store.grant("wearer-1", [Scope.RECORD_VIDEO, Scope.RECORD_AUDIO])
    with pytest.raises(CaptureRefused, match="ai-processing"):
        rig.session.start()
    ai = store.grant("wearer-1", [Scope.AI_PROCESSING])
    rig.session.start()
    armed = rig.one(EventType.CAPTURE_ARMED)
    assert ai.id in armed.data["consents"] and len(armed.data["consents"]) == 2
    refusals = rig.events(EventType.CAPTURE_REFUSED)
    assert [e.data["rule"] for e in refusals] == ["R10", "R10"]
    assert len({e.session_id for e in rig.sink.events}) == 3  # one id per attempt


def test_withdrawal_mid_capture_stops_and_queues_deletion(engine: Engine) -> None:
    audit = MemorySink()
    listener = WithdrawalListener(audit)
    store = ConsentStore(engine, sink=listener)
    record = store.grant("wearer-1", [Scope.RECORD_VIDEO], kind=ConsentKind.GENERAL)
    rig = Rig(consents=store)
    listener.sessions.append(rig.session)
    session_id = rig.session.start(audio=False)
    rig.capture()
    rig.step(33)
    released = rig.session.released
    result = store.withdraw(record.id)  # the store tells the listener, the listener the session
    assert rig.session.state is State.FAULT
    fault = rig.one(EventType.CAPTURE_FAULT)
    assert fault.data["rule"] == "R10" and record.id in (fault.reason or "")
    assert [(t.data_kind, t.item_id) for t in result.tasks] == [("capture-session", session_id)]
    assert [t.item_id for t in store.pending_deletions()] == [session_id]
    assert any(e.type is EventType.DELETION_QUEUED for e in audit.events)
    rig.step(33)
    assert rig.session.released == released
    assert_invariants(rig)
