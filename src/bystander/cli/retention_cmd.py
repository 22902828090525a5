"""`bystander retention`: destroy what is due, and print the public retention schedule."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from sqlalchemy import Engine

from bystander.cli.common import fail, print_json, user_errors
from bystander.consent.deletion import finish_deletions, prepare_deletions
from bystander.consent.store import ConsentStore
from bystander.evidence.db import init_db, make_engine
from bystander.evidence.events import EventSink
from bystander.evidence.retention import (
    RetentionManager,
    RetentionOutcome,
    RetentionPolicy,
    RetentionRunReport,
)
from bystander.evidence.vault import TemplateVault
from bystander.fsutil import write_text_atomic

#: Opens the durable audit log that retention deletions are written to.
SinkFactory = Callable[[Engine], EventSink]
#: Lets other components plug their deleters into the manager the command builds.
DeleterSetup = Callable[[RetentionManager], None]

POLICY_ENV = "BYSTANDER_RETENTION_POLICY"


class ScheduleFormat(StrEnum):
    markdown = "markdown"
    json = "json"


def open_audit_log(engine: Engine) -> EventSink:
    """The default sink: the tamper-evident audit log in the same database."""
    from bystander.evidence.audit import AuditLog

    return AuditLog(engine, checkpoint_every=1)  # every deletion is covered when logged


def load_policy(path: Path | None) -> RetentionPolicy:
    return RetentionPolicy.load(path) if path else RetentionPolicy.default()


def _open_engine(database: str | None) -> Engine:
    engine = make_engine(database)
    init_db(engine)
    return engine


def _print_report(report: RetentionRunReport) -> None:
    verb = "would delete" if report.dry_run else "deleted"
    for item in report.deleted:
        typer.echo(f"{verb:12} {_describe(item)}")
    for item in report.failed:
        typer.echo(f"{'FAILED':12} {_describe(item)}: {item.error}")
    typer.echo(f"{len(report.deleted)} {verb}, {len(report.failed)} failed")


def _describe(item: RetentionOutcome) -> str:
    return f"{item.item_id}  {item.data_category}  {item.purpose}  ({item.reason})"


def _policy_option() -> Any:
    return typer.Option(
        None,
        "--policy",
        envvar=POLICY_ENV,
        dir_okay=False,
        help="Retention policy file (JSON or TOML) overriding the shipped schedule.",
    )


def register(
    app: typer.Typer,
    *,
    sink_factory: SinkFactory | None = None,
    deleters_setup: DeleterSetup | None = None,
) -> None:
    """Add the ``retention`` command group to ``app``.

    ``sink_factory`` opens the audit log (default :func:`open_audit_log`); ``deleters_setup``
    registers further components' deleters (the template vault's is always registered).
    """
    group = typer.Typer(
        help="Destroy stored data that is due, and publish the retention schedule.",
        no_args_is_help=True,
    )

    @group.command("run")
    def run_command(
        dry_run: bool = typer.Option(False, "--dry-run", help="List what is due; delete nothing."),
        json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
        database: str | None = typer.Option(
            None, "--database", help="Database URL (default: $BYSTANDER_DATABASE_URL or SQLite)."
        ),
        policy: Path | None = _policy_option(),
    ) -> None:
        """Delete every stored item whose retention has ended; log each deletion."""
        with user_errors():
            engine = _open_engine(database)
            try:
                sink = None if dry_run else (sink_factory or open_audit_log)(engine)
                manager = RetentionManager(engine, sink, load_policy(policy))
                vault = TemplateVault(engine, sink=sink, retention=manager)
                if deleters_setup is not None:
                    deleters_setup(manager)
                consents = ConsentStore(engine, sink)
                if not dry_run:  # data whose consent was withdrawn becomes due now
                    deletion = prepare_deletions(consents, vault, manager)
                report = manager.run(dry_run=dry_run)
                if not dry_run:
                    finish_deletions(consents, vault, manager, deletion)
            finally:
                engine.dispose()
        if json_out:
            print_json(report.model_dump(mode="json"))
        else:
            _print_report(report)
        if report.failed:
            raise fail(
                f"{len(report.failed)} deletion(s) failed; they stay scheduled and are retried "
                "on the next run"
            )

    @group.command("schedule")
    def schedule_command(
        fmt: ScheduleFormat = typer.Option(
            ScheduleFormat.markdown, "--format", help="Output format."
        ),
        output: Path | None = typer.Option(
            None, "--output", "-o", dir_okay=False, help="Write to this file instead of stdout."
        ),
        policy: Path | None = _policy_option(),
    ) -> None:
        """Print the public retention schedule and destruction guidelines (BIPA 15(a))."""
        with user_errors():
            loaded = load_policy(policy)
            text = loaded.render("json" if fmt is ScheduleFormat.json else "markdown")
            if output is None:
                typer.echo(text, nl=False)
            else:
                write_text_atomic(output, text)

    app.add_typer(group, name="retention")
