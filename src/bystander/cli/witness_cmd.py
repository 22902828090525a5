"""`bystander audit witness`: run a witness that cosigns audit checkpoints (C2SP tlog-witness).

    bystander audit witness init ./witness --name witness.example/w1   # prints its key
    bystander audit witness add-log ./witness "$(bystander audit key)"
    bystander audit witness cosign ./witness --database sqlite:///evidence.db
    bystander audit verify --witness "$(bystander audit witness key ./witness)" \\
        --require-cosignatures 1

``cosign`` reads the log's latest checkpoint and a consistency proof from the witness's last
cosigned size, lets the witness check both, and adds the cosignature to the stored
checkpoint. ``add-checkpoint`` answers a raw tlog-witness request (``old N``, proof lines,
an empty line, the note) from a file or stdin, for witnesses run apart from the device.

Exit codes: 0 cosigned; 1 bad input (unknown log, malformed request, stale old size);
3 the log misbehaved (a checkpoint inconsistent with one cosigned before: fork or rollback).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from sqlalchemy import update

from bystander.cli.common import out_console, user_errors
from bystander.evidence.audit_log import CHECKPOINTS, AuditLog, latest_checkpoint_row
from bystander.evidence.checkpoint import read_checkpoint
from bystander.evidence.witness import Witness, WitnessError, add_cosignature

witness_app = typer.Typer(
    help="A witness: a second key that cosigns audit checkpoints after checking consistency.",
    no_args_is_help=True,
)
_FOLDER = typer.Argument(..., help="The witness's folder (key and state).", show_default=False)


def register(audit_group: typer.Typer) -> None:
    """Add ``witness`` to the ``audit`` command group."""
    audit_group.add_typer(witness_app, name="witness")


@witness_app.command("init")
def init_command(
    folder: Path = _FOLDER,
    name: str = typer.Option(..., "--name", help="The witness's name, e.g. witness.example/w1."),
) -> None:
    """Create a witness (Ed25519 key, empty state) and print its verifier key."""
    with user_errors():
        witness = Witness.init(folder, name)
        typer.echo(witness.verifier.vkey())


@witness_app.command("key")
def key_command(folder: Path = _FOLDER) -> None:
    """Print the witness's verifier key (give it to auditors for --witness)."""
    with user_errors():
        typer.echo(Witness(folder).verifier.vkey())


@witness_app.command("add-log")
def add_log_command(
    folder: Path = _FOLDER,
    log_key: str = typer.Argument(..., help="The log's verifier key (`bystander audit key`)."),
) -> None:
    """Start witnessing a log: checkpoints signed by LOG_KEY, from size 0."""
    with user_errors():
        origin = Witness(folder).add_log(log_key)
        out_console.print(f"witnessing {origin}", highlight=False)


@witness_app.command("cosign")
def cosign_command(
    folder: Path = _FOLDER,
    database: str | None = typer.Option(
        None, "--database", help="The log's database (default: the configured database)."
    ),
) -> None:
    """Cosign the log's latest checkpoint if it extends the last one this witness cosigned."""
    from bystander.cli.audit_db import open_database

    with user_errors():
        witness = Witness(folder)
        engine = open_database(database)
        try:
            log = AuditLog(engine)
            with engine.connect() as conn:
                row = latest_checkpoint_row(conn)
            if row is None:
                raise WitnessError("the log has no checkpoint yet (bystander audit checkpoint)")
            checkpoint = read_checkpoint(row.note)
            state = witness.logs.get(checkpoint.origin)
            if state is None:
                raise WitnessError(f"the witness does not know log {checkpoint.origin!r}")
            old = state.size if state.size <= checkpoint.size else checkpoint.size
            proof = log.consistency_proof(old, checkpoint.size)
            line = witness.add_checkpoint(row.note, state.size, proof)
            with engine.begin() as conn:
                conn.execute(
                    update(CHECKPOINTS)
                    .where(CHECKPOINTS.c.id == row.id)
                    .values(note=add_cosignature(row.note, line))
                )
        finally:
            engine.dispose()
        out_console.print(
            f"cosigned {checkpoint.origin} at size {checkpoint.size} as {witness.name}",
            highlight=False,
        )


@witness_app.command("add-checkpoint")
def add_checkpoint_command(
    folder: Path = _FOLDER,
    request: Path = typer.Argument(
        ..., help="A tlog-witness add-checkpoint request body ('-' for stdin)."
    ),
) -> None:
    """Answer a raw tlog-witness request: print the cosignature line, or fail."""
    with user_errors():
        witness = Witness(folder)
        if str(request) == "-":
            body = sys.stdin.read()
        else:
            try:
                body = request.read_text(encoding="utf-8")
            except OSError as exc:
                raise WitnessError(f"cannot read {request}: {exc.strerror or exc}") from None
        typer.echo(witness.handle_request(body), nl=False)
