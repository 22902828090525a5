"""Read and validate a file's C2PA manifest, offline, and say what it proves in plain words.

States:

- ``trusted``: the manifest validates and its signer chains to one of the trust roots;
- ``valid``: the manifest validates, but the signer is not trusted (no root given, or
  another one): the file is intact, but anyone could have signed it;
- ``invalid``: something fails: the file changed after signing (a hash mismatch), the claim
  signature is wrong, or the certificate expired;
- ``unsigned``: the file carries no manifest (platforms often strip them: "unknown", not
  "covert").

Expiry: a manifest signed without an RFC 3161 timestamp turns ``invalid``
(``signingCredential.expired``) as soon as the device certificate expires, because nothing
proves it was signed while the certificate was valid. Configure a timestamp authority
(``$BYSTANDER_TSA_URL``) where the device has a network; offline devices need certificates
that outlive the retention period, or a timestamp added later.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import c2pa  # type: ignore[import-untyped, unused-ignore]
from cryptography import x509

from bystander.errors import InputError, UnsupportedFormatError
from bystander.provenance.assertions import (
    ACTIONS,
    AUDIT_CHECKPOINT,
    CAPTURE_GUARD,
    CONSENT,
    DIGITAL_CAPTURE,
    PROTECTION,
)

State = Literal["trusted", "valid", "invalid", "unsigned"]
MIME_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
}
#: Assertions every Bystander output must carry unless ``require`` says otherwise.
DEFAULT_REQUIRED = (ACTIONS, PROTECTION)
_EXPLANATIONS = {
    "assertion.dataHash.mismatch": "the file's bytes changed after it was signed",
    "assertion.bmffHash.mismatch": "the video's bytes changed after it was signed",
    "signingCredential.untrusted": "the signing certificate does not chain to a trusted root",
    "signingCredential.expired": "the signing certificate has expired and no trusted "
    "timestamp proves the file was signed before that",
    "claimSignature.mismatch": "the manifest's signature does not match its contents",
    "assertion.hashedURI.mismatch": "an assertion was changed after signing",
    "manifest.unreadable": "the manifest cannot be read (damaged or altered)",
}


@dataclass(frozen=True)
class Failure:
    code: str
    explanation: str


@dataclass(frozen=True)
class Verification:
    """What ``verify_file`` found. ``statements`` are the assertions in plain words."""

    path: Path
    state: State
    format: str | None = None
    title: str | None = None
    signer: str | None = None
    issuer: str | None = None
    algorithm: str | None = None
    timestamp: str | None = None
    signed_at: str | None = None
    labels: list[str] = field(default_factory=list)
    assertions: dict[str, Any] = field(default_factory=dict)
    statements: list[str] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    thumbnails: bool = False
    ingredients: int = 0
    ingredient_titles: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.missing

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path)
        data["complete"] = self.complete
        return data


def mime_type(path: Path) -> str:
    """The C2PA format of ``path`` from its extension (JPEG, PNG, WebP, MP4, MOV)."""
    fmt = MIME_TYPES.get(Path(path).suffix.lower())
    if fmt is None:
        supported = ", ".join(sorted({s.lstrip(".") for s in MIME_TYPES}))
        raise UnsupportedFormatError(
            f"{Path(path).name}: provenance supports {supported} files only"
        )
    return fmt


def read_trust_roots(paths: Iterable[Path]) -> str:
    """The PEM certificates in ``paths``, concatenated (each file must hold at least one)."""
    parts: list[str] = []
    for path in paths:
        try:
            text = Path(path).read_bytes().decode("ascii", "replace")
        except OSError as exc:
            raise InputError(f"cannot read trust root {path}: {exc.strerror or exc}") from None
        if "-----BEGIN CERTIFICATE-----" not in text:
            raise InputError(f"{path} holds no PEM certificate")
        try:
            x509.load_pem_x509_certificates(text.encode("ascii"))
        except ValueError as exc:
            raise InputError(f"cannot read trust root {path}: {exc}") from None
        parts.append(text.strip() + "\n")
    return "".join(parts)


def c2pa_context(trust_roots: Sequence[Path] | None, *, sign: bool = False) -> Any:
    """An offline ``c2pa.Context``: no remote fetches, no OCSP, no thumbnails."""
    settings: dict[str, Any] = {
        "verify": {
            "remote_manifest_fetch": False,
            "ocsp_fetch": False,
            "verify_after_sign": sign,
        },
        "builder": {"thumbnail": {"enabled": False}},
    }
    if trust_roots:
        settings["trust"] = {"user_anchors": read_trust_roots(trust_roots)}
    return c2pa.Context.from_dict(settings)


def verify_file(
    path: Path,
    trust_roots: Sequence[Path] | None = None,
    *,
    require: Sequence[str] = DEFAULT_REQUIRED,
) -> Verification:
    """Validate ``path``'s manifest against ``trust_roots`` (PEM files), offline."""
    path = Path(path)
    fmt = mime_type(path)
    if not path.is_file():
        raise InputError(f"no such file: {path}")
    with c2pa_context(trust_roots) as context, open(path, "rb") as stream:
        try:
            reader = c2pa.Reader.try_create(fmt, stream, context=context)
        except c2pa.C2paError as exc:
            message = (str(exc).strip().splitlines() or ["unreadable"])[0]
            failure = Failure("manifest.unreadable", f"{_EXPLANATIONS['manifest.unreadable']}: "
                              f"{message[:200]}")  # fmt: skip
            return Verification(path, "invalid", fmt, failures=[failure])
        if reader is None:
            return Verification(path, "unsigned", fmt, statements=["No C2PA manifest."])
        with reader:
            sdk_state = str(reader.get_validation_state() or "Invalid")
            results = reader.get_validation_results() or {}
            active = reader.get_active_manifest() or {}
            store = json.loads(reader.json())
    return _verification(path, fmt, sdk_state, results, active, store, require)


def _verification(
    path: Path,
    fmt: str,
    sdk_state: str,
    results: dict[str, Any],
    active: dict[str, Any],
    store: dict[str, Any],
    require: Sequence[str],
) -> Verification:
    state: State = {"Trusted": "trusted", "Valid": "valid"}.get(sdk_state, "invalid")  # type: ignore[assignment]
    failures = [
        Failure(str(item.get("code")), _EXPLANATIONS.get(str(item.get("code")))
                or str(item.get("explanation", "")))
        for item in (results.get("activeManifest") or {}).get("failure", [])
    ]  # fmt: skip
    assertions: dict[str, Any] = {}
    for item in active.get("assertions", []):
        label = str(item.get("label", ""))
        key = ACTIONS if label.startswith(ACTIONS) else label
        assertions[key] = item.get("data")
    info = active.get("signature_info") or {}
    manifests = store.get("manifests") or {}
    thumbnails = any("thumbnail" in m for m in manifests.values()) or any(
        "thumbnail" in str(item.get("label", "")) for item in active.get("assertions", [])
    )
    ingredients = sum(len(m.get("ingredients") or []) for m in manifests.values())
    titles = [
        f"{item.get('title')} ({item.get('format')})" for item in active.get("ingredients") or []
    ]
    verification = Verification(
        path=path,
        state=state,
        format=fmt,
        title=active.get("title"),
        signer=info.get("common_name"),
        issuer=info.get("issuer"),
        algorithm=info.get("alg"),
        timestamp=info.get("time"),
        signed_at=_signed_at(assertions.get(ACTIONS)),
        labels=list(assertions),
        assertions=assertions,
        failures=failures,
        missing=[label for label in require if label not in assertions],
        thumbnails=thumbnails,
        ingredients=ingredients,
        ingredient_titles=titles,
    )
    object.__setattr__(verification, "statements", describe(verification))
    return verification


def _signed_at(actions: Any) -> str | None:
    for action in (actions or {}).get("actions", []):
        if action.get("when"):
            return str(action["when"])
    return None


def describe(v: Verification) -> list[str]:
    """The manifest's claims in plain words."""
    out: list[str] = []
    if v.state == "invalid":
        out.append("WARNING: the manifest does not validate; the claims below are not proven.")
    elif v.state == "valid":
        out.append("The signer is not trusted: the file is intact, but anyone could sign this.")
    if v.signer:
        out.append(f"Signed by {v.signer} ({v.issuer or 'unknown issuer'}), {v.algorithm}.")
    if v.timestamp:
        out.append(f"Trusted timestamp: {v.timestamp}.")
    else:
        out.append(
            "No trusted timestamp: the manifest turns invalid once the signing certificate expires."
        )
    a = v.assertions
    out += _describe_actions(a.get(ACTIONS), v.ingredient_titles)
    if CAPTURE_GUARD in a:
        out += _describe_capture(a[CAPTURE_GUARD])
    if CONSENT in a:
        out.append(_describe_consent(a[CONSENT]))
    if PROTECTION in a:
        out += _describe_protection(a[PROTECTION])
    if AUDIT_CHECKPOINT in a:
        c = a[AUDIT_CHECKPOINT]
        out.append(
            f"Covered by audit checkpoint {c.get('origin')} at tree size {c.get('tree_size')} "
            f"(root {str(c.get('root_hash'))[:16]}...)."
        )
    for label in v.missing:
        out.append(f"Missing assertion: {label}.")
    if v.thumbnails:
        out.append("Warning: the manifest embeds a thumbnail.")
    return out


def _describe_actions(data: Any, ingredients: list[str]) -> list[str]:
    out: list[str] = []
    for action in (data or {}).get("actions", []):
        name = action.get("action")
        when = action.get("when", "an unknown time")
        if name == "c2pa.created":
            source = action.get("digitalSourceType")
            how = "by a digital capture" if source == DIGITAL_CAPTURE else f"({source})"
            out.append(f"Created {how} at {when} (the first frame).")
        elif name == "c2pa.opened":
            what = ", ".join(ingredients) or "an input"
            out.append(f"Made from {what} (opened at {when}; recorded by name only).")
        elif name in ("c2pa.redacted", "c2pa.edited"):
            reason = f" ({action['reason']})" if action.get("reason") else ""
            regions = len(action.get("changes") or [])
            listed = f"; {regions} region(s) of interest listed" if regions else ""
            verb = "Redacted" if name == "c2pa.redacted" else "Edited"
            out.append(f"{verb}{reason}: {action.get('description', 'no description')}{listed}.")
        elif name:
            out.append(f"Action {name}.")
    return out


def _describe_capture(c: dict[str, Any]) -> list[str]:
    out: list[str] = []
    lead = c.get("indicator_lead_ms")
    if lead is None:
        out.append("The indicator confirmation time is not recorded.")
    elif lead >= 0:
        out.append(f"Indicator confirmed on {lead:g} ms before the first frame.")
        required = c.get("required_lead_ms")
        if isinstance(required, int | float) and lead < required:
            out.append(f"WARNING: less than the required {required:g} ms lead.")
    else:
        out.append(f"WARNING: the first frame came {-lead:g} ms before the indicator was on.")
    first, last = c.get("first_frame_ns"), c.get("last_frame_ns")
    frames = c.get("frames_released")
    count = f", {frames} frames released" if frames is not None else ""
    duration = c.get("duration_s")
    if isinstance(duration, int | float):
        media = c.get("media_frames")
        held = f" in {media} frames" if media is not None else ""
        out.append(f"Recording lasts {duration:.3f} s{held} (its frame timestamps){count}.")
    elif isinstance(first, int) and isinstance(last, int):
        out.append(f"Frames released over {(last - first) / 1e9:.3f} s of device time{count}.")
    faults = c.get("faults") or []
    if faults:
        listed = "; ".join(f"{f.get('rule')} {f.get('reason', '')}".strip() for f in faults)
        out.append(f"{len(faults)} capture-guard fault(s): {listed}.")
    else:
        out.append("No capture-guard faults.")
    out.append(f"Session {c.get('session_id')} on device {c.get('device_id')}.")
    return out


def _describe_consent(c: dict[str, Any]) -> str:
    records = c.get("records") or []
    by_hash = sum(1 for r in records if r.get("sha256"))
    scopes = sorted({r["scope"] for r in records if r.get("scope")})
    text = f"{len(records)} consent record{'s' if len(records) != 1 else ''} referenced"
    if by_hash:
        text += f" ({by_hash} by hash)"
    if scopes:
        text += f" for {', '.join(scopes)}"
    return text + "."


def _describe_protection(p: dict[str, Any]) -> list[str]:
    detector = p.get("detector") or {}
    frames = p.get("frames", 0)
    settings = [f"threshold {detector['threshold']:g}"] if "threshold" in detector else []
    if p.get("preset"):
        settings.append(f"preset {p['preset']}")
    mask = p.get("mask") or {}
    if mask.get("mode"):
        settings.append(f"{mask['mode']} mask")
    out = [
        f"{p.get('regions_redacted', 0)} face regions redacted in {frames} "
        f"frame{'s' if frames != 1 else ''} by {detector.get('name', 'an unknown detector')}"
        + (f" ({', '.join(settings)})." if settings else ".")
    ]
    if p.get("tracks"):
        out.append(f"{p['tracks']} face tracks followed.")
    if p.get("whole_frames_redacted"):
        out.append(f"{p['whole_frames_redacted']} frames hidden whole after detector errors.")
    if p.get("biometric_templates_created") is False:
        out.append("No biometric templates were created.")
    return out
