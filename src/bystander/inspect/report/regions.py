"""Where an evidence ref sits in the bundle: a file and a line, for SARIF and code scanning.

Every ref maps to a file of the bundle, so a code-scanning upload always has a physical
location: documents and device logs carry their line (``doc:privacy.md:12``); a HAR entry
(``har:traffic.har#5``) is found at the line where its JSON object opens; an audit event
(``audit:1234``) at the export line holding entry 1234; a profile field
(``profile:access_control.default_password``) at the line of that key in the profile; refs
naming no file (``bundle:documents``, ``counts``) and findings without evidence point at the
manifest. Files are read only when a ref needs them, once, and any that cannot be read give
line 1: a location is never lost.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from bystander.inspect.report.common import locate

_KEY = re.compile(r"^(\s*)(?:-\s+)?([A-Za-z_][\w\-]*)\s*:")
_INDEX = re.compile(r"\[\d+\]")


@dataclass(frozen=True, slots=True)
class Place:
    """A file of the bundle (relative to it) and a 1-based line (and column when known)."""

    uri: str
    line: int = 1
    column: int | None = None


def har_entry_lines(text: str) -> list[tuple[int, int]]:
    """(line, column) where each ``log.entries[i]`` object opens; [] when not found."""
    decoder = json.JSONDecoder()
    for match in re.finditer(r'"entries"\s*:\s*\[', text):
        pos = match.end()
        found: list[tuple[int, int]] = []
        line, counted = 1 + text.count("\n", 0, pos), pos
        try:
            while True:
                while pos < len(text) and text[pos] in " \t\r\n,":
                    pos += 1
                if pos >= len(text) or text[pos] == "]":
                    return found
                line += text.count("\n", counted, pos)
                counted = pos
                found.append((line, pos - text.rfind("\n", 0, pos)))
                _, pos = decoder.raw_decode(text, pos)
        except (ValueError, RecursionError):
            continue  # "entries" inside a string, or not the HAR's array: try the next one
    return []


def yaml_key_lines(text: str) -> dict[str, int]:
    """Dotted key path -> line, for the block-style YAML of a profile (first occurrence)."""
    out: dict[str, int] = {}
    stack: list[tuple[int, str]] = []
    for no, raw in enumerate(text.splitlines(), 1):
        m = _KEY.match(raw)
        if not m or raw.lstrip().startswith("#"):
            continue
        indent = len(m.group(1))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, m.group(2)))
        out.setdefault(".".join(k for _, k in stack), no)
    return out


def _read(path: Path) -> str | None:
    try:
        return path.read_text("utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None


@dataclass
class Regions:
    """Resolves evidence refs to places in the bundle at ``root`` (None: lines unknown)."""

    root: Path | None
    artifacts: dict[str, str]
    _har: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    _audit: dict[str, dict[int, int]] = field(default_factory=dict)
    _keys: dict[str, int] | None = None

    @property
    def manifest(self) -> str:
        return self.artifacts.get("manifest", "manifest.yaml")

    def place(self, ref: str) -> Place:
        """The file and line of ``ref``; the manifest when it names no file."""
        where = locate(ref)
        if where.uri is not None:
            if where.line is not None and where.line > 0:
                return Place(where.uri, where.line)
            if where.kind == "har" and where.entry and where.entry.isdigit():
                return self._har_place(where.uri, int(where.entry))
            return Place(where.uri)
        if where.kind == "profile" and "profile" in self.artifacts:
            return Place(self.artifacts["profile"], self._profile_line(where.entry or ""))
        if where.kind == "audit" and "audit" in self.artifacts and (where.entry or "").isdigit():
            uri = self.artifacts["audit"]
            return Place(uri, self._audit_line(uri, int(where.entry or 0)))
        return Place(self.manifest, self._manifest_line(where.entry or ""))

    def _file(self, uri: str) -> str | None:
        return None if self.root is None else _read(self.root / uri)

    def _har_place(self, uri: str, index: int) -> Place:
        lines = self._har.get(uri)
        if lines is None:
            text = self._file(uri)
            lines = self._har[uri] = har_entry_lines(text) if text else []
        if 0 <= index < len(lines):
            return Place(uri, *lines[index])
        return Place(uri)

    def _profile_line(self, path: str) -> int:
        if self._keys is None:
            text = self._file(self.artifacts["profile"])
            self._keys = yaml_key_lines(text) if text else {}
        probe = _INDEX.sub("", path)
        while probe:
            if probe in self._keys:
                return self._keys[probe]
            probe = probe.rpartition(".")[0]
        return 1

    def _audit_line(self, uri: str, index: int) -> int:
        lines = self._audit.get(uri)
        if lines is None:
            lines = self._audit[uri] = {}
            text = self._file(uri)
            for no, raw in enumerate((text or "").splitlines(), 1):
                m = re.match(r'\{"index":\s*(\d+)', raw)
                if m:
                    lines[int(m.group(1))] = no
        return lines.get(index, 1)

    def _manifest_line(self, key: str) -> int:
        if key != "documents":
            return 1
        text = self._file(self.manifest)
        return yaml_key_lines(text).get("documents", 1) if text else 1
