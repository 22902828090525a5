"""Evidence bundles: a folder with a versioned manifest, read into one ``Evidence``.

A bundle is a folder holding ``manifest.yaml`` (or ``manifest.yml``/``manifest.json``) and
the files it names, by paths relative to the folder (a path may not leave it)::

    format: bystander.evidence-bundle
    version: 1
    description: AI glasses G1, firmware 2.3, March 2026     # optional
    profile: profile.yaml                  # required: the device profile (YAML or JSON)
    audit: [audit/export.jsonl]            # Bystander audit exports (`bystander audit export`)
    audit_keys: ["origin+1a2b3c4d+AbC..."] # optional: pinned checkpoint keys for the exports
    records: [logs/device.jsonl]           # device logs of typed records (JSON Lines)
    documents:
      - {path: docs/privacy-zh.md, type: privacy_policy, lang: zh, date: 2026-01-15}
      - {path: docs/pia.md, type: pia, date: 2026-01-10, public: false}
    traffic: [traffic/session.har]         # HAR 1.2 (mitmproxy, browsers)
    pcap: [traffic/session.pcap]           # optional packet captures (pcap or pcapng)
    billing: [billing.csv]                 # JSON or CSV billing events
    hosts: {api.example.cn: CN, "*.cdn.example.com": SG}   # host -> country for traffic

Every list may be empty or left out. ``load_bundle(path)`` takes the folder (or the manifest
file) and returns the ``Evidence`` with every record list sorted (``Evidence.finish()``);
anything wrong is a ``BundleError`` naming the file. Size limits: streamed files (device
logs, audit exports, pcap, CSV) 2 GiB, files read whole (HAR, JSON billing) 1 GiB,
documents, profile and manifest 16 MiB each.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bystander.errors import InputError
from bystander.evidence.checkpoint import NoteVerifier, parse_vkey
from bystander.inspect.importers.audit import load_audit
from bystander.inspect.importers.billing import load_billing
from bystander.inspect.importers.common import BundleError, parse_time
from bystander.inspect.importers.device_log import load_device_log
from bystander.inspect.importers.documents import DOC_TYPES, load_document
from bystander.inspect.importers.har import load_har
from bystander.inspect.importers.pcap import load_pcap
from bystander.inspect.importers.profile import load_profile, read_structured, validation_message
from bystander.inspect.records import Evidence
from bystander.inspect.traffic import CountryResolver

__all__ = ["FORMAT", "VERSION", "BundleError", "Manifest", "load_bundle", "read_manifest"]

FORMAT = "bystander.evidence-bundle"
VERSION = 1
MANIFEST_NAMES = ("manifest.yaml", "manifest.yml", "manifest.json")


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DocumentEntry(_Strict):
    """A document of the bundle."""

    path: str = Field(min_length=1)
    type: str
    lang: Literal["zh", "en"] | None = None
    date: datetime | date | float | None = None  # effective or signed date
    public: bool = True


class Manifest(_Strict):
    """The bundle's ``manifest.yaml``."""

    format: Literal["bystander.evidence-bundle"]
    version: Literal[1]
    description: str | None = None
    profile: str = Field(min_length=1)
    audit: list[str] = Field(default_factory=list)
    audit_keys: list[str] = Field(default_factory=list)
    records: list[str] = Field(default_factory=list)
    documents: list[DocumentEntry] = Field(default_factory=list)
    traffic: list[str] = Field(default_factory=list)
    pcap: list[str] = Field(default_factory=list)
    billing: list[str] = Field(default_factory=list)
    hosts: dict[str, str] = Field(default_factory=dict)


def find_manifest(path: Path) -> Path:
    """The manifest file of the bundle at ``path`` (a folder or the manifest itself)."""
    if path.is_file():
        return path
    if not path.is_dir():
        raise BundleError(f"{path}: no such bundle folder")
    for name in MANIFEST_NAMES:
        if (path / name).is_file():
            return path / name
    raise BundleError(f"{path}: no manifest.yaml or manifest.json (is this an evidence bundle?)")


def read_manifest(manifest: Path) -> Manifest:
    """Parse and check a manifest: format and version first, then every field."""
    name = manifest.name
    data: Any = read_structured(manifest, name)
    if not isinstance(data, dict):
        raise BundleError(f"{name}: a manifest must be a mapping of fields")
    if data.get("format") != FORMAT:
        raise BundleError(f"{name}: format must be {FORMAT!r}, not {data.get('format')!r}")
    if data.get("version") != VERSION:
        raise BundleError(
            f"{name}: unknown manifest version {data.get('version')!r} "
            f"(this bystander reads version {VERSION})"
        )
    try:
        parsed = Manifest.model_validate(data)
    except ValidationError as exc:
        raise BundleError(f"{name}: {validation_message(exc)}") from None
    for i, doc in enumerate(parsed.documents):
        if doc.type not in DOC_TYPES:
            raise BundleError(
                f"{name}: documents.{i}.type: unknown document type {doc.type!r} "
                f"(known: {', '.join(DOC_TYPES)})"
            )
    for host, country in parsed.hosts.items():
        if len(country) != 2 or not country.isalpha():
            raise BundleError(f"{name}: hosts.{host}: {country!r} is not a 2-letter country code")
    return parsed


class _Files:
    """Resolves manifest paths inside the bundle folder."""

    def __init__(self, root: Path, manifest_name: str) -> None:
        self.root = root.resolve()
        self.manifest_name = manifest_name

    def get(self, rel: str, what: str) -> tuple[Path, str]:
        """(absolute path, name to show) of a bundle file; errors if outside or missing."""
        where = f"{self.manifest_name}: {what} {rel!r}"
        candidate = Path(rel)
        if candidate.is_absolute() or rel.startswith(("/", "\\")):
            raise BundleError(f"{where}: paths must be relative to the bundle folder")
        resolved = (self.root / candidate).resolve()
        if not resolved.is_relative_to(self.root):
            raise BundleError(f"{where}: path escapes the bundle folder")
        if not resolved.exists():
            raise BundleError(f"{where}: file is missing")
        if not resolved.is_file():
            raise BundleError(f"{where}: not a file")
        return resolved, resolved.relative_to(self.root).as_posix()


def load_bundle(path: Path) -> Evidence:
    """Read the evidence bundle at ``path`` (its folder or its manifest) into ``Evidence``."""
    manifest_path = find_manifest(path)
    manifest = read_manifest(manifest_path)
    files = _Files(manifest_path.parent, manifest_path.name)
    profile_path, profile_name = files.get(manifest.profile, "profile")
    evidence = Evidence(device=load_profile(profile_path, profile_name))
    evidence.sources.extend([manifest_path.name, profile_name])
    evidence.root = str(manifest_path.parent if path.is_file() else path)
    evidence.artifacts.update(manifest=manifest_path.name, profile=profile_name)
    countries = CountryResolver(manifest.hosts, evidence.device.data_flows)

    verifiers = _verifiers(manifest, manifest_path.name)
    for rel in manifest.audit:
        file, name = files.get(rel, "audit")
        load_audit(file, name, evidence, verifiers)
        evidence.sources.append(name)
        evidence.artifacts.setdefault("audit", name)
        evidence.has_audit_log = True
    for rel in manifest.records:
        file, name = files.get(rel, "records")
        load_device_log(file, name, evidence)
        evidence.sources.append(name)
    for i, doc in enumerate(manifest.documents):
        file, name = files.get(doc.path, f"documents.{i}")
        t = _date(doc.date, manifest_path.name, i)
        evidence.documents.append(load_document(file, name, doc.type, doc.lang, t, doc.public))
        evidence.sources.append(name)
    for rel in manifest.traffic:
        file, name = files.get(rel, "traffic")
        egress, notes = load_har(file, name, countries)
        evidence.egress.extend(egress)
        evidence.notes.extend(notes)
        evidence.sources.append(name)
        evidence.has_traffic = True
    for rel in manifest.pcap:
        file, name = files.get(rel, "pcap")
        egress, notes = load_pcap(file, name, countries)
        evidence.egress.extend(egress)
        evidence.notes.extend(notes)
        evidence.sources.append(name)
        evidence.has_traffic = True
    for rel in manifest.billing:
        file, name = files.get(rel, "billing")
        evidence.billing.extend(load_billing(file, name))
        evidence.sources.append(name)
    return evidence.finish()


def _verifiers(manifest: Manifest, name: str) -> list[NoteVerifier] | None:
    keys: list[NoteVerifier] = []
    for i, vkey in enumerate(manifest.audit_keys):
        try:
            keys.append(parse_vkey(vkey))
        except InputError as exc:
            raise BundleError(f"{name}: audit_keys.{i}: {exc}") from None
    return keys or None


def _date(value: datetime | date | float | None, name: str, index: int) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp()
    try:
        return parse_time(value)
    except ValueError as exc:
        raise BundleError(f"{name}: documents.{index}.date: {exc}") from None
