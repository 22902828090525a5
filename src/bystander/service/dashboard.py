"""The web dashboard: server-rendered pages over the same stores, with light JavaScript.

Log in with an API token (kept in an HttpOnly, SameSite=Strict cookie); forms that change
state carry a CSRF token that must match a second cookie (double submit). Pages: consent
manager, audit timeline (with a chart of events by type), protect and inspection uploads with
job progress, and the moderation queue with original and protected side by side (the
original only for moderators and admins).
"""

from __future__ import annotations

import secrets
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from bystander.consent.models import ConsentKind, Scope
from bystander.screening.policy import Decision
from bystander.screening.queue import ModerationQueue
from bystander.service.auth import COOKIE, Principal, Role, principal_from_request
from bystander.service.csrf import PRE_SESSION_COOKIE, CsrfKeys
from bystander.service.routers.common import accessed, services

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
_VIDEO = {".mp4", ".mov", ".webm"}


def _who(request: Request) -> Principal | None:
    try:
        return principal_from_request(request)
    except HTTPException:
        return None


def _csrf(request: Request) -> str:
    """The form token bound to this session (the login cookie)."""
    keys: CsrfKeys = request.app.state.csrf
    return keys.token_for(request.cookies.get(COOKIE, ""))


def _secure(request: Request) -> bool:
    forced = services(request).settings.secure_cookies
    return forced if forced is not None else request.url.scheme == "https"


def _page(request: Request, name: str, who: Principal, **context: Any) -> HTMLResponse:
    context.setdefault("title", name.split(".")[0].capitalize())
    return templates.TemplateResponse(
        request, name, {"who": who, "csrf": _csrf(request), **context}
    )


def _check_csrf(request: Request, token: str) -> None:
    keys: CsrfKeys = request.app.state.csrf
    if not keys.valid(request.cookies.get(COOKIE, ""), token):
        raise HTTPException(403, "missing or wrong form token (CSRF)")


def _login_first(request: Request) -> Principal | RedirectResponse:
    who = _who(request)
    return who if who is not None else RedirectResponse("/login", status_code=303)


@router.get("/", response_model=None)
def home(request: Request) -> Response:
    return RedirectResponse("/consents" if _who(request) else "/login", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    """The login form, with a pre-session cookie and the form token bound to it."""
    pre = secrets.token_urlsafe(24)
    keys: CsrfKeys = request.app.state.csrf
    response = templates.TemplateResponse(
        request, "login.html", {"who": None, "title": "Log in", "csrf": keys.token_for(pre)}
    )
    response.set_cookie(PRE_SESSION_COOKIE, pre, max_age=3600, httponly=True,
                        samesite="strict", secure=_secure(request))  # fmt: skip
    return response


@router.post("/login", response_model=None)
def login(request: Request, token: str = Form(..., max_length=300),
          csrf: str = Form("", max_length=100)) -> Response:  # fmt: skip
    keys: CsrfKeys = request.app.state.csrf
    if not keys.valid(request.cookies.get(PRE_SESSION_COOKIE, ""), csrf):
        raise HTTPException(403, "missing or wrong form token (CSRF): reload the login page")
    if services(request).tokens.verify(token.strip()) is None:
        return templates.TemplateResponse(
            request,
            "login.html",
            {"who": None, "title": "Log in", "error": "Unknown token.", "csrf": csrf},
            status_code=401,
        )
    response = RedirectResponse("/consents", status_code=303)
    response.set_cookie(COOKIE, token.strip(), httponly=True, samesite="strict",
                        secure=_secure(request))  # fmt: skip
    response.delete_cookie(PRE_SESSION_COOKIE)
    return response


@router.get("/logout")
def logout() -> RedirectResponse:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


# --- consent ----------------------------------------------------------------------------------


@router.get("/consents", response_model=None)
def consents(request: Request) -> Response:
    who = _login_first(request)
    if isinstance(who, RedirectResponse):
        return who
    if who.role not in (Role.ADMIN, Role.DEVICE, Role.AUDITOR, Role.SUBJECT):
        raise HTTPException(403, f"role {who.role} may not see consent records")
    subject = who.subject_id if who.role is Role.SUBJECT else None
    records = services(request).consent.list(subject)
    accessed(request, who, f"consent-records:{subject or '*'}", subject)
    return _page(
        request,
        "consents.html",
        who,
        records=records,
        title="Consent",
        can_change=who.role in (Role.ADMIN, Role.DEVICE, Role.SUBJECT),
        scopes=[s.value for s in Scope],
        kinds=[k.value for k in ConsentKind],
    )


@router.post("/consents")
def grant(
    request: Request,
    subject_id: str = Form(...),
    scope: Scope = Form(...),
    kind: ConsentKind = Form(...),
    csrf: str = Form(""),
) -> RedirectResponse:
    _check_csrf(request, csrf)
    who = principal_from_request(request)
    if who.role not in (Role.ADMIN, Role.DEVICE, Role.SUBJECT) or (
        who.role is Role.SUBJECT and subject_id != who.subject_id
    ):
        raise HTTPException(403, "you may not record this consent")
    services(request).consent.grant(subject_id, [scope], kind=kind)
    return RedirectResponse("/consents", status_code=303)


@router.post("/consents/{record_id}/withdraw")
def withdraw(request: Request, record_id: str, csrf: str = Form("")) -> RedirectResponse:
    _check_csrf(request, csrf)
    who = principal_from_request(request)
    store = services(request).consent
    record = store.get(record_id)
    mine = who.role is Role.SUBJECT and record.subject.id == who.subject_id
    if who.role not in (Role.ADMIN, Role.DEVICE) and not mine:
        raise HTTPException(404, f"no consent record {record_id}")
    store.withdraw(record_id)
    return RedirectResponse("/consents", status_code=303)


# --- audit ------------------------------------------------------------------------------------


@router.get("/audit", response_model=None)
def audit(request: Request) -> Response:
    who = _login_first(request)
    if isinstance(who, RedirectResponse):
        return who
    if who.role not in (Role.ADMIN, Role.AUDITOR):
        raise HTTPException(403, f"role {who.role} may not read the audit log")
    log = services(request).audit
    size = log.size()
    newest = list(log.entries(max(0, size - 200), size))[::-1]
    everything = Counter(e.event.type.value for e in log.entries(max(0, size - 5000), size))
    accessed(request, who, f"audit:{max(0, size - 200)}-{size}", None)
    return _page(
        request,
        "audit.html",
        who,
        events=newest,
        size=size,
        chart=bar_chart(everything),
        title="Audit",
    )


def bar_chart(counts: Counter[str], width: int = 640, empty: str = "Nothing yet.") -> Markup:
    """A horizontal bar chart as inline SVG (labels escaped)."""
    rows = counts.most_common(15)
    if not rows:
        return Markup(f"<p>{escape(empty)}</p>")
    top = max(n for _, n in rows)
    bars = []
    for index, (label, count) in enumerate(rows):
        y, length = index * 22, max(2, round((width - 260) * count / top))
        bars.append(
            f'<text x="0" y="{y + 15}" font-size="12">{escape(label)}</text>'
            f'<rect x="230" y="{y + 3}" width="{length}" height="16" fill="#4a78c2"></rect>'
            f'<text x="{236 + length}" y="{y + 15}" font-size="12">{count}</text>'
        )
    height = len(rows) * 22
    return Markup(
        f'<svg class="chart" width="{width}" height="{height}" role="img">'
        + "".join(bars)
        + "</svg>"
    )


# --- capture and uploads ----------------------------------------------------------------------

DEFAULT_PROFILE = """device_id: glasses-demo-0001
device_type: smart-glasses
jurisdiction: CN
wearer_id: wearer-1
microphone: false
indicator:
  t_lead_ms: 200
  confirm_timeout_ms: 300
  watchdog_hz: 20
  visibility: "simulated LED (bystander.guard.indicator.SimulatedIndicator)"
zone_policy: default
"""


@router.get("/capture", response_model=None)
def capture_page(request: Request) -> Response:
    who = _login_first(request)
    if isinstance(who, RedirectResponse):
        return who
    return _page(request, "capture.html", who, title="Capture", profile=DEFAULT_PROFILE)


@router.get("/protect", response_model=None)
def protect_page(request: Request) -> Response:
    who = _login_first(request)
    if isinstance(who, RedirectResponse):
        return who
    return _page(
        request,
        "upload.html",
        who,
        title="Protect a file",
        url="/ui/api/protect",
        hint="Every face is blurred; download the protected file and its report.",
    )


@router.get("/inspections", response_model=None)
def inspections_page(request: Request) -> Response:
    who = _login_first(request)
    if isinstance(who, RedirectResponse):
        return who
    return _page(
        request,
        "upload.html",
        who,
        title="Inspect an evidence bundle",
        url="/ui/api/inspections",
        view="/inspections/JOB",
        hint="A .zip or .tar.gz bundle: findings, HTML report and impact assessment.",
    )


# --- moderation -------------------------------------------------------------------------------


@router.get("/moderation", response_model=None)
def moderation(request: Request) -> Response:
    who = _login_first(request)
    if isinstance(who, RedirectResponse):
        return who
    if who.role not in (Role.ADMIN, Role.MODERATOR, Role.AUDITOR):
        raise HTTPException(403, f"role {who.role} may not see the moderation queue")
    found = services(request)
    queue = ModerationQueue(found.engine, found.audit)
    return _page(
        request,
        "moderation.html",
        who,
        items=queue.list(limit=50),
        complaints=queue.complaints(),
        now=datetime.now(UTC),
        media=_media,
        may_see_original=who.role in (Role.ADMIN, Role.MODERATOR),
        title="Moderation",
    )


def _media(item_id: str, which: str, path: str) -> Markup:
    src = f"/ui/api/moderation/items/{escape(item_id)}/media/{which}"
    if Path(path).suffix.lower() in _VIDEO:
        return Markup(f'<video class="{which}" controls muted src="{src}"></video>')
    return Markup(f'<img class="{which}" alt="{which}" src="{src}">')


@router.post("/moderation/{item_id}/decide")
def decide(
    request: Request, item_id: str, decision: Decision = Form(...), csrf: str = Form("")
) -> RedirectResponse:
    _check_csrf(request, csrf)
    who = principal_from_request(request)
    if who.role not in (Role.ADMIN, Role.MODERATOR):
        raise HTTPException(403, "only moderators decide")
    found = services(request)
    ModerationQueue(found.engine, found.audit).decide(item_id, f"token:{who.token_id}", decision)
    return RedirectResponse("/moderation", status_code=303)


@router.post("/moderation/{item_id}/takedown")
def takedown(
    request: Request, item_id: str, reason: str = Form(...), csrf: str = Form("")
) -> RedirectResponse:
    _check_csrf(request, csrf)
    who = principal_from_request(request)
    if who.role not in (Role.ADMIN, Role.MODERATOR):
        raise HTTPException(403, "only moderators take items down")
    found = services(request)
    ModerationQueue(found.engine, found.audit).take_down(item_id, f"token:{who.token_id}", reason)
    return RedirectResponse("/moderation", status_code=303)


@router.get("/inspections/{job_id}", response_model=None)
def inspection_page(request: Request, job_id: str) -> Response:
    """One inspection's findings: a chart by rule family, the table, links to the reports."""
    import json

    from bystander.service.routers.jobs import owned

    who = _login_first(request)
    if isinstance(who, RedirectResponse):
        return who
    job = owned(request, job_id, who)
    if job.kind != "inspect" or job.state != "done":
        raise HTTPException(409, f"inspection {job_id} is {job.state}")
    data = json.loads((Path(job.folder) / "findings.json").read_text())
    order = {"violation": 0, "advisory": 1, "pass": 3, "not_applicable": 4}
    findings = sorted(data["findings"], key=lambda f: (order.get(f["verdict"], 2), f["rule_id"]))
    quiet = ("pass", "not_applicable")
    families = Counter(
        str(f.get("family") or "other") for f in findings if f["verdict"] not in quiet
    )
    device = data.get("device", {}).get("device_id", "the device")
    summary = ", ".join(
        f"{k}: {v}" for k, v in sorted(Counter(f["verdict"] for f in findings).items())
    )
    return _page(
        request,
        "inspection.html",
        who,
        title="Inspection",
        findings=findings,
        chart=bar_chart(families, empty="Every applicable rule passed."),
        device=device,
        summary=summary,
        job_id=job_id,
    )
