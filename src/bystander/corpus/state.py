"""Per-file state that makes a corpus resumable: a sidecar written just before publication.

A worker writes ``OUT/.bystander-corpus/REL.json`` (the file's report, the SHA-256 of the
finished output and the settings it was made with) after the output is complete and signed
but *before* the output is renamed into place. So an output without a sidecar was never
published by a corpus run, and a sidecar whose output is missing or different means the run
was cut between the two steps: that file is simply done again. A file counts as finished
only when its output's hash matches and its C2PA signature verifies against the device root.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bystander.fsutil import file_sha256, write_text_atomic

STATE_DIR = ".bystander-corpus"
SIDECAR_SCHEMA = "bystander.corpus-item/1"


def sidecar_path(output: Path, rel: Path) -> Path:
    return output / STATE_DIR / f"{rel}.json"


def settings_fingerprint(description: dict[str, object], signed: bool) -> str:
    """What decides an output's content: the protect settings (minus ``overwrite``) and
    whether it is signed. Outputs made with other settings are redone."""
    data = {k: v for k, v in description.items() if k != "overwrite"}
    text = json.dumps({"settings": data, "signed": signed}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def write_sidecar(
    output: Path,
    rel: Path,
    finished: Path,
    fingerprint: str,
    signed: bool,
    item: dict[str, Any],
) -> None:
    """Record ``finished`` (the complete temporary output) for ``rel``."""
    record = {
        "schema": SIDECAR_SCHEMA,
        "output": str(rel),
        "sha256": file_sha256(finished),
        "settings": fingerprint,
        "signed": signed,
        "item": item,
    }
    write_text_atomic(sidecar_path(output, rel), json.dumps(record, indent=1))


@dataclass(frozen=True)
class Status:
    """Where one file stands before a run: ``finished`` (skip), or why not."""

    finished: bool
    reason: str
    ours: bool  # a sidecar exists: an existing output may be replaced
    item: dict[str, Any] | None = None


def check_finished(output: Path, rel: Path, fingerprint: str, trust_root: Path | None) -> Status:
    """Whether ``rel`` was finished by an earlier run with the same settings and verifies."""
    target = output / rel
    sidecar = sidecar_path(output, rel)
    try:
        record = json.loads(sidecar.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Status(False, "not started", ours=False)
    except (OSError, ValueError) as exc:
        return Status(False, f"unreadable state: {exc}", ours=True)
    if not isinstance(record, dict) or record.get("schema") != SIDECAR_SCHEMA:
        return Status(False, "unknown state format", ours=True)
    if record.get("settings") != fingerprint:
        return Status(False, "made with other settings", ours=True)
    if not target.is_file():
        return Status(False, "output missing", ours=True)
    if file_sha256(target) != record.get("sha256"):
        return Status(False, "output differs from its report", ours=True)
    if record.get("signed"):
        problem = _signature_problem(target, trust_root)
        if problem is not None:
            return Status(False, problem, ours=True)
    item = record.get("item")
    return Status(True, "finished", ours=True, item=item if isinstance(item, dict) else None)


def _signature_problem(target: Path, trust_root: Path | None) -> str | None:
    from bystander.provenance.verify import verify_file

    if trust_root is None:
        return "signed output but no device root to verify it"
    try:
        verification = verify_file(target, [trust_root])
    except Exception as exc:  # an unreadable signature means: do it again
        return f"signature unreadable: {exc}"
    if verification.state != "trusted" or not verification.complete:
        return f"signature {verification.state}"
    return None


def remove_stale_partials(target: Path) -> int:
    """Remove temporary outputs (``atomic_output``'s ``.NAME.*.partialSUFFIX``) left beside
    ``target`` by a worker that was killed; returns how many. Only for a file about to be
    redone: two runs must not share an output folder at the same time."""
    removed = 0
    for stale in target.parent.glob(f".{target.stem}.*.partial{target.suffix}"):
        try:
            stale.unlink()
            removed += 1
        except FileNotFoundError:
            continue
    return removed
