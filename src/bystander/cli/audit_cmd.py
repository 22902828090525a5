"""`bystander audit`: verify, export, checkpoint and show the tamper-evident audit log.

Exit codes: 0 verified; 1 the input cannot be read (missing, malformed or truncated
bundle, no audit log in the database, bad key); 3 verification failed (an entry or
checkpoint was altered, removed or forged).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from bystander.cli.audit_db import open_database
from bystander.cli.common import err_console, out_console, print_json, user_errors
from bystander.consent.audit_state import StateReport, check_state, database_events, rebuild
from bystander.errors import InputError
from bystander.evidence.audit import (
    AuditIntegrityError,
    AuditLog,
    VerifyPolicy,
    VerifyReport,
    sqlite_url_if_database,
    verify_bundle,
    verify_database,
)
from bystander.evidence.audit_bundle import bundle_events
from bystander.evidence.checkpoint import NoteVerifier, load_verifier
from bystander.evidence.witness import load_cosigner

audit_app = typer.Typer(
    help="Tamper-evident audit log: verify it offline, export it, sign checkpoints.",
    no_args_is_help=True,
)

_DATABASE_HELP = "Database URL (default: $BYSTANDER_DATABASE_URL or the SQLite file in home)."


def register(app: typer.Typer) -> None:
    """Add the ``audit`` command group (with ``audit witness``) to ``app``."""
    from bystander.cli import witness_cmd

    witness_cmd.register(audit_app)
    app.add_typer(audit_app, name="audit")


def _verifiers(keys: list[str] | None) -> list[NoteVerifier] | None:
    return [load_verifier(spec) for spec in keys] if keys else None


KEY_OPTION = typer.Option(
    None,
    "--key",
    help="Trusted signer: a verifier key (name+id+key), a file holding one, or a PEM "
    "Ed25519 key. Repeatable. Default: the local audit key (database) or the bundle's "
    "own key (not pinned).",
)
MIN_SIZE_OPTION = typer.Option(
    0, "--min-size", min=0, help="Fail unless the log holds at least N signed entries."
)
PIN_OPTION = typer.Option(
    None,
    "--pin-checkpoint",
    help="A checkpoint seen before (file holding the note): the log must extend it, "
    "else it was rolled back or forked. Repeatable.",
)
WITNESS_OPTION = typer.Option(
    None, "--witness", help="A trusted witness key (name+id+key or a file). Repeatable."
)
COSIGN_OPTION = typer.Option(
    0,
    "--require-cosignatures",
    min=0,
    help="Fail unless the checkpoint covering the log has N valid witness cosignatures.",
)


def verify_policy(
    min_size: int, pins: list[Path] | None, witnesses: list[str] | None, cosignatures: int
) -> VerifyPolicy:
    """The ``VerifyPolicy`` of the shared verification options (coverage always required)."""
    known = []
    for path in pins or ():
        try:
            known.append(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InputError(f"cannot read checkpoint {path}: {exc.strerror or exc}") from None
    return VerifyPolicy(
        min_size=min_size,
        known=known,
        witnesses=[load_cosigner(spec) for spec in witnesses or ()],
        require_cosignatures=cosignatures,
    )


@audit_app.command("verify")
def verify_command(
    log_or_export: str | None = typer.Argument(
        None,
        help="An export bundle (.jsonl), a SQLite database file or a database URL "
        "(default: --database or the configured database).",
        show_default=False,
    ),
    database: str | None = typer.Option(
        None,
        "--database",
        help="The database to verify (default: $BYSTANDER_DATABASE_URL or the SQLite file in "
        "home); with an export bundle, the database whose rows are checked against it.",
    ),
    key: list[str] | None = KEY_OPTION,
    min_size: int = MIN_SIZE_OPTION,
    pin: list[Path] | None = PIN_OPTION,
    witness: list[str] | None = WITNESS_OPTION,
    require_cosignatures: int = COSIGN_OPTION,
    state: bool = typer.Option(
        True,
        "--state/--no-state",
        help="Also rebuild consent, deletion, template and retention state from the log and "
        "compare it with the database's rows (when a database is involved).",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON on stdout."),
) -> None:
    """Check every checkpoint signature, every entry, coverage, consistency and the pins,
    offline; then the database's derived rows against the log.

    Names the first altered entry or row and exits 3 when anything fails.
    """
    with user_errors():
        verifiers = _verifiers(key)
        policy = verify_policy(min_size, pin, witness, require_cosignatures)
        report, state_report = _verify_target(log_or_export, database, verifiers, policy, state)
        if json_out:
            data = report.to_dict()
            data["state"] = None if state_report is None else state_report.to_dict()
            data["ok"] = report.ok and (state_report is None or state_report.ok)
            print_json(data)
        else:
            _print_report(report, state_report)
        report.raise_for_problems()
        if state_report is not None and not state_report.ok:
            total = len(state_report.problems) + state_report.omitted
            more = f" ({total} rows disagree with the log)" if total > 1 else ""
            raise AuditIntegrityError(f"{report.source}: {state_report.problems[0]}{more}")


def _verify_target(
    target: str | None,
    database: str | None,
    verifiers: list[NoteVerifier] | None,
    policy: VerifyPolicy,
    state: bool,
) -> tuple[VerifyReport, StateReport | None]:
    bundle: Path | None = None
    url = target if target is not None and "://" in target else None
    if target is not None and url is None:
        path = Path(target)
        if not path.exists():
            raise InputError(f"no such file: {path}")
        if path.is_dir():
            raise InputError(f"{path} is a folder; give an export bundle (.jsonl) or a database")
        url = sqlite_url_if_database(path)
        bundle = None if url is not None else path
    if bundle is not None:
        report = verify_bundle(bundle, verifiers, policy)
        if database is None or not state or not report.ok:
            return report, None
        engine = open_database(database)
        try:
            logged = rebuild(bundle_events(bundle, report.entries))
            return report, check_state(engine, logged)
        finally:
            engine.dispose()
    engine = open_database(url or database)
    try:
        report = verify_database(engine, verifiers, policy)
        if not state or not report.ok:
            return report, None
        return report, check_state(engine, rebuild(database_events(engine, report.entries)))
    finally:
        engine.dispose()


def _print_report(report: VerifyReport, state: StateReport | None = None) -> None:
    out_console.print(f"source: {report.source}", highlight=False)
    out_console.print(
        f"entries: {report.entries}  checkpoints: {report.checkpoints}  "
        f"signed size: {report.signed_size}",
        highlight=False,
    )
    pinned = "pinned" if report.pinned else "NOT pinned"
    for vkey in report.verifiers:
        out_console.print(f"signer ({pinned}): {vkey}", highlight=False)
    for warning in report.warnings:
        err_console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    for problem in report.problems:
        out_console.print(f"FAIL {problem.message}", highlight=False, markup=False)
    if report.omitted:
        out_console.print(f"FAIL ... and {report.omitted} more problems", highlight=False)
    if report.cosigned_by:
        out_console.print(f"cosigned by: {', '.join(report.cosigned_by)}", highlight=False)
    if report.ok:
        out_console.print(
            "ok: checkpoint signatures, every entry against the signed roots, coverage, and "
            "consistency between checkpoints verified",
            highlight=False,
        )
    if state is None:
        return
    for warning in state.warnings:
        err_console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    for row in state.problems:
        out_console.print(f"FAIL {row}", highlight=False, markup=False)
    if state.omitted:
        out_console.print(f"FAIL ... and {state.omitted} more rows", highlight=False)
    if state.ok:
        checked = ", ".join(f"{n} {table}" for table, n in state.checked.items())
        out_console.print(
            f"ok: rows match the log ({checked or 'no state tables'})", highlight=False
        )


@audit_app.command("export")
def export_command(
    out: Path = typer.Argument(
        ..., help="Bundle to write (one JSON Lines file).", show_default=False
    ),
    database: str | None = typer.Option(None, "--database", help=_DATABASE_HELP),
    no_checkpoint: bool = typer.Option(
        False, "--no-checkpoint", help="Do not sign a checkpoint of the current size first."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUT if it exists."),
) -> None:
    """Write a self-contained bundle: events, checkpoints, signer keys, format version.

    Unless --no-checkpoint, first signs a checkpoint over the whole log with the local
    audit key (created if missing), so every exported entry is covered by a signature.
    """
    with user_errors():
        engine = open_database(database)
        try:
            if not no_checkpoint:
                AuditLog(engine).checkpoint()
            report = AuditLog(engine).export(out, overwrite=overwrite)
        finally:
            engine.dispose()
        out_console.print(
            f"wrote {out}: {report.entries} entries, {report.checkpoints} checkpoints",
            highlight=False,
        )
        for warning in report.warnings:
            err_console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
        report.raise_for_problems()


@audit_app.command("checkpoint")
def checkpoint_command(
    database: str | None = typer.Option(None, "--database", help=_DATABASE_HELP),
) -> None:
    """Sign the current tree head with the local audit key and print the checkpoint note."""
    with user_errors():
        engine = open_database(database)
        try:
            note = AuditLog(engine).checkpoint().note
        finally:
            engine.dispose()
        typer.echo(note, nl=False)


@audit_app.command("key")
def key_command(
    database: str | None = typer.Option(None, "--database", help=_DATABASE_HELP),
) -> None:
    """Print the verifier key of the local audit key (give it to auditors for --key)."""
    with user_errors():
        engine = open_database(database)
        try:
            typer.echo(AuditLog(engine).verifier().vkey())
        finally:
            engine.dispose()


@audit_app.command("show")
def show_command(
    database: str | None = typer.Option(None, "--database", help=_DATABASE_HELP),
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="Show the last N entries."),
    json_out: bool = typer.Option(False, "--json", help="Print entries as JSON on stdout."),
) -> None:
    """Show the log's size, latest checkpoint and last entries (signatures not checked)."""
    with user_errors():
        engine = open_database(database)
        try:
            log = AuditLog(engine)
            size = log.size()
            latest = log.latest_checkpoint()
            logged = list(log.entries(max(0, size - limit)))
        finally:
            engine.dispose()
        if json_out:
            print_json(
                {
                    "entries": size,
                    "latest_checkpoint": latest.note if latest else None,
                    "events": [{"index": e.index, **e.event.model_dump()} for e in logged],
                }
            )
            return
        signed = f"latest checkpoint: size {latest.size}" if latest else "no checkpoint yet"
        out_console.print(f"{size} entries; {signed}", highlight=False)
        table = Table("index", "time (UTC)", "type", "session", "subject", "reason")
        for e in logged:
            ev = e.event
            table.add_row(
                str(e.index), ev.wall_time, ev.type.value, ev.session_id or "",
                ev.subject_id or "", ev.reason or "",
            )  # fmt: skip
        out_console.print(table)
