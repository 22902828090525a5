"""RFC 6962/9162 Merkle trees and C2SP signed-note checkpoints.

Expected values are computed here from the RFC definitions (recursive MTH, PATH, SUBPROOF)
and checked against published vectors (Certificate Transparency's test leaves, Go's
``sumdb/note`` example), independently of the implementation under test.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from bystander.evidence import merkle
from bystander.evidence.checkpoint import (
    CheckpointError,
    KeyFormatError,
    NoteSigner,
    NoteVerifier,
    load_verifier,
    open_checkpoint,
    parse_checkpoint_text,
    parse_vkey,
    sign_checkpoint,
    verify_note,
)
from bystander.evidence.keys import public_key_bytes
from bystander.evidence.merkle import CompactRange, MemoryTree

# -- the RFC 6962 definitions, written out independently ------------------------------------


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def k_split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: list[bytes]) -> bytes:
    """RFC 6962 §2.1: MTH of a list of leaf inputs."""
    if not d:
        return sha(b"")
    if len(d) == 1:
        return sha(b"\x00" + d[0])
    k = k_split(len(d))
    return sha(b"\x01" + mth(d[:k]) + mth(d[k:]))


def path(m: int, d: list[bytes]) -> list[bytes]:
    """RFC 6962 §2.1.1: the audit path PATH(m, D[n])."""
    if len(d) <= 1:
        return []
    k = k_split(len(d))
    if m < k:
        return [*path(m, d[:k]), mth(d[k:])]
    return [*path(m - k, d[k:]), mth(d[:k])]


def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    """RFC 6962 §2.1.2: SUBPROOF(m, D[n], b)."""
    if m == len(d):
        return [] if b else [mth(d)]
    k = k_split(len(d))
    if m <= k:
        return [*subproof(m, d[:k], b), mth(d[k:])]
    return [*subproof(m - k, d[k:], False), mth(d[:k])]


def leaves_of(n: int) -> list[bytes]:
    return [f"leaf {i}".encode() for i in range(n)]


def tree_of(data: list[bytes]) -> MemoryTree:
    return MemoryTree(merkle.leaf_hash(x) for x in data)


# -- known answers --------------------------------------------------------------------------

# Certificate Transparency's merkle_tree_test leaves and roots of sizes 1..8.
CT_LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
             "606162636465666768696a6b6c6d6e6f"]  # fmt: skip
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def test_empty_tree_root_is_sha256_of_empty_string() -> None:
    expected = bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    assert merkle.EMPTY_ROOT == expected == sha(b"")
    assert MemoryTree().root() == expected
    assert CompactRange().root() == expected


def test_leaf_and_node_hashes_use_domain_prefixes() -> None:
    assert merkle.leaf_hash(b"abc") == sha(b"\x00abc")
    assert merkle.node_hash(b"L" * 32, b"R" * 32) == sha(b"\x01" + b"L" * 32 + b"R" * 32)


def test_certificate_transparency_vectors() -> None:
    data = [bytes.fromhex(x) for x in CT_LEAVES]
    tree = tree_of(data)
    for size, root in enumerate(CT_ROOTS, 1):
        assert tree.root(size).hex() == root
        assert mth(data[:size]).hex() == root  # the reference agrees with the vectors
    proof = tree.consistency_proof(2, 5)
    assert [p.hex() for p in proof] == [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ]
    roots = [bytes.fromhex(r) for r in CT_ROOTS]
    assert merkle.verify_consistency(2, 5, proof, roots[1], roots[4])


@pytest.mark.parametrize("size", range(0, 34))
def test_small_trees_match_the_definition(size: int) -> None:
    data = leaves_of(size)
    tree = tree_of(data)
    assert tree.root() == mth(data)
    for m in range(size):
        proof = tree.inclusion_proof(m)
        assert proof == path(m, data)
        assert merkle.verify_inclusion(merkle.leaf_hash(data[m]), m, size, proof, mth(data))
    for m in range(1, size):
        proof = tree.consistency_proof(m, size)
        assert proof == subproof(m, data, True)
        assert merkle.verify_consistency(m, size, proof, mth(data[:m]), mth(data))


def test_compact_range_reports_every_completed_subtree() -> None:
    rng = CompactRange()
    created = [rng.append(merkle.leaf_hash(x)) for x in leaves_of(8)]
    assert [key for key, _ in created[7]] == [(0, 7), (1, 3), (2, 1), (3, 0)]
    assert created[7][-1][1] == mth(leaves_of(8)) == rng.root()
    assert [key for key, _ in created[4]] == [(0, 4)]


# -- properties -----------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 300), st.data())
def test_inclusion_proofs_for_random_indices(size: int, data: st.DataObject) -> None:
    leaves = leaves_of(size)
    tree = tree_of(leaves)
    index = data.draw(st.integers(0, size - 1))
    root = tree.root()
    proof = tree.inclusion_proof(index)
    leaf = merkle.leaf_hash(leaves[index])
    assert proof == path(index, leaves)
    assert merkle.verify_inclusion(leaf, index, size, proof, root)
    assert not merkle.verify_inclusion(merkle.leaf_hash(b"other"), index, size, proof, root)
    if size > 1:
        other = data.draw(st.integers(0, size - 1).filter(lambda i: i != index))
        assert not merkle.verify_inclusion(leaf, other, size, proof, root)
        assert not merkle.verify_inclusion(leaf, index, size, proof[:-1], root)
        assert not merkle.verify_inclusion(leaf, index, size, [*proof, root], root)
        element = data.draw(st.integers(0, len(proof) - 1))
        byte = data.draw(st.integers(0, 31))
        bad = list(proof)
        bad[element] = (
            bad[element][:byte] + bytes([bad[element][byte] ^ 1]) + bad[element][byte + 1 :]
        )
        assert not merkle.verify_inclusion(leaf, index, size, bad, root)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=2, max_size=8))
def test_consistency_holds_across_random_append_sequences(batches: list[int]) -> None:
    tree, rng, data = MemoryTree(), CompactRange(), []
    heads: list[tuple[int, bytes]] = []
    for count in batches:
        for leaf in leaves_of(len(data) + count)[len(data) :]:
            data.append(leaf)
            tree.append(merkle.leaf_hash(leaf))
            rng.append(merkle.leaf_hash(leaf))
        assert rng.root() == tree.root() == mth(data)
        heads.append((tree.size, tree.root()))
    for i, (old_size, old_root) in enumerate(heads):
        for new_size, new_root in heads[i:]:
            proof = tree.consistency_proof(old_size, new_size)
            assert merkle.verify_consistency(old_size, new_size, proof, old_root, new_root)
            if old_size < new_size:
                assert not merkle.verify_consistency(old_size, new_size, proof, new_root, new_root)
                assert not merkle.verify_consistency(
                    old_size, new_size, proof[:-1], old_root, new_root
                )


def test_verifiers_reject_impossible_arguments() -> None:
    tree = tree_of(leaves_of(5))
    root = tree.root()
    assert not merkle.verify_inclusion(tree.leaf(0), 5, 5, [], root)
    assert not merkle.verify_inclusion(tree.leaf(0), -1, 5, [], root)
    assert not merkle.verify_consistency(5, 4, [], root, root)
    assert not merkle.verify_consistency(3, 5, [], tree.root(3), root)
    assert merkle.verify_consistency(0, 5, [], merkle.EMPTY_ROOT, root)
    assert not merkle.verify_consistency(5, 5, [], tree.root(4), root)
    with pytest.raises(merkle.ProofError):
        tree.inclusion_proof(5)
    with pytest.raises(merkle.ProofError):
        tree.consistency_proof(2, 6)


# -- signed notes and checkpoints -----------------------------------------------------------

# golang.org/x/mod/sumdb/note's documented example (deterministic Ed25519).
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SEED = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_SIG = (
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
)


def test_go_note_vector_verifies_and_is_reproduced() -> None:
    note = GO_TEXT + "\n\u2014 PeterNeumann " + GO_SIG + "\n"
    assert verify_note(note, [parse_vkey(GO_VKEY)]) == GO_TEXT
    key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(GO_SEED)[1:])
    signer = NoteSigner("PeterNeumann", key)
    assert signer.signature_line(GO_TEXT) == "\u2014 PeterNeumann " + GO_SIG + "\n"
    assert signer.verifier.vkey() == GO_VKEY


def test_key_id_follows_the_signed_note_spec() -> None:
    key = Ed25519PrivateKey.generate()
    name = "example.com/log"
    expected = sha(name.encode() + b"\n" + b"\x01" + public_key_bytes(key))[:4]
    vkey = NoteSigner(name, key).verifier.vkey()
    assert vkey.split("+")[1] == expected.hex()
    assert parse_vkey(vkey).public_key == public_key_bytes(key)


def test_checkpoint_format_and_round_trip() -> None:
    key = Ed25519PrivateKey.generate()
    signer = NoteSigner("example.com/log", key)
    root = sha(b"root")
    cp = sign_checkpoint("example.com/log", 42, root, signer)
    lines = cp.note.split("\n")
    assert lines[:4] == ["example.com/log", "42", base64.b64encode(root).decode(), ""]
    assert lines[4].startswith("\u2014 example.com/log ")
    blob = base64.b64decode(lines[4].split(" ")[2])
    kid = sha(b"example.com/log\n\x01" + public_key_bytes(key))[:4]
    assert blob[:4] == kid and len(blob) == 68
    assert lines[5] == "" and len(lines) == 6
    opened = open_checkpoint(cp.note, [signer.verifier])
    assert (opened.origin, opened.size, opened.root_hash) == ("example.com/log", 42, root)
    assert open_checkpoint(cp.note, [NoteVerifier(public_key_bytes(key))]).size == 42


def test_checkpoint_extension_lines_are_accepted() -> None:
    text = "o\n3\n" + base64.b64encode(sha(b"")).decode() + "\nextra line\n"
    assert parse_checkpoint_text(text) == ("o", 3, sha(b""))


@pytest.mark.parametrize(
    "mangle",
    [
        lambda n: n.replace("\n\n", "\n"),  # no signature block
        lambda n: n.replace("\n42\n", "\n042\n"),  # leading zero
        lambda n: n.replace("\n42\n", "\n43\n"),  # changed size
        lambda n: n.replace("\u2014 ", "- "),  # not an em dash
        lambda n: n[:-2] + ("A" if n[-2] != "A" else "B") + "\n",  # signature bytes
        lambda n: n.rstrip("\n"),  # no final newline
        lambda n: n.replace("example.com/log ", "example.com/other ", 1),  # unknown key name
        lambda n: n.replace("\n42\n", "\n4\x012\n"),  # control character
    ],
)
def test_mangled_checkpoints_are_rejected(mangle: object) -> None:
    signer = NoteSigner("example.com/log", Ed25519PrivateKey.generate())
    note = sign_checkpoint("example.com/log", 42, sha(b"r"), signer).note
    with pytest.raises(CheckpointError):
        open_checkpoint(mangle(note), [signer.verifier])  # type: ignore[operator]


def test_checkpoint_from_another_key_is_rejected() -> None:
    signer = NoteSigner("example.com/log", Ed25519PrivateKey.generate())
    impostor = NoteSigner("example.com/log", Ed25519PrivateKey.generate())
    note = sign_checkpoint("example.com/log", 1, sha(b"r"), impostor).note
    with pytest.raises(CheckpointError, match="no signature by a trusted key"):
        open_checkpoint(note, [signer.verifier])


def test_non_canonical_base64_signature_is_rejected() -> None:
    signer = NoteSigner("n", Ed25519PrivateKey.generate())
    note = sign_checkpoint("n", 1, sha(b"r"), signer).note
    body, sig_line = note[:-1].rsplit("\n", 1)
    blob = sig_line.split(" ")[2]
    # 68 bytes -> 92 chars ending "X=": the last data char X carries 2 unused bits.
    assert blob.endswith("=") and not blob.endswith("==")
    last = blob[-2]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    twin = alphabet[alphabet.index(last) ^ 1]
    twin_blob = blob[:-2] + twin + "="
    mangled = body + "\n" + sig_line.replace(blob, twin_blob) + "\n"
    assert base64.b64decode(twin_blob) == base64.b64decode(blob)
    with pytest.raises(CheckpointError, match="canonical"):
        open_checkpoint(mangled, [signer.verifier])


@pytest.mark.parametrize(
    "text",
    ["nokey", "a+b+c", "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"],
)
def test_bad_verifier_keys_are_rejected(text: str) -> None:
    with pytest.raises(KeyFormatError):
        parse_vkey(text)


def test_load_verifier_reads_strings_files_and_pem_keys(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    signer = NoteSigner("example.com/log", key)
    note = sign_checkpoint("example.com/log", 1, sha(b"r"), signer).note
    vkey_file = tmp_path / "log.vkey"
    vkey_file.write_text(signer.verifier.vkey() + "\n")
    private_pem = tmp_path / "audit.ed25519.pem"
    private_pem.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    public_pem = tmp_path / "audit.pub.pem"
    public_pem.write_bytes(
        key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    for spec in (signer.verifier.vkey(), vkey_file, private_pem, public_pem):
        assert open_checkpoint(note, [load_verifier(str(spec))]).size == 1
    with pytest.raises(KeyFormatError):
        load_verifier(str(tmp_path / "missing.pem"))
    (tmp_path / "bad.pem").write_bytes(
        b"-----BEGIN PUBLIC KEY-----\nxx\n-----END PUBLIC KEY-----\n"
    )
    with pytest.raises(KeyFormatError):
        load_verifier(str(tmp_path / "bad.pem"))
