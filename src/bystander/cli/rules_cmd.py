"""`bystander rules`: browse the rule catalog - list, show one rule in plain words, frameworks.

``rules list`` never splits a rule id: piped, it prints one rule per line (grep and cut work);
on a terminal narrower than 110 columns each rule takes two lines (id, status, verify flag and
instrument, then the title, wrapped). ``--json`` gives everything as data.
"""

from __future__ import annotations

import json
import shutil
import sys
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import typer

from bystander.cli.common import out_console, user_errors
from bystander.errors import InputError

if TYPE_CHECKING:
    from bystander.rules.catalog import Catalog, Rule

ALL = "all"  # bystander.rules.ALL
WIDE = 110  # from this width on, one line per rule on a terminal
SHORT_STATUS = {"recommended-standard": "standard"}
STATUS_WORDS = {
    "in-force": "in force: legally binding, a failed check is a violation",
    "voluntary": "voluntary code: a failed check is an advisory, never a violation",
    "draft": "draft, not in force: a failed check is an advisory",
    "guidance": "guidance: a failed check is an advisory",
    "recommended-standard": "recommended (not mandatory) standard: a failed check is an advisory",
    "superseded": "superseded draft, dropped from the final text: advisory, for information",
}

rules_app = typer.Typer(help="Browse the rule catalog.", no_args_is_help=True)

FRAMEWORK_OPTION = typer.Option(
    None,
    "--framework",
    "-F",
    help="Only the rules this framework selects (repeatable) [default: all rules].",
)
JSON_OPTION = typer.Option(False, "--json", help="Print JSON instead of text.")


def rule_data(rule: Rule, catalog: Catalog) -> dict[str, Any]:
    """A rule as plain JSON-ready data."""
    return {
        "id": rule.id,
        "title": rule.title,
        "status": rule.status,
        "verify": rule.verify,
        "jurisdiction": rule.jurisdiction,
        "instrument": rule.instrument_key,
        "instrument_title": catalog.instruments[rule.instrument_key],
        "article": rule.article,
        "text": " ".join(rule.text.split()),
        "scope": " ".join(rule.scope.split()),
        "addressee": list(rule.addressee),
        "effective_date": rule.effective_date.isoformat() if rule.effective_date else None,
        "applies_to": rule.applies_to.model_dump(),
        "checks": list(rule.checks),
        "severity": rule.severity.value,
        "family": rule.family,
        "rectify_within_days": rule.rectify_within_days,
        "remediation": " ".join(rule.remediation.split()),
        "sources": list(rule.sources),
    }


def format_rules(rules: Sequence[Rule], width: int | None) -> str:
    """The rule list as text; ``width`` None: one full line per rule (for pipes)."""
    rows = [
        (r.id, SHORT_STATUS.get(r.status, r.status), "verify" if r.verify else "", r.instrument_key)
        for r in rules
    ]
    heads = ("RULE", "STATUS", "VERIFY", "INSTRUMENT")
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(heads)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))

    if width is None or width >= WIDE:
        used = len(line(heads)) + 2
        room = None if width is None else max(width - used, 10)
        out = [f"{line(heads)}  TITLE"]
        for rule, row in zip(rules, rows, strict=True):
            title = rule.title
            if room is not None and len(title) > room:
                title = title[: room - 1] + "\u2026"
            out.append(f"{line(row)}  {title}")
        return "\n".join(out) + "\n"
    out = [line(heads).rstrip(), "    TITLE", ""]
    for rule, row in zip(rules, rows, strict=True):
        out.append(line(row).rstrip())
        out += textwrap.wrap(rule.title, max(width - 4, 20), initial_indent="    ",
                             subsequent_indent="    ")  # fmt: skip
    return "\n".join(out) + "\n"


def _terminal_width() -> int | None:
    """The terminal's width, or None when stdout is not a terminal (piped)."""
    if not sys.stdout.isatty():
        return None
    return shutil.get_terminal_size().columns


@rules_app.command("list")
def rules_list(
    framework: list[str] = FRAMEWORK_OPTION,
    as_json: bool = JSON_OPTION,
    width: int | None = typer.Option(
        None, "--width", min=40, help="Lay out for this many columns [default: the terminal's]."
    ),
) -> None:
    """The rules a framework selects: id, status, verify flag, instrument, title."""
    from bystander.rules import load_catalog

    with user_errors():
        catalog = load_catalog()
        rules = catalog.rules_for(tuple(framework or [ALL]))
        if as_json:
            data = [rule_data(r, catalog) for r in rules]
            sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
            return
        sys.stdout.write(format_rules(rules, width if width is not None else _terminal_width()))


@rules_app.command("frameworks")
def rules_frameworks() -> None:
    """The frameworks ``--framework`` accepts."""
    from bystander.rules import load_catalog

    with user_errors():
        catalog = load_catalog()
        for framework_id in catalog.framework_ids:
            framework = catalog.framework(framework_id)
            out_console.print(f"{framework.id}: {framework.title}", highlight=False)


def _wrap(label: str, text: str, width: int) -> list[str]:
    pad = " " * 15
    lines = textwrap.wrap(" ".join(text.split()), width - len(pad)) or [""]
    return [f"{label:<15}{lines[0]}", *(pad + rest for rest in lines[1:])]


def describe_rule(rule: Rule, catalog: Catalog, width: int = 80) -> str:
    """One rule in plain words: what it says, whom it binds, when it applies, how it is checked."""
    from bystander.rules import CHECKS

    status = STATUS_WORDS.get(rule.status, rule.status)
    if rule.effective_date:
        status = f"{status} (from {rule.effective_date.isoformat()})"
    applies = [rule.scope]
    types = rule.applies_to.device_types
    if "any" not in types:
        applies.append(f"Device types: {', '.join(types)}.")
    if rule.applies_to.capabilities:
        does = ", ".join(c.replace("_", " ") for c in rule.applies_to.capabilities)
        applies.append(f"The device must do: {does}.")
    days = f" (rectify within {rule.rectify_within_days} days)" if rule.rectify_within_days else ""
    out = [*textwrap.wrap(f"{rule.id}: {rule.title}", width, subsequent_indent="  "), ""]
    out += _wrap("Says:", rule.text, width)
    out += _wrap("Source:", f"{catalog.instruments[rule.instrument_key]}, {rule.article}", width)
    out += _wrap("Status:", status, width)
    out += _wrap("Binds:", ", ".join(rule.addressee), width)
    out += _wrap("Applies when:", " ".join(applies), width)
    for i, check_id in enumerate(rule.checks):
        check = CHECKS[check_id]
        what = f"{check.description.rstrip('.')} ({check_id})"
        out += _wrap("Checked by:" if i == 0 else "", what, width)
    out += _wrap("Severity:", f"{rule.severity.value}{days}", width)
    out += _wrap("To fix:", rule.remediation, width)
    for i, url in enumerate(rule.sources or ["none listed"]):
        out.append(f"{'Sources:' if i == 0 else '':<15}{url}")
    if rule.verify:
        out += _wrap(
            "Verify:",
            "the article number or wording was seen only in secondary sources (news, law "
            "firms); check the official text before relying on it.",
            width,
        )
    return "\n".join(out) + "\n"


@rules_app.command("show")
def rules_show(
    rule_id: str = typer.Argument(..., help="Rule id, e.g. CN-FRM-08-LOCAL-STORE"),
    as_json: bool = JSON_OPTION,
) -> None:
    """One rule in plain words: what it says, whom it binds, when it applies, how it is checked."""
    from bystander.rules import load_catalog

    with user_errors():
        catalog = load_catalog()
        try:
            rule = catalog.rule(rule_id)
        except KeyError:
            raise InputError(
                f"no rule {rule_id!r} in the catalog (see `bystander rules list`)"
            ) from None
        if as_json:
            data = rule_data(rule, catalog)
            sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
            return
        width = _terminal_width() or 80
        sys.stdout.write(describe_rule(rule, catalog, min(max(width, 60), 100)))
