"""Consent badges: a face above a valid badge stays visible; everything else is redacted."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest
import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine
from typer.testing import CliRunner

from bystander.badges.attach import attach, candidates
from bystander.badges.detect import Badge, find_badges
from bystander.badges.policy import BadgeConsent
from bystander.badges.render import caption_lines, render_badge, write_badge
from bystander.badges.tokens import (
    PREFIX,
    BadgeError,
    BadgeRegistry,
    BadgeToken,
    verify_payload,
)
from bystander.cli import badge_cmd
from bystander.consent.models import ConsentRecord, Scope
from bystander.consent.store import ConsentStore
from bystander.evidence.db import init_db, make_engine
from bystander.measure.synthetic import astronaut_head, background, paste
from bystander.vision.detections import Detections

Frame = npt.NDArray[np.uint8]
SUBJECT = "ds-badge-7f3a"


# --- scene helpers ---------------------------------------------------------------------------


def _head(scale: float = 2.0) -> tuple[Frame, tuple[float, float, float, float]]:
    head, (x1, y1, x2, y2) = astronaut_head()
    big = cv2.resize(head, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(big), (x1 * scale, y1 * scale, x2 * scale, y2 * scale)


def _prepare(badge: Frame, width: int, angle: float = 7.0) -> Frame:
    """Scale the printed badge to ``width`` pixels and tilt it slightly (white background)."""
    height = round(badge.shape[0] * width / badge.shape[1])
    small = cv2.resize(badge, (width, height), interpolation=cv2.INTER_AREA)
    turn = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    tilted = cv2.warpAffine(small, turn, (width, height), borderValue=(255, 255, 255))
    return np.ascontiguousarray(tilted, dtype=np.uint8)


def _jpeg(frame: Frame, quality: int = 80) -> Frame:
    ok, data = cv2.imencode(
        ".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    assert ok
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)
    assert decoded is not None
    return np.ascontiguousarray(cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB), dtype=np.uint8)


def scene(
    heads_x: list[int],
    badges: list[tuple[Frame, int]] = (),  # type: ignore[assignment]
    badge_width: int = 220,
    head_scale: float = 2.0,
) -> tuple[Frame, Detections]:
    """Heads at ``heads_x`` (top 20), badges centred at x, just below the chins; JPEG'd."""
    frame = background(1280, 720)
    head, (fx1, fy1, fx2, fy2) = _head(head_scale)
    boxes = []
    for x in heads_x:
        paste(frame, head, x, 20)
        boxes.append([x + fx1, 20 + fy1, x + fx2, 20 + fy2])
    chin = int(20 + fy2)
    for image, centre_x in badges:
        patch = _prepare(image, badge_width)
        paste(frame, patch, centre_x - patch.shape[1] // 2, chin + 30)
    return _jpeg(frame), Detections.from_boxes(boxes, scores=[0.9] * len(boxes))


def _face_centre(faces: Detections, index: int) -> int:
    x1, _, x2, _ = (float(v) for v in faces.xyxy[index])
    return round((x1 + x2) / 2)


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture()
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture()
def registry(tmp_path: Path) -> BadgeRegistry:
    return BadgeRegistry(tmp_path / "badges.json")


@pytest.fixture()
def store(engine: Engine) -> ConsentStore:
    return ConsentStore(engine)


@pytest.fixture()
def record(store: ConsentStore) -> ConsentRecord:
    return store.grant(SUBJECT, [Scope.RECORD_VIDEO])


@pytest.fixture()
def gate(store: ConsentStore, registry: BadgeRegistry, key: Ed25519PrivateKey) -> BadgeConsent:
    return BadgeConsent(store, registry, key.public_key())


def _now() -> datetime:
    return datetime.now(UTC)


# --- detection and attachment ----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["qr", "aruco"])
def test_badge_below_a_face_is_found_and_attached(
    kind: str, record: ConsentRecord, registry: BadgeRegistry, key: Ed25519PrivateKey
) -> None:
    token = registry.issue(record.id, kind=kind)  # type: ignore[arg-type]
    _, head_faces = scene([400])
    frame, faces = scene([400], [(render_badge(token, key), _face_centre(head_faces, 0))])
    found = find_badges(frame)
    assert len(found) == 1
    badge = found[0]
    assert badge.kind == kind
    if kind == "qr":
        assert verify_payload(badge.data, registry, key.public_key()).token_id == token.token_id
    else:
        assert badge.data == str(token.marker_id)
    assert attach(found, faces) == {0: badge}


def test_small_qr_badge_is_read_from_an_upscaled_crop(
    record: ConsentRecord, registry: BadgeRegistry, key: Ed25519PrivateKey, gate: BadgeConsent
) -> None:
    """A 140-pixel badge (about 2 pixels per QR module) under a 90-pixel-wide face."""
    token = registry.issue(record.id)
    _, head_faces = scene([400], head_scale=1.0)
    centre = _face_centre(head_faces, 0)
    frame, faces = scene([400], [(render_badge(token, key), centre)], 140, head_scale=1.0)
    outcome = gate.visible(frame, faces, _now())
    assert [b.kind for b in outcome.badges] == ["qr"]
    assert outcome.faces == {0}


def test_no_badge_means_nothing(gate: BadgeConsent) -> None:
    frame, faces = scene([200, 700])
    assert find_badges(frame) == []
    outcome = gate.visible(frame, faces, _now())
    assert outcome.faces == frozenset()
    assert outcome.reasons == {}


def _fake(kind: str, data: str, box: tuple[float, float, float, float]) -> Badge:
    x1, y1, x2, y2 = box
    corners = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], dtype=np.float32)
    return Badge(kind, data, corners, box)  # type: ignore[arg-type]


def test_badge_between_two_faces_attaches_to_none() -> None:
    faces = Detections.from_boxes([[100, 50, 200, 180], [230, 50, 330, 180]])
    between = _fake("aruco", "5", (185, 260, 245, 320))
    assert attach([between], faces) == {}
    under_first = _fake("aruco", "5", (120, 260, 180, 320))
    assert attach([under_first], faces) == {0: under_first}


def test_face_with_two_different_badges_gets_none() -> None:
    faces = Detections.from_boxes([[100, 50, 200, 180]])
    one = _fake("aruco", "5", (110, 260, 150, 300))
    other = _fake("aruco", "6", (155, 260, 195, 300))
    assert attach([one, other], faces) == {}
    assert attach([one, one], faces) == {0: one}


def test_badge_far_from_or_above_a_face_attaches_to_none() -> None:
    faces = np.array([[100, 200, 200, 330]], dtype=np.float32)
    assert attach([_fake("qr", "x", (120, 20, 180, 80))], faces) == {}  # above the face
    assert attach([_fake("qr", "x", (120, 900, 180, 960))], faces) == {}  # far below
    assert attach([_fake("qr", "x", (500, 400, 560, 460))], faces) == {}  # to one side
    assert candidates(_fake("qr", "x", (120, 400, 180, 460)), faces) == [0]


def test_detector_errors_mean_no_badges(
    monkeypatch: pytest.MonkeyPatch,
    record: ConsentRecord,
    registry: BadgeRegistry,
    key: Ed25519PrivateKey,
    gate: BadgeConsent,
) -> None:
    token = registry.issue(record.id, kind="aruco")
    _, head_faces = scene([400])
    frame, faces = scene([400], [(render_badge(token, key), _face_centre(head_faces, 0))])
    assert gate.visible(frame, faces, _now()).faces == {0}

    def broken(*_args: object, **_kwargs: object) -> object:
        raise cv2.error("simulated detector failure")

    monkeypatch.setattr(cv2.aruco, "ArucoDetector", broken)
    assert find_badges(frame) == []
    assert gate.visible(frame, faces, _now()).faces == frozenset()
    assert find_badges(np.zeros((0, 0, 3), dtype=np.uint8)) == []


def test_consent_store_failure_means_no_face_visible(
    monkeypatch: pytest.MonkeyPatch,
    record: ConsentRecord,
    registry: BadgeRegistry,
    gate: BadgeConsent,
) -> None:
    token = registry.issue(record.id, kind="aruco")
    faces = Detections.from_boxes([[100, 50, 200, 180]])
    badge = _fake("aruco", str(token.marker_id), (120, 260, 180, 320))
    assert gate.visible(np.zeros((8, 8, 3), np.uint8), faces, _now(), [badge]).faces == {0}

    def down(*_args: object, **_kwargs: object) -> object:
        raise RuntimeError("database is gone")

    monkeypatch.setattr(gate.store, "get", down)
    assert gate.visible(np.zeros((8, 8, 3), np.uint8), faces, _now(), [badge]).faces == set()


# --- validity --------------------------------------------------------------------------------


@pytest.fixture()
def qr_scene(
    record: ConsentRecord, registry: BadgeRegistry, key: Ed25519PrivateKey
) -> tuple[Frame, Detections, BadgeToken]:
    token = registry.issue(record.id, kind="qr", expires=_now() + timedelta(hours=1))
    _, head_faces = scene([150, 800])
    badge = render_badge(token, key)
    frame, faces = scene([150, 800], [(badge, _face_centre(head_faces, 1))])
    return frame, faces, token


def test_badge_shown_keeps_that_face_visible_only(
    gate: BadgeConsent, qr_scene: tuple[Frame, Detections, BadgeToken]
) -> None:
    frame, faces, token = qr_scene
    outcome = gate.visible(frame, faces, _now())
    assert outcome.faces == {1}
    assert token.token_id in outcome.reasons[1]
    assert SUBJECT not in outcome.reasons[1]


def test_revoked_badge_is_redacted(
    gate: BadgeConsent, registry: BadgeRegistry, qr_scene: tuple[Frame, Detections, BadgeToken]
) -> None:
    frame, faces, token = qr_scene
    registry.revoke(token.token_id)
    outcome = gate.visible(frame, faces, _now())
    assert outcome.faces == frozenset()
    assert "revoked" in outcome.verdicts[1].reason


def test_withdrawn_consent_is_redacted(
    gate: BadgeConsent,
    store: ConsentStore,
    record: ConsentRecord,
    qr_scene: tuple[Frame, Detections, BadgeToken],
) -> None:
    frame, faces, _ = qr_scene
    store.withdraw(record.id)
    outcome = gate.visible(frame, faces, _now())
    assert outcome.faces == frozenset()
    assert "not valid" in outcome.verdicts[1].reason


def test_expired_badge_is_redacted(
    gate: BadgeConsent, qr_scene: tuple[Frame, Detections, BadgeToken]
) -> None:
    frame, faces, token = qr_scene
    later = token.expires_at + timedelta(seconds=1)
    outcome = gate.visible(frame, faces, later)
    assert outcome.faces == frozenset()
    assert "expired" in outcome.verdicts[1].reason


def test_expired_consent_is_redacted(
    store: ConsentStore, registry: BadgeRegistry, gate: BadgeConsent
) -> None:
    start = _now()
    short = store.grant(SUBJECT, [Scope.RECORD_VIDEO], expires=start + timedelta(minutes=5))
    now = _now()
    token = registry.issue(short.id, kind="aruco", expires=now + timedelta(hours=1))
    badge = _fake("aruco", str(token.marker_id), (120, 260, 180, 320))
    assert gate.check_badge(badge, now).valid
    verdict = gate.check_badge(badge, now + timedelta(minutes=10))
    assert not verdict.valid


def test_badge_for_another_scope_is_redacted(
    store: ConsentStore, registry: BadgeRegistry, gate: BadgeConsent
) -> None:
    record = store.grant(SUBJECT, [Scope.RECORD_VIDEO, Scope.LIVE_STREAM])
    token = registry.issue(record.id, kind="aruco", scope=Scope.LIVE_STREAM)
    badge = _fake("aruco", str(token.marker_id), (120, 260, 180, 320))
    verdict = gate.check_badge(badge, _now())
    assert not verdict.valid
    assert "live-stream" in verdict.reason


def test_revoked_aruco_id_is_unknown(
    record: ConsentRecord, registry: BadgeRegistry, gate: BadgeConsent
) -> None:
    token = registry.issue(record.id, kind="aruco")
    badge = _fake("aruco", str(token.marker_id), (0, 0, 1, 1))
    assert gate.check_badge(badge, _now()).valid
    registry.revoke(token.token_id)
    assert not gate.check_badge(badge, _now()).valid
    assert token.marker_id is not None
    unknown = str((token.marker_id + 1) % 250)
    assert not gate.check_badge(_fake("aruco", unknown, (0, 0, 1, 1)), _now()).valid


# --- forgery ---------------------------------------------------------------------------------


def test_forged_qr_payloads_are_rejected(
    record: ConsentRecord, registry: BadgeRegistry, key: Ed25519PrivateKey, gate: BadgeConsent
) -> None:
    token = registry.issue(record.id)
    other = registry.issue(record.id, expires=token.expires_at)
    good = token.payload(key)
    assert verify_payload(good, registry, key.public_key()) == token
    token_id, expiry, signature = good[len(PREFIX) :].split(".")
    later = str(int(expiry) + 86_400)
    flipped = ("A" if signature[5] != "A" else "B").join((signature[:5], signature[6:]))
    forgeries = [
        f"{PREFIX}{token_id}.{later}.{signature}",  # expiry pushed back
        f"{PREFIX}{other.token_id}.{expiry}.{signature}",  # another token, same signature
        f"{PREFIX}{token_id}.{expiry}.{flipped}",  # signature altered
        token.payload(Ed25519PrivateKey.generate()),  # signed by another key
        f"{PREFIX}{token_id}.{expiry}",  # truncated
        "https://example.com/badge",  # not ours
        f"{PREFIX}deadbeef00.{expiry}.{signature}",  # unknown token
    ]
    for forged in forgeries:
        with pytest.raises(BadgeError):
            verify_payload(forged, registry, key.public_key())
        assert not gate.check_badge(_fake("qr", forged, (0, 0, 1, 1)), _now()).valid


def test_badge_signed_by_another_key_keeps_the_face_redacted(
    record: ConsentRecord, registry: BadgeRegistry, gate: BadgeConsent
) -> None:
    token = registry.issue(record.id)
    stolen_key = Ed25519PrivateKey.generate()
    _, head_faces = scene([400])
    frame, faces = scene([400], [(render_badge(token, stolen_key), _face_centre(head_faces, 0))])
    outcome = gate.visible(frame, faces, _now())
    assert len(outcome.badges) == 1
    assert outcome.faces == frozenset()
    assert "signature" in outcome.verdicts[0].reason


# --- registry and rendering ------------------------------------------------------------------


def test_aruco_ids_are_unique_among_live_tokens(registry: BadgeRegistry) -> None:
    tokens = [registry.issue(f"rec-{i}", kind="aruco") for i in range(20)]
    assert len({t.marker_id for t in tokens}) == 20
    assert all(t.marker_id is not None and 0 <= t.marker_id < 250 for t in tokens)
    reloaded = BadgeRegistry(registry.path).tokens()
    assert reloaded == tokens


def test_revocation_by_another_process_applies_at_once(
    record: ConsentRecord, registry: BadgeRegistry, gate: BadgeConsent
) -> None:
    token = registry.issue(record.id, kind="aruco")
    badge = _fake("aruco", str(token.marker_id), (0, 0, 1, 1))
    assert gate.check_badge(badge, _now()).valid
    BadgeRegistry(registry.path).revoke(token.token_id)  # e.g. the CLI, elsewhere
    assert not gate.check_badge(badge, _now()).valid


def test_registry_rejects_bad_input(registry: BadgeRegistry) -> None:
    with pytest.raises(BadgeError):
        registry.issue("rec-1", expires=_now() - timedelta(seconds=1))
    with pytest.raises(BadgeError):
        registry.revoke("nope")
    registry.path.write_text("{not json", encoding="utf-8")
    with pytest.raises(BadgeError):
        registry.tokens()


def test_rendered_badge_carries_no_personal_data(
    record: ConsentRecord, registry: BadgeRegistry, key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    token = registry.issue(record.id)
    text = " ".join(caption_lines(token))
    assert SUBJECT not in text and record.id not in text
    assert record.id not in token.payload(key) and SUBJECT not in token.payload(key)
    image = render_badge(token, key)
    write_badge(tmp_path / "badge.png", image)
    assert (tmp_path / "badge.png").stat().st_size > 1000


# --- CLI -------------------------------------------------------------------------------------


def _cli() -> typer.Typer:
    app = typer.Typer()
    badge_cmd.register(app)
    return app


def test_cli_issue_list_check_revoke(home: Path, tmp_path: Path) -> None:
    engine = make_engine()
    init_db(engine)
    record = ConsentStore(engine).grant(SUBJECT, [Scope.RECORD_VIDEO])
    engine.dispose()
    runner = CliRunner()
    app = _cli()
    out = tmp_path / "badge.png"
    issued = runner.invoke(app, ["badge", "issue", record.id, "-o", str(out), "--json"])
    assert issued.exit_code == 0, issued.output
    token = json.loads(issued.stdout)
    assert out.exists() and token["kind"] == "qr" and token["live"]

    listed = runner.invoke(app, ["badge", "list", "--json"])
    assert [t["token_id"] for t in json.loads(listed.stdout)] == [token["token_id"]]

    checked = runner.invoke(app, ["badge", "check", str(out), "--json"])
    assert checked.exit_code == 0, checked.output
    rows = json.loads(checked.stdout)
    assert [(r["token_id"], r["valid"]) for r in rows] == [(token["token_id"], True)]

    revoked = runner.invoke(app, ["badge", "revoke", token["token_id"]])
    assert revoked.exit_code == 0 and "revoked" in revoked.stdout
    checked = runner.invoke(app, ["badge", "check", str(out)])
    assert checked.exit_code == 1
    assert "invalid" in checked.stdout and "revoked" in checked.stdout
    assert "no badges" in runner.invoke(app, ["badge", "list"]).stdout


def test_cli_refuses_badges_for_missing_or_withdrawn_consent(home: Path, tmp_path: Path) -> None:
    engine = make_engine()
    init_db(engine)
    store = ConsentStore(engine)
    record = store.grant(SUBJECT, [Scope.RECORD_VIDEO])
    store.withdraw(record.id)
    engine.dispose()
    runner = CliRunner()
    app = _cli()
    for record_id in (record.id, "no-such-record"):
        result = runner.invoke(app, ["badge", "issue", record_id, "-o", str(tmp_path / "b.png")])
        assert result.exit_code != 0
        assert not (tmp_path / "b.png").exists()
