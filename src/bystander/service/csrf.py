"""CSRF defences of the dashboard: session-bound tokens and same-origin checks.

The dashboard's session is the API token in an HttpOnly, SameSite=Strict cookie. A form (or
the dashboard's own ``fetch``) proves it came from a page we rendered by sending
``HMAC(key, session)``: bound to that session, unguessable without the key (random per server
process), and useless with any other session. Before login, the login form carries a
``login_token`` bound the same way to a short-lived pre-session cookie. Unsafe requests that
arrive from another origin (``Origin``, ``Referer`` or ``Sec-Fetch-Site``) are refused outright.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from starlette.datastructures import Headers

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PRE_SESSION_COOKIE = "bystander_login"


class CsrfKeys:
    """The per-process key and the tokens derived from it."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)

    def token_for(self, session: str) -> str:
        """The form token of ``session`` (a cookie value)."""
        return hmac.new(self._key, session.encode("utf-8"), hashlib.sha256).hexdigest()

    def valid(self, session: str, token: str) -> bool:
        return bool(session) and hmac.compare_digest(self.token_for(session), token or "")


def same_origin(headers: Headers, scheme: str) -> bool:
    """False when the browser says the request came from another site."""
    host = headers.get("host", "")
    if headers.get("sec-fetch-site", "") == "cross-site":
        return False
    origin = headers.get("origin")
    if origin is not None:
        return origin != "null" and _host_of(origin) == host
    referer = headers.get("referer")
    return referer is None or _host_of(referer) == host


def _host_of(url: str) -> str:
    try:
        return urlsplit(url).netloc
    except ValueError:
        return ""
