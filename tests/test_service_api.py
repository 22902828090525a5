"""The HTTP API over real stores (SQLite, and PostgreSQL when configured): token auth and
roles, subject isolation, personal-data access events, consent, audit proofs, moderation."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from bystander.evidence import merkle
from bystander.evidence.audit import AuditLog
from bystander.evidence.events import EventType
from bystander.measure.synthetic import SyntheticClip
from bystander.screening.policy import Decision
from bystander.screening.queue import ModerationQueue
from bystander.screening.screen import PORTRAIT, Reason, ScreenOutcome
from bystander.service.app import create_app
from bystander.service.auth import Role
from bystander.service.settings import ServiceSettings
from tests.helpers import crop, decode_frames, sharpness


@dataclass
class Api:
    client: TestClient
    tokens: dict[str, str]
    engine: Engine

    def as_(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


@pytest.fixture()
def api(engine: Engine, home: Path) -> Iterator[Api]:  # a private home (its keys)
    with TestClient(create_app(ServiceSettings(), engine=engine)) as client:
        store = client.app.state.services.tokens  # type: ignore[attr-defined]
        tokens = {role.value: store.create(role)[1] for role in Role if role is not Role.SUBJECT}
        tokens["alice"] = store.create(Role.SUBJECT, subject_id="ds-alice")[1]
        tokens["bob"] = store.create(Role.SUBJECT, subject_id="ds-bob")[1]
        yield Api(client, tokens, engine)


def events(api: Api, kind: EventType) -> list[dict[str, object]]:
    return [e.event.data for e in AuditLog(api.engine).entries() if e.event.type is kind]


def grant(api: Api, who: str, subject: str, scopes: list[str] | None = None) -> dict[str, object]:
    body = {"subject_id": subject, "scopes": scopes or ["record-video"], "kind": "explicit"}
    response = api.client.post("/api/consent", json=body, headers=api.as_(who))
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_health_needs_no_token_and_everything_else_does(api: Api) -> None:
    assert api.client.get("/health").json()["status"] == "ok"
    for method, path in [
        ("get", "/api/consent"),
        ("get", "/api/audit/events"),
        ("get", "/api/moderation/items"),
        ("get", "/api/tokens"),
        ("get", "/api/consent/check?subject=x&scope=record-video"),
    ]:
        response = api.client.request(method, path)
        assert response.status_code == 401, path
        assert response.json() == {"detail": "a valid API token is required"}
        bad = api.client.request(method, path, headers={"Authorization": "Bearer bst_x_y"})
        assert bad.status_code == 401, path
    assert api.client.get("/openapi.json").status_code == 401  # the documents need a token too
    document = api.client.get("/openapi.json", headers=api.as_("auditor")).json()
    assert "/api/consent/check" in document["paths"]


def test_wrong_roles_are_refused_and_logged(api: Api) -> None:
    for who, path in [
        ("device", "/api/audit/events"),
        ("auditor", "/api/moderation/items"),
        ("moderator", "/api/consent"),
        ("alice", "/api/tokens"),
        ("alice", "/api/consent/check?subject=ds-alice&scope=record-video"),
    ]:
        response = api.client.get(path, headers=api.as_(who))
        assert response.status_code == 403, (who, path)
    denied = events(api, EventType.API_ACCESS_DENIED)
    assert len(denied) == 5 and all("token_id" in d and "path" in d for d in denied)


def test_consent_lifecycle_and_the_fast_check(api: Api) -> None:
    record = grant(api, "device", "ds-alice")
    check = "/api/consent/check?subject=ds-alice&scope=record-video&kind=explicit"
    answer = api.client.get(check, headers=api.as_("device")).json()
    assert answer["allowed"] and answer["record_id"] == record["id"]

    receipt = api.client.get(f"/api/consent/{record['id']}/receipt", headers=api.as_("alice"))
    assert receipt.status_code == 200 and receipt.json()["receipt"].count(".") == 2

    withdrawn = api.client.post(f"/api/consent/{record['id']}/withdraw", headers=api.as_("alice"))
    assert withdrawn.status_code == 200, withdrawn.text
    assert not api.client.get(check, headers=api.as_("device")).json()["allowed"]


def test_a_data_subject_sees_only_their_own_records(api: Api) -> None:
    mine = grant(api, "alice", "ds-alice")
    theirs = grant(api, "device", "ds-bob")
    listed = api.client.get("/api/consent?subject=ds-bob", headers=api.as_("alice")).json()
    assert [r["id"] for r in listed] == [mine["id"]]  # the subject filter is forced to alice
    assert (
        api.client.get(f"/api/consent/{theirs['id']}", headers=api.as_("alice")).status_code == 404
    )
    assert (
        api.client.post(
            f"/api/consent/{theirs['id']}/withdraw", headers=api.as_("alice")
        ).status_code
        == 404
    )
    refused = api.client.post(
        "/api/consent",
        headers=api.as_("alice"),
        json={"subject_id": "ds-bob", "scopes": ["record-video"]},
    )
    assert refused.status_code == 403
    both = api.client.get("/api/consent", headers=api.as_("auditor")).json()
    assert {r["id"] for r in both} == {mine["id"], theirs["id"]}
    reads = events(api, EventType.PERSONAL_DATA_ACCESSED)
    assert len(reads) == 2 and {r["role"] for r in reads} == {"subject", "auditor"}
    assert all("ds-" not in str(r["resource"]) or r["role"] == "subject" for r in reads)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"subject_id": "ds-x", "scopes": ["teleport"]}, 422),
        ({"subject_id": "", "scopes": ["record-video"]}, 422),
        ({"subject_id": "ds-x", "scopes": []}, 422),
        ("not json", 422),
    ],
)
def test_bad_consent_requests(api: Api, body: object, status: int) -> None:
    kwargs = {"json": body} if isinstance(body, dict) else {"content": str(body)}
    response = api.client.post("/api/consent", headers=api.as_("device"), **kwargs)  # type: ignore[arg-type]
    assert response.status_code == status


def test_unknown_records_are_404_in_one_line(api: Api) -> None:
    response = api.client.get("/api/consent/nope", headers=api.as_("auditor"))
    assert response.status_code == 404 and "\n" not in response.json()["detail"]


def test_audit_events_and_proofs_verify(api: Api) -> None:
    for subject in ("ds-a", "ds-b", "ds-c"):
        grant(api, "device", subject)
    page = api.client.get("/api/audit/events?start=0&limit=2", headers=api.as_("auditor")).json()
    assert len(page["events"]) == 2 and page["size"] >= 3
    size = page["size"]
    proof = api.client.get(
        f"/api/audit/proofs/inclusion?index=1&tree_size={size}", headers=api.as_("auditor")
    ).json()
    path = [base64.b64decode(h) for h in proof["proof"]]
    leaf, root = base64.b64decode(proof["leaf_hash"]), base64.b64decode(proof["root_hash"])
    assert merkle.verify_inclusion(leaf, 1, size, path, root)
    assert not merkle.verify_inclusion(leaf, 2, size, path, root)
    checkpoint = api.client.post("/api/audit/checkpoints", headers=api.as_("auditor")).json()
    assert checkpoint["size"] >= size
    grant(api, "device", "ds-d")
    consistency = api.client.get(
        f"/api/audit/proofs/consistency?old_size={size}", headers=api.as_("auditor")
    ).json()
    assert consistency["new_size"] > size
    assert merkle.verify_consistency(
        size,
        consistency["new_size"],
        [base64.b64decode(h) for h in consistency["proof"]],
        base64.b64decode(consistency["old_root"]),
        base64.b64decode(consistency["new_root"]),
    )
    bad = api.client.get(
        f"/api/audit/proofs/inclusion?index={size + 50}", headers=api.as_("auditor")
    )
    assert bad.status_code == 400


def test_moderation_review_and_takedown(api: Api) -> None:
    queue = ModerationQueue(api.engine, AuditLog(api.engine))
    held = queue.submit(
        ScreenOutcome(
            "u.mp4",
            hashlib.sha256(b"u").hexdigest(),
            1,
            Decision.HOLD,
            "tampered",
            (Reason("tampered", PORTRAIT),),
        )
    )
    mod = api.as_("moderator")
    listed = api.client.get("/api/moderation/items?status=held", headers=mod).json()
    assert [i["id"] for i in listed] == [held.id]
    complaint = api.client.post(
        "/api/moderation/complaints",
        headers=mod,
        json={"target": held.sha256, "complainant": "ref-1", "grounds": "me"},
    )
    assert complaint.status_code == 201 and complaint.json()["item_id"] == held.id
    decided = api.client.post(
        f"/api/moderation/items/{held.id}/decision",
        headers=mod,
        json={"decision": "reject", "note": "covert"},
    )
    assert decided.json()["status"] == "rejected"
    down = api.client.post(
        f"/api/moderation/items/{held.id}/takedown", headers=mod, json={"reason": "notice upheld"}
    )
    assert down.json()["status"] == "taken_down"
    again = api.client.post(
        f"/api/moderation/items/{held.id}/takedown", headers=mod, json={"reason": "again"}
    )
    assert again.status_code == 409
    assert api.client.get("/api/moderation/items/nope", headers=mod).status_code == 404
    stats = api.client.get("/api/moderation/stats", headers=mod).json()
    assert stats["takedowns"] == 1 and stats["open_complaints"] == 0


def test_tokens_are_admin_only_and_revocation_applies_at_once(api: Api) -> None:
    admin = api.as_("admin")
    created = api.client.post("/api/tokens", headers=admin, json={"role": "device"}).json()
    secret, token_id = created["token"], created["token_id"]
    assert (
        api.client.get("/api/tokens/me", headers={"Authorization": f"Bearer {secret}"}).json()[
            "role"
        ]
        == "device"
    )
    listed = api.client.get("/api/tokens", headers=admin).json()
    assert all("token" not in t for t in listed) and token_id in {t["token_id"] for t in listed}
    assert api.client.delete(f"/api/tokens/{token_id}", headers=admin).status_code == 204
    gone = api.client.get("/api/tokens/me", headers={"Authorization": f"Bearer {secret}"})
    assert gone.status_code == 401
    subject = api.client.post("/api/tokens", headers=admin, json={"role": "subject"})
    assert subject.status_code == 400 and "--subject" in subject.json()["detail"]


def test_the_api_takes_only_bearer_tokens_and_the_dashboard_takes_the_cookie(api: Api) -> None:
    api.client.cookies.set("bystander_token", api.tokens["moderator"])
    assert api.client.get("/api/moderation/items").status_code == 401  # no cookies on /api
    assert api.client.get("/ui/api/moderation/items").status_code == 200
    api.client.cookies.clear()


# --- protect jobs -----------------------------------------------------------------------------


def wait_for(api: Api, job_id: str, who: str = "device") -> dict[str, object]:
    import time

    for _ in range(600):
        job = api.client.get(f"/api/jobs/{job_id}", headers=api.as_(who)).json()
        if job["state"] in ("done", "failed"):
            return job  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


def test_protect_job_upload_progress_and_download(
    api: Api, demo_clip: SyntheticClip, tmp_path: Path
) -> None:
    with demo_clip.path.open("rb") as handle:
        started = api.client.post(
            "/api/protect", headers=api.as_("device"), files={"file": ("x.bin", handle)}
        )
    assert started.status_code == 202, started.text
    job = wait_for(api, started.json()["id"])
    assert job["state"] == "done" and job["progress"] == 1.0, job
    output = api.client.get(f"/api/jobs/{job['id']}/files/output", headers=api.as_("device"))
    assert output.status_code == 200
    protected = tmp_path / "protected.mp4"
    protected.write_bytes(output.content)
    frames = decode_frames(protected)
    assert len(frames) == len(demo_clip.face_boxes)
    original = decode_frames(demo_clip.path)
    box = demo_clip.face_boxes[-1]
    assert sharpness(crop(frames[-1], box)) < 0.25 * sharpness(crop(original[-1], box))
    report = api.client.get(f"/api/jobs/{job['id']}/files/report", headers=api.as_("device")).json()
    assert report["summary"]["regions_redacted"] > 0
    # another device's token does not see the job
    other = api.client.post("/api/tokens", headers=api.as_("admin"), json={"role": "device"})
    stranger = {"Authorization": f"Bearer {other.json()['token']}"}
    assert api.client.get(f"/api/jobs/{job['id']}", headers=stranger).status_code == 404


def test_uploads_are_typed_by_content_and_size_limited(api: Api, demo_clip: SyntheticClip) -> None:
    text = api.client.post(
        "/api/protect", headers=api.as_("device"), files={"file": ("clip.mp4", b"hello" * 100)}
    )
    assert text.status_code == 415 and "checked by content" in text.json()["detail"]
    services = api.client.app.state.services  # type: ignore[attr-defined]
    services.settings = ServiceSettings(max_upload_bytes=1000)
    big = api.client.post(
        "/api/protect",
        headers=api.as_("device"),
        files={"file": ("clip.mp4", demo_clip.path.read_bytes())},
    )
    assert big.status_code == 413
    assert api.client.post("/api/protect", headers=api.as_("alice")).status_code == 403


def test_a_corrupt_video_fails_its_job_cleanly(api: Api, demo_clip: SyntheticClip) -> None:
    damaged = demo_clip.path.read_bytes()[:5000]  # an MP4 header, then nothing
    started = api.client.post(
        "/api/protect", headers=api.as_("device"), files={"file": ("a.mp4", damaged)}
    )
    assert started.status_code == 202
    job = wait_for(api, started.json()["id"])
    assert job["state"] == "failed" and "\n" not in str(job["message"])
    gone = api.client.get(f"/api/jobs/{job['id']}/files/output", headers=api.as_("device"))
    assert gone.status_code == 409


# --- inspections ------------------------------------------------------------------------------


def _zip_bundle(folder: Path, target: Path) -> Path:
    import zipfile

    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted(folder.rglob("*")):
            archive.write(path, Path("bundle") / path.relative_to(folder))
    return target


EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "bundles" / "glasses-compliant"


def test_inspection_job_findings_report_and_pia(api: Api, tmp_path: Path) -> None:
    archive = _zip_bundle(EXAMPLE, tmp_path / "bundle.zip")
    started = api.client.post(
        "/api/inspections",
        headers=api.as_("auditor"),
        files={"file": ("b.zip", archive.read_bytes())},
        data={"date": "2026-11-22"},  # pinned: the example's retention falls due later
    )
    assert started.status_code == 202, started.text
    job = wait_for(api, started.json()["id"], who="auditor")
    assert job["state"] == "done", job
    assert job["result"]["violations"] == 0  # the example device is compliant
    base = f"/api/jobs/{job['id']}/files"
    findings = api.client.get(f"{base}/findings", headers=api.as_("auditor")).json()
    assert findings["findings"]
    report = api.client.get(f"{base}/report", headers=api.as_("auditor"))
    assert report.headers["content-type"].startswith("text/html") and "<html" in report.text
    assert "<html" in api.client.get(f"{base}/pia", headers=api.as_("auditor")).text
    assert api.client.get(f"{base}/nope", headers=api.as_("auditor")).status_code == 404


def test_bad_bundle_archives_are_refused(api: Api, tmp_path: Path) -> None:
    import zipfile

    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("../../escape.txt", "x")
    for content, status in [(evil.read_bytes(), 400), (b"plain text", 415), (b"PK\x03\x04xx", 400)]:
        response = api.client.post(
            "/api/inspections", headers=api.as_("auditor"), files={"file": ("b.zip", content)}
        )
        assert response.status_code == status, response.text
    assert api.client.post("/api/inspections", headers=api.as_("device")).status_code == 403


def test_screening_an_upload_lands_in_the_queue_side_by_side(
    api: Api, demo_clip: SyntheticClip
) -> None:
    mod = api.as_("moderator")
    started = api.client.post(
        "/api/moderation/uploads",
        headers=mod,
        files={"file": ("c.mp4", demo_clip.path.read_bytes())},
    )
    assert started.status_code == 202, started.text
    job = wait_for(api, started.json()["id"], who="moderator")
    assert job["state"] == "done" and job["result"]["decision"] == "anonymize", job
    item = job["result"]["item_id"]
    original = api.client.get(f"/api/moderation/items/{item}/media/original", headers=mod)
    anonymized = api.client.get(f"/api/moderation/items/{item}/media/anonymized", headers=mod)
    # not held for review: the original was destroyed when the job ended, and logged
    assert original.status_code == 404 and "no longer stored" in original.json()["detail"]
    assert anonymized.status_code == 200
    assert anonymized.content != demo_clip.path.read_bytes()
    deleted = events(api, EventType.RETENTION_DELETED)
    assert any(e.get("data_category") == "user.media.recording.original" for e in deleted)
    for who in ("auditor", "alice"):
        denied = api.client.get(
            f"/api/moderation/items/{item}/media/original", headers=api.as_(who)
        )
        assert denied.status_code == 403
    reads = events(api, EventType.PERSONAL_DATA_ACCESSED)
    assert [r["resource"] for r in reads] == [f"moderation-original:{item}"]


# --- enrolment --------------------------------------------------------------------------------


def _photo() -> bytes:
    import io

    from PIL import Image

    from bystander.measure.synthetic import astronaut_head

    buffer = io.BytesIO()
    Image.fromarray(astronaut_head()[0]).save(buffer, format="PNG")
    return buffer.getvalue()


def test_enrolment_needs_separate_consent_and_never_exports(api: Api) -> None:
    dev = api.as_("device")
    form = {"subject_id": "ds-alice"}
    refused = api.client.post(
        "/api/enrolment", headers=dev, data=form, files={"photo": ("me.png", _photo())}
    )
    assert refused.status_code == 400 and "face-enrolment" in refused.json()["detail"]
    grant(api, "alice", "ds-alice", ["face-enrolment"])  # explicit, not separate
    api.client.post(
        "/api/consent",
        headers=dev,
        json={"subject_id": "ds-alice", "scopes": ["face-enrolment"], "kind": "separate"},
    )
    made = api.client.post(
        "/api/enrolment", headers=dev, data=form, files={"photo": ("me.png", _photo())}
    )
    assert made.status_code == 201, made.text
    template = made.json()["template_id"]
    listed = api.client.get("/api/enrolment", headers=dev).json()
    assert [t["template_id"] for t in listed] == [template]
    assert all("vector" not in t and "ciphertext" not in t for t in listed)
    export = api.client.get(f"/api/enrolment/{template}/export", headers=api.as_("admin"))
    assert export.status_code == 403 and "never leave" in export.json()["detail"]
    assert events(api, EventType.TEMPLATE_ACCESS_REFUSED)
    text = api.client.post(
        "/api/enrolment", headers=dev, data=form, files={"photo": ("me.png", b"not an image")}
    )
    assert text.status_code == 415
    assert api.client.delete("/api/enrolment/ds-alice", headers=dev).json() == {"deleted": 1}


# --- capture sessions -------------------------------------------------------------------------

PROFILE_YAML = (Path(__file__).resolve().parents[1] / "examples" / "glasses.yaml").read_text()


def test_capture_session_start_preview_status_and_recording(
    api: Api, demo_clip: SyntheticClip
) -> None:
    dev = api.as_("device")
    api.client.post(
        "/api/consent",
        headers=dev,
        json={
            "subject_id": "wearer-1",
            "scopes": ["record-video", "live-stream"],
            "kind": "explicit",
        },
    )
    started = api.client.post(
        "/api/capture/sessions",
        headers=dev,
        data={"profile": PROFILE_YAML, "preview": "true", "sign": "false"},
        files={"source": ("clip.mp4", demo_clip.path.read_bytes())},
    )
    assert started.status_code == 202, started.text
    job_id = started.json()["id"]
    done = wait_for(api, job_id)
    assert done["state"] == "done", done
    status = api.client.get(f"/api/capture/sessions/{job_id}", headers=dev).json()
    assert status["released"] > 0 and status["fault"] is None and status["preview_frames"] > 0
    jpeg = api.client.get(f"/api/capture/sessions/{job_id}/preview.jpg", headers=dev)
    assert jpeg.headers["content-type"] == "image/jpeg" and jpeg.content[:3] == b"\xff\xd8\xff"
    recording = api.client.get(f"/api/jobs/{job_id}/files/recording", headers=dev)
    assert recording.status_code == 200 and recording.content[4:8] == b"ftyp"
    kinds = {e.event.type for e in AuditLog(api.engine).entries()}
    assert {EventType.CAPTURE_ARMED, EventType.FIRST_FRAME, EventType.CAPTURE_STOPPED} <= kinds


def test_capture_without_consent_is_refused_by_the_guard(
    api: Api, demo_clip: SyntheticClip
) -> None:
    started = api.client.post(
        "/api/capture/sessions",
        headers=api.as_("device"),
        data={"profile": PROFILE_YAML, "sign": "false"},
        files={"source": ("clip.mp4", demo_clip.path.read_bytes())},
    )
    job = wait_for(api, started.json()["id"])
    assert job["state"] == "failed" and "capture refused (R10)" in str(job["message"])
    bad = api.client.post(
        "/api/capture/sessions",
        headers=api.as_("device"),
        data={"profile": "device_id: [", "sign": "false"},
        files={"source": ("clip.mp4", demo_clip.path.read_bytes())},
    )
    assert bad.status_code == 400


def test_an_inspection_date_must_be_a_day(api: Api, tmp_path: Path) -> None:
    archive = _zip_bundle(EXAMPLE, tmp_path / "bundle.zip")
    refused = api.client.post(
        "/api/inspections",
        headers=api.as_("auditor"),
        files={"file": ("b.zip", archive.read_bytes())},
        data={"date": "next tuesday"},
    )
    assert refused.status_code == 422 and "2026-12-31" in refused.json()["detail"]


def test_what_the_service_logs_is_covered_by_a_signed_checkpoint(
    engine: Engine, home: Path
) -> None:
    with TestClient(create_app(ServiceSettings(), engine=engine)) as client:
        store = client.app.state.services.tokens  # type: ignore[attr-defined]
        admin = {"Authorization": f"Bearer {store.create(Role.ADMIN)[1]}"}
        body = {"subject_id": "ds-cover", "scopes": ["record-video"], "kind": "explicit"}
        assert client.post("/api/consent", json=body, headers=admin).status_code == 201
        log = AuditLog(engine)
        for _ in range(200):  # the sealer signs about once a second while serving
            latest = log.latest_checkpoint()
            if latest is not None and latest.size == log.size():
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the service left its entries uncovered while serving")
        assert client.post("/api/consent", json=body | {"subject_id": "ds-late"},
                           headers=admin).status_code == 201  # fmt: skip
    # shutting down covers the last entries
    log = AuditLog(engine)
    latest = log.latest_checkpoint()
    assert latest is not None and latest.size == log.size()
