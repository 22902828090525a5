"""HAR 1.2 traffic (from a browser, mitmproxy, Charles...) -> ``Egress`` records.

Each ``log.entries[i]`` is one request: host, method, URL, TLS (from the scheme), bytes sent
(headers and body sizes when the HAR gives them, else the body length), time from
``startedDateTime``, server IP, and the data categories ``bystander.inspect.traffic`` finds in
the query string and ``postData`` (``text``, base64 when ``encoding`` is ``base64``, or
``params``). ``ref`` and ``request_id`` are ``har:<file>#<index>``.
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from bystander.inspect.importers.common import (
    MAX_WHOLE_BYTES,
    BundleError,
    parse_time,
    read_bytes,
)
from bystander.inspect.records import Egress
from bystander.inspect.traffic import CountryResolver, analyse_request


def load_har(path: Path, name: str, countries: CountryResolver) -> tuple[list[Egress], list[str]]:
    """The requests of one HAR file, and notes about entries that could not be used."""
    raw = read_bytes(path, name, MAX_WHOLE_BYTES)
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise BundleError(f"{name}: not a HAR file (not UTF-8 JSON)") from None
    except json.JSONDecodeError as exc:
        raise BundleError(f"{name} line {exc.lineno}: not valid JSON ({exc.msg})") from None
    except RecursionError:
        raise BundleError(f"{name}: JSON nested too deeply") from None
    log = data.get("log") if isinstance(data, dict) else None
    entries = log.get("entries") if isinstance(log, dict) else None
    if not isinstance(entries, list):
        raise BundleError(f"{name}: not a HAR file (no log.entries list)")
    out: list[Egress] = []
    skipped = 0
    for index, entry in enumerate(entries):
        egress = _entry(entry, f"har:{name}#{index}", countries)
        if egress is None:
            skipped += 1
        else:
            out.append(egress)
    notes = [f"{name}: {skipped} entries without a usable request skipped"] if skipped else []
    return out, notes


def _entry(entry: Any, ref: str, countries: CountryResolver) -> Egress | None:
    if not isinstance(entry, dict):
        return None
    request = entry.get("request")
    if not isinstance(request, dict) or not isinstance(request.get("url"), str):
        return None
    url: str = request["url"]
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError as exc:  # e.g. "Invalid IPv6 URL": the evidence is malformed, say where
        name, _, index = ref.removeprefix("har:").rpartition("#")
        raise BundleError(f"{name} entry {index}: unreadable request URL ({exc})") from None
    if not host:
        return None
    try:
        t = parse_time(entry.get("startedDateTime"))
    except ValueError:
        t = None
    ctype, body = _body(request.get("postData"))
    if not ctype:
        ctype = _header(request.get("headers"), "content-type")
    categories, findings = analyse_request(url, ctype, body)
    method = request.get("method")
    ip = entry.get("serverIPAddress")
    return Egress(
        ref=ref,
        t=t,
        host=host,
        data_categories=categories,
        country=countries.country(host),
        ip=ip.strip("[]") if isinstance(ip, str) and ip else None,
        method=method.upper() if isinstance(method, str) else None,
        url=url,
        bytes_sent=_bytes_sent(request, body),
        tls=parts.scheme.lower() in ("https", "wss"),
        findings=findings,
        request_id=ref,
    )


def _body(post: Any) -> tuple[str, bytes]:
    """(MIME type, body bytes) of a HAR ``postData``."""
    if not isinstance(post, dict):
        return "", b""
    raw_mime = post.get("mimeType")
    mime = raw_mime if isinstance(raw_mime, str) else ""
    text = post.get("text")
    if isinstance(text, str) and text:
        encoding = post.get("encoding") or post.get("_encoding")
        if encoding == "base64":
            try:
                return mime, base64.b64decode(text, validate=False)
            except (binascii.Error, ValueError):
                return mime, text.encode("utf-8")
        try:
            return mime, text.encode("latin-1")  # binary bodies exported byte-per-char
        except UnicodeEncodeError:
            return mime, text.encode("utf-8")
    params = post.get("params")
    if isinstance(params, list):
        return _params(params)
    return mime, b""


def _params(params: list[Any]) -> tuple[str, bytes]:
    """Rebuild a form body from HAR ``params`` (names and values only)."""
    pairs = [
        (str(p.get("name", "")), str(p.get("value", ""))) for p in params if isinstance(p, dict)
    ]
    return "application/x-www-form-urlencoded", urlencode(pairs).encode("utf-8") if pairs else b""


def _header(headers: Any, wanted: str) -> str:
    if isinstance(headers, list):
        for h in headers:
            if isinstance(h, dict) and str(h.get("name", "")).lower() == wanted:
                return str(h.get("value", ""))
    return ""


def _bytes_sent(request: dict[str, Any], body: bytes) -> int:
    total = 0
    for key in ("headersSize", "bodySize"):
        value = request.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            total += value
    return max(total, len(body))
