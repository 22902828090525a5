"""Documents (privacy notice, processing rules, PIA, filing...) -> ``Document`` records.

HTML (``.html``/``.htm``: tags stripped with the standard library's ``html.parser``; script
and style dropped; h1-h6 are headings), Markdown (``.md``: ``#`` headings), JSON (``.json``:
every string is a line of text, numbered by where it sits in the file; a key whose value is an
object or list, and ``title``/``heading`` strings, are headings) or plain text
(short unpunctuated lines and ``一、``/``第一条``/``1.`` lines are headings), UTF-8 or
GB 18030. The language is guessed (zh when CJK characters are at least a tenth of the
letters) unless the manifest gives it. Notice analysis (``bystander.inspect.notice``) fills
``fields``; impact assessments (``pia``, ``dpia``) also get their sections.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from bystander.inspect.importers.common import (
    MAX_DOCUMENT_BYTES,
    BundleError,
    decode_text,
    read_bytes,
)
from bystander.inspect.notice import TextLine, analyse_notice, analyse_pia
from bystander.inspect.records import Document

DOC_TYPES = (
    "privacy_policy",
    "processing_rules",
    "biometric_notice",
    "children_rules",
    "pia",
    "dpia",
    "filing",
    "retention_schedule",
    "signage",
    "vuln_disclosure_policy",
    "support_period",
    "terms",
    # cross-border transfer mechanisms (PIPL Art 38, GDPR Art 44-46)
    "transfer_mechanism",
    "security_assessment",
    "standard_contract",
    "certification",
    "scc",
    "bcr",
    "adequacy",
    "other",
)
PIA_TYPES = ("pia", "dpia")
_HTML = (".html", ".htm", ".xhtml")
_MARKDOWN = (".md", ".markdown")
_JSON = (".json",)
_TEXT = (".txt", ".text", "")
_JSON_HEADING_KEYS = frozenset({"title", "heading", "header", "name", "标题"})
_SENTENCE_END = ("\u3002", ".", "\uff1b", ";", "\uff0c", ",", ":", "\uff1a")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+")
_MD_MARKUP = re.compile(r"(\*\*|__|`|^\s*[-*+>]\s+|!?\[([^\]]*)\]\(([^)]*)\))")
_ZH_HEADING = re.compile(
    r"^\s*([一二三四五六七八九十]+、|第[一二三四五六七八九十百]+[条章节]|\d+(\.\d+)*[.、]?\s)"
)


def guess_lang(text: str) -> str:
    """``zh`` or ``en`` from the share of CJK characters."""
    sample = text[:20000]
    cjk = len(_CJK.findall(sample))
    latin = len(_LATIN.findall(sample))
    return "zh" if cjk and cjk * 10 >= cjk + latin else "en"


class _Text(HTMLParser):
    """Visible text of an HTML page, by source line; h1-h6 lines marked as headings."""

    _SKIP = frozenset({"script", "style", "template", "noscript", "head"})
    _HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: dict[int, list[str]] = {}
        self.headings: set[int] = set()
        self._skip = 0
        self._heading = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip += 1
        elif tag in self._HEADINGS:
            self._heading += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skip:
            self._skip -= 1
        elif tag in self._HEADINGS and self._heading:
            self._heading -= 1

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        line = self.getpos()[0]
        for offset, part in enumerate(data.split("\n")):
            if part.strip():
                self.lines.setdefault(line + offset, []).append(part.strip())
                if self._heading:
                    self.headings.add(line + offset)


def html_lines(text: str) -> list[TextLine]:
    parser = _Text()
    parser.feed(text)
    parser.close()
    return [
        TextLine(no, " ".join(parts), no in parser.headings)
        for no, parts in sorted(parser.lines.items())
    ]


def markdown_lines(text: str) -> list[TextLine]:
    out: list[TextLine] = []
    raw = text.splitlines()
    for i, line in enumerate(raw):
        if not line.strip() or set(line.strip()) <= {"=", "-"}:
            continue
        heading = bool(_MD_HEADING.match(line))
        underline = (
            i + 1 < len(raw) and raw[i + 1].strip() and set(raw[i + 1].strip()) <= {"=", "-"}
        )
        clean = _MD_MARKUP.sub(lambda m: f"{m.group(2)} {m.group(3)}" if m.group(2) is not None
                               else "", _MD_HEADING.sub("", line))  # fmt: skip
        out.append(TextLine(i + 1, clean.strip(), heading or bool(underline)))
    return out


def _json_strings(value: Any, key: str | None = None) -> Iterator[tuple[str, bool]]:
    """(text, is heading) of every string in a JSON value, in document order."""
    if isinstance(value, str):
        yield value, key is not None and key.lower() in _JSON_HEADING_KEYS
    elif isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, dict | list) and not k.isdigit():
                yield str(k), True
            yield from _json_strings(v, str(k))
    elif isinstance(value, list):
        for item in value:
            yield from _json_strings(item, key)


def json_lines(text: str, name: str) -> list[TextLine]:
    """The strings of a JSON document as lines; each numbered by its line in the file."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        why = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise BundleError(f"{name}: not valid JSON ({why})") from None
    out: list[TextLine] = []
    pos = counted = 0
    line = 1
    for value, heading in _json_strings(data):
        encoded = json.dumps(value, ensure_ascii=False)
        found = text.find(encoded, pos)
        if found >= 0:  # (a string escaped differently in the file keeps the last line)
            line += text.count("\n", counted, found)
            counted, pos = found, found + len(encoded)
        for part in value.splitlines() or [value]:
            if part.strip():
                out.append(TextLine(line, part.strip(), heading))
    return out


def text_lines(text: str) -> list[TextLine]:
    out: list[TextLine] = []
    for i, line in enumerate(text.splitlines()):
        stripped = line.strip()
        if not stripped:
            continue
        short = (
            len(stripped) <= 40
            and not stripped.endswith(_SENTENCE_END)
            and not any(c in stripped for c in ":@\uff1a")
        )
        out.append(TextLine(i + 1, stripped, short or bool(_ZH_HEADING.match(stripped))))
    return out


def load_document(
    path: Path,
    name: str,
    doc_type: str,
    lang: str | None = None,
    t: float | None = None,
    public: bool = True,
) -> Document:
    """Read one document and analyse it."""
    suffix = path.suffix.lower()
    if suffix not in _HTML + _MARKDOWN + _JSON + _TEXT:
        raise BundleError(
            f"{name}: unsupported document format {suffix!r} (give HTML, Markdown, JSON or text)"
        )
    text = decode_text(read_bytes(path, name, MAX_DOCUMENT_BYTES), name)
    if "\x00" in text:
        raise BundleError(f"{name}: binary data in a text document")
    if suffix in _HTML:
        lines = html_lines(text)
    elif suffix in _MARKDOWN:
        lines = markdown_lines(text)
    elif suffix in _JSON:
        lines = json_lines(text, name)
    else:
        lines = text_lines(text)
    fields = analyse_notice(lines, name, doc_type)
    if doc_type in PIA_TYPES:
        have = {f.name for f in fields}
        fields += tuple(f for f in analyse_pia(lines, name) if f.name not in have)
    return Document(
        ref=f"doc:{name}",
        doc_type=doc_type,
        path=name,
        lang=lang or guess_lang(" ".join(line.text for line in lines)),
        t=t,
        fields=fields,
        biometric_section=any(f.name == "biometric" for f in fields),
        public=public,
    )
