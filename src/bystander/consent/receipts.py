"""Signed consent receipts: a JWS (compact serialization, EdDSA over Ed25519).

The payload is a ``dpv:ConsentReceipt`` in JSON-LD (DPV profile ``dpv-27560:receipt``: a
copy of the record) whose ``dct:subject`` is the full consent record; the protected header
carries the signer's key id (``kid``, the RFC 7638 JWK thumbprint) and public key (``jwk``),
so the data subject can keep the receipt and anyone can check it, offline, without the
database.

The embedded key only proves the receipt is intact: anyone can change a record and re-sign
it with a key of their own. ``verify_receipt`` therefore accepts a receipt only from a trusted
signer: a key pinned by the caller, else one in the ``KeyRegistry`` (the device's own receipt
key and keys an auditor imported). Any other signer raises ``UntrustedReceiptError`` (exit 3).

>>> token = issue_receipt(record)                          # doctest: +SKIP
>>> verify_receipt(token).record == record                 # doctest: +SKIP
True
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bystander.consent.jsonld import CONTEXT, check_context, record_from_node, record_node
from bystander.consent.models import ConsentFormatError, ConsentRecord, iso, utc
from bystander.consent.trust import DEVICE_KEY_NAME, KeyRegistry, TrustedKey, public_jwk
from bystander.evidence import keys
from bystander.evidence.keys import SigningKeyError

#: DPV's profile of a consent receipt that copies the record (w3c/dpv schema/dpv-27560).
RECEIPT_SCHEMA = "https://w3id.org/dpv/schema/dpv-27560#receipt"
#: Accepted when reading receipts issued by earlier versions (an IRI DPV never defined).
_LEGACY_SCHEMAS = frozenset({"https://w3id.org/dpv/schema/dpv-27560#receipt-full"})
#: The key name under ``config.keys_dir()`` receipts are signed with by default.
KEY_NAME = DEVICE_KEY_NAME
ALG = "EdDSA"

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


class ReceiptError(ConsentFormatError):
    """A receipt is malformed or truncated (exit 1)."""


class ForgedReceiptError(ReceiptError):
    """A receipt's signature or key id does not verify: it was altered (exit 3)."""

    exit_code = 3


class UntrustedReceiptError(ReceiptError):
    """A receipt verifies, but under a key that is not trusted (exit 3)."""

    exit_code = 3


@dataclass(frozen=True, slots=True)
class VerifiedReceipt:
    """What a valid receipt says, once its signature checked out."""

    receipt_id: str
    kid: str
    issued_at: datetime
    record: ConsentRecord
    jwk: dict[str, str]
    trusted_as: str = "pinned key"


def issue_receipt(
    record: ConsentRecord,
    key: Ed25519PrivateKey | None = None,
    *,
    receipt_id: str | None = None,
    at: datetime | None = None,
) -> str:
    """A signed receipt for ``record`` (key: ``load_or_create_signing_key("consent")``)."""
    key = key or keys.load_or_create_signing_key(KEY_NAME)
    receipt_id = receipt_id or str(uuid.uuid4())
    jwk = public_jwk(key)
    header = {"alg": ALG, "typ": "JOSE", "cty": "ld+json", "kid": jwk["kid"], "jwk": jwk}
    payload = {
        "@context": dict(CONTEXT),
        "@id": f"urn:uuid:{receipt_id}",
        "@type": "dpv:ConsentReceipt",
        "dct:identifier": receipt_id,
        "dct:conformsTo": RECEIPT_SCHEMA,
        "dct:issued": {"@value": iso(utc(at)), "@type": "xsd:dateTime"},
        "dct:subject": record_node(record),
    }
    signing_input = f"{_encode(header)}.{_encode(payload)}"
    signature = key.sign(signing_input.encode("ascii"))
    return f"{signing_input}.{keys.b64url(signature)}"


def verify_receipt(
    token: str | bytes,
    public_key: Ed25519PublicKey | None = None,
    *,
    kid: str | None = None,
    trusted: Mapping[str, TrustedKey] | None = None,
) -> VerifiedReceipt:
    """Check a receipt's signature, its signer and its content (one-line errors).

    The signer must be ``public_key`` or have thumbprint ``kid`` when given; otherwise it
    must be one of ``trusted`` (default: ``KeyRegistry().trusted()``, the device's own key
    and imported keys). ``ReceiptError`` when malformed, ``ForgedReceiptError`` when the
    signature fails, ``UntrustedReceiptError`` when another key signed it.
    """
    text = _ascii(token).strip()
    parts = text.split(".")
    if len(parts) != 3 or not all(parts):
        raise ReceiptError("not a consent receipt: expected a compact JWS (three parts)")
    header = _json(_decode(parts[0], "header"), "header")
    if header.get("alg") != ALG:
        raise ReceiptError(f"receipt algorithm must be {ALG}, got {header.get('alg')!r}")
    if "crit" in header:
        raise ReceiptError("receipt header has critical extensions this verifier does not know")
    signer = _signer(header, public_key)
    thumbprint = keys.jwk_thumbprint(signer)
    if header.get("kid") not in (thumbprint, keys.key_id(signer)):
        raise ForgedReceiptError("receipt kid does not match its signing key")
    signature = _decode(parts[2], "signature")
    try:
        signer.verify(signature, f"{parts[0]}.{parts[1]}".encode("ascii"))
    except InvalidSignature:
        raise ForgedReceiptError(
            "receipt signature is not valid: it was altered or signed by another key"
        ) from None
    trusted_as = _trust(signer, thumbprint, public_key, kid, trusted)
    payload = _json(_decode(parts[1], "payload"), "payload")
    verified = _read_payload(payload, thumbprint, public_jwk(signer))
    return replace(verified, trusted_as=trusted_as)


def _trust(
    signer: Ed25519PublicKey,
    thumbprint: str,
    public_key: Ed25519PublicKey | None,
    kid: str | None,
    trusted: Mapping[str, TrustedKey] | None,
) -> str:
    """How the signer is trusted, or ``UntrustedReceiptError``."""
    if public_key is not None or kid is not None:
        if kid is not None and kid != thumbprint:
            raise UntrustedReceiptError(f"receipt was signed by key {thumbprint}, not {kid}")
        return "pinned key"
    known = KeyRegistry().trusted() if trusted is None else trusted
    entry = known.get(thumbprint)
    if entry is None:
        raise UntrustedReceiptError(
            f"receipt is signed by untrusted key {thumbprint} (not this device's key nor an "
            "imported one); pin the expected key with --public-key, or import it with "
            "`bystander consent trust-key add`"
        )
    return entry.name


def _read_payload(payload: dict[str, Any], kid: str, jwk: dict[str, str]) -> VerifiedReceipt:
    try:
        check_context(payload)
        if payload.get("@type") != "dpv:ConsentReceipt":
            raise ReceiptError("receipt payload is not a dpv:ConsentReceipt")
        if payload.get("dct:conformsTo") not in {RECEIPT_SCHEMA, *_LEGACY_SCHEMAS}:
            raise ReceiptError(f"unsupported receipt version {payload.get('dct:conformsTo')!r}")
        receipt_id = payload.get("dct:identifier")
        issued = payload.get("dct:issued")
        if not isinstance(receipt_id, str) or not isinstance(issued, dict):
            raise ReceiptError("receipt payload lacks its identifier or issue time")
        issued_at = utc(datetime.fromisoformat(str(issued.get("@value"))))
        record = record_from_node(payload.get("dct:subject"), "receipt record")
    except ReceiptError:
        raise
    except (ConsentFormatError, ValueError) as exc:
        raise ReceiptError(f"receipt content is not valid: {exc}") from None
    return VerifiedReceipt(
        receipt_id=receipt_id, kid=kid, issued_at=issued_at, record=record, jwk=jwk
    )


def _signer(header: dict[str, Any], expected: Ed25519PublicKey | None) -> Ed25519PublicKey:
    embedded = header.get("jwk")
    if embedded is None:
        if expected is None:
            raise ReceiptError("receipt has no embedded key (jwk); give the signer's public key")
        return expected
    if not isinstance(embedded, dict) or (embedded.get("kty"), embedded.get("crv")) != (
        "OKP",
        "Ed25519",
    ):
        raise ReceiptError("receipt jwk is not an Ed25519 (OKP) public key")
    x = embedded.get("x")
    if not isinstance(x, str):
        raise ReceiptError("receipt jwk lacks its public key (x)")
    try:
        key = keys.public_key_from_bytes(_decode(x, "jwk"))
    except SigningKeyError as exc:
        raise ReceiptError(f"receipt jwk: {exc}") from None
    if expected is not None and keys.public_key_bytes(expected) != keys.public_key_bytes(key):
        raise UntrustedReceiptError(
            f"receipt was signed by key {keys.jwk_thumbprint(key)}, not the pinned "
            f"{keys.jwk_thumbprint(expected)}"
        )
    return key


def _encode(value: dict[str, Any]) -> str:
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return keys.b64url(text.encode("utf-8"))


def _decode(text: str, what: str) -> bytes:
    """Strict base64url: only the URL alphabet, no padding, and the one canonical spelling."""
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ReceiptError(f"receipt {what} is not base64url (truncated or corrupt)")
    data = keys.b64url_decode(text)
    if keys.b64url(data) != text:
        raise ReceiptError(f"receipt {what} is not canonical base64url (altered)")
    return data


def _json(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ReceiptError(f"receipt {what} is not JSON (truncated or corrupt)") from None
    if not isinstance(value, dict):
        raise ReceiptError(f"receipt {what} is not a JSON object")
    return value


def _ascii(token: str | bytes) -> str:
    try:
        return token.decode("ascii") if isinstance(token, bytes) else token.encode("ascii").decode()
    except (UnicodeDecodeError, UnicodeEncodeError):
        raise ReceiptError("not a consent receipt: a JWS holds only ASCII characters") from None
