"""Embed a signed C2PA manifest in a JPEG, PNG, WebP, MP4 or MOV file.

Signing writes a temporary file beside the target and renames it into place only after the
new manifest verified (so nothing is left on failure, and ``source == target`` signs in
place). No ingredient of the unredacted original and no thumbnail is ever embedded: the
Builder's thumbnail generation is off, and the result is checked for both.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import c2pa  # type: ignore[import-untyped, unused-ignore]

from bystander import __version__
from bystander.errors import BystanderError, InputError, OutputError, UnsupportedFormatError
from bystander.evidence.checkpoint import Checkpoint
from bystander.fsutil import atomic_output
from bystander.provenance.assertions import (
    ACTIONS,
    AuditCheckpointAssertion,
    CaptureGuardAssertion,
    ConsentAssertion,
    ConsentReference,
    ProtectionAssertion,
    anonymized_action,
    created_action,
    frame_ranges,
)
from bystander.provenance.pki import DeviceIdentity
from bystander.provenance.signer import (
    KeyFileSigner,
    ProvenanceSigner,
    check_signer,
    to_c2pa_signer,
)
from bystander.provenance.verify import Verification, c2pa_context, mime_type, verify_file

if TYPE_CHECKING:
    from bystander.vision.report import ItemReport

_RESERVED_PREFIXES = ("c2pa.", "stds.")


class ProvenanceError(BystanderError):
    """A file could not be signed, or its new manifest failed verification."""


@dataclass
class ProvenanceManifest:
    """What a signed file claims: actions plus Bystander's assertions (each optional)."""

    actions: list[dict[str, Any]]
    title: str | None = None
    capture: CaptureGuardAssertion | None = None
    consent: ConsentAssertion | None = None
    protection: ProtectionAssertion | None = None
    checkpoint: AuditCheckpointAssertion | None = None
    extra_assertions: list[dict[str, Any]] = field(default_factory=list)

    def assertions(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [{"label": ACTIONS, "data": {"actions": self.actions}}]
        for part in (self.capture, self.consent, self.protection, self.checkpoint):
            if part is not None:
                out.append(part.to_c2pa())
        for extra in self.extra_assertions:
            if str(extra.get("label", "")).startswith(_RESERVED_PREFIXES):
                raise ProvenanceError(f"assertion label {extra.get('label')!r} is reserved")
            out.append(extra)
        return out

    def to_c2pa(self, format: str, title: str) -> dict[str, Any]:
        return {
            "claim_generator_info": [{"name": "bystander", "version": __version__}],
            "title": self.title or title,
            "format": format,
            "assertions": self.assertions(),
        }


@dataclass(frozen=True)
class SignResult:
    path: Path
    format: str
    manifest_bytes: int
    seconds: float
    verification: Verification


def sign_file(
    source: Path,
    target: Path,
    manifest: ProvenanceManifest,
    signer: ProvenanceSigner,
    *,
    trust: Sequence[Path] | None = None,
    overwrite: bool = False,
) -> SignResult:
    """Sign ``source`` into ``target`` (``source == target``: in place) and verify the result.

    With ``trust`` roots the new manifest must verify as trusted, else at least as valid.
    Raises ``UnsupportedFormatError`` for formats other than JPEG, PNG, WebP, MP4 and MOV,
    ``IdentityError`` for a certificate C2PA would refuse (expired, wrong extensions), and
    ``ProvenanceError`` when signing or the check after it fails; ``target`` is then untouched.
    """
    started = time.perf_counter()
    source, target = Path(source), Path(target)
    if not source.is_file():
        raise InputError(f"no such file: {source}")
    fmt = mime_type(source)
    if mime_type(target) != fmt:
        raise OutputError(f"{target.name} must have the same format as {source.name}")
    in_place = source.resolve() == target.resolve()
    check_signer(signer)
    definition = manifest.to_c2pa(fmt, target.name)
    with atomic_output(target, overwrite=overwrite or in_place) as temp:
        size = _sign_into(source, temp, fmt, definition, signer)
        verification = verify_file(temp, trust)
        _check_signed(verification, trust, target)
    verification = replace(verification, path=target)
    return SignResult(target, fmt, size, time.perf_counter() - started, verification)


def _sign_into(
    source: Path, temp: Path, fmt: str, definition: dict[str, Any], signer: ProvenanceSigner
) -> int:
    native, recorder = to_c2pa_signer(signer)
    try:
        with (
            c2pa_context(None, sign=True) as context,
            c2pa.Builder(definition, context) as builder,
            open(source, "rb") as src,
            open(temp, "w+b") as dst,
        ):
            return len(builder.sign(native, fmt, src, dst))
    except c2pa.C2paError as exc:
        if recorder.error is not None:
            raise ProvenanceError(f"the signer failed: {recorder.error}") from None
        message = (str(exc).strip().splitlines() or ["unknown error"])[0]
        raise ProvenanceError(f"cannot sign {source.name}: {message}") from None
    finally:
        native.close()


def _check_signed(verification: Verification, trust: Sequence[Path] | None, target: Path) -> None:
    if verification.state == "invalid" or verification.state == "unsigned":
        codes = ", ".join(f.code for f in verification.failures) or verification.state
        raise ProvenanceError(f"the signed {target.name} does not verify ({codes})")
    if trust and verification.state != "trusted":
        raise ProvenanceError(f"the signed {target.name} does not chain to the given trust root")
    if verification.thumbnails or verification.ingredients:
        raise ProvenanceError(f"the signed {target.name} embeds a thumbnail or an ingredient")


def protection_from_report(
    report_item: ItemReport,
    settings_description: dict[str, Any],
    detector_description: dict[str, Any] | None = None,
) -> tuple[ProtectionAssertion, dict[str, Any]]:
    """The protection assertion and the ``c2pa.edited`` action for one protected file."""
    with_regions = [f for f in report_item.frames if f.regions or f.whole_frame_redacted]
    protection = ProtectionAssertion.from_descriptions(
        settings_description,
        report_item.summary.model_dump(),
        detector_description,
        kind=report_item.kind,
        width=report_item.width,
        height=report_item.height,
        frames_with_regions=len(with_regions),
    )
    if report_item.kind == "image":
        boxes = [r.box for f in report_item.frames for r in f.regions]
        action = anonymized_action(protection, boxes=boxes)
    else:
        action = anonymized_action(
            protection, frame_ranges=frame_ranges(f.index for f in with_regions)
        )
    return protection, action


def sign_protected(
    path: Path,
    report_item: ItemReport,
    settings_description: dict[str, Any],
    identity: DeviceIdentity,
    consent_refs: Iterable[str | ConsentReference] = (),
    checkpoint: Checkpoint | AuditCheckpointAssertion | None = None,
    capture: CaptureGuardAssertion | None = None,
    *,
    detector_description: dict[str, Any] | None = None,
    signer: ProvenanceSigner | None = None,
    trust: Sequence[Path] | None = None,
    captured_at: datetime | None = None,
    title: str | None = None,
) -> SignResult:
    """Sign a file ``bystander protect`` just wrote, in place.

    ``settings_description`` is ``ProtectSettings.describe()``, ``detector_description``
    the report's ``detector`` (``FaceDetector.describe()``). The signer defaults to the
    identity's key file; the result is checked against the identity's root unless ``trust``.
    """
    protection, edited = protection_from_report(
        report_item, settings_description, detector_description
    )
    return sign_output(
        path, identity, protection, edited, consent_refs, checkpoint, capture,
        signer=signer, trust=trust, captured_at=captured_at, title=title,
    )  # fmt: skip


def sign_capture(
    path: Path,
    identity: DeviceIdentity,
    capture: CaptureGuardAssertion,
    protection: ProtectionAssertion,
    consent_refs: Iterable[str | ConsentReference] = (),
    checkpoint: Checkpoint | AuditCheckpointAssertion | None = None,
    *,
    frame_ranges: Sequence[tuple[int, int]] = (),
    signer: ProvenanceSigner | None = None,
    trust: Sequence[Path] | None = None,
    captured_at: datetime | None = None,
    title: str | None = None,
) -> SignResult:
    """Sign a recording ``bystander capture`` published, in place.

    ``protection`` comes from a ``ProtectionTally`` on the session's frame protector
    (``tally.assertion(settings.describe(), detector.describe())``), ``frame_ranges`` from
    ``tally.ranges``, ``capture`` from ``capture_assertion(session, first_frame_ns=...)``.
    """
    edited = anonymized_action(protection, frame_ranges=frame_ranges)
    return sign_output(
        path, identity, protection, edited, consent_refs, checkpoint, capture,
        signer=signer, trust=trust, captured_at=captured_at, title=title,
    )  # fmt: skip


def sign_output(
    path: Path,
    identity: DeviceIdentity,
    protection: ProtectionAssertion | None,
    edited: dict[str, Any] | None,
    consent_refs: Iterable[str | ConsentReference] = (),
    checkpoint: Checkpoint | AuditCheckpointAssertion | None = None,
    capture: CaptureGuardAssertion | None = None,
    *,
    signer: ProvenanceSigner | None = None,
    trust: Sequence[Path] | None = None,
    captured_at: datetime | None = None,
    title: str | None = None,
) -> SignResult:
    """Build the manifest (``c2pa.created`` + ``edited``, assertions) and sign in place.

    ``title`` names the asset in the manifest (default: ``path``'s file name; give the
    published name when signing a temporary file)."""
    if isinstance(checkpoint, Checkpoint):
        checkpoint = AuditCheckpointAssertion.of(checkpoint)
    actions = [created_action(captured_at)] + ([edited] if edited else [])
    manifest = ProvenanceManifest(
        actions=actions,
        capture=capture,
        consent=ConsentAssertion.of(consent_refs),
        protection=protection,
        checkpoint=checkpoint,
        title=title,
    )
    if trust is None:
        trust = [identity.root_path] if identity.root_path.is_file() else None
    signer = signer or KeyFileSigner.for_identity(identity)
    return sign_file(path, path, manifest, signer, trust=trust)


__all__ = [
    "ProvenanceError",
    "ProvenanceManifest",
    "SignResult",
    "UnsupportedFormatError",
    "protection_from_report",
    "sign_capture",
    "sign_file",
    "sign_output",
    "sign_protected",
]
