"""Export bundles: the whole audit log in one self-contained, verifiable file.

Format ``bystander-audit-log``, version 1: one UTF-8 JSON Lines file, each line compact JSON
(``separators=(",", ":")``, non-ASCII unescaped):

1. a header ``{"format","version","origin","verifier_keys","checkpoints","entries"}``;
2. ``checkpoints`` lines ``{"checkpoint": "<signed note>"}``, oldest first;
3. ``entries`` lines ``{"index": i, "leaf_hash": "<base64>", "event": "<event JSON>"}``;
   leaf ``i`` is ``SHA-256(0x00 || utf8(event))``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sqlalchemy import (
    Engine,
)

from bystander.errors import InputError
from bystander.evidence.audit_log import (
    BUNDLE_FORMAT,
    BUNDLE_VERSION,
    MAX_EVENT_BYTES,
    BundleError,
    db_size,
    require_audit_tables,
    snapshot,
)
from bystander.evidence.audit_verify import (
    CheckpointRecord,
    EntryRecord,
    Problem,
    VerifyPolicy,
    VerifyReport,
    db_checkpoints,
    db_records,
    trusted_keys,
    verify_records,
)
from bystander.evidence.checkpoint import (
    CheckpointError,
    NoteVerifier,
    b64decode_strict,
    b64encode,
    open_checkpoint,
    parse_vkey,
    read_checkpoint,
)
from bystander.fsutil import atomic_output

# -- export bundles -------------------------------------------------------------------------


def _line(obj: Mapping[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def export_bundle(engine: Engine, path: Path, *, overwrite: bool = False) -> VerifyReport:
    """Write the whole log as a bundle at ``path`` (atomically), then verify what was written.

    The check after writing reports entries not covered by a checkpoint as a warning: the
    bundle is a faithful copy, and its reader's verification will fail on them.
    """
    require_audit_tables(engine)
    with snapshot(engine) as conn, atomic_output(path, overwrite=overwrite) as temp:
        checkpoints = db_checkpoints(conn)
        size = db_size(conn)
        origin = read_checkpoint(checkpoints[-1][0].note).origin if checkpoints else None
        header = {
            "format": BUNDLE_FORMAT,
            "version": BUNDLE_VERSION,
            "origin": origin,
            "verifier_keys": list(dict.fromkeys(vkey for _, vkey in checkpoints)),
            "checkpoints": len(checkpoints),
            "entries": size,
        }
        with temp.open("w", encoding="utf-8", newline="\n") as out:
            out.write(_line(header) + "\n")
            for cp_record, _ in checkpoints:
                out.write(_line({"checkpoint": cp_record.note}) + "\n")
            for entry in db_records(conn):
                leaf = b64encode(entry.claimed_leaf or b"")
                event = entry.data.decode("utf-8")
                out.write(_line({"index": entry.index, "leaf_hash": leaf, "event": event}) + "\n")
            out.flush()
            os.fsync(out.fileno())
    trusted, pinned = trusted_keys(None, [vkey for _, vkey in checkpoints])
    return verify_bundle(path, trusted if pinned else None, VerifyPolicy(require_coverage=False))


@dataclass(frozen=True)
class BundleHeader:
    origin: str | None
    verifier_keys: list[str]
    checkpoints: int
    entries: int


class BundleReader:
    """Reads and checks a bundle line by line (every line must be canonical compact JSON)."""

    def __init__(self, stream: IO[bytes], name: str) -> None:
        self.stream = stream
        self.name = name
        self.line_no = 0

    def read_line(self, what: str) -> dict[str, Any]:
        raw = self.stream.readline(4 * MAX_EVENT_BYTES + 1024)
        self.line_no += 1
        where = f"{self.name} line {self.line_no} ({what})"
        if not raw:
            raise BundleError(f"{where}: truncated (file ends early)")
        if not raw.endswith(b"\n"):
            raise BundleError(f"{where}: truncated or line too long")
        try:
            text_line = raw[:-1].decode("utf-8")
            obj = json.loads(text_line)
        except (UnicodeDecodeError, ValueError) as exc:
            raise BundleError(f"{where}: not valid JSON ({exc})") from None
        if not isinstance(obj, dict) or _line(obj) != text_line:
            raise BundleError(f"{where}: not a canonical JSON object")
        return obj

    def header(self) -> BundleHeader:
        obj = self.read_line("header")
        if obj.get("format") != BUNDLE_FORMAT:
            raise BundleError(f"{self.name} is not a bystander audit bundle")
        if obj.get("version") != BUNDLE_VERSION:
            raise BundleError(
                f"{self.name}: unsupported bundle version {obj.get('version')!r} "
                f"(this bystander reads version {BUNDLE_VERSION})"
            )
        expected = {"format", "version", "origin", "verifier_keys", "checkpoints", "entries"}
        keys, counts = obj.get("verifier_keys"), (obj.get("checkpoints"), obj.get("entries"))
        if (
            set(obj) != expected
            or not isinstance(keys, list)
            or not all(isinstance(k, str) for k in keys)
            or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts)
            or not (obj["origin"] is None or isinstance(obj["origin"], str))
        ):
            raise BundleError(f"{self.name} line 1: malformed header")
        return BundleHeader(obj["origin"], keys, obj["checkpoints"], obj["entries"])

    def checkpoint(self, number: int) -> CheckpointRecord:
        obj = self.read_line(f"checkpoint #{number}")
        if set(obj) != {"checkpoint"} or not isinstance(obj["checkpoint"], str):
            raise BundleError(f"{self.name} line {self.line_no}: malformed checkpoint line")
        return CheckpointRecord(number, obj["checkpoint"])

    def entry(self, index: int) -> EntryRecord:
        obj = self.read_line(f"entry {index}")
        if (
            set(obj) != {"index", "leaf_hash", "event"}
            or not isinstance(obj["event"], str)
            or not isinstance(obj["leaf_hash"], str)
            or not isinstance(obj["index"], int)
        ):
            raise BundleError(f"{self.name} line {self.line_no}: malformed entry {index}")
        try:
            leaf = b64decode_strict(obj["leaf_hash"], "leaf hash")
        except CheckpointError as exc:
            raise BundleError(f"{self.name} line {self.line_no}: entry {index}: {exc}") from None
        return EntryRecord(obj["index"], obj["event"].encode("utf-8"), leaf)

    def entries(self, count: int) -> Iterator[EntryRecord]:
        for index in range(count):
            yield self.entry(index)
        if self.stream.read(1):
            raise BundleError(f"{self.name}: data after the last entry ({count} expected)")


def verify_bundle(
    path: Path,
    verifiers: Sequence[NoteVerifier] | None = None,
    policy: VerifyPolicy | None = None,
) -> VerifyReport:
    """Verify an export bundle offline (``verify_records`` with ``policy``).

    Keys: ``verifiers``, else the bundle's own (not pinned: a warning says so).
    """
    try:
        stream = path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    with stream:
        reader = BundleReader(stream, path.name)
        header = reader.header()
        records = [reader.checkpoint(n) for n in range(1, header.checkpoints + 1)]
        if verifiers:
            trusted, pinned = list(verifiers), True
        else:
            trusted, pinned = [_bundle_key(k, path) for k in header.verifier_keys], False
        report = verify_records(
            reader.entries(header.entries),
            records,
            trusted,
            source=str(path),
            pinned=pinned,
            policy=policy,
        )
    if header.origin is not None and records and report.checkpoints:
        _check_header_origin(header.origin, records, trusted, report)
    if not pinned:
        report.warnings.append("signer key taken from the bundle itself: pin it with --key")
    return report


def bundle_events(path: Path, stop: int | None = None) -> Iterator[tuple[int, bytes]]:
    """``(index, exact event JSON)`` of a bundle's entries below ``stop`` (default: all).

    Integrity is ``verify_bundle``'s job; this only reads.
    """
    try:
        stream = path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    with stream:
        reader = BundleReader(stream, path.name)
        header = reader.header()
        for number in range(1, header.checkpoints + 1):
            reader.checkpoint(number)
        count = header.entries if stop is None else min(stop, header.entries)
        for index in range(count):
            yield index, reader.entry(index).data


def _bundle_key(vkey: str, path: Path) -> NoteVerifier:
    try:
        return parse_vkey(vkey)
    except InputError as exc:
        raise BundleError(f"{path.name}: {exc}") from None


def _check_header_origin(
    origin: str, records: list[CheckpointRecord], trusted: list[NoteVerifier], report: VerifyReport
) -> None:
    for record in records:
        try:
            cp = open_checkpoint(record.note, trusted)
        except CheckpointError:
            continue
        if cp.origin != origin:
            report.add(Problem(f"bundle origin {origin!r} differs from its checkpoints'"))
        return
