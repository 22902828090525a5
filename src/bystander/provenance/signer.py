"""Who signs: a ``ProvenanceSigner`` gives an algorithm, a certificate chain and ``sign(data)``.

``KeyFileSigner`` signs with the device key file; ``CallbackSigner`` wraps any callable, so
a real device can keep its key in a secure element, TEE or HSM and never expose it::

    signer = CallbackSigner(secure_element.sign_es256_der, "es256", chain_pem)

For ES256/ES384 the callable returns a DER ECDSA signature; for Ed25519 the raw 64 bytes.
Both become ``c2pa.Signer.from_callback``. A timestamp authority (RFC 3161) is used when
``tsa_url`` is set or ``$BYSTANDER_TSA_URL`` is; without one, a manifest turns invalid once
the device certificate expires (see ``bystander.provenance.verify``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import c2pa  # type: ignore[import-untyped, unused-ignore]
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from bystander.errors import InputError
from bystander.provenance.pki import DeviceIdentity, IdentityError, leaf_problems, load_chain

TSA_URL_ENV = "BYSTANDER_TSA_URL"
_ALGS = {
    "es256": c2pa.C2paSigningAlg.ES256,
    "es384": c2pa.C2paSigningAlg.ES384,
    "es512": c2pa.C2paSigningAlg.ES512,
    "ps256": c2pa.C2paSigningAlg.PS256,
    "ed25519": c2pa.C2paSigningAlg.ED25519,
}


@runtime_checkable
class ProvenanceSigner(Protocol):
    """Signs C2PA claims. ``certificate_chain_pem``: leaf first, then intermediates."""

    @property
    def alg(self) -> str: ...

    @property
    def certificate_chain_pem(self) -> str: ...

    @property
    def tsa_url(self) -> str | None: ...

    def sign(self, data: bytes) -> bytes: ...


def default_tsa_url() -> str | None:
    """``$BYSTANDER_TSA_URL`` (an RFC 3161 timestamp authority), or None."""
    return check_tsa_url(os.environ.get(TSA_URL_ENV) or None)


def check_tsa_url(url: str | None) -> str | None:
    if url is not None and not url.startswith(("http://", "https://")):
        raise InputError(f"timestamp authority URL must be http(s): {url[:80]!r}")
    return url


@dataclass
class CallbackSigner:
    """Any ``callback(data) -> signature`` (a secure element, an HSM, a remote service)."""

    callback: Callable[[bytes], bytes]
    alg: str
    certificate_chain_pem: str
    tsa_url: str | None = field(default_factory=default_tsa_url)

    def __post_init__(self) -> None:
        self.alg = self.alg.lower()
        if self.alg not in _ALGS:
            raise InputError(f"unsupported signing algorithm {self.alg!r}")
        check_tsa_url(self.tsa_url)

    def sign(self, data: bytes) -> bytes:
        return self.callback(data)


class KeyFileSigner:
    """Signs with a PEM private key file (P-256/P-384 ECDSA or Ed25519)."""

    def __init__(self, key_path: Path, chain_pem: str, tsa_url: str | None = None) -> None:
        self.key_path = Path(key_path)
        self.certificate_chain_pem = chain_pem
        self.tsa_url = check_tsa_url(tsa_url) if tsa_url is not None else default_tsa_url()
        try:
            key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise IdentityError(f"cannot read signing key {self.key_path}: {exc}") from None
        if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name in (
            "secp256r1",
            "secp384r1",
        ):
            self.alg = "es256" if key.curve.name == "secp256r1" else "es384"
        elif isinstance(key, ed25519.Ed25519PrivateKey):
            self.alg = "ed25519"
        else:
            raise IdentityError(
                f"{self.key_path}: only P-256, P-384 and Ed25519 keys are supported"
            )
        self._key = key

    @classmethod
    def for_identity(cls, identity: DeviceIdentity, tsa_url: str | None = None) -> KeyFileSigner:
        return cls(identity.key_path, identity.chain_pem, tsa_url)

    def sign(self, data: bytes) -> bytes:
        key = self._key
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key.sign(data)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        digest = hashes.SHA256() if self.alg == "es256" else hashes.SHA384()
        return key.sign(data, ec.ECDSA(digest))


class _Recorder:
    """Keeps the first exception the callback raised (the SDK only sees a failure)."""

    def __init__(self, signer: ProvenanceSigner) -> None:
        self.signer = signer
        self.error: BaseException | None = None

    def __call__(self, data: bytes) -> bytes:
        try:
            signature = self.signer.sign(data)
        except Exception as exc:
            self.error = self.error or exc
            raise
        if not signature:
            self.error = self.error or IdentityError("the signer returned an empty signature")
        return signature


def check_signer(signer: ProvenanceSigner) -> None:
    """Name the problem c2pa-rs would only call "the certificate is invalid"."""
    chain = load_chain(signer.certificate_chain_pem)
    if not chain:
        raise IdentityError("the signer has no certificate chain")
    problems = leaf_problems(chain[0])
    if problems:
        subject = chain[0].subject.rfc4514_string()
        raise IdentityError(f"device certificate {subject} {'; '.join(problems)}")


def to_c2pa_signer(signer: ProvenanceSigner) -> tuple[c2pa.Signer, _Recorder]:
    """A single-use ``c2pa.Signer`` and the recorder that keeps the callback's error."""
    alg = _ALGS.get(signer.alg.lower())
    if alg is None:
        raise InputError(f"unsupported signing algorithm {signer.alg!r}")
    recorder = _Recorder(signer)
    native = c2pa.Signer.from_callback(
        recorder, alg, signer.certificate_chain_pem, check_tsa_url(signer.tsa_url)
    )
    return native, recorder
