"""The tamper-evident audit log: an append-only RFC 6962 Merkle log with signed checkpoints.

Every ``AuditEvent`` becomes one leaf (its ``canonical_bytes()``). Three tables hold the log:

- ``audit_entries``: one row per event (index, type, wall time, session, the exact JSON);
- ``audit_nodes``: the hash of every complete perfect subtree, keyed ``level << 48 | index``
  (level 0 are the leaf hashes). Appends add about two rows per event; a proof or a root
  at any size is one indexed lookup of at most ~2 log2(n) rows;
- ``audit_checkpoints``: C2SP signed notes over (origin, size, root), Ed25519.

Appends take a write lock (SQLite ``BEGIN IMMEDIATE``, PostgreSQL a transaction-scoped
advisory lock), so several processes can append to one database; an append is durable
when it returns. ``verify_database`` and ``verify_bundle`` rebuild the tree from the
events alone and check it against the signed checkpoints; the stored hashes are only
claims used to name the first altered entry.

Export bundle (format ``bystander-audit-log``, version 1): one UTF-8 JSON Lines file,
each line compact JSON (``separators=(",", ":")``, non-ASCII unescaped):

1. a header ``{"format","version","origin","verifier_keys","checkpoints","entries"}``;
2. ``checkpoints`` lines ``{"checkpoint": "<signed note>"}``, oldest first;
3. ``entries`` lines ``{"index": i, "leaf_hash": "<base64>", "event": "<event JSON>"}``;
   leaf ``i`` is ``SHA-256(0x00 || utf8(event))``.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    func,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from bystander import config
from bystander.errors import BystanderError, InputError
from bystander.evidence import merkle
from bystander.evidence.checkpoint import (
    Checkpoint,
    CheckpointError,
    NoteSigner,
    NoteVerifier,
    b64decode_strict,
    b64encode,
    open_checkpoint,
    parse_vkey,
    read_checkpoint,
    sign_checkpoint,
)
from bystander.evidence.db import Base, make_engine
from bystander.evidence.events import AuditEvent
from bystander.evidence.keys import key_id, load_or_create_signing_key, public_key_bytes
from bystander.evidence.merkle import CompactRange, MemoryTree, NodeKey
from bystander.fsutil import atomic_output

BUNDLE_FORMAT = "bystander-audit-log"
BUNDLE_VERSION = 1
#: Largest accepted event (canonical JSON). Events hold ids and decisions, never media.
MAX_EVENT_BYTES = 16 * 1024
#: Keys that would carry raw media or biometrics; events must reference them by id instead.
FORBIDDEN_DATA_KEYS = frozenset(
    {"image", "frame", "pixels", "jpeg", "png", "audio", "samples", "waveform",
     "embedding", "face_embedding", "template", "face_template", "biometric", "landmarks"}
)  # fmt: skip
_MAX_VECTOR = 32
_LEVEL_SHIFT = 48
_NODE_CACHE_LIMIT = 1 << 18
_MAX_PROBLEMS = 100
_SQLITE_MAGIC = b"SQLite format 3\x00"

_BigInt = BigInteger().with_variant(Integer, "sqlite")


class AuditError(BystanderError):
    """The audit log cannot do what was asked (bad event, missing data, bad arguments)."""


class AuditIntegrityError(AuditError):
    """The log or bundle failed verification: something was altered, removed or forged."""

    exit_code = 3


class BundleError(InputError):
    """An export bundle cannot be read: bad JSON, truncated, unknown version."""


class AuditEntryRow(Base):
    __tablename__ = "audit_entries"

    idx: Mapped[int] = mapped_column(_BigInt, primary_key=True, autoincrement=False)
    type: Mapped[str] = mapped_column(String(64), index=True)
    wall_time: Mapped[str] = mapped_column(String(40))
    session_id: Mapped[str | None] = mapped_column(String(200), index=True)
    event_json: Mapped[str] = mapped_column(Text)


class AuditNodeRow(Base):
    __tablename__ = "audit_nodes"

    id: Mapped[int] = mapped_column(_BigInt, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditCheckpointRow(Base):
    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    size: Mapped[int] = mapped_column(BigInteger, index=True)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)
    verifier_key: Mapped[str] = mapped_column(Text)
    created_at: Mapped[str] = mapped_column(String(40))


_entries = cast(Table, AuditEntryRow.__table__)
_nodes = cast(Table, AuditNodeRow.__table__)
_checkpoints = cast(Table, AuditCheckpointRow.__table__)
AUDIT_TABLES = (_entries, _nodes, _checkpoints)


def node_id(key: NodeKey) -> int:
    """The ``audit_nodes`` primary key of perfect subtree ``(level, index)``."""
    return (key[0] << _LEVEL_SHIFT) | key[1]


def node_key(nid: int) -> NodeKey:
    return nid >> _LEVEL_SHIFT, nid & ((1 << _LEVEL_SHIFT) - 1)


def default_origin(key: Ed25519PrivateKey) -> str:
    """``bystander.local/audit/<key fingerprint>``: a log's name until its first checkpoint."""
    return f"bystander.local/audit/{key_id(key)}"


# -- events ---------------------------------------------------------------------------------


def serialize_event(event: AuditEvent) -> bytes:
    """The leaf data of ``event``, after checking it carries no media or biometric payload."""
    raw = event.canonical_bytes()
    if len(raw) > MAX_EVENT_BYTES:
        raise AuditError(
            f"{event.type.value} event is {len(raw)} bytes (limit {MAX_EVENT_BYTES}): "
            "events carry ids and decisions, never media or biometric data"
        )
    _check_minimal(event.data, event.type.value)
    return raw


def _check_minimal(value: Any, event_type: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            # A flag (``audio: false``) or an empty value says whether media exists, not what
            # it is; anything else under such a key could carry the media itself.
            if str(key).lower() in FORBIDDEN_DATA_KEYS and not isinstance(item, bool | None):
                raise AuditError(
                    f"{event_type} event data has a {key!r} field: reference media and "
                    "biometric data by id, never include it in the audit log"
                )
            _check_minimal(item, event_type)
    elif isinstance(value, list | tuple):
        if len(value) > _MAX_VECTOR and all(isinstance(v, int | float) for v in value):
            raise AuditError(
                f"{event_type} event data holds a vector of {len(value)} numbers "
                "(looks like an embedding or samples); log a hash or an id instead"
            )
        for item in value:
            _check_minimal(item, event_type)


def event_type_of(data: bytes) -> str | None:
    """The ``type`` field of an event's JSON, or None if it cannot be read."""
    try:
        parsed = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    kind = parsed.get("type") if isinstance(parsed, dict) else None
    return kind if isinstance(kind, str) else None


@dataclass(frozen=True)
class LoggedEvent:
    """An event and its index in the log."""

    index: int
    event: AuditEvent


# -- the log --------------------------------------------------------------------------------


class AuditLog:
    """An append-only, verifiable event log in the evidence database (an ``EventSink``).

    >>> log = AuditLog(engine)                     # doctest: +SKIP
    >>> i = log.append(AuditEvent(type=EventType.CAPTURE_ARMED, session_id="s1"))
    >>> head = log.checkpoint()                    # signed tree head (C2SP note)
    >>> proof = log.inclusion_proof(i, head.size)
    >>> merkle.verify_inclusion(log.leaf_hash(i), i, head.size, proof, head.root_hash)
    True

    ``key`` signs checkpoints (default: ``load_or_create_signing_key("audit")``, loaded on
    first use). ``origin`` names a new log (default ``bystander.local/audit/<key id>``); an
    existing log keeps the origin of its checkpoints. With ``checkpoint_every`` N, appends
    sign a checkpoint (in the same transaction) whenever the size crosses a multiple of N.
    The schema must exist (``bystander.evidence.db.init_db``).
    """

    def __init__(
        self,
        engine: Engine | None = None,
        *,
        key: Ed25519PrivateKey | None = None,
        origin: str | None = None,
        checkpoint_every: int | None = None,
    ) -> None:
        if checkpoint_every is not None and checkpoint_every < 1:
            raise AuditError("checkpoint_every must be at least 1")
        self.engine = engine if engine is not None else make_engine()
        self._key = key
        self._origin = origin
        self.checkpoint_every = checkpoint_every
        self._head: CompactRange | None = None
        self._known_size = 0
        self._node_cache: dict[int, bytes] = {}

    # writing

    def append(self, event: AuditEvent) -> int:
        """Durably record ``event``; return its index."""
        return self.append_many([event])[0]

    def append_many(self, events: Iterable[AuditEvent]) -> list[int]:
        """Durably record ``events`` in one transaction (the fast path); return their indices."""
        items = [(event, serialize_event(event)) for event in events]
        if not items:
            return []
        with self._write() as conn:
            head = self._load_head(conn)
            start = head.size
            entry_rows: list[tuple[Any, ...]] = []
            node_rows: list[tuple[int, bytes]] = []
            for offset, (event, raw) in enumerate(items):
                entry_rows.append(_entry_row(start + offset, event, raw))
                for key, digest in head.append(merkle.leaf_hash(raw)):
                    node_rows.append((node_id(key), digest))
            _insert_many(conn, _entries, _ENTRY_COLUMNS, entry_rows)
            _insert_many(conn, _nodes, ("id", "hash"), node_rows)
            every = self.checkpoint_every
            if every and head.size // every > start // every:
                self._sign(conn, head)
        self._set_head(head)
        return list(range(start, start + len(items)))

    def checkpoint(self) -> Checkpoint:
        """Sign the current tree head and store it (returns the latest one if nothing changed)."""
        with self._write() as conn:
            head = self._load_head(conn)
            result = self._sign(conn, head)
        self._set_head(head)
        return result

    # reading

    def size(self) -> int:
        """The number of entries."""
        with self.engine.connect() as conn:
            size = _db_size(conn)
        self._known_size = max(self._known_size, size)
        return size

    def root(self, tree_size: int | None = None) -> bytes:
        """The RFC 6962 root of the first ``tree_size`` entries (default: all)."""
        with self.engine.connect() as conn:
            size = self._proof_size(conn, tree_size)
            return merkle.root_from(size, _DbNodes(conn, self._node_cache))

    def inclusion_proof(self, index: int, tree_size: int | None = None) -> list[bytes]:
        """The RFC 9162 audit path of entry ``index`` in the tree of ``tree_size`` entries."""
        with self.engine.connect() as conn:
            size = self._proof_size(conn, tree_size)
            ranges = merkle.inclusion_ranges(index, size)
            return merkle.resolve(ranges, _DbNodes(conn, self._node_cache))

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """The RFC 9162 consistency proof from ``old_size`` to ``new_size`` (default: all)."""
        with self.engine.connect() as conn:
            size = self._proof_size(conn, new_size)
            ranges = merkle.consistency_ranges(old_size, size)
            return merkle.resolve(ranges, _DbNodes(conn, self._node_cache))

    def leaf_hash(self, index: int) -> bytes:
        """The stored leaf hash of entry ``index``."""
        with self.engine.connect() as conn:
            if index < 0:
                raise AuditError(f"no audit entry {index}")
            self._proof_size(conn, index + 1)
            return _DbNodes(conn, self._node_cache).get_nodes([(0, index)])[(0, index)]

    def get_nodes(self, keys: Collection[NodeKey]) -> Mapping[NodeKey, bytes]:
        """``merkle.NodeSource``: stored perfect-subtree hashes."""
        with self.engine.connect() as conn:
            return _DbNodes(conn, self._node_cache).get_nodes(keys)

    def event(self, index: int) -> AuditEvent:
        for logged in self.entries(index, index + 1):
            return logged.event
        raise AuditError(f"no audit entry {index}")

    def entries(self, start: int = 0, stop: int | None = None) -> Iterator[LoggedEvent]:
        """The events with indices in ``[start, stop)``, oldest first."""
        query = select(_entries.c.idx, _entries.c.event_json).where(_entries.c.idx >= start)
        if stop is not None:
            query = query.where(_entries.c.idx < stop)
        with self.engine.connect() as conn:
            rows = conn.execution_options(yield_per=2000).execute(query.order_by(_entries.c.idx))
            for idx, raw in rows:
                yield LoggedEvent(idx, AuditEvent.model_validate_json(raw))

    def checkpoints(self) -> list[Checkpoint]:
        """Stored checkpoints, oldest first (signatures not checked: use ``verify``)."""
        with self.engine.connect() as conn:
            notes = conn.execute(select(_checkpoints.c.note).order_by(_checkpoints.c.id))
            return [read_checkpoint(note) for (note,) in notes]

    def latest_checkpoint(self) -> Checkpoint | None:
        with self.engine.connect() as conn:
            row = _latest_checkpoint_row(conn)
        return read_checkpoint(row.note) if row is not None else None

    def verifier(self) -> NoteVerifier:
        """The verifier key (name = origin) for this log's signing key."""
        with self.engine.connect() as conn:
            return self._signer(conn).verifier

    def verify(self, verifiers: Sequence[NoteVerifier] | None = None) -> VerifyReport:
        """Verify the whole log offline (see ``verify_database``)."""
        return verify_database(self.engine, verifiers)

    def export(self, path: Path, *, overwrite: bool = False) -> VerifyReport:
        """Write an export bundle (see the module docs); returns the bundle's verification."""
        return export_bundle(self.engine, path, overwrite=overwrite)

    # internals

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            _lock(conn)
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    def _load_head(self, conn: Connection) -> CompactRange:
        size = _db_size(conn)
        if self._head is not None and self._head.size == size:
            return self._head.copy()
        keys = CompactRange.keys_for(size)
        found = _DbNodes(conn, self._node_cache).get_nodes(keys)
        return CompactRange(size, [found[key] for key in keys])

    def _set_head(self, head: CompactRange) -> None:
        self._head = head
        self._known_size = max(self._known_size, head.size)

    def _proof_size(self, conn: Connection, tree_size: int | None) -> int:
        if tree_size is None or tree_size > self._known_size:
            self._known_size = max(self._known_size, _db_size(conn))
        size = self._known_size if tree_size is None else tree_size
        if not 0 <= size <= self._known_size:
            raise AuditError(f"tree size {size} is beyond the log's {self._known_size} entries")
        return size

    def _signer(self, conn: Connection) -> NoteSigner:
        if self._key is None:
            self._key = load_or_create_signing_key("audit")
        latest = _latest_checkpoint_row(conn)
        origin = read_checkpoint(latest.note).origin if latest is not None else None
        if origin is not None and self._origin is not None and origin != self._origin:
            raise AuditError(f"this log's origin is {origin!r}, not {self._origin!r}")
        return NoteSigner(origin or self._origin or default_origin(self._key), self._key)

    def _sign(self, conn: Connection, head: CompactRange) -> Checkpoint:
        signer = self._signer(conn)
        vkey = signer.verifier.vkey()
        root = head.root()
        latest = _latest_checkpoint_row(conn)
        if latest is not None:
            previous = self._previous(latest, signer.verifier)
            same = (latest.verifier_key, previous.size, previous.root_hash)
            if same == (vkey, head.size, root):
                return previous
            self._check_consistent(conn, previous, head.size, root)
        result = sign_checkpoint(signer.name, head.size, root, signer)
        conn.execute(
            insert(_checkpoints),
            {
                "size": result.size,
                "root_hash": result.root_hash,
                "note": result.note,
                "verifier_key": vkey,
                "created_at": _now(),
            },
        )
        return result

    @staticmethod
    def _previous(row: Any, verifier: NoteVerifier) -> Checkpoint:
        """The latest checkpoint, signature-checked when it is ours."""
        try:
            if row.verifier_key == verifier.vkey():
                return open_checkpoint(row.note, [verifier])
            return read_checkpoint(row.note)
        except CheckpointError as exc:
            raise AuditIntegrityError(f"latest checkpoint is invalid: {exc}") from None

    def _check_consistent(
        self, conn: Connection, previous: Checkpoint, size: int, root: bytes
    ) -> None:
        """Refuse to sign a tree that does not extend the previous checkpoint."""
        if previous.size > size:
            raise AuditIntegrityError(
                f"log has {size} entries but checkpoint size {previous.size} was signed"
            )
        nodes = _DbNodes(conn, {})  # may read rows not yet committed: keep them out of the cache
        proof = merkle.resolve(merkle.consistency_ranges(previous.size, size), nodes)
        if not merkle.verify_consistency(previous.size, size, proof, previous.root_hash, root):
            raise AuditIntegrityError(
                f"the stored tree is not consistent with the checkpoint at size {previous.size}; "
                "refusing to sign (run `bystander audit verify`)"
            )


_ENTRY_COLUMNS = ("idx", "type", "wall_time", "session_id", "event_json")


def _entry_row(index: int, event: AuditEvent, raw: bytes) -> tuple[Any, ...]:
    return (index, str(event.type), event.wall_time, event.session_id, raw.decode("utf-8"))


def _insert_many(
    conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """``executemany`` straight through the driver (SQLAlchemy's per-row work halves the rate)."""
    quote = conn.dialect.identifier_preparer.quote
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"INSERT INTO {conn.dialect.identifier_preparer.format_table(table)} "
        f"({', '.join(quote(c) for c in columns)}) VALUES ({', '.join([mark] * len(columns))})"
    )
    conn.exec_driver_sql(sql, rows)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _lock(conn: Connection) -> None:
    """Take the log's write lock for the current transaction."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    elif conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.audit'))"))
    else:
        raise AuditError(f"the audit log does not support {conn.dialect.name} databases")


def _db_size(conn: Connection) -> int:
    last = conn.execute(select(func.max(_entries.c.idx))).scalar()
    return 0 if last is None else int(last) + 1


def _latest_checkpoint_row(conn: Connection) -> Any:
    query = select(_checkpoints).order_by(_checkpoints.c.id.desc()).limit(1)
    return conn.execute(query).first()


def _select_nodes(conn: Connection, ids: list[int]) -> Iterator[tuple[int, bytes]]:
    """``(id, hash)`` rows for ``ids`` in one statement (through the driver: 5x faster than
    an expanding ``IN`` that SQLAlchemy re-renders on every call)."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    table = conn.dialect.identifier_preparer.format_table(_nodes)
    sql = f"SELECT id, hash FROM {table} WHERE id IN ({', '.join([mark] * len(ids))})"
    for nid, digest in conn.exec_driver_sql(sql, tuple(ids)).tuples().all():
        yield nid, bytes(digest)


class _DbNodes:
    """``merkle.NodeSource`` over ``audit_nodes`` on one connection, with a shared cache."""

    def __init__(self, conn: Connection, cache: dict[int, bytes]) -> None:
        self.conn = conn
        self.cache = cache

    def get_nodes(self, keys: Collection[NodeKey]) -> dict[NodeKey, bytes]:
        wanted = {key: node_id(key) for key in keys}
        found: dict[int, bytes] = {}
        missing: list[int] = []
        for nid in wanted.values():
            digest = self.cache.get(nid)
            if digest is None:
                missing.append(nid)
            else:
                found[nid] = digest
        if missing:
            fetched = dict(_select_nodes(self.conn, missing))
            found.update(fetched)
            if len(self.cache) > _NODE_CACHE_LIMIT:
                self.cache.clear()
            self.cache.update(fetched)
        try:
            return {key: found[nid] for key, nid in wanted.items()}
        except KeyError as exc:
            level, index = node_key(exc.args[0])
            raise AuditIntegrityError(
                f"audit_nodes lacks the hash of subtree (level {level}, index {index}); "
                "run `bystander audit verify`"
            ) from None


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

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_tampered(self) -> Problem | None:
        """The problem naming the lowest entry index, if any names one."""
        indexed = [p for p in self.problems if p.index is not None]
        return min(indexed, key=lambda p: p.index or 0) if indexed else None

    def add(self, problem: Problem) -> None:
        if len(self.problems) < _MAX_PROBLEMS:
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
        }  # fmt: skip


def verify_records(
    entries: Iterable[EntryRecord],
    checkpoints: Sequence[CheckpointRecord],
    verifiers: Sequence[NoteVerifier],
    *,
    source: str = "audit log",
    pinned: bool = True,
    inner_nodes: Iterable[tuple[int, bytes]] | None = None,
) -> VerifyReport:
    """Check signatures, every entry against the signed roots, and checkpoint consistency.

    The tree is rebuilt from the entries' data alone; ``claimed_leaf``/``claimed_type`` and
    ``inner_nodes`` (stored hashes above the leaves) are compared with it to name what was
    altered.
    """
    report = VerifyReport(source, [_describe(v) for v in verifiers], pinned)
    signed = _check_signatures(checkpoints, list(verifiers), report)
    tree = _rebuild(entries, report)
    matched = _check_roots(signed, tree, report)
    _check_consistency(matched, tree, report)
    if inner_nodes is not None:
        _check_inner_nodes(inner_nodes, tree, report)
    report.entries = tree.size
    report.root_hash = tree.root()
    report.signed_size = max((cp.size for _, cp in signed), default=0)
    if not signed:
        report.warnings.append("no valid checkpoint: nothing in this log is signed")
    elif tree.size > report.signed_size:
        unsigned = tree.size - report.signed_size
        report.warnings.append(
            f"{unsigned} entries after the last checkpoint (size {report.signed_size}) "
            "are not covered by a signature"
        )
    return report


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
    prefix = b'{"type":' + json.dumps(record.claimed_type).encode() + b","
    return record.data.startswith(prefix) or event_type_of(record.data) == record.claimed_type


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


@contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """A read-only connection that sees one consistent state of the log."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN")
        elif conn.dialect.name == "postgresql":
            conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
        try:
            yield conn
        finally:
            conn.rollback()


def require_audit_tables(engine: Engine) -> None:
    """Raise ``InputError`` unless ``engine``'s database holds an audit log."""
    names = set(inspect(engine).get_table_names())
    if not {t.name for t in AUDIT_TABLES} <= names:
        raise InputError(f"no audit log in {engine.url.render_as_string(hide_password=True)}")


def _db_records(conn: Connection) -> Iterator[EntryRecord]:
    query = (
        select(_entries.c.idx, _entries.c.type, _entries.c.event_json, _nodes.c.hash)
        .outerjoin(_nodes, _nodes.c.id == _entries.c.idx)
        .order_by(_entries.c.idx)
    )
    for idx, kind, raw, digest in conn.execution_options(yield_per=5000).execute(query):
        claimed = bytes(digest) if digest is not None else b""
        yield EntryRecord(idx, raw.encode("utf-8"), claimed, kind)


def _db_inner_nodes(conn: Connection) -> Iterator[tuple[int, bytes]]:
    query = select(_nodes.c.id, _nodes.c.hash).where(_nodes.c.id >= 1 << _LEVEL_SHIFT)
    yield from conn.execution_options(yield_per=5000).execute(query.order_by(_nodes.c.id)).tuples()


def _db_checkpoints(conn: Connection) -> list[tuple[CheckpointRecord, str]]:
    query = select(
        _checkpoints.c.note, _checkpoints.c.size, _checkpoints.c.root_hash,
        _checkpoints.c.verifier_key,
    ).order_by(_checkpoints.c.id)  # fmt: skip
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
    engine: Engine, verifiers: Sequence[NoteVerifier] | None = None
) -> VerifyReport:
    """Verify the log in ``engine`` offline.

    Trusted keys: ``verifiers``; else the local ``audit`` key; else (not pinned, with a
    warning) the keys recorded beside the checkpoints.
    """
    require_audit_tables(engine)
    source = engine.url.render_as_string(hide_password=True)
    with _snapshot(engine) as conn:
        checkpoints = _db_checkpoints(conn)
        trusted, pinned = _trusted_keys(verifiers, [vkey for _, vkey in checkpoints])
        report = verify_records(
            _db_records(conn),
            [record for record, _ in checkpoints],
            trusted,
            source=source,
            pinned=pinned,
            inner_nodes=_db_inner_nodes(conn),
        )
    if not pinned and checkpoints:
        report.warnings.append("signer keys taken from the database itself: pin one with --key")
    return report


def _trusted_keys(
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


# -- export bundles -------------------------------------------------------------------------


def _line(obj: Mapping[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def export_bundle(engine: Engine, path: Path, *, overwrite: bool = False) -> VerifyReport:
    """Write the whole log as a bundle at ``path`` (atomically), then verify what was written."""
    require_audit_tables(engine)
    with _snapshot(engine) as conn, atomic_output(path, overwrite=overwrite) as temp:
        checkpoints = _db_checkpoints(conn)
        size = _db_size(conn)
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
            for entry in _db_records(conn):
                leaf = b64encode(entry.claimed_leaf or b"")
                event = entry.data.decode("utf-8")
                out.write(_line({"index": entry.index, "leaf_hash": leaf, "event": event}) + "\n")
            out.flush()
            os.fsync(out.fileno())
    trusted, pinned = _trusted_keys(None, [vkey for _, vkey in checkpoints])
    return verify_bundle(path, trusted if pinned else None)


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


def verify_bundle(path: Path, verifiers: Sequence[NoteVerifier] | None = None) -> VerifyReport:
    """Verify an export bundle offline. Keys: ``verifiers``, else the bundle's own (unpinned)."""
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
            reader.entries(header.entries), records, trusted, source=str(path), pinned=pinned
        )
    if header.origin is not None and records and report.checkpoints:
        _check_header_origin(header.origin, records, trusted, report)
    if not pinned:
        report.warnings.append("signer key taken from the bundle itself: pin it with --key")
    return report


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


def sqlite_url_if_database(path: Path) -> str | None:
    """``sqlite:///path`` if ``path`` is a SQLite database file, else None."""
    try:
        with path.open("rb") as handle:
            magic = handle.read(len(_SQLITE_MAGIC))
    except OSError:
        return None
    return f"sqlite:///{path.resolve()}" if magic == _SQLITE_MAGIC else None
