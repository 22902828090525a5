"""The service's front door (pure ASGI middleware), applied before any route runs.

- ``/api``: a Bearer token is required before a byte of the body is read (no cookies: the
  dashboard has its own routes); a refusal is a JSON 401 and an audit event.
- Bodies: ``Content-Length`` over the route's cap is refused at once (413); a body without
  one is counted as it streams and cut off at the cap. JSON and plain forms get
  ``max_json_bytes``, file uploads ``max_upload_bytes`` (plus a little for the form).
- Cookie-authenticated unsafe requests (the dashboard): refused when the browser says they
  came from another origin; the dashboard's ``/ui/api`` calls must also carry the
  session-bound CSRF token in ``X-CSRF-Token`` (forms carry it as a field, checked there).
- Every response gets CSP, ``nosniff``, ``frame-ancestors 'none'`` and friends; API answers
  are ``no-store``.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bystander.service.csrf import SAFE_METHODS, same_origin
from bystander.service.settings import ServiceSettings
from bystander.service.tokens import COOKIE

CSP = ("default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
       "script-src 'self'; style-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")  # fmt: skip
#: Swagger UI and ReDoc set inline styles and run workers from blobs.
DOCS_CSP = ("default-src 'self'; img-src 'self' data: blob:; script-src 'self'; "
            "style-src 'self' 'unsafe-inline'; worker-src 'self' blob:; object-src 'none'; "
            "base-uri 'none'; frame-ancestors 'none'")  # fmt: skip
_FORM_SLACK = 1 << 20
DOCS_PATHS = ("/docs", "/redoc")


class Gate:
    """See the module docstring; ``settings`` gives the caps."""

    def __init__(self, app: ASGIApp, settings: ServiceSettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        headers = Headers(scope=scope)
        send = _with_headers(send, path)
        if path == "/api" or path.startswith("/api/"):
            principal = await _bearer(scope, headers)
            if principal is None:
                _refused(scope, 401, method, path)
                await _json(send, 401, "a valid API token is required",
                            {"www-authenticate": "Bearer"})  # fmt: skip
                return
            scope.setdefault("state", {})["principal"] = principal
        elif method not in SAFE_METHODS:
            problem = _cross_site(scope, headers, path)
            if problem:
                await _json(send, 403, problem)
                return
        if method not in SAFE_METHODS:
            cap = self._cap(headers)
            length = headers.get("content-length")
            if length is not None and (not length.isdigit() or len(length) > 18):
                await _json(send, 400, "malformed Content-Length")
                return
            if length is not None and int(length) > cap:
                await _json(send, 413, f"request body larger than {cap} bytes")
                return
            receive = _capped(receive, cap)
        await self.app(scope, receive, send)

    def _cap(self, headers: Headers) -> int:
        if headers.get("content-type", "").startswith("multipart/form-data"):
            return self.settings.max_upload_bytes + _FORM_SLACK
        return self.settings.max_json_bytes


async def _bearer(scope: Scope, headers: Headers) -> Any:
    """The Bearer token's principal, or None (a cache miss is checked off the loop)."""
    header = headers.get("authorization", "")
    secret = header[7:].strip() if header[:7].lower() == "bearer " else ""
    if not secret:
        return None
    tokens = scope["app"].state.services.tokens
    hit = tokens.cached(secret)
    return hit if hit is not None else await run_in_threadpool(tokens.verify, secret)


def _cross_site(scope: Scope, headers: Headers, path: str) -> str:
    """Why an unsafe dashboard request is refused ('' if it is not)."""
    if not same_origin(headers, scope.get("scheme", "http")):
        return "cross-site request refused (Origin)"
    if path.startswith("/ui/"):
        cookies = _cookies(headers)
        keys = scope["app"].state.csrf
        if not keys.valid(cookies.get(COOKIE, ""), headers.get("x-csrf-token", "")):
            return "missing or wrong CSRF token (X-CSRF-Token)"
    return ""


def _cookies(headers: Headers) -> dict[str, str]:
    from http.cookies import SimpleCookie

    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except Exception:
        return {}
    return {k: v.value for k, v in jar.items()}


def _refused(scope: Scope, status: int, method: str, path: str) -> None:
    refusals = getattr(scope["app"].state, "refusals", None)
    if refusals is not None:
        refusals.record(status, method, path)


def _capped(receive: Receive, cap: int) -> Receive:
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > cap:
                raise HTTPException(413, f"request body larger than {cap} bytes")
        return message

    return counted


def _with_headers(send: Send, path: str) -> Send:
    docs = path in DOCS_PATHS

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            headers.setdefault("content-security-policy", DOCS_CSP if docs else CSP)
            headers.setdefault("x-content-type-options", "nosniff")
            headers.setdefault("x-frame-options", "DENY")
            headers.setdefault("referrer-policy", "same-origin")
            headers.setdefault("cross-origin-opener-policy", "same-origin")
            if path.startswith(("/api/", "/ui/")):
                headers.setdefault("cache-control", "no-store")
        await send(message)

    return sending


async def _json(send: Send, status: int, detail: str, extra: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
