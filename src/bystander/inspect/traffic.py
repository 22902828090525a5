"""Traffic content analysis: what personal data a request carries, and where it goes.

``analyse_request(url, content_type, body)`` looks at the query string and the body (JSON,
form, multipart, or raw bytes) and returns the data categories it found with a short note
for each sighting (``Egress.findings``):

- media by magic bytes (JPEG, PNG, WebP, HEIC, GIF; MP4/WebM video; WAV, Ogg, MP3, FLAC,
  AMR audio), raw or base64 (``/9j/``, ``iVBOR``, ``data:image/...``): an image is
  ``user.biometric.face.image`` when its field/part/file name or the URL speaks of a face
  (``face``, ``facial``, ``selfie``, ``portrait``, ``headshot``, 人脸, 面部, 刷脸), else
  ``user.sensor.camera``; video is ``user.sensor.camera``, audio ``user.sensor.microphone``
  (``user.biometric.voice`` under a voiceprint name);
- embedding-shaped arrays (64-2048 numbers, not all integers, mostly in [-1, 1] or of unit
  norm): ``user.biometric.face.template`` under a template/feature name (模板, 特征),
  ``user.biometric.voice`` under a voiceprint name (声纹), else
  ``user.biometric.face.embedding``; a base64 blob of 256 bytes or more under such a name
  counts too; landmarks (``landmarks``, 关键点) are a face template;
- known field names whose value has the right shape: phone (``phone``, ``mobile``, 手机,
  电话 with 7-15 digits) ``user.contact.phone``; ``email`` (or any value that is an e-mail
  address) ``user.contact.email``; hardware identifiers (IMEI, IMSI, MEID, ICCID, MAC, Android
  ID, OAID, IDFA, UDID, serial number) ``user.device.identifier``; a latitude and a
  longitude with 3 or more decimals in one object (or a ``"lat,lng"`` GPS string)
  ``user.location.precise``.

A generic ``device_id`` is not counted (it names the device, not its user). At most
``MAX_BODY_BYTES`` of a body are analysed. ``CountryResolver`` names a host's country from the
manifest's ``hosts`` map, then the profile's data flows, then the country-code TLD; it never
looks anything up on the network.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from bystander.inspect.profile import DataFlow

FACE_IMAGE = "user.biometric.face.image"
FACE_TEMPLATE = "user.biometric.face.template"
FACE_EMBEDDING = "user.biometric.face.embedding"
VOICE = "user.biometric.voice"
CAMERA = "user.sensor.camera"
MICROPHONE = "user.sensor.microphone"
LOCATION = "user.location.precise"
DEVICE_ID = "user.device.identifier"
PHONE = "user.contact.phone"
EMAIL = "user.contact.email"

MAX_BODY_BYTES = 16 << 20
_MAX_NODES = 200_000
_MAX_FINDINGS = 20
_MIN_BLOB = 256

_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_SPLIT = re.compile(r"[^a-z0-9\u4e00-\u9fff]+")
_B64 = re.compile(r"[A-Za-z0-9+/_\-]+={0,2}")
_EMAIL = re.compile(
    r"[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63})*\.[A-Za-z]{2,24}"
)
_PHONE = re.compile(r"\+?[0-9][0-9 \-()]{5,22}[0-9]")
_GPS = re.compile(r"\s*(-?\d{1,3}\.\d{3,})\s*[,;]\s*(-?\d{1,3}\.\d{3,})\s*")
_DATA_URI = re.compile(r"data:(?P<mime>[a-z]+/[a-z0-9.+\-]+)?(?:;[^,;]*)*;base64,", re.I)
_BOUNDARY = re.compile(r'boundary=(?:"([^"]+)"|([^;\s]+))', re.I)
_DISPOSITION_NAME = re.compile(rb'\bname="([^"]*)"', re.I)
_DISPOSITION_FILE = re.compile(rb'\bfilename="([^"]*)"', re.I)

_FACE_WORDS = frozenset({"face", "faces", "facial", "selfie", "portrait", "headshot", "faceid"})
_FACE_CJK = ("人脸", "面部", "刷脸", "脸部")
_TEMPLATE_WORDS = frozenset({"template", "templates", "feature", "features", "featurevalue"})
_TEMPLATE_CJK = ("模板", "特征")
_EMBED_WORDS = frozenset({"embedding", "embeddings", "vector", "descriptor", "encoding"})
_LANDMARK_WORDS = frozenset({"landmark", "landmarks", "keypoints"})
_VOICE_WORDS = frozenset({"voiceprint", "voiceprints", "speaker", "vpr"})
_PHONE_WORDS = frozenset(
    {"phone", "mobile", "tel", "telephone", "phonenumber", "msisdn", "cellphone"}
)
_ID_WORDS = frozenset(
    {"imei", "imsi", "meid", "iccid", "oaid", "idfa", "udid", "androidid", "serial", "serialno",
     "serialnumber", "macaddress", "mac", "wifimac", "btmac"}
)  # fmt: skip
_LAT_WORDS = frozenset({"lat", "latitude"})
_LNG_WORDS = frozenset({"lng", "lon", "long", "longitude"})


def _sniff(head: bytes) -> tuple[str, str] | None:
    """(format, kind) of media by magic bytes; kind is image, video or audio."""
    if head[:3] == b"\xff\xd8\xff":
        return "JPEG", "image"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG", "image"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP", "image"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "WAV", "audio"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF", "image"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"hevc", b"hevx", b"mif1", b"msf1", b"heim", b"heis"):
            return "HEIC", "image"
        if brand in (b"M4A ", b"M4B "):
            return "M4A", "audio"
        return "MP4", "video"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "WebM", "video"
    if head[:4] == b"OggS":
        return "Ogg", "audio"
    if head[:4] == b"fLaC":
        return "FLAC", "audio"
    if head[:3] == b"ID3":
        return "MP3", "audio"
    if head[:5] == b"#!AMR":
        return "AMR", "audio"
    return None


def words(name: str) -> frozenset[str]:
    """Lower-case words of a field name or URL path (``faceImg`` -> {face, img})."""
    return frozenset(w for w in _SPLIT.split(_CAMEL.sub(r"\1_\2", name).lower()) if w)


def _joined(name: str) -> str:
    return "".join(words(name))


def _has_face(name: str) -> bool:
    return bool(words(name) & _FACE_WORDS) or any(c in name for c in _FACE_CJK)


@dataclass
class Sightings:
    """Categories found in one request, with notes."""

    categories: set[str] = field(default_factory=set)
    findings: list[str] = field(default_factory=list)

    def add(self, category: str, note: str) -> None:
        self.categories.add(category)
        if len(self.findings) < _MAX_FINDINGS and note not in self.findings:
            self.findings.append(note)


@dataclass
class _Context:
    url_face: bool
    out: Sightings
    nodes: int = 0


def analyse_request(
    url: str, content_type: str = "", body: bytes = b""
) -> tuple[frozenset[str], tuple[str, ...]]:
    """Data categories and findings for one request (URL query string and body)."""
    parts = urlsplit(url)
    ctx = _Context(url_face=_has_face(unquote(parts.path)), out=Sightings())
    if parts.query:
        _fields(parse_qsl(parts.query, keep_blank_values=False), ctx, "query parameter")
    if body:
        if len(body) > MAX_BODY_BYTES:
            body = body[:MAX_BODY_BYTES]
            ctx.out.findings.append(f"body truncated to {MAX_BODY_BYTES} bytes for analysis")
        _body(body, content_type, ctx)
    return frozenset(ctx.out.categories), tuple(ctx.out.findings)


def _body(body: bytes, content_type: str, ctx: _Context) -> None:
    ctype = content_type.lower()
    if ctype.startswith("multipart/") and _multipart(body, content_type, ctx):
        return
    media = _sniff(body[:16])
    if media is not None:
        _media(media, "", ctx, "request body", raw=True)
        return
    stripped = body.lstrip()[:1]
    if "json" in ctype or stripped in (b"{", b"["):
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            data = None
        if data is not None:
            _walk(data, ctx)
            return
    if "x-www-form-urlencoded" in ctype:
        text = body.decode("utf-8", "replace")
        _fields(parse_qsl(text, keep_blank_values=False), ctx, "form field")
        return
    if "text" in ctype or not ctype or "octet-stream" in ctype:
        _string("", body[:65536].decode("latin-1"), ctx, "request body")


def _multipart(body: bytes, ctype: str, ctx: _Context) -> bool:
    """Analyse each part; False when there is no boundary to split on."""
    match = _BOUNDARY.search(ctype)
    if match is None:
        return False
    delimiter = b"--" + (match.group(1) or match.group(2)).encode("latin-1")
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        head, sep, data = chunk.partition(b"\r\n\r\n")
        if not sep:
            head, sep, data = chunk.partition(b"\n\n")
        if data.endswith(b"\r\n"):
            data = data[:-2]
        elif data.endswith(b"\n"):
            data = data[:-1]
        name_m = _DISPOSITION_NAME.search(head)
        file_m = _DISPOSITION_FILE.search(head)
        name = name_m.group(1).decode("utf-8", "replace") if name_m else ""
        filename = file_m.group(1).decode("utf-8", "replace") if file_m else ""
        media = _sniff(data[:16])
        label = f"multipart part '{name}'"
        if media is not None:
            _media(media, f"{name} {filename}", ctx, label, raw=True)
            continue
        text = data.decode("utf-8", "replace")
        if text.lstrip()[:1] in ("{", "["):
            try:
                _walk(json.loads(text), ctx, name)
                continue
            except (ValueError, RecursionError):
                pass
        _value(name, text, ctx, label)
    return True


def _media(media: tuple[str, str], name: str, ctx: _Context, where: str, raw: bool) -> None:
    fmt, kind = media
    base = "" if raw else "base64 "
    note = f"{base}{fmt} in {where}"
    if kind == "image":
        face = ctx.url_face or _has_face(name)
        ctx.out.add(FACE_IMAGE if face else CAMERA, note)
    elif kind == "video":
        ctx.out.add(CAMERA, note)
    else:
        voice = bool(words(name) & _VOICE_WORDS) or "声纹" in name
        ctx.out.add(VOICE if voice else MICROPHONE, note)


def _fields(pairs: Iterable[tuple[str, str]], ctx: _Context, what: str) -> None:
    pairs = list(pairs)
    _pair_location({k: v for k, v in pairs}, ctx, what)
    for key, value in pairs:
        _value(key, value.replace(" ", "+") if len(value) >= 64 else value, ctx,
               f"{what} '{key}'")  # fmt: skip


def _walk(data: Any, ctx: _Context, root: str = "") -> None:
    """Depth-first over JSON, bounded by ``_MAX_NODES``."""
    stack: list[tuple[str, Any]] = [(root, data)]
    while stack and ctx.nodes < _MAX_NODES:
        name, value = stack.pop()
        ctx.nodes += 1
        if isinstance(value, dict):
            _pair_location(value, ctx, "field")
            for key, item in value.items():
                key = str(key)
                if isinstance(item, dict | list):
                    if isinstance(item, list) and _vector(key, item, ctx):
                        continue
                    stack.append((key, item))
                else:
                    _value(key, item, ctx, f"field '{key}'")
        elif isinstance(value, list):
            if _vector(name, value, ctx):
                continue
            for item in value:
                if isinstance(item, dict | list):
                    stack.append((name, item))
                else:
                    _value(name, item, ctx, f"field '{name}'" if name else "array item")
        else:
            _value(name, value, ctx, f"field '{name}'" if name else "body")


def _vector(name: str, items: list[Any], ctx: _Context) -> bool:
    """Handle a numeric array (embedding or landmarks); True when it was one."""
    n = len(items)
    if n < 8 or n > 4096:
        return False
    w = words(name)
    if w & _LANDMARK_WORDS or "关键点" in name:
        ctx.out.add(FACE_TEMPLATE, f"field '{name}': {n} landmark values")
        return True
    if not 64 <= n <= 2048:
        return False
    total = inside = 0.0
    fractional = False
    for v in items:
        if isinstance(v, bool) or not isinstance(v, int | float):
            return False
        if not fractional and isinstance(v, float) and not v.is_integer():
            fractional = True
        total += v * v
        if -1.0 <= v <= 1.0:
            inside += 1
    if not fractional:
        return False
    norm = math.sqrt(total)
    if inside / n < 0.9 and abs(norm - 1.0) > 0.1:
        return False
    ctx.out.add(_vector_category(name), f"field '{name}': {n} floats")
    return True


def _vector_category(name: str) -> str:
    w = words(name)
    if (
        w & _VOICE_WORDS
        or "声纹" in name
        or ("voice" in w and w & (_TEMPLATE_WORDS | _EMBED_WORDS))
    ):
        return VOICE
    if w & _TEMPLATE_WORDS or any(c in name for c in _TEMPLATE_CJK):
        return FACE_TEMPLATE
    return FACE_EMBEDDING


def _is_biometric_name(name: str) -> bool:
    w = words(name)
    return bool(
        w & (_TEMPLATE_WORDS | _EMBED_WORDS | _VOICE_WORDS)
        or any(c in name for c in (*_TEMPLATE_CJK, "声纹"))
        or (w & _FACE_WORDS and w & {"data", "info", "code"})
    )


def _value(name: str, value: Any, ctx: _Context, where: str) -> None:
    if isinstance(value, str):
        _string(name, value, ctx, where)
    elif isinstance(value, int | float) and not isinstance(value, bool) and name:
        joined = _joined(name)
        if (joined in _PHONE_WORDS or any(c in name for c in ("手机", "电话"))) and (
            isinstance(value, int) and 7 <= len(str(abs(value))) <= 15
        ):
            ctx.out.add(PHONE, f"{where}: phone number")
        elif joined in _ID_WORDS and value:
            ctx.out.add(DEVICE_ID, f"{where}: device identifier ({joined})")


def _string(name: str, value: str, ctx: _Context, where: str) -> None:
    if not value:
        return
    if len(value) >= 16 and _blob(name, value, ctx, where):
        return
    if not name:
        if len(value) <= 256 and _EMAIL.fullmatch(value.strip()):
            ctx.out.add(EMAIL, f"{where}: e-mail address")
        return
    w = words(name)
    joined = "".join(w)
    if len(value) <= 256:
        stripped = value.strip()
        if _EMAIL.fullmatch(stripped):
            ctx.out.add(EMAIL, f"{where}: e-mail address")
            return
        if (
            joined in _PHONE_WORDS or w & _PHONE_WORDS or any(c in name for c in ("手机", "电话"))
        ) and (_PHONE.fullmatch(stripped) and 7 <= sum(ch.isdigit() for ch in stripped) <= 15):
            ctx.out.add(PHONE, f"{where}: phone number")
            return
        if (joined in _ID_WORDS or ("android" in w and "id" in w) or w & {"imei", "imsi", "iccid"}
                or (joined.startswith("mac") and _looks_mac(stripped))):  # fmt: skip
            ctx.out.add(DEVICE_ID, f"{where}: device identifier ({joined})")
            return
        if (
            (w & {"gps", "location", "loc", "position", "coordinates"} or "定位" in name)
            and _GPS.fullmatch(stripped)
            and _plausible_pair(stripped)
        ):
            ctx.out.add(LOCATION, f"{where}: GPS coordinates")


def _looks_mac(value: str) -> bool:
    return bool(re.fullmatch(r"[0-9A-Fa-f]{2}([:\-]?[0-9A-Fa-f]{2}){5}", value))


def _plausible_pair(value: str) -> bool:
    match = _GPS.fullmatch(value)
    if match is None:
        return False
    a, b = float(match.group(1)), float(match.group(2))
    return (abs(a) <= 90 and abs(b) <= 180) or (abs(b) <= 90 and abs(a) <= 180)


def _blob(name: str, value: str, ctx: _Context, where: str) -> bool:
    """Base64 media or a base64 template; True when the string was one."""
    uri = _DATA_URI.match(value)
    payload = value[uri.end():] if uri else value.strip()  # fmt: skip
    if not uri and len(payload) < 64:
        return False
    head = payload[:32]
    if not _B64.fullmatch(head):
        return False
    try:
        raw = _b64(head)
    except (binascii.Error, ValueError):
        return False
    media = _sniff(raw)
    if media is None and uri and uri.group("mime"):
        major = uri.group("mime").split("/")[0].lower()
        if major in ("image", "video", "audio"):
            media = (uri.group("mime").split("/")[1].upper(), major)
    if media is not None:
        _media(media, name, ctx, where, raw=False)
        return True
    blob = len(payload) * 3 // 4 >= _MIN_BLOB and _B64.fullmatch(payload[:4096])
    if name and blob and _is_biometric_name(name):
        size = len(payload.rstrip("=")) * 3 // 4
        category = _vector_category(name)
        if category == FACE_EMBEDDING and not words(name) & _EMBED_WORDS:
            category = FACE_TEMPLATE
        ctx.out.add(category, f"{where}: base64 blob of {size} bytes")
        return True
    return False


def _b64(text: str) -> bytes:
    text = text.replace("-", "+").replace("_", "/")
    return base64.b64decode(text[: len(text) // 4 * 4], validate=True)


def _pair_location(obj: Mapping[str, Any], ctx: _Context, what: str) -> None:
    lat = lng = None
    for key, value in obj.items():
        j = _joined(str(key))
        if j in _LAT_WORDS or "纬度" in str(key):
            lat = (str(key), value)
        elif j in _LNG_WORDS or "经度" in str(key):
            lng = (str(key), value)
    if lat is None or lng is None:
        return
    a, b = _coordinate(lat[1]), _coordinate(lng[1])
    if a is not None and b is not None and abs(a) <= 90 and abs(b) <= 180:
        ctx.out.add(LOCATION, f"{what}s '{lat[0]}'/'{lng[0]}': precise coordinates")


def _coordinate(value: Any) -> float | None:
    """A coordinate given with 3 or more decimals (about 100 m or better), else None."""
    text = str(value).strip() if isinstance(value, str | int | float) else ""
    if isinstance(value, bool) or not re.fullmatch(r"-?\d{1,3}\.\d{3,}", text):
        return None
    return float(text)


# -- countries ------------------------------------------------------------------------------

#: Country-code TLDs used as generic names (they say nothing about where a server is).
GENERIC_CCTLDS = frozenset(
    {"io", "co", "ai", "tv", "me", "fm", "ly", "gg", "cc", "ws", "to", "sh", "ac", "am", "im",
     "la", "nu", "so", "st", "vc", "eu", "su", "app", "dev"}
)  # fmt: skip
_TLD_COUNTRY = {"uk": "GB"}


class CountryResolver:
    """A host's ISO country: manifest ``hosts`` map, then declared data flows, then ccTLD."""

    def __init__(
        self, hosts: Mapping[str, str] | None = None, flows: Sequence[DataFlow] = ()
    ) -> None:
        self._exact: dict[str, str] = {}
        self._suffix: list[tuple[str, str]] = []
        for host, country in (hosts or {}).items():
            self._put(host, country)
        self._flows: dict[str, str] = {}
        self._flow_suffix: list[tuple[str, str]] = []
        for flow in flows:
            if flow.country:
                dest = _host_of(flow.destination)
                if dest.startswith(("*.", ".")):
                    self._flow_suffix.append(("." + dest.lstrip("*."), flow.country.upper()))
                else:
                    self._flows.setdefault(dest, flow.country.upper())
        self._cache: dict[str, str | None] = {}

    def _put(self, host: str, country: str) -> None:
        host = host.strip().lower()
        if host.startswith(("*.", ".")):
            self._suffix.append(("." + host.lstrip("*."), country.upper()))
        else:
            self._exact[host] = country.upper()

    def country(self, host: str) -> str | None:
        host = host.lower().rstrip(".")
        if host in self._cache:
            return self._cache[host]
        found = (
            self._exact.get(host)
            or _suffix(host, self._suffix)
            or self._flows.get(host)
            or _suffix(host, self._flow_suffix)
            or tld_country(host)
        )
        self._cache[host] = found
        return found


def _suffix(host: str, rules: list[tuple[str, str]]) -> str | None:
    for suffix, country in rules:
        if host.endswith(suffix) or host == suffix[1:]:
            return country
    return None


def _host_of(destination: str) -> str:
    dest = destination.strip().lower()
    if "://" in dest:
        dest = urlsplit(dest).hostname or dest
    return dest.split("/")[0]


def tld_country(host: str) -> str | None:
    """``api.example.cn`` -> ``CN``; None for IP addresses, generic TLDs and generic ccTLDs."""
    try:
        ipaddress.ip_address(host.strip("[]"))
        return None
    except ValueError:
        pass
    tld = host.rsplit(".", 1)[-1].lower()
    if "." not in host or len(tld) != 2 or not tld.isalpha() or tld in GENERIC_CCTLDS:
        return None
    return _TLD_COUNTRY.get(tld, tld.upper())
