"""`bystander audit replay`: recompute from the audit log alone whether R1, R4 and R8 held.

Exit codes: 0 every capture session passed (or was refused, or stopped by a fault in time);
1 the input cannot be read;
3 a rule failed, a session is incomplete, or (with --verify, the default) the log failed
integrity verification (then no verdict is given).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.table import Column, Table
from rich.text import Text

from bystander.cli.audit_cmd import (
    COSIGN_OPTION,
    MIN_SIZE_OPTION,
    PIN_OPTION,
    WITNESS_OPTION,
    verify_policy,
)
from bystander.cli.audit_db import open_database
from bystander.cli.common import err_console, out_console, print_json, user_errors
from bystander.errors import InputError
from bystander.evidence.audit import (
    VerifyPolicy,
    VerifyReport,
    sqlite_url_if_database,
    verify_bundle,
    verify_database,
)
from bystander.evidence.checkpoint import NoteVerifier, load_verifier
from bystander.evidence.events import AuditEvent
from bystander.evidence.replay import (
    Outcome,
    RuleCheck,
    SessionVerdict,
    Verdict,
    all_ok,
    events_from_bundle,
    events_from_database,
    replay,
    unattributed,
)

#: Exit status when a rule failed or a session is incomplete (as for failed verification).
EXIT_FAILED = 3
_STYLE = {
    Verdict.PASS: "green",
    Verdict.REFUSED: "cyan",
    Verdict.FAIL: "bold red",
    Verdict.INCOMPLETE: "yellow",
    Verdict.FAULT: "magenta",
}


def register(audit_group: typer.Typer) -> None:
    """Add the ``replay`` command to the ``audit`` command group (``audit_cmd.audit_app``)."""
    audit_group.command("replay")(replay_command)


def replay_command(
    log_or_export: str | None = typer.Argument(
        None,
        help="An export bundle (.jsonl), a SQLite database file or a database URL "
        "(default: --database or the configured database).",
        show_default=False,
    ),
    database: str | None = typer.Option(
        None,
        "--database",
        help="Database URL (default: $BYSTANDER_DATABASE_URL or the SQLite file in home).",
    ),
    verify: bool = typer.Option(
        True,
        "--verify/--no-verify",
        help="Verify the log's integrity first; a log that fails gets no verdict.",
    ),
    key: list[str] | None = typer.Option(
        None,
        "--key",
        help="Trusted signer for --verify (as for `audit verify`). Repeatable.",
    ),
    min_size: int = MIN_SIZE_OPTION,
    pin: list[Path] | None = PIN_OPTION,
    witness: list[str] | None = WITNESS_OPTION,
    require_cosignatures: int = COSIGN_OPTION,
    json_out: bool = typer.Option(False, "--json", help="Print the verdicts as JSON on stdout."),
) -> None:
    """Recompute from the log alone whether R1, R4 and R8 held for each capture session.

    R1: samples stamped at least T_lead after the indicator read-back was ON.
    R4: release stopped within 100 ms of a fault; no post-fault sample released.
    R8: the indicator went off only after the last release.
    R1 also checks, where the session logged them, that every released sample lies inside
    an interval proven ON by read-backs. A session stopped by a fault gets the verdict
    `fault` with the rule and reason (the rules held: it is not a failure).
    Exits 3 when a rule failed or a session is incomplete, 0 when all passed, were refused
    or were stopped by a fault in time.
    """
    with user_errors():
        verifiers = [load_verifier(spec) for spec in key] if key else None
        policy = verify_policy(min_size, pin, witness, require_cosignatures)
        events, report = load_log(log_or_export, database, verify, verifiers, policy)
        verdicts = replay(events)
        orphans = unattributed(events)
        if json_out:
            print_json(to_json(verdicts, report, orphans))
        else:
            print_verdicts(verdicts, report, orphans)
    if not all_ok(verdicts):
        raise typer.Exit(EXIT_FAILED)


def load_log(
    target: str | None,
    database: str | None,
    verify: bool,
    verifiers: list[NoteVerifier] | None,
    policy: VerifyPolicy | None = None,
) -> tuple[list[AuditEvent], VerifyReport | None]:
    """The events of a bundle or database, verified first (``policy``: coverage by default)
    unless ``verify`` is False.

    Raises ``AuditIntegrityError`` (exit 3) when verification fails, ``InputError`` (exit 1)
    when the input cannot be read. From a database, only the verified entries are replayed.
    """
    source = _resolve(target, database)
    if isinstance(source, Path):
        report = verify_bundle(source, verifiers, policy) if verify else None
        if report is not None:
            report.raise_for_problems()
        root = report.root_hash if report is not None else None
        return events_from_bundle(source, expect_root=root), report
    engine = open_database(source)
    try:
        report = verify_database(engine, verifiers, policy) if verify else None
        if report is not None:
            report.raise_for_problems()
        stop = report.entries if report is not None else None
        return events_from_database(engine, stop), report
    finally:
        engine.dispose()


def _resolve(target: str | None, database: str | None) -> str | Path | None:
    """A database URL (None: the configured database), or the path of a bundle."""
    if target is None or "://" in target:
        return target or database
    path = Path(target)
    if not path.exists():
        raise InputError(f"no such file: {path}")
    if path.is_dir():
        raise InputError(f"{path} is a folder; give an export bundle (.jsonl) or a database")
    return sqlite_url_if_database(path) or path


# -- output ---------------------------------------------------------------------------------


_OUTCOME_STYLE = {Outcome.PASS: "green", Outcome.FAIL: "bold red", Outcome.UNKNOWN: "yellow"}


def _cell(check: RuleCheck) -> Text:
    """``pass (+12.3 ms)``: the outcome and the margin to the rule's bound."""
    label = check.outcome.value
    if check.outcome in (Outcome.PASS, Outcome.FAIL) and check.margin_ms is not None:
        label = f"{label} {check.margin_ms:+.1f}"
    return Text(label, style=_OUTCOME_STYLE.get(check.outcome, "dim"))


def summary(verdicts: list[SessionVerdict]) -> dict[str, int]:
    """Session counts by verdict (every verdict present, zeros included)."""
    counts = Counter(v.verdict for v in verdicts)
    return {verdict.value: counts.get(verdict, 0) for verdict in Verdict}


def _summary_line(verdicts: list[SessionVerdict]) -> str:
    counts = summary(verdicts)
    parts = ", ".join(f"{n} {name}" for name, n in counts.items() if n)
    return f"{len(verdicts)} capture sessions: {parts}" if verdicts else "no capture sessions"


def print_verdicts(
    verdicts: list[SessionVerdict], report: VerifyReport | None, orphans: int
) -> None:
    """A Rich table, one row per session, then the reasons for every non-passing session."""
    if report is not None:
        for warning in report.warnings:
            err_console.print(f"warning: {warning}", highlight=False, markup=False, soft_wrap=True)
        out_console.print(
            f"verified: {report.source} ({report.entries} entries, {report.signed_size} signed)",
            highlight=False,
            markup=False,
        )
    else:
        out_console.print("integrity NOT verified (--no-verify)", highlight=False)
    if orphans:
        err_console.print(
            f"[yellow]warning:[/] {orphans} capture events have no session id and were skipped",
            highlight=False,
        )
    if verdicts:
        out_console.print(_table(verdicts))
    for v in verdicts:
        if v.verdict is not Verdict.PASS:
            for reason in v.reasons:
                out_console.print(
                    f"{v.verdict.value.upper()} {v.session_id}: {reason}",
                    highlight=False,
                    markup=False,
                )
    out_console.print(_summary_line(verdicts), highlight=False)


def _table(verdicts: list[SessionVerdict]) -> Table:
    rules = [Column(f"{rule} (ms)", no_wrap=True) for rule in ("R1", "R4", "R8")]
    table = Table(
        Column("session", overflow="fold", min_width=8),
        Column("device", overflow="fold", min_width=9),
        Column("verdict", no_wrap=True), Column("frames", no_wrap=True, justify="right"),
        *rules, box=box.SIMPLE_HEAD, collapse_padding=True, pad_edge=False,
    )  # fmt: skip
    for v in verdicts:
        frames = "?" if v.frames_released is None else str(v.frames_released)
        table.add_row(
            Text(v.session_id), Text(v.device_id or ""),
            Text(v.verdict.value, style=_STYLE[v.verdict]), frames,
            *(_cell(c) for c in v.checks),
        )  # fmt: skip
    return table


def to_json(
    verdicts: list[SessionVerdict], report: VerifyReport | None, orphans: int
) -> dict[str, Any]:
    """The machine-readable result: verification, per-session verdicts and a summary."""
    return {
        "ok": all_ok(verdicts),
        "verified": report is not None,
        "verification": None if report is None else report.to_dict(),
        "sessions": [v.to_dict() for v in verdicts],
        "summary": summary(verdicts),
        "unattributed_capture_events": orphans,
    }
