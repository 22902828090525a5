"""Expand a corpus's inputs (files, folders, globs, manifests) into one job per file."""

from __future__ import annotations

import glob
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bystander.errors import InputError, OutputError
from bystander.vision.media import is_media

_MAGIC = set("*?[")


@dataclass(frozen=True)
class CorpusJob:
    """One input file and the output it is protected into (``rel`` under the output folder)."""

    source: Path
    rel: Path

    def target(self, output: Path) -> Path:
        return output / self.rel


@dataclass(frozen=True)
class PlannedCorpus:
    """The jobs, and inputs that failed before any work (missing files, a bad manifest line)."""

    jobs: list[CorpusJob]
    rejected: list[tuple[str, str]]  # (input, one-line reason)


def _media_under(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and is_media(p) and ".partial" not in p.name
    )


def _glob_base(pattern: str) -> Path:
    """The folder before a glob's first wildcard: outputs mirror the tree below it."""
    parts = Path(pattern).parts
    base: list[str] = []
    for part in parts:
        if _MAGIC & set(part):
            break
        base.append(part)
    return Path(*base) if base else Path(".")


def read_manifest(manifest: Path) -> list[str]:
    """Paths listed in a manifest file: one a line, ``#`` comments and blank lines skipped;
    relative paths are relative to the manifest's folder."""
    try:
        text = manifest.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read manifest {manifest}: {exc}") from None
    entries: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        path = Path(line).expanduser()
        entries.append(str(path if path.is_absolute() else manifest.parent / path))
    return entries


def _expand(item: str) -> tuple[list[tuple[Path, Path]], str | None]:
    """``(source, rel)`` pairs for one input, or a reason it gave none."""
    path = Path(item)
    if path.is_dir():
        found = _media_under(path)
        if not found:
            return [], f"no videos or images in folder {path}"
        return [(p, p.relative_to(path)) for p in found], None
    if not path.exists() and _MAGIC & set(item):
        base = _glob_base(item)
        matches = sorted(Path(m) for m in glob.glob(item, recursive=True))
        files = [m for m in matches if m.is_file() and is_media(m) and ".partial" not in m.name]
        if not files:
            return [], f"no videos or images match {item}"
        return [(m, m.relative_to(base)) for m in files], None
    if not path.exists():
        return [], f"no such file: {path}"
    if not is_media(path):
        return [], f"unsupported format {path.suffix or '(no extension)'}: {path}"
    return [(path, Path(path.name))], None


def plan_corpus(
    inputs: Sequence[Path | str], manifests: Iterable[Path], output: Path
) -> PlannedCorpus:
    """One job per media file in ``inputs`` and ``manifests``; ``output`` must be a folder.

    A folder's or glob's files keep their path below it; files named directly (or in a
    manifest) keep their name. Two inputs that would share an output name are an error.
    """
    if (output.exists() and not output.is_dir()) or (not output.exists() and is_media(output)):
        raise OutputError(f"output {output} must be a folder for a corpus")
    items = [str(i) for i in inputs]
    for manifest in manifests:
        items.extend(read_manifest(Path(manifest)))
    if not items:
        raise InputError("no input given")
    jobs: list[CorpusJob] = []
    rejected: list[tuple[str, str]] = []
    seen: dict[Path, Path] = {}
    for item in items:
        pairs, reason = _expand(item)
        if reason is not None:
            rejected.append((item, reason))
        for source, rel in pairs:
            key = source.resolve()
            if key in seen:
                continue  # the same file listed twice is protected once
            seen[key] = rel
            jobs.append(CorpusJob(source, rel))
    rels = [job.rel for job in jobs]
    if len(set(rels)) != len(rels):
        clash = next(r for r in rels if rels.count(r) > 1)
        raise OutputError(
            f"two inputs would be written to the same output {clash}; protect them separately"
        )
    return PlannedCorpus(jobs, rejected)
