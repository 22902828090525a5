"""RFC 6962 / RFC 9162 Merkle trees: hashing, proof generation and independent verification.

A tree over leaves ``D[0:n]`` is built from *perfect subtrees*: the node ``(level, index)``
is the hash of the ``2**level`` leaves starting at ``index << level``. Every proof element
and every root is the fold of a few perfect-subtree hashes, so a store that keeps those
hashes (a database table, or ``MemoryTree``) answers proofs in O(log n) lookups.

The verification functions (``verify_inclusion``, ``verify_consistency``) follow RFC 9162
§2.1.3.2 and §2.1.4.2 literally and share no code with proof generation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Protocol

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
#: The root of the empty tree: SHA-256 of the empty string (RFC 9162 §2.1.1).
EMPTY_ROOT = hashlib.sha256(b"").digest()

#: ``(level, index)`` of a perfect subtree: leaves ``[index << level, (index + 1) << level)``.
NodeKey = tuple[int, int]
#: A half-open leaf range ``[start, end)`` whose RFC 6962 hash is one proof element.
LeafRange = tuple[int, int]


class ProofError(ValueError):
    """A proof was requested for indices or sizes outside the tree."""


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two strictly less than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def subtree_keys(start: int, end: int) -> list[NodeKey]:
    """The perfect subtrees that cover ``[start, end)``, left to right (largest first)."""
    keys: list[NodeKey] = []
    while start < end:
        align = (start & -start).bit_length() - 1 if start else 64
        level = min(align, (end - start).bit_length() - 1)
        keys.append((level, start >> level))
        start += 1 << level
    return keys


def fold(hashes: Sequence[bytes]) -> bytes:
    """The RFC 6962 hash of consecutive perfect subtrees given largest first."""
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for left in reversed(hashes[:-1]):
        acc = node_hash(left, acc)
    return acc


def inclusion_ranges(index: int, size: int) -> list[LeafRange]:
    """The ranges whose hashes form the audit path ``PATH(index, D[0:size])``, leaf upward."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of size {size}")
    path: list[LeafRange] = []
    start, end = 0, size
    while end - start > 1:
        mid = start + split_point(end - start)
        if index < mid:
            path.append((mid, end))
            end = mid
        else:
            path.append((start, mid))
            start = mid
    path.reverse()
    return path


def consistency_ranges(old_size: int, new_size: int) -> list[LeafRange]:
    """The ranges whose hashes form ``PROOF(old_size, D[0:new_size])`` (RFC 9162 §2.1.4.1)."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"no consistency proof from size {old_size} to size {new_size}")
    if old_size in (0, new_size):
        return []
    path: list[LeafRange] = []
    start, end, m, complete = 0, new_size, old_size, True
    while m != end - start:
        mid = start + split_point(end - start)
        if m <= mid - start:
            path.append((mid, end))
            end = mid
        else:
            path.append((start, mid))
            m -= mid - start
            start = mid
            complete = False
    if not complete:
        path.append((start, end))
    path.reverse()
    return path


class NodeSource(Protocol):
    """Anything that can return the hashes of perfect subtrees of a tree."""

    def get_nodes(self, keys: Collection[NodeKey]) -> Mapping[NodeKey, bytes]:
        """The hash of every key (all of them must exist)."""
        ...


def resolve(ranges: Sequence[LeafRange], source: NodeSource) -> list[bytes]:
    """The hash of each range, fetching all the perfect subtrees needed in one call."""
    groups = [subtree_keys(start, end) for start, end in ranges]
    found = source.get_nodes({key for group in groups for key in group})
    return [fold([found[key] for key in group]) for group in groups]


def root_from(size: int, source: NodeSource) -> bytes:
    """The root of the first ``size`` leaves held by ``source``."""
    return resolve([(0, size)], source)[0] if size else EMPTY_ROOT


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: does ``proof`` show leaf hash ``leaf`` at ``index`` under ``root``?"""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes
) -> bool:
    """RFC 9162 §2.1.4.2: does ``proof`` show the tree ``old_root`` is a prefix of ``new_root``?

    Size 0 is consistent with every tree and equal sizes need equal roots; both take an
    empty proof.
    """
    if not 0 <= old_size <= new_size:
        return False
    if old_size == 0:
        return not proof
    if old_size == new_size:
        return not proof and old_root == new_root
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # an exact power of two
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0


class CompactRange:
    """The perfect subtrees covering ``[0, size)``: O(log n) state to append and to get a root."""

    def __init__(self, size: int = 0, hashes: Iterable[bytes] = ()) -> None:
        self.size = size
        self.hashes = list(hashes)
        if len(self.hashes) != size.bit_count():
            raise ValueError(f"a range of size {size} needs {size.bit_count()} hashes")

    @classmethod
    def keys_for(cls, size: int) -> list[NodeKey]:
        """The node keys a range of ``size`` leaves is made of."""
        return subtree_keys(0, size)

    def append(self, leaf: bytes) -> list[tuple[NodeKey, bytes]]:
        """Add a leaf hash; return every perfect subtree completed by it (the leaf first)."""
        index, level, current = self.size, 0, leaf
        created = [((0, index), leaf)]
        while index & 1:
            current = node_hash(self.hashes.pop(), current)
            index >>= 1
            level += 1
            created.append(((level, index), current))
        self.hashes.append(current)
        self.size += 1
        return created

    def root(self) -> bytes:
        return fold(self.hashes)

    def copy(self) -> CompactRange:
        return CompactRange(self.size, self.hashes)


class MemoryTree:
    """A whole tree in memory: every perfect subtree, 32 bytes each, in one bytearray per level.

    About 64 bytes per leaf (64 MB at one million leaves). Used by verifiers that rebuild a
    log from its entries, and by tests.
    """

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        self._levels: list[bytearray] = [bytearray()]
        self._range = CompactRange()
        self.extend(leaves)

    @property
    def size(self) -> int:
        return self._range.size

    def append(self, leaf: bytes) -> int:
        """Add a leaf hash; return its index."""
        for (level, _), digest in self._range.append(leaf):
            if level == len(self._levels):
                self._levels.append(bytearray())
            self._levels[level] += digest
        return self._range.size - 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    def node(self, level: int, index: int) -> bytes:
        """The hash of perfect subtree ``(level, index)``."""
        row = self._levels[level] if level < len(self._levels) else b""
        if not 0 <= index < len(row) // HASH_SIZE:
            raise KeyError((level, index))
        return bytes(row[index * HASH_SIZE : (index + 1) * HASH_SIZE])

    def get_nodes(self, keys: Collection[NodeKey]) -> dict[NodeKey, bytes]:
        return {key: self.node(*key) for key in keys}

    def leaf(self, index: int) -> bytes:
        return self.node(0, index)

    def root(self, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        self._check_size(size)
        return root_from(size, self)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        size = self.size if size is None else size
        self._check_size(size)
        return resolve(inclusion_ranges(index, size), self)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        new_size = self.size if new_size is None else new_size
        self._check_size(new_size)
        return resolve(consistency_ranges(old_size, new_size), self)

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self.size:
            raise ProofError(f"tree size {size} is beyond the {self.size} leaves held")
