"""Signed consent receipts: JWS EdDSA, verifiable offline, any changed byte is caught."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from bystander.consent import (
    ConsentEvent,
    ConsentKind,
    ConsentRecord,
    DataSubject,
    EventType,
    Processing,
    Scope,
)
from bystander.consent.receipts import (
    RECEIPT_SCHEMA,
    ForgedReceiptError,
    ReceiptError,
    UntrustedReceiptError,
    issue_receipt,
    verify_receipt,
)
from bystander.consent.trust import KeyRegistry, TrustedKey, public_jwk
from bystander.evidence import keys

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
RECORD = ConsentRecord(
    kind=ConsentKind.SEPARATE,
    subject=DataSubject(id="ds-7f3a"),
    processing=Processing(scopes=(Scope.FACE_ENROLMENT,), purposes=("unlock the door",)),
    events=(ConsentEvent(type=EventType.GIVEN, at=T0, by="ds-7f3a", method="PIN"),),
)
TOKEN = issue_receipt(RECORD, KEY, receipt_id="00000000-0000-4000-8000-000000000001", at=T0)
KID = keys.jwk_thumbprint(KEY)
TRUSTED = {KID: TrustedKey(KID, "test device", KEY.public_key())}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _part(token: str, index: int) -> dict[str, object]:
    raw = token.split(".")[index]
    value = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    assert isinstance(value, dict)
    return value


def test_receipt_is_a_compact_eddsa_jws_with_kid_and_jwk() -> None:
    header = _part(TOKEN, 0)
    assert header["alg"] == "EdDSA"
    assert header["kid"] == KID  # RFC 7638 thumbprint
    assert header["jwk"] == public_jwk(KEY)
    payload = _part(TOKEN, 1)
    assert payload["@type"] == "dpv:ConsentReceipt"
    assert payload["dct:conformsTo"] == "https://w3id.org/dpv/schema/dpv-27560#receipt"
    assert payload["dct:conformsTo"] == RECEIPT_SCHEMA
    assert payload["dct:subject"]["dct:identifier"] == RECORD.id  # type: ignore[index]


def test_receipt_verifies_offline_and_returns_the_record() -> None:
    verified = verify_receipt(TOKEN, trusted=TRUSTED)
    assert verified.record == RECORD
    assert verified.kid == KID and verified.trusted_as == "test device"
    assert verified.issued_at == T0
    assert verified.receipt_id == "00000000-0000-4000-8000-000000000001"
    assert verify_receipt(TOKEN, KEY.public_key(), kid=KID).record == RECORD
    assert verify_receipt(TOKEN, kid=KID).trusted_as == "pinned key"
    assert verify_receipt(TOKEN.encode() + b"\n", trusted=TRUSTED).record == RECORD


def test_a_receipt_from_an_unknown_key_is_untrusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The embedded jwk proves integrity, never trust: only known signers are valid."""
    monkeypatch.setenv("BYSTANDER_HOME", str(tmp_path))
    with pytest.raises(UntrustedReceiptError, match=f"untrusted key {KID}") as info:
        verify_receipt(TOKEN)
    assert info.value.exit_code == 3
    own = issue_receipt(RECORD)  # the device's own key is trusted without importing it
    assert verify_receipt(own).trusted_as == "this device's receipt key"
    KeyRegistry().add(KEY.public_key(), "glasses-0001")
    assert verify_receipt(TOKEN).trusted_as == "glasses-0001"
    assert KeyRegistry().remove(KID)
    with pytest.raises(UntrustedReceiptError):
        verify_receipt(TOKEN)


def test_default_key_is_the_consent_signing_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BYSTANDER_HOME", str(tmp_path))
    token = issue_receipt(RECORD)
    key = keys.load_or_create_signing_key("consent")
    assert verify_receipt(token, key.public_key()).kid == keys.jwk_thumbprint(key)


def test_another_signer_is_rejected() -> None:
    other = Ed25519PrivateKey.generate()
    with pytest.raises(UntrustedReceiptError, match="signed by key"):
        verify_receipt(TOKEN, other.public_key())
    with pytest.raises(UntrustedReceiptError, match="not deadbeef"):
        verify_receipt(TOKEN, kid="deadbeef")
    # a forger who swaps in their own jwk must also re-sign; the pinned key catches it
    forged = issue_receipt(RECORD, other)
    with pytest.raises(UntrustedReceiptError, match="signed by key"):
        verify_receipt(forged, KEY.public_key())
    with pytest.raises(UntrustedReceiptError, match="untrusted key"):
        verify_receipt(forged, trusted=TRUSTED)


def test_wrong_signature_is_rejected() -> None:
    header, payload, _ = TOKEN.split(".")
    bad = _b64(KEY.sign(b"something else"))
    with pytest.raises(ForgedReceiptError, match="signature is not valid") as info:
        verify_receipt(f"{header}.{payload}.{bad}", trusted=TRUSTED)
    assert info.value.exit_code == 3


def test_payload_swapped_under_a_valid_header_is_rejected() -> None:
    other = issue_receipt(RECORD.model_copy(update={"kind": ConsentKind.GENERAL}), KEY, at=T0)
    header, _, signature = TOKEN.split(".")
    with pytest.raises(ReceiptError, match="signature"):
        verify_receipt(f"{header}.{other.split('.')[1]}.{signature}", trusted=TRUSTED)


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (TOKEN[: len(TOKEN) // 2], "three parts|base64url|not JSON"),
        (TOKEN[:-10], "base64url|signature"),
        (TOKEN.rsplit(".", 1)[0], "three parts"),
        ("", "three parts"),
        ("a.b.c.d", "three parts"),
        ("ünïcode.x.y", "ASCII"),
    ],
)
def test_truncated_or_garbage_receipts_give_one_line_errors(token: str, message: str) -> None:
    with pytest.raises(ReceiptError, match=message) as info:
        verify_receipt(token)
    assert "\n" not in str(info.value)


def test_unsigned_or_foreign_algorithms_are_rejected() -> None:
    _, payload, _ = TOKEN.split(".")
    none_header = _b64(json.dumps({"alg": "none"}).encode())
    with pytest.raises(ReceiptError, match="three parts"):
        verify_receipt(f"{none_header}.{payload}.")  # unsigned
    with pytest.raises(ReceiptError, match="algorithm must be EdDSA"):
        verify_receipt(f"{none_header}.{payload}.AAAA")


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_changing_any_byte_breaks_the_receipt(data: st.DataObject) -> None:
    raw = bytearray(TOKEN.encode("ascii"))
    index = data.draw(st.integers(0, len(raw) - 1), label="index")
    value = data.draw(st.integers(0, 255).filter(lambda b: b != raw[index]), label="byte")
    raw[index] = value
    with pytest.raises(ReceiptError):
        verify_receipt(bytes(raw), trusted=TRUSTED)


def test_every_last_signature_character_variant_is_rejected() -> None:
    """Base64url's last character has spare bits: non-canonical spellings must not verify."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for char in alphabet:
        if char != TOKEN[-1]:
            with pytest.raises(ReceiptError):
                verify_receipt(TOKEN[:-1] + char, trusted=TRUSTED)
