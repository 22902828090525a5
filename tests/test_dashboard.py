"""The web dashboard in headless Chromium (the Debian package, driven by Playwright): the
consent -> capture -> audit -> inspect flow, the moderation flow, roles and CSRF."""

from __future__ import annotations

import hashlib
import re
import shutil
import socket
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from bystander.consent.models import ConsentKind, Scope
from bystander.consent.store import ConsentStore
from bystander.evidence.audit import AuditLog
from bystander.measure.synthetic import SyntheticClip
from bystander.screening.policy import load_policy
from bystander.screening.queue import ModerationQueue
from bystander.screening.screen import Screener
from bystander.service.app import create_app
from bystander.service.auth import Role
from bystander.service.settings import ServiceSettings

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "bundles" / "glasses-compliant"


@dataclass
class Site:
    url: str
    tokens: dict[str, str]
    engine: Engine


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture()
def site(engine: Engine, home: Path) -> Iterator[Site]:
    # a private home: the service signs audit checkpoints with the home's key, which must not
    # become the "device key" other tests' exports are checked against
    app = create_app(ServiceSettings(), engine=engine)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    tokens_store = app.state.services.tokens
    tokens = {r.value: tokens_store.create(r)[1] for r in Role if r is not Role.SUBJECT}
    tokens["alice"] = tokens_store.create(Role.SUBJECT, subject_id="ds-alice")[1]
    yield Site(f"http://127.0.0.1:{port}", tokens, engine)
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        yield chromium
        chromium.close()


def login(browser: Any, site: Site, who: str) -> Any:
    page = browser.new_page()
    page.goto(f"{site.url}/consents")
    assert page.url.endswith("/login")  # not logged in: sent to the login page
    page.fill("input[name=token]", site.tokens[who])
    page.click("button[type=submit]")
    page.wait_for_url("**/consents")
    return page


def test_consent_capture_audit_inspect_flow(
    browser: Any, site: Site, tmp_path: Path, demo_clip: SyntheticClip, monkeypatch: Any
) -> None:
    page = login(browser, site, "admin")
    # consent: grant through the form, see it, withdraw it
    page.fill("input[name=subject_id]", "wearer-1")
    page.select_option("select[name=scope]", "record-video")
    page.select_option("select[name=kind]", "explicit")
    page.click("text=Grant")
    row = page.locator("#consents tr", has_text="wearer-1")
    assert "ConsentGiven" in row.inner_text()

    # capture: start a guarded session from the page, watch the protected preview
    page.fill("input[name=subject_id]", "wearer-1")
    page.select_option("select[name=scope]", "live-stream")
    page.select_option("select[name=kind]", "explicit")
    page.click("text=Grant")
    page.click("text=Capture")
    page.set_input_files("input[name=source]", str(demo_clip.path))
    page.click("text=Start")
    try:
        from playwright.sync_api import expect

        # a locator wait, not a JavaScript predicate: the page's CSP forbids eval
        expect(page.locator("#capture .status")).to_have_text(
            re.compile(r"job (done|failed)"), timeout=60_000
        )
    except Exception:
        raise AssertionError(page.inner_text("#capture")) from None
    status = page.inner_text(".status")
    assert "job done" in status and "fault" not in status, status
    assert page.locator("a:has-text('recording')").count() == 1
    assert page.get_attribute("#preview", "src")
    page.click("text=Consent")
    row = page.locator("#consents tr", has_text="record-video")
    row.locator("text=Withdraw").click()
    assert "ConsentWithdrawn" in page.locator("#consents tr", has_text="record-video").inner_text()

    # audit: the timeline shows what happened, and the chart counts it
    page.click("text=Audit")
    timeline = page.locator("#events").inner_text()
    assert "consent.given" in timeline and "consent.withdrawn" in timeline
    assert "capture.first_frame" in timeline
    assert page.locator("svg.chart rect").count() >= 2

    # inspect: upload the example bundle, follow the job, open the HTML report
    bundle = tmp_path / "bundle.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        for path in sorted(EXAMPLE.rglob("*")):
            archive.write(path, Path("b") / path.relative_to(EXAMPLE))
    page.click("text=Inspections")
    page.set_input_files("input[name=file]", str(bundle))
    page.click("text=Upload")
    page.wait_for_selector("a:has-text('report')", timeout=60_000)
    assert "done" in page.inner_text(".status")
    href = page.get_attribute("a:has-text('report')", "href")
    page.click("text=view findings")
    assert "Every applicable rule passed." in page.inner_text("main")
    assert page.locator("#findings tr").count() > 10
    assert href
    page.goto(site.url + href)
    assert "<html" in page.content().lower() and "finding" in page.content().lower()
    page.close()


def test_moderation_side_by_side_and_roles(
    browser: Any, site: Site, demo_clip: SyntheticClip, tmp_path: Path
) -> None:
    upload = tmp_path / "upload.mp4"
    upload.write_bytes(demo_clip.path.read_bytes())
    outcome = Screener(load_policy(None), anonymized_dir=tmp_path).screen(upload)
    item = ModerationQueue(site.engine, AuditLog(site.engine)).submit(outcome)
    assert outcome.anonymized_path

    page = login(browser, site, "moderator")
    page.goto(f"{site.url}/moderation")
    section = page.locator(f"section[data-item='{item.id}']")
    assert section.locator("video.original").count() == 1
    assert section.locator("video.anonymized").count() == 1
    original = page.request.get(f"{site.url}/ui/api/moderation/items/{item.id}/media/original")
    assert hashlib.sha256(original.body()).hexdigest() == outcome.sha256
    section.locator("select[name=decision]").select_option("reject")
    section.locator("button:has-text('Decide')").click()
    assert "rejected" in page.locator(f"section[data-item='{item.id}'] h2").inner_text()
    section = page.locator(f"section[data-item='{item.id}']")
    section.locator("input[name=reason]").fill("notice upheld")
    section.locator("button:has-text('Take down')").click()
    assert "taken_down" in page.locator(f"section[data-item='{item.id}'] h2").inner_text()
    page.close()

    auditor = login(browser, site, "auditor")
    auditor.goto(f"{site.url}/moderation")
    seen = auditor.locator(f"section[data-item='{item.id}']")
    assert seen.locator("video.original").count() == 0
    assert "Only moderators see originals" in seen.inner_text()
    assert seen.locator("button").count() == 0
    auditor.close()


def test_a_subject_sees_only_their_own_consents_and_forms_need_csrf(site: Site) -> None:
    store = ConsentStore(site.engine)
    store.grant("ds-alice", [Scope.RECORD_VIDEO], kind=ConsentKind.EXPLICIT)
    store.grant("ds-bob", [Scope.RECORD_VIDEO], kind=ConsentKind.EXPLICIT)
    with TestClient(create_app(ServiceSettings(), engine=site.engine)) as client:
        assert client.post("/login", data={"token": site.tokens["alice"]}).status_code == 403
        form = client.get("/login").text
        login_csrf = form.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        client.post("/login", data={"token": site.tokens["alice"], "csrf": login_csrf},
                    follow_redirects=False)  # fmt: skip
        page = client.get("/consents").text
        assert "ds-alice" in page and "ds-bob" not in page
        forged = client.post("/consents", data={"subject_id": "ds-alice", "scope": "record-video",
                                                "kind": "general", "csrf": "guess"})  # fmt: skip
        assert forged.status_code == 403
        assert client.get("/audit").status_code == 403
        form = client.get("/login").text
        login_csrf = form.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        bad = client.post("/login", data={"token": "bst_nope", "csrf": login_csrf},
                          follow_redirects=False)  # fmt: skip
        assert bad.status_code == 401
