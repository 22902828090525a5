"""A TEST device identity for C2PA signing: root CA -> intermediate CA -> device leaf (ES256).

The chain carries what c2pa-rs checks at signing time: a non-CA leaf (BasicConstraints
critical), KeyUsage ``digitalSignature`` (critical), an EKU it accepts (emailProtection and
documentSigning), and Authority/Subject Key Identifiers on every certificate. Subject names
say ``TEST``: a verifier trusts this root only when told to (``--trust root-ca.pem``). Real
devices get their leaf from a manufacturer CA and keep the key in a secure element.

Files in the identity folder (keys mode 0600, folder 0700)::

    root-ca.pem  root-ca.key.pem  intermediate-ca.pem  intermediate-ca.key.pem
    device.pem   device.key.pem   chain.pem (device + intermediate, what the signer sends)
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from bystander import config
from bystander.errors import BystanderError, InputError, OutputError

ROOT_CERT = "root-ca.pem"
ROOT_KEY = "root-ca.key.pem"
INTERMEDIATE_CERT = "intermediate-ca.pem"
INTERMEDIATE_KEY = "intermediate-ca.key.pem"
DEVICE_CERT = "device.pem"
DEVICE_KEY = "device.key.pem"
CHAIN = "chain.pem"
KEY_FILES = (ROOT_KEY, INTERMEDIATE_KEY, DEVICE_KEY)
ALL_FILES = (
    ROOT_CERT,
    ROOT_KEY,
    INTERMEDIATE_CERT,
    INTERMEDIATE_KEY,
    DEVICE_CERT,
    DEVICE_KEY,
    CHAIN,
)

DEFAULT_DEVICE_DAYS = 365
ROOT_DAYS = 3650
INTERMEDIATE_DAYS = 1825
TEST_ORGANIZATION = "Bystander TEST identity (not for production)"
#: EKUs c2pa-rs accepts by default; a leaf needs one of them (never anyExtendedKeyUsage).
DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")
ACCEPTED_EKUS = frozenset(
    {
        ExtendedKeyUsageOID.EMAIL_PROTECTION,
        DOCUMENT_SIGNING,
        ExtendedKeyUsageOID.TIME_STAMPING,
        ExtendedKeyUsageOID.OCSP_SIGNING,
        x509.ObjectIdentifier("1.3.6.1.4.1.311.76.59.1.9"),
        x509.ObjectIdentifier("1.3.6.1.4.1.62558.2.1"),
    }
)


class IdentityError(BystanderError):
    """The device identity is missing, unreadable or does not meet the C2PA profile."""


def default_directory() -> Path:
    """``$BYSTANDER_HOME/provenance``."""
    return config.home() / "provenance"


@dataclass(frozen=True)
class ChainMaterial:
    """A freshly issued chain, in memory."""

    root: x509.Certificate
    root_key: ec.EllipticCurvePrivateKey
    intermediate: x509.Certificate
    intermediate_key: ec.EllipticCurvePrivateKey
    device: x509.Certificate
    device_key: ec.EllipticCurvePrivateKey

    @property
    def chain_pem(self) -> bytes:
        """Device certificate then intermediate (the order C2PA wants)."""
        return _cert_pem(self.device) + _cert_pem(self.intermediate)

    def files(self) -> dict[str, bytes]:
        return {
            ROOT_CERT: _cert_pem(self.root),
            ROOT_KEY: _key_pem(self.root_key),
            INTERMEDIATE_CERT: _cert_pem(self.intermediate),
            INTERMEDIATE_KEY: _key_pem(self.intermediate_key),
            DEVICE_CERT: _cert_pem(self.device),
            DEVICE_KEY: _key_pem(self.device_key),
            CHAIN: self.chain_pem,
        }


@dataclass(frozen=True)
class DeviceIdentity:
    """A device identity on disk: the paths the signer and verifier need, and the leaf."""

    directory: Path
    device: x509.Certificate

    @property
    def root_path(self) -> Path:
        return self.directory / ROOT_CERT

    @property
    def chain_path(self) -> Path:
        return self.directory / CHAIN

    @property
    def key_path(self) -> Path:
        return self.directory / DEVICE_KEY

    @property
    def chain_pem(self) -> str:
        return self.chain_path.read_text("ascii")

    @property
    def subject(self) -> str:
        return self.device.subject.rfc4514_string()

    @property
    def not_after(self) -> datetime:
        return self.device.not_valid_after_utc

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the device certificate (hex)."""
        return self.device.fingerprint(hashes.SHA256()).hex()


def issue_chain(
    common_name: str,
    *,
    days: int = DEFAULT_DEVICE_DAYS,
    now: datetime | None = None,
) -> ChainMaterial:
    """Issue root -> intermediate -> device certificates valid from ``now`` (default: now).

    ``now`` in the past makes an already expired chain (for tests of expiry handling).
    """
    if days < 1:
        raise InputError("--days must be at least 1")
    if not common_name.strip() or len(common_name) > 64:
        raise InputError("the device name must be 1 to 64 characters")
    start = (now or datetime.now(UTC)) - timedelta(minutes=5)
    tag = secrets.token_hex(4)
    root_key = ec.generate_private_key(ec.SECP256R1())
    inter_key = ec.generate_private_key(ec.SECP256R1())
    device_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name(f"Bystander TEST Root CA {tag}")
    inter_name = _name(f"Bystander TEST Device CA {tag}")
    ca_usage = x509.KeyUsage(
        digital_signature=False, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip
    root = (
        _base(root_name, root_name, root_key.public_key(), start, ROOT_DAYS)
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(ca_usage, critical=True)
        .add_extension(_aki(root_key), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    intermediate = (
        _base(inter_name, root_name, inter_key.public_key(), start, INTERMEDIATE_DAYS)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(ca_usage, critical=True)
        .add_extension(_aki(root_key), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    leaf_usage = x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip
    device = (
        _base(_name(common_name), inter_name, device_key.public_key(), start, days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(leaf_usage, critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION, DOCUMENT_SIGNING]),
            critical=False,
        )
        .add_extension(_aki(inter_key), critical=False)
        .sign(inter_key, hashes.SHA256())
    )
    return ChainMaterial(root, root_key, intermediate, inter_key, device, device_key)


def init_identity(
    directory: Path | None = None,
    *,
    common_name: str | None = None,
    days: int = DEFAULT_DEVICE_DAYS,
    force: bool = False,
) -> DeviceIdentity:
    """Create a test chain in ``directory`` (default ``$BYSTANDER_HOME/provenance``).

    Refuses to replace an existing identity unless ``force``. The folder appears complete
    or not at all: files are written to a temporary sibling folder that is renamed into place.
    ``common_name`` should name the device, never a person (it is in every manifest).
    """
    directory = Path(directory) if directory is not None else default_directory()
    name = common_name or f"Bystander TEST device {secrets.token_hex(3)}"
    material = issue_chain(name, days=days)
    write_identity(material, directory, force=force)
    return load_identity(directory)


def write_identity(material: ChainMaterial, directory: Path, *, force: bool = False) -> None:
    """Publish ``material`` as the identity folder ``directory`` (atomically)."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise OutputError(f"not a folder: {directory}")
    if directory.is_dir() and any(directory.iterdir()) and not force:
        raise OutputError(f"an identity exists in {directory} (use --force to replace it)")
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    except OSError as exc:
        raise OutputError(f"cannot write to {directory.parent}: {exc.strerror or exc}") from exc
    old: Path | None = None
    try:
        staging.chmod(0o700)
        for name, data in material.files().items():
            _write_file(staging / name, data, 0o600 if name in KEY_FILES else 0o644)
        if directory.exists():
            old = directory.with_name(f".{directory.name}.old-{secrets.token_hex(4)}")
            os.replace(directory, old)
        os.replace(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if old is not None and not directory.exists():
            os.replace(old, directory)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def load_identity(directory: Path | None = None) -> DeviceIdentity:
    """The identity in ``directory`` (default ``$BYSTANDER_HOME/provenance``)."""
    directory = Path(directory) if directory is not None else default_directory()
    missing = [
        name for name in (DEVICE_CERT, DEVICE_KEY, CHAIN) if not (directory / name).is_file()
    ]
    if missing:
        raise IdentityError(
            f"no device identity in {directory} (missing {', '.join(missing)}); "
            "run `bystander keys init`"
        )
    try:
        device = x509.load_pem_x509_certificate((directory / DEVICE_CERT).read_bytes())
    except (OSError, ValueError) as exc:
        raise IdentityError(f"cannot read {directory / DEVICE_CERT}: {exc}") from None
    return DeviceIdentity(directory, device)


def ensure_identity(directory: Path | None = None) -> tuple[DeviceIdentity, bool]:
    """The identity in ``directory``, created (a TEST chain) if the folder has none at all.

    Returns it and whether it was just created. A folder holding only part of an identity
    is an error, never silently replaced.
    """
    directory = Path(directory) if directory is not None else default_directory()
    present = [n for n in (DEVICE_CERT, DEVICE_KEY, CHAIN) if (directory / n).exists()]
    if present:
        return load_identity(directory), False
    return init_identity(directory), True


def load_chain(pem: bytes | str) -> list[x509.Certificate]:
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise IdentityError(f"cannot read certificate chain: {exc}") from None


def leaf_problems(cert: x509.Certificate, at: datetime | None = None) -> list[str]:
    """Why c2pa-rs would refuse ``cert`` as a signing leaf (empty when it is fine).

    The SDK reports every one of these as "the certificate is invalid"; this names them.
    """
    problems: list[str] = []
    at = at or datetime.now(UTC)
    if at < cert.not_valid_before_utc:
        problems.append(f"not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")
    if at > cert.not_valid_after_utc:
        problems.append(f"expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")
    ext = cert.extensions
    with contextlib.suppress(x509.ExtensionNotFound):
        if ext.get_extension_for_class(x509.BasicConstraints).value.ca:
            problems.append("is a CA certificate (a signing leaf must not be)")
    try:
        if not ext.get_extension_for_class(x509.KeyUsage).value.digital_signature:
            problems.append("KeyUsage lacks digitalSignature")
    except x509.ExtensionNotFound:
        problems.append("has no KeyUsage extension")
    try:
        usages = set(ext.get_extension_for_class(x509.ExtendedKeyUsage).value)
        if not usages & ACCEPTED_EKUS:
            problems.append("has no extended key usage C2PA accepts (e.g. emailProtection)")
    except x509.ExtensionNotFound:
        problems.append("has no ExtendedKeyUsage extension")
    for kind, label in (
        (x509.AuthorityKeyIdentifier, "AuthorityKeyIdentifier"),
        (x509.SubjectKeyIdentifier, "SubjectKeyIdentifier"),
    ):
        try:
            ext.get_extension_for_class(kind)
        except x509.ExtensionNotFound:
            problems.append(f"has no {label}")
    return problems


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, TEST_ORGANIZATION),
        ]
    )


def _base(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    start: datetime,
    days: int,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _aki(issuer_key: ec.EllipticCurvePrivateKey) -> x509.AuthorityKeyIdentifier:
    return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key())


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write_file(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(path, mode)
