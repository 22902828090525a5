"""Offline verification of an audit log: signatures, every entry, coverage, rollback.

``verify_records`` rebuilds the RFC 6962 tree from the entries' exact bytes and checks it
against the signed checkpoints; the stored hashes are only claims used to name the first
altered entry. A ``VerifyPolicy`` adds what an auditor pins: a minimum size, a checkpoint
seen before (rollback and fork protection) and witness cosignatures.
"""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    select,
)

from bystander import config
from bystander.errors import InputError
from bystander.evidence import merkle
from bystander.evidence.audit_log import (
    CHECKPOINTS,
    ENTRIES,
    LEVEL_SHIFT,
    MAX_PROBLEMS,
    NODES,
    AuditIntegrityError,
    event_type_of,
    node_key,
    require_audit_tables,
    snapshot,
)
from bystander.evidence.checkpoint import (
    Checkpoint,
    CheckpointError,
    NoteVerifier,
    b64encode,
    open_checkpoint,
    parse_vkey,
    read_checkpoint,
)
from bystander.evidence.keys import load_or_create_signing_key, public_key_bytes
from bystander.evidence.merkle import MemoryTree
from bystander.evidence.witness import CosignerVerifier

# -- verification ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EntryRecord:
    """One entry as stored: its exact leaf data and what the store claims about it."""

    index: int
    data: bytes
    claimed_leaf: bytes | None = None
    claimed_type: str | None = None


@dataclass(frozen=True)
class CheckpointRecord:
    """One stored checkpoint note (``number`` counts from 1, oldest first)."""

    number: int
    note: str
    size: int | None = None
    root_hash: bytes | None = None


@dataclass(frozen=True)
class Problem:
    """One verification failure; ``index`` is set when it pins down a single entry."""

    message: str
    index: int | None = None
    type: str | None = None


@dataclass
class VerifyReport:
    """The result of verifying a log or a bundle."""

    source: str
    verifiers: list[str]
    pinned: bool
    entries: int = 0
    checkpoints: int = 0
    signed_size: int = 0
    root_hash: bytes = merkle.EMPTY_ROOT
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    omitted: int = 0
    cosigned_by: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_tampered(self) -> Problem | None:
        """The problem naming the lowest entry index, if any names one."""
        indexed = [p for p in self.problems if p.index is not None]
        return min(indexed, key=lambda p: p.index or 0) if indexed else None

    def add(self, problem: Problem) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)
        else:
            self.omitted += 1

    def headline(self) -> str:
        """One line: what failed first (the lowest altered entry when one is known)."""
        first = self.first_tampered or (self.problems[0] if self.problems else None)
        if first is None:
            return f"{self.source}: verified"
        total = len(self.problems) + self.omitted
        more = f" ({total} problems in all)" if total > 1 else ""
        return f"{self.source} failed verification: {first.message}{more}"

    def raise_for_problems(self) -> None:
        if self.problems:
            raise AuditIntegrityError(self.headline())

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "source": self.source,
            "entries": self.entries,
            "checkpoints": self.checkpoints,
            "signed_size": self.signed_size,
            "root_hash": b64encode(self.root_hash),
            "verifier_keys": self.verifiers,
            "key_pinned": self.pinned,
            "first_tampered": None if self.first_tampered is None else {
                "index": self.first_tampered.index, "type": self.first_tampered.type
            },
            "problems": [p.message for p in self.problems],
            "problems_omitted": self.omitted,
            "warnings": self.warnings,
            "cosigned_by": self.cosigned_by,
        }  # fmt: skip


@dataclass(frozen=True)
class VerifyPolicy:
    """What a verifier insists on beyond valid signatures and unaltered entries.

    - ``require_coverage``: every entry must be covered by a checkpoint signed by a trusted
      key (the default; an unsigned entry proves nothing, so a missing or stripped
      checkpoint fails verification);
    - ``min_size``: the log must hold, signed, at least this many entries (rollback);
    - ``known``: checkpoint notes seen before (by the auditor, a witness, a C2PA manifest):
      each must be signed by a trusted key, and the log must extend it (no rollback, no
      fork);
    - ``witnesses`` and ``require_cosignatures``: the checkpoint covering the whole log
      must carry at least that many valid cosignatures by distinct witnesses.
    """

    require_coverage: bool = True
    min_size: int = 0
    known: Sequence[str] = ()
    witnesses: Sequence[CosignerVerifier] = ()
    require_cosignatures: int = 0

    def __post_init__(self) -> None:
        if self.min_size < 0 or self.require_cosignatures < 0:
            raise InputError("minimum size and required cosignatures cannot be negative")
        names = {w.name for w in self.witnesses}
        if self.require_cosignatures > len(names):
            raise InputError(
                f"{self.require_cosignatures} cosignatures required but only {len(names)} "
                "witness key(s) given (--witness)"
            )


def verify_records(
    entries: Iterable[EntryRecord],
    checkpoints: Sequence[CheckpointRecord],
    verifiers: Sequence[NoteVerifier],
    *,
    source: str = "audit log",
    pinned: bool = True,
    inner_nodes: Iterable[tuple[int, bytes]] | None = None,
    policy: VerifyPolicy | None = None,
) -> VerifyReport:
    """Check signatures, every entry against the signed roots, checkpoint consistency, and
    the ``policy`` (coverage by default; rollback pins and cosignatures when given).

    The tree is rebuilt from the entries' data alone; ``claimed_leaf``/``claimed_type`` and
    ``inner_nodes`` (stored hashes above the leaves) are compared with it to name what was
    altered.
    """
    policy = policy or VerifyPolicy()
    report = VerifyReport(source, [_describe(v) for v in verifiers], pinned)
    signed = _check_signatures(checkpoints, list(verifiers), report)
    tree = _rebuild(entries, report)
    matched = _check_roots(signed, tree, report)
    _check_consistency(matched, tree, report)
    if inner_nodes is not None:
        _check_inner_nodes(inner_nodes, tree, report)
    report.entries = tree.size
    report.root_hash = tree.root()
    report.signed_size = max((cp.size for _, cp in matched), default=0)
    _check_coverage(tree, report, policy.require_coverage)
    _check_known(policy, list(verifiers), tree, report)
    if policy.min_size and report.signed_size < policy.min_size:
        report.add(
            Problem(
                f"rolled back: the log holds {report.signed_size} signed entries, fewer than "
                f"the pinned minimum of {policy.min_size}"
            )
        )
    if policy.require_cosignatures or policy.witnesses:
        latest = max(matched, key=lambda item: item[1].size, default=None)
        _check_cosignatures(latest, policy, report)
    return report


def _check_coverage(tree: MemoryTree, report: VerifyReport, required: bool) -> None:
    """Every entry must be under a signed, matching checkpoint (a warning if not required)."""
    if tree.size <= report.signed_size:
        return
    if report.signed_size == 0:
        message = (
            f"none of the {tree.size} entries is covered by a checkpoint signed by a trusted "
            "key (checkpoints missing, stripped or forged)"
        )
    else:
        unsigned = tree.size - report.signed_size
        message = (
            f"entries {report.signed_size}..{tree.size - 1} ({unsigned}) are not covered by "
            f"a signed checkpoint (the latest valid one covers {report.signed_size}); sign one "
            "with `bystander audit checkpoint`"
        )
    if required:
        report.add(Problem(message))
    else:
        report.warnings.append(message)


def _check_known(
    policy: VerifyPolicy, verifiers: list[NoteVerifier], tree: MemoryTree, report: VerifyReport
) -> None:
    """Checkpoints seen before must be extended by this log (rollback and fork detection)."""
    for number, note in enumerate(policy.known, 1):
        try:
            read_checkpoint(note)
        except CheckpointError as exc:
            raise InputError(f"pinned checkpoint #{number} cannot be read: {exc}") from None
        try:
            seen = open_checkpoint(note, verifiers)
        except CheckpointError as exc:
            report.add(
                Problem(
                    f"the checkpoint seen before (pin #{number}) does not verify under this "
                    f"log's trusted keys ({exc}): another signer or another log"
                )
            )
            continue
        if seen.size > report.signed_size:
            report.add(
                Problem(
                    f"rolled back: a checkpoint at size {seen.size} was seen before, but the "
                    f"log holds only {report.signed_size} signed entries",
                    min(seen.size, tree.size),
                )
            )
        elif tree.root(seen.size) != seen.root_hash:
            report.add(
                Problem(
                    f"forked: the log's first {seen.size} entries differ from the checkpoint "
                    f"at size {seen.size} seen before (another history was shown)"
                )
            )


def _check_cosignatures(
    latest: tuple[int, Checkpoint] | None, policy: VerifyPolicy, report: VerifyReport
) -> None:
    """The checkpoint covering the log must carry ``require_cosignatures`` valid witness
    cosignatures; a cosignature line by a configured witness that does not verify fails."""
    if latest is None:
        if policy.require_cosignatures:
            report.add(Problem("no signed checkpoint to carry witness cosignatures"))
        return
    number, cp = latest
    names: set[str] = set()
    for witness in policy.witnesses:
        try:
            cosignature = witness.verify(cp.note)
        except CheckpointError as exc:
            report.add(Problem(f"checkpoint #{number} (size {cp.size}): {exc}"))
            continue
        if cosignature is not None:
            names.add(cosignature.name)
    report.cosigned_by = sorted(names)
    if len(names) < policy.require_cosignatures:
        report.add(
            Problem(
                f"checkpoint #{number} (size {cp.size}) has {len(names)} valid witness "
                f"cosignature(s), {policy.require_cosignatures} required"
            )
        )


def _describe(verifier: NoteVerifier) -> str:
    return verifier.vkey() if verifier.name else f"ed25519:{b64encode(verifier.public_key)}"


def _check_signatures(
    records: Sequence[CheckpointRecord], verifiers: list[NoteVerifier], report: VerifyReport
) -> list[tuple[int, Checkpoint]]:
    """Checkpoints whose signature verifies, with their numbers; problems for the rest."""
    signed: list[tuple[int, Checkpoint]] = []
    origin: str | None = None
    for record in records:
        report.checkpoints += 1
        try:
            cp = open_checkpoint(record.note, verifiers)
        except CheckpointError as exc:
            report.add(Problem(f"checkpoint #{record.number}: {exc}"))
            continue
        if record.size is not None and (record.size, record.root_hash) != (cp.size, cp.root_hash):
            report.add(Problem(f"checkpoint #{record.number}: stored size/root differ from note"))
        origin = origin or cp.origin
        if cp.origin != origin:
            report.add(Problem(f"checkpoint #{record.number}: origin {cp.origin!r} != {origin!r}"))
        if signed and cp.size < signed[-1][1].size:
            report.add(Problem(f"checkpoint #{record.number} is older than the one before it"))
        signed.append((record.number, cp))
    return signed


def _rebuild(entries: Iterable[EntryRecord], report: VerifyReport) -> MemoryTree:
    """The tree of the entries (stops at a gap); problems for entries that differ from claims."""
    tree = MemoryTree()
    for record in entries:
        if record.index != tree.size:
            report.add(Problem(f"entry {tree.size} is missing (found {record.index})", tree.size))
            break
        leaf = merkle.leaf_hash(record.data)
        if record.claimed_leaf is not None and record.claimed_leaf != leaf:
            kind = event_type_of(record.data) or "unreadable"
            report.add(Problem(f"entry {record.index} ({kind}) was altered", record.index, kind))
        elif record.claimed_type is not None and not _type_matches(record):
            report.add(
                Problem(
                    f"entry {record.index} ({record.claimed_type}): stored type differs "
                    f"from its event",
                    record.index,
                    record.claimed_type,
                )
            )
        tree.append(leaf)
    return tree


def _type_matches(record: EntryRecord) -> bool:
    return record.data.startswith(_type_prefix(record.claimed_type)) or (
        event_type_of(record.data) == record.claimed_type
    )


@functools.lru_cache(maxsize=256)
def _type_prefix(kind: str | None) -> bytes:
    """How canonical event JSON of type ``kind`` starts (cached: called once per entry)."""
    return b'{"type":' + json.dumps(kind).encode() + b","


def _check_roots(
    signed: list[tuple[int, Checkpoint]], tree: MemoryTree, report: VerifyReport
) -> list[tuple[int, Checkpoint]]:
    """Each signed root must equal the root rebuilt from the entries it covers.

    Returns the checkpoints that match, smallest first.
    """
    matched: list[tuple[int, Checkpoint]] = []
    verified_size = 0
    for number, cp in sorted(signed, key=lambda item: item[1].size):
        if cp.size > tree.size:
            report.add(
                Problem(
                    f"checkpoint #{number} signs {cp.size} entries but only {tree.size} "
                    f"are present: entries from {tree.size} on were removed",
                    tree.size,
                )
            )
            continue
        if tree.root(cp.size) != cp.root_hash:
            report.add(
                Problem(
                    f"checkpoint #{number} (size {cp.size}) does not match the entries: an entry "
                    f"in {verified_size}..{cp.size - 1} was altered"
                )
            )
            continue
        _spot_check_inclusion(number, cp, verified_size, tree, report)
        verified_size = cp.size
        matched.append((number, cp))
    return matched


def _spot_check_inclusion(
    number: int, cp: Checkpoint, start: int, tree: MemoryTree, report: VerifyReport
) -> None:
    """Verify RFC 9162 audit paths for the first and last entries a checkpoint adds."""
    for index in {start, cp.size - 1} if cp.size > start else ():
        proof = tree.inclusion_proof(index, cp.size)
        if not merkle.verify_inclusion(tree.leaf(index), index, cp.size, proof, cp.root_hash):
            report.add(Problem(f"entry {index}: inclusion proof fails under checkpoint #{number}"))


def _check_consistency(
    matched: list[tuple[int, Checkpoint]], tree: MemoryTree, report: VerifyReport
) -> None:
    """Consecutive checkpoints (by size) must be consistent: same root at equal size, and a
    verified RFC 9162 consistency proof between them."""
    for (n_old, old), (n_new, new) in itertools.pairwise(matched):
        if old.size == new.size:
            if old.root_hash != new.root_hash:
                report.add(Problem(f"checkpoints #{n_old} and #{n_new} sign different roots"))
            continue
        proof = tree.consistency_proof(old.size, new.size)
        if not merkle.verify_consistency(old.size, new.size, proof, old.root_hash, new.root_hash):
            report.add(Problem(f"checkpoint #{n_new} is not consistent with #{n_old}"))


def _check_inner_nodes(
    nodes: Iterable[tuple[int, bytes]], tree: MemoryTree, report: VerifyReport
) -> None:
    """Stored hashes above the leaves (the proof cache) must equal the rebuilt tree's."""
    expected = sum(tree.size >> level for level in range(1, tree.size.bit_length()))
    count = 0
    for nid, digest in nodes:
        count += 1
        level, index = node_key(nid)
        try:
            good = tree.node(level, index) == bytes(digest)
        except KeyError:
            good = False
        if not good:
            report.add(Problem(f"stored subtree hash (level {level}, index {index}) is wrong"))
    if count != expected:
        report.add(Problem(f"{expected} stored subtree hashes expected, found {count}"))


# -- reading a database ---------------------------------------------------------------------


def db_records(conn: Connection) -> Iterator[EntryRecord]:
    query = (
        select(ENTRIES.c.idx, ENTRIES.c.type, ENTRIES.c.event_json, NODES.c.hash)
        .outerjoin(NODES, NODES.c.id == ENTRIES.c.idx)
        .order_by(ENTRIES.c.idx)
    )
    for idx, kind, raw, digest in conn.execution_options(yield_per=5000).execute(query):
        claimed = bytes(digest) if digest is not None else b""
        yield EntryRecord(idx, raw.encode("utf-8"), claimed, kind)


def _db_inner_nodes(conn: Connection) -> Iterator[tuple[int, bytes]]:
    query = select(NODES.c.id, NODES.c.hash).where(NODES.c.id >= 1 << LEVEL_SHIFT)
    yield from conn.execution_options(yield_per=5000).execute(query.order_by(NODES.c.id)).tuples()


def db_checkpoints(conn: Connection) -> list[tuple[CheckpointRecord, str]]:
    query = select(
        CHECKPOINTS.c.note, CHECKPOINTS.c.size, CHECKPOINTS.c.root_hash,
        CHECKPOINTS.c.verifier_key,
    ).order_by(CHECKPOINTS.c.id)  # fmt: skip
    rows = conn.execute(query).all()
    return [
        (CheckpointRecord(n, note, size, bytes(root)), vkey)
        for n, (note, size, root, vkey) in enumerate(rows, 1)
    ]


def local_verifier() -> NoteVerifier | None:
    """The local ``audit`` signing key's verifier, if that key exists (never creates it)."""
    if not (config.keys_dir() / "audit.ed25519.pem").exists():
        return None
    return NoteVerifier(public_key_bytes(load_or_create_signing_key("audit")))


def verify_database(
    engine: Engine,
    verifiers: Sequence[NoteVerifier] | None = None,
    policy: VerifyPolicy | None = None,
) -> VerifyReport:
    """Verify the log in ``engine`` offline (``verify_records`` with ``policy``).

    Trusted keys: ``verifiers``; else the local ``audit`` key; else (not pinned, with a
    warning) the keys recorded beside the checkpoints.
    """
    require_audit_tables(engine)
    source = engine.url.render_as_string(hide_password=True)
    with snapshot(engine) as conn:
        checkpoints = db_checkpoints(conn)
        trusted, pinned = trusted_keys(verifiers, [vkey for _, vkey in checkpoints])
        report = verify_records(
            db_records(conn),
            [record for record, _ in checkpoints],
            trusted,
            source=source,
            pinned=pinned,
            inner_nodes=_db_inner_nodes(conn),
            policy=policy,
        )
    if not pinned and checkpoints:
        report.warnings.append("signer keys taken from the database itself: pin one with --key")
    return report


def trusted_keys(
    verifiers: Sequence[NoteVerifier] | None, recorded: Sequence[str]
) -> tuple[list[NoteVerifier], bool]:
    if verifiers:
        return list(verifiers), True
    local = local_verifier()
    if local is not None:
        return [local], True
    found: list[NoteVerifier] = []
    for vkey in dict.fromkeys(recorded):
        try:
            found.append(parse_vkey(vkey))
        except InputError:
            continue
    return found, False
