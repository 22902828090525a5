"""Shared by the `bystander consent` command modules: the command group, options, parsers
and how records are shown."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import typer
from sqlalchemy import Engine

from bystander.cli.common import out_console
from bystander.consent.controller import ControllerProfile
from bystander.consent.models import (
    ConsentRecord,
    Controller,
    DeletionTask,
    Recipient,
    iso,
)
from bystander.consent.store import ConsentStore
from bystander.errors import InputError
from bystander.evidence.audit import AuditLog
from bystander.evidence.db import init_db, make_engine

consent_app = typer.Typer(
    help="Consent records (ISO/IEC TS 27560, W3C DPV): grant, withdraw, check, receipts.",
    no_args_is_help=True,
)


class Role(StrEnum):
    """Who runs ``grant``: the data subject in some role, or a guardian for a minor."""

    wearer = "wearer"
    enrolled = "enrolled"
    bystander = "bystander"
    guardian = "guardian"


# --- shared options and helpers --------------------------------------------------------------

DATABASE_OPTION = typer.Option(
    None, "--database", metavar="URL", help="Database URL (default: BYSTANDER_DATABASE_URL)."
)
JSON_OPTION = typer.Option(False, "--json", help="Print JSON on stdout.")


@contextmanager
def consent_store(database: str | None) -> Iterator[ConsentStore]:
    with consent_evidence(database) as (store, _engine, _sink):
        yield store


@contextmanager
def consent_evidence(database: str | None) -> Iterator[tuple[ConsentStore, Engine, AuditLog]]:
    """The consent store, its engine and the audit log every change lands in."""
    engine = make_engine(database)
    try:
        init_db(engine)
        sink = AuditLog(engine, checkpoint_every=1)  # every change is covered when logged
        yield ConsentStore(engine, sink), engine, sink
    finally:
        engine.dispose()


def parse_time(text: str) -> datetime:
    """``2027-01-01`` (midnight UTC) or an ISO 8601 time; a time without zone is UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"not a date or time: {text!r} (use 2027-01-01 or ISO 8601)") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_SHORT_DURATION = re.compile(r"(\d+)\s*(y|w|d|h)", re.IGNORECASE)


def parse_retention(text: str) -> str:
    """``30d``, ``12h``, ``2w``, ``1y`` or an ISO 8601 duration (``P30D``) -> ISO 8601."""
    match = _SHORT_DURATION.fullmatch(text.strip())
    if match is None:
        text = text.strip()  # an ISO 8601 duration, checked by the record model
        return text.upper() if text[:1] in ("p", "P") else text
    amount, unit = match.group(1), match.group(2).upper()
    return f"PT{amount}H" if unit == "H" else f"P{amount}{unit}"


def parse_recipient(text: str) -> Recipient:
    """``ID[,cloud][,cross-border][,jurisdiction=XX][,name=NAME]`` -> ``Recipient``."""
    first, *flags = [part.strip() for part in text.split(",")]
    fields: dict[str, Any] = {"id": first}
    for flag in flags:
        key, _, value = flag.partition("=")
        if flag == "cloud":
            fields["cloud"] = True
        elif flag == "cross-border":
            fields["cross_border"] = True
        elif key in ("jurisdiction", "name") and value:
            fields[key] = value
        else:
            raise InputError(
                f"--recipient {text!r}: unknown part {flag!r} "
                "(use ID[,cloud][,cross-border][,jurisdiction=XX][,name=NAME])"
            )
    try:
        return Recipient.model_validate(fields)
    except ValueError as exc:
        raise InputError(f"--recipient {text!r}: {first_error(exc)}") from None


def first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        return str(errors()[0]["msg"]).removeprefix("Value error, ")
    return str(exc)


def record_json(record: ConsentRecord) -> dict[str, Any]:
    """A record as JSON, with its current state and expiry added."""
    data = record.model_dump(mode="json")
    data["state"] = record.state.value
    data["expires_at"] = iso(record.expires_at) if record.expires_at else None
    return data


def controller_for(controller_id: str | None, shared: ControllerProfile) -> Controller | None:
    """``--controller ID``, completed from the saved profile when it names the same id."""
    saved = shared.controller
    if controller_id is None:
        return saved
    if saved is not None and saved.id == controller_id:
        return saved
    return Controller(id=controller_id)


def describe_record(record: ConsentRecord) -> str:
    scopes = ", ".join(record.scopes)
    by = f" by guardian {record.guardian_id}" if record.guardian_id else ""
    until = f", until {iso(record.expires_at)}" if record.expires_at else ""
    return (
        f"{record.id}: {record.kind} consent of {record.subject.id}{by} for {scopes} "
        f"[{record.state}{until}]"
    )


def print_tasks(tasks: tuple[DeletionTask, ...] | list[DeletionTask]) -> None:
    for task in tasks:
        out_console.print(
            f"  delete {task.data_kind} {task.item_id} (task {task.id})", highlight=False
        )


# --- grant / refuse --------------------------------------------------------------------------
