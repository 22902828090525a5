"""Embed a signed C2PA manifest in a JPEG, PNG, WebP, MP4 or MOV file.

Signing writes a temporary file beside the target and renames it into place only after the
new manifest verified (so nothing is left on failure, and ``source == target`` signs in
place). Nothing of the unredacted original is ever embedded: the input of ``protect`` is an
ingredient by name and format only, the Builder's thumbnail generation is off, and the result
is checked for thumbnails and for ingredients beyond the ones declared.

What the actions claim (see ``bystander.provenance.assertions``): only ``sign_capture``
claims a digital capture, dated at the first frame; ``sign_protected`` and ``sign_file``
callers that process an existing file say ``c2pa.opened``. Video time ranges and durations
come from the signed file's own frame timestamps.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import c2pa  # type: ignore[import-untyped, unused-ignore]

from bystander._version import __version__
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
    created_action,
    frame_ranges,
    input_ingredient,
    opened_action,
    redacted_action,
)
from bystander.provenance.media import FrameTimes, frame_times
from bystander.provenance.pki import DeviceIdentity
from bystander.provenance.signer import (
    KeyFileSigner,
    ProvenanceSigner,
    check_signer,
    to_c2pa_signer,
)
from bystander.provenance.verify import (
    MIME_TYPES,
    Verification,
    c2pa_context,
    mime_type,
    verify_file,
)

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
    ingredients: list[dict[str, Any]] = field(default_factory=list)

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
        definition: dict[str, Any] = {
            "claim_generator_info": [{"name": "bystander", "version": __version__}],
            "title": self.title or title,
            "format": format,
            "assertions": self.assertions(),
        }
        if self.ingredients:
            definition["ingredients"] = self.ingredients
        return definition


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
        _check_signed(verification, trust, target, len(manifest.ingredients))
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


def _check_signed(
    verification: Verification, trust: Sequence[Path] | None, target: Path, ingredients: int = 0
) -> None:
    if verification.state == "invalid" or verification.state == "unsigned":
        codes = ", ".join(f.code for f in verification.failures) or verification.state
        raise ProvenanceError(f"the signed {target.name} does not verify ({codes})")
    if trust and verification.state != "trusted":
        raise ProvenanceError(f"the signed {target.name} does not chain to the given trust root")
    if verification.thumbnails or verification.ingredients > ingredients:
        raise ProvenanceError(f"the signed {target.name} embeds a thumbnail or an ingredient")


def protection_from_report(
    report_item: ItemReport,
    settings_description: dict[str, Any],
    detector_description: dict[str, Any] | None = None,
    timing: FrameTimes | None = None,
) -> tuple[ProtectionAssertion, dict[str, Any]]:
    """The protection assertion and the ``c2pa.redacted`` action for one protected file.

    ``timing`` (the output's frame timestamps) adds a time range to each video frame range.
    """
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
        return protection, redacted_action(protection, boxes=boxes)
    ranges = frame_ranges(f.index for f in with_regions)
    return protection, redacted_action(
        protection, frame_ranges=ranges, times=_times(ranges, timing)
    )


def _times(
    ranges: Sequence[tuple[int, int]], timing: FrameTimes | None
) -> list[tuple[float, float]] | None:
    if timing is None:
        return None
    try:
        return [timing.span(start, end) for start, end in ranges]
    except ValueError as exc:
        raise ProvenanceError(f"the report does not match the file's frames: {exc}") from None


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
    """Sign a file ``bystander protect`` just wrote, in place: ``c2pa.opened`` of the input
    (an ingredient titled ``input`` with the input's format: its file name may itself be
    personal) and ``c2pa.redacted``.

    ``settings_description`` is ``ProtectSettings.describe()``, ``detector_description``
    the report's ``detector`` (``FaceDetector.describe()``). The signer defaults to the
    identity's key file; the result is checked against the identity's root unless ``trust``.
    ``capture``/``captured_at`` are accepted for compatibility and ignored for actions: a
    protected file was opened, not captured, whatever its input was.
    """
    timing = frame_times(path) if report_item.kind == "video" else None
    protection, redacted = protection_from_report(
        report_item, settings_description, detector_description, timing
    )
    source = Path(report_item.input)
    source_format = MIME_TYPES.get(source.suffix.lower()) or mime_type(path)
    return sign_output(
        path, identity, protection, redacted, consent_refs, checkpoint, capture,
        signer=signer, trust=trust, title=title,
        opened=input_ingredient("input", source_format),
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
    """Sign a recording ``bystander capture`` published, in place: ``c2pa.created``
    (``digitalCapture``) dated at the first frame, then ``c2pa.redacted``.

    ``protection`` comes from a ``ProtectionTally`` on the session's frame protector
    (``tally.assertion(settings.describe(), detector.describe())``), ``frame_ranges`` from
    ``tally.ranges``, ``capture`` from ``capture_assertion(session, first_frame_ns=...)``.
    ``captured_at`` is the wall time of the first frame; by default it is derived from
    ``capture.first_frame_ns``, which ``bystander capture`` stamps on this process's
    monotonic clock. The recording's duration comes from the file's frame timestamps, and so do
    the redaction time ranges when the protector saw exactly the file's frames (otherwise
    only the frame ranges of the protector's count are listed).
    """
    timing = frame_times(path)
    capture = capture.model_copy(
        update={"duration_s": round(timing.duration, 6), "media_frames": len(timing.starts)}
    )
    if captured_at is None and capture.first_frame_ns is not None:
        captured_at = wall_time_of_monotonic(capture.first_frame_ns)
    if captured_at is None:
        raise ProvenanceError("a capture needs the time of its first frame (captured_at)")
    # Time ranges only when the tally's frames are the file's frames one for one: a session
    # may protect frames it then withholds, and an invented mapping would misstate them.
    exact = protection.frames == len(timing.starts)
    times = _times(frame_ranges, timing) if exact else None
    redacted = redacted_action(protection, frame_ranges=frame_ranges, times=times)
    return sign_output(
        path, identity, protection, redacted, consent_refs, checkpoint, capture,
        signer=signer, trust=trust, captured_at=captured_at, title=title,
    )  # fmt: skip


def wall_time_of_monotonic(monotonic_ns: int) -> datetime:
    """The UTC wall time at which this process's monotonic clock read ``monotonic_ns``."""
    offset = time.time_ns() - time.monotonic_ns()
    return datetime.fromtimestamp((monotonic_ns + offset) / 1e9, UTC)


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
    opened: dict[str, Any] | None = None,
) -> SignResult:
    """Build the manifest and sign ``path`` in place.

    The first action is ``c2pa.opened`` of the ``opened`` ingredient (``input_ingredient``)
    when given, else ``c2pa.created`` as a digital capture at ``captured_at`` (required
    then); ``edited`` (the ``c2pa.redacted`` action) follows. ``title`` names the asset in
    the manifest (default: ``path``'s file name; give the published name when signing a
    temporary file).
    """
    if isinstance(checkpoint, Checkpoint):
        checkpoint = AuditCheckpointAssertion.of(checkpoint)
    if opened is not None:
        first = opened_action()
    elif captured_at is not None:
        first = created_action(captured_at)
    else:
        raise ProvenanceError(
            "say what happened: an opened input (opened=...) or a capture time (captured_at)"
        )
    manifest = ProvenanceManifest(
        actions=[first] + ([edited] if edited else []),
        capture=capture,
        consent=ConsentAssertion.of(consent_refs),
        protection=protection,
        checkpoint=checkpoint,
        title=title,
        ingredients=[opened] if opened is not None else [],
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
    "wall_time_of_monotonic",
]
