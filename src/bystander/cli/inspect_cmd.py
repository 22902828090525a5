"""`bystander inspect`, `bystander pia` and `bystander rules`: check a device's evidence
against the rule catalog, write its impact assessment, browse the catalog."""

from __future__ import annotations

import sys
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from bystander.cli.common import err_console, user_errors
from bystander.errors import InputError
from bystander.fsutil import write_text_atomic

if TYPE_CHECKING:
    from bystander.inspect.findings import Inspection

# The inspector's modules (catalog, importers, templates) load when a command runs, not at
# every start of the `bystander` command.
ALL = "all"  # bystander.rules.ALL


class ReportFormat(StrEnum):
    text = "text"
    json = "json"
    sarif = "sarif"
    html = "html"
    junit = "junit"


class PiaFormat(StrEnum):
    markdown = "markdown"
    html = "html"


FRAMEWORK_OPTION = typer.Option(
    None,
    "--framework",
    "-F",
    help="Framework to check (repeatable), e.g. cn-frm-2025, caict-glasses-2026 "
    "[default: all rules]. `bystander rules frameworks` lists them.",
)
DATE_OPTION = typer.Option(
    None,
    "--date",
    help="Inspection date (YYYY-MM-DD) for deadlines and rules not yet in force [default: today].",
)


def _inspect(bundle: Path, frameworks: list[str] | None, on: str | None) -> Inspection:
    from bystander.inspect.bundle import load_bundle
    from bystander.rules import inspect_evidence

    today = _parse_date(on) if on else None
    evidence = load_bundle(bundle)
    return inspect_evidence(evidence, frameworks or [ALL], today=today)


def write_output(text: str, output: Path | None) -> None:
    """``text`` to ``output`` (atomically), or to stdout."""
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()
    else:
        write_text_atomic(output, text)


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"--date must look like 2026-06-01, got {text!r}") from None


def inspect_command(
    bundle: Path = typer.Argument(
        ..., help="Evidence bundle: a folder with a manifest.", show_default=False
    ),
    framework: list[str] = FRAMEWORK_OPTION,
    fmt: ReportFormat = typer.Option(ReportFormat.text, "--format", "-f", help="Report format."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the report here (atomically) instead of stdout."
    ),
    on: str | None = DATE_OPTION,
) -> None:
    """Check a device's evidence against the rules, article by article.

    Exits 1 when an in-force rule is violated (so it can gate a maker's CI), 0 otherwise;
    advisories (voluntary codes, drafts, guidance) never fail it.
    """
    from bystander.inspect.findings import Verdict
    from bystander.inspect.report import render

    with user_errors():
        inspection = _inspect(bundle, framework, on)
        write_output(render(inspection, fmt.value), output)
        if output is not None:
            counts = inspection.by_verdict()
            err_console.print(
                f"{len(inspection.violations)} violation(s), {len(inspection.advisories)} "
                f"advisory(ies), {counts[Verdict.PASS]} passed; report: {output}",
                highlight=False,
            )
    raise typer.Exit(inspection.exit_code)


def pia_command(
    bundle: Path = typer.Argument(..., help="Evidence bundle folder.", show_default=False),
    framework: list[str] = FRAMEWORK_OPTION,
    fmt: PiaFormat = typer.Option(PiaFormat.markdown, "--format", "-f", help="Output format."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the assessment here instead of stdout."
    ),
    on: str | None = DATE_OPTION,
) -> None:
    """Write a personal-information impact assessment pre-filled from the evidence.

    The structure follows CAC FR Measures Art 9, PIPL Arts 55-56 and GDPR Art 35(7); what
    the evidence cannot tell is left as TODO for the responsible person.
    """
    from bystander.inspect.pia import build_pia, render_pia

    with user_errors():
        inspection = _inspect(bundle, framework, on)
        write_output(render_pia(build_pia(inspection), fmt.value), output)


def register(app: typer.Typer) -> None:
    """Add ``inspect``, ``pia`` and ``rules`` to ``app``."""
    from bystander.cli.rules_cmd import rules_app

    app.command("inspect")(inspect_command)
    app.command("pia")(pia_command)
    app.add_typer(rules_app, name="rules")
