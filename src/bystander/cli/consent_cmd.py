"""`bystander consent ...`: grant, refuse, withdraw, renew, check and list consent; receipts;
JSON-LD export and import.

    bystander consent grant --subject ds-7f3a --role enrolled --scope face-enrolment \\
        --kind separate --purpose "unlock the door" --jurisdiction CN --retention 1y
    bystander consent grant --subject parent-1 --role guardian --guardian-of kid-9 \\
        --scope record-video
    bystander consent check --subject ds-7f3a --scope face-enrolment --kind separate
    bystander consent withdraw RECORD_ID
    bystander consent receipt RECORD_ID -o receipt.jws
    bystander consent verify-receipt receipt.jws
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from sqlalchemy import Engine

from bystander.cli.common import fail, out_console, print_json, user_errors
from bystander.consent import jsonld
from bystander.consent.controller import ControllerProfile
from bystander.consent.models import (
    ConsentDecision,
    ConsentKind,
    ConsentRecord,
    ConsentState,
    Controller,
    DeletionTask,
    Recipient,
    Scope,
    SubjectRole,
    iso,
)
from bystander.consent.receipts import issue_receipt, verify_receipt
from bystander.consent.store import ConsentStore
from bystander.consent.trust import load_public_key
from bystander.errors import InputError
from bystander.evidence.audit import AuditLog
from bystander.evidence.db import init_db, make_engine
from bystander.evidence.deletion import carry_out_deletions
from bystander.evidence.retention import RetentionManager
from bystander.evidence.vault import TemplateVault
from bystander.fsutil import atomic_output, write_text_atomic

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

_DATABASE = typer.Option(
    None, "--database", metavar="URL", help="Database URL (default: BYSTANDER_DATABASE_URL)."
)
_JSON = typer.Option(False, "--json", help="Print JSON on stdout.")


@contextmanager
def _store(database: str | None) -> Iterator[ConsentStore]:
    with _evidence(database) as (store, _engine, _sink):
        yield store


@contextmanager
def _evidence(database: str | None) -> Iterator[tuple[ConsentStore, Engine, AuditLog]]:
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
        raise InputError(f"--recipient {text!r}: {_first_error(exc)}") from None


def _first_error(exc: ValueError) -> str:
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


def _controller(controller_id: str | None, shared: ControllerProfile) -> Controller | None:
    """``--controller ID``, completed from the saved profile when it names the same id."""
    saved = shared.controller
    if controller_id is None:
        return saved
    if saved is not None and saved.id == controller_id:
        return saved
    return Controller(id=controller_id)


def _describe(record: ConsentRecord) -> str:
    scopes = ", ".join(record.scopes)
    by = f" by guardian {record.guardian_id}" if record.guardian_id else ""
    until = f", until {iso(record.expires_at)}" if record.expires_at else ""
    return (
        f"{record.id}: {record.kind} consent of {record.subject.id}{by} for {scopes} "
        f"[{record.state}{until}]"
    )


def _print_tasks(tasks: tuple[DeletionTask, ...] | list[DeletionTask]) -> None:
    for task in tasks:
        out_console.print(
            f"  delete {task.data_kind} {task.item_id} (task {task.id})", highlight=False
        )


# --- grant / refuse --------------------------------------------------------------------------


@consent_app.command("grant")
def grant_command(
    subject: str = typer.Option(..., "--subject", help="Pseudonymous id of who consents."),
    scope: list[Scope] = typer.Option(..., "--scope", help="What is consented to (repeat)."),
    role: Role = typer.Option(Role.wearer, "--role", help="The subject's role."),
    kind: ConsentKind | None = typer.Option(
        None,
        "--kind",
        help="How consent was obtained (default: general; guardian with --role guardian).",
    ),
    purpose: list[str] = typer.Option([], "--purpose", help="Purpose (repeat)."),
    data_category: list[str] = typer.Option(
        [], "--data-category", help="Personal data category, e.g. pd:FacialPrint (repeat)."
    ),
    legal_basis: str = typer.Option("dpv:Consent", "--legal-basis", help="Legal basis."),
    jurisdiction: list[str] = typer.Option([], "--jurisdiction", help="E.g. CN, EU (repeat)."),
    retention: str | None = typer.Option(None, "--retention", help="E.g. 30d, 1y or P30D."),
    storage: list[str] = typer.Option(
        [], "--storage", help="Storage location, e.g. dpv:WithinDevice (repeat)."
    ),
    recipient: list[str] = typer.Option(
        [],
        "--recipient",
        help="ID[,cloud][,cross-border][,jurisdiction=XX][,name=NAME] (repeat).",
    ),
    controller: str | None = typer.Option(None, "--controller", help="Controller id."),
    notice: str | None = typer.Option(None, "--notice", help="Privacy notice URL."),
    language: str | None = typer.Option(None, "--language", help="Notice language, e.g. zh."),
    expires: str | None = typer.Option(None, "--expires", help="End of validity (2027-01-01)."),
    guardian_of: str | None = typer.Option(
        None, "--guardian-of", help="With --role guardian: the minor (under 14) consented for."
    ),
    minor_role: SubjectRole = typer.Option(
        SubjectRole.WEARER, "--minor-role", help="With --guardian-of: the minor's role."
    ),
    under_14: bool = typer.Option(
        False, "--age-under-14", help="The subject is under 14 (their own consent never counts)."
    ),
    method: str | None = typer.Option(None, "--method", help="How consent was indicated."),
    database: str | None = _DATABASE,
    json_out: bool = _JSON,
) -> None:
    """Record consent; a guardian consents for a minor with --role guardian --guardian-of ID."""
    if role is Role.guardian:
        if guardian_of is None:
            raise typer.BadParameter("--role guardian needs --guardian-of ID", param_hint="--role")
        if kind not in (None, ConsentKind.GUARDIAN):
            raise typer.BadParameter("a guardian gives kind guardian", param_hint="--kind")
        subject_id, guardian_id, subject_role = guardian_of, subject, minor_role
        kind, under_14 = ConsentKind.GUARDIAN, True
    else:
        if guardian_of is not None:
            raise typer.BadParameter("--guardian-of needs --role guardian", param_hint="--role")
        if kind is ConsentKind.GUARDIAN:
            raise typer.BadParameter(
                "guardian consent is given with --role guardian --guardian-of ID",
                param_hint="--kind",
            )
        subject_id, guardian_id, subject_role = subject, None, SubjectRole(role.value)
    with user_errors(), _store(database) as store:
        shared = ControllerProfile.load()  # what this grant does not say, the device's terms do
        record = store.grant(
            subject_id,
            scope,
            kind=kind or ConsentKind.GENERAL,
            role=subject_role,
            under_14=under_14,
            guardian_id=guardian_id,
            purposes=purpose or shared.purposes,
            data_categories=data_category or shared.data_categories,
            legal_basis=legal_basis,
            jurisdictions=jurisdiction or shared.jurisdictions,
            retention=parse_retention(retention) if retention else shared.retention,
            storage_locations=storage or shared.storage_locations,
            recipients=[parse_recipient(r) for r in recipient],
            controller=_controller(controller, shared),
            notice=notice or shared.notice,
            language=language or shared.language,
            expires=parse_time(expires) if expires else None,
            method=method,
        )
        if json_out:
            print_json(record_json(record))
        else:
            out_console.print(f"granted {_describe(record)}", highlight=False)


@consent_app.command("refuse")
def refuse_command(
    subject: str = typer.Option(..., "--subject", help="Pseudonymous id of who refuses."),
    scope: list[Scope] = typer.Option(..., "--scope", help="What is refused (repeat)."),
    role: SubjectRole = typer.Option(SubjectRole.WEARER, "--role", help="The subject's role."),
    under_14: bool = typer.Option(False, "--age-under-14", help="The subject is under 14."),
    reason: str | None = typer.Option(None, "--reason", help="Why (kept in the record)."),
    database: str | None = _DATABASE,
    json_out: bool = _JSON,
) -> None:
    """Record a refusal; it also blocks consent for the same scopes given before it."""
    with user_errors(), _store(database) as store:
        record = store.refuse(subject, scope, role=role, under_14=under_14, reason=reason)
        if json_out:
            print_json(record_json(record))
        else:
            out_console.print(f"refused {_describe(record)}", highlight=False)


# --- lifecycle -------------------------------------------------------------------------------


@consent_app.command("withdraw")
def withdraw_command(
    record_id: str = typer.Argument(..., help="The consent record."),
    reason: str | None = typer.Option(None, "--reason", help="Why (kept in the record)."),
    database: str | None = _DATABASE,
    json_out: bool = _JSON,
) -> None:
    """Withdraw consent now and delete the data that depended on it (templates, files)."""
    with user_errors(), _evidence(database) as (store, engine, sink):
        result = store.withdraw(record_id, reason=reason)
        retention = RetentionManager(engine, sink)
        vault = TemplateVault(engine, sink=sink, retention=retention)
        deletion = carry_out_deletions(store, vault, retention, records={record_id})
        if json_out:
            print_json(
                {
                    "record": record_json(result.record),
                    "tasks": [t.model_dump(mode="json") for t in result.tasks],
                    "deletion": asdict(deletion),
                }
            )
        else:
            out_console.print(f"withdrawn {_describe(result.record)}", highlight=False)
            _print_tasks(result.tasks)
            out_console.print(
                f"deleted {deletion.templates_deleted} template(s) and "
                f"{deletion.items_deleted} stored item(s); "
                f"{deletion.tasks_completed} task(s) done",
                highlight=False,
            )
        if not deletion.ok:
            raise fail(
                f"{len(deletion.failures)} deletion(s) failed and stay queued: "
                + "; ".join(deletion.failures)
            )


@consent_app.command("renew")
def renew_command(
    record_id: str = typer.Argument(..., help="The consent record."),
    expires: str | None = typer.Option(None, "--expires", help="New end of validity."),
    database: str | None = _DATABASE,
    json_out: bool = _JSON,
) -> None:
    """Renew a given or expired consent (without --expires it no longer expires)."""
    with user_errors(), _store(database) as store:
        record = store.renew(record_id, until=parse_time(expires) if expires else None)
        if json_out:
            print_json(record_json(record))
        else:
            out_console.print(f"renewed {_describe(record)}", highlight=False)


@consent_app.command("expire")
def expire_command(
    now: str | None = typer.Option(None, "--now", help="Expire as of this time (default now)."),
    database: str | None = _DATABASE,
    json_out: bool = _JSON,
) -> None:
    """Mark every consent whose validity has ended as expired."""
    with user_errors(), _store(database) as store:
        expired = store.expire_due(parse_time(now) if now else None)
        if json_out:
            print_json([record_json(r) for r in expired])
            return
        out_console.print(f"{len(expired)} consent record(s) expired", highlight=False)
        for record in expired:
            out_console.print(f"  {_describe(record)}", highlight=False)


# --- queries ---------------------------------------------------------------------------------


@consent_app.command("check")
def check_command(
    subject: str = typer.Option(..., "--subject", help="Pseudonymous subject id."),
    scope: Scope = typer.Option(..., "--scope", help="The use to check."),
    kind: ConsentKind = typer.Option(ConsentKind.GENERAL, "--kind", help="Kind required."),
    at: str | None = typer.Option(None, "--at", help="Check as of this time (default now)."),
    database: str | None = _DATABASE,
    json_out: bool = _JSON,
) -> None:
    """Say whether consent allows the use; exit status 0 if allowed, 1 if not."""
    with user_errors(), _store(database) as store:
        decision: ConsentDecision = store.check(
            subject, scope, at=parse_time(at) if at else None, kind=kind
        )
    if json_out:
        print_json(
            {
                "allowed": decision.allowed,
                "record_id": decision.record_id,
                "reason": decision.reason,
            }
        )
    else:
        verdict = "allowed" if decision.allowed else "denied"
        out_console.print(f"{verdict}: {decision.reason}", highlight=False)
    if not decision.allowed:
        raise typer.Exit(1)


@consent_app.command("show")
def show_command(
    record_id: str = typer.Argument(..., help="The consent record."),
    database: str | None = _DATABASE,
    json_out: bool = _JSON,
) -> None:
    """Show one record with its events."""
    with user_errors(), _store(database) as store:
        record = store.get(record_id)
        links = store.links(record_id)
    if json_out:
        print_json(record_json(record) | {"links": [x.model_dump(mode="json") for x in links]})
        return
    p = record.processing
    lines = [
        _describe(record),
        f"  subject: {record.subject.id} ({record.subject.role}"
        + (", under 14)" if record.subject.under_14 else ")"),
        f"  controller: {record.controller.id}",
        f"  purposes: {', '.join(p.purposes) or '-'}",
        f"  data: {', '.join(p.data_categories) or '-'}; legal basis: {p.legal_basis}",
        f"  jurisdictions: {', '.join(p.jurisdictions) or '-'}; retention: {p.retention or '-'}",
        f"  recipients: {', '.join(r.id for r in p.recipients) or '-'}",
    ]
    lines += [
        f"  {iso(e.at)} {e.type} by {e.by}" + (f": {e.reason}" if e.reason else "")
        for e in record.events
    ]
    lines += [f"  linked {x.data_kind} {x.item_id}" for x in links]
    out_console.print("\n".join(lines), highlight=False)


@consent_app.command("list")
def list_command(
    subject: str | None = typer.Option(None, "--subject", help="Only this subject."),
    state: ConsentState | None = typer.Option(None, "--state", help="Only this DPV state."),
    database: str | None = _DATABASE,
    json_out: bool = _JSON,
) -> None:
    """List consent records, oldest first."""
    with user_errors(), _store(database) as store:
        found = store.list(subject_id=subject, state=state)
    if json_out:
        print_json([record_json(r) for r in found])
        return
    out_console.print(f"{len(found)} consent record(s)", highlight=False)
    for record in found:
        out_console.print(f"  {_describe(record)} given {iso(record.created_at)}", highlight=False)


@consent_app.command("deletions")
def deletions_command(
    complete: str | None = typer.Option(
        None, "--complete", metavar="TASK_ID", help="Mark this task done."
    ),
    database: str | None = _DATABASE,
    json_out: bool = _JSON,
) -> None:
    """List pending deletion tasks (data that depended on withdrawn consent)."""
    with user_errors(), _store(database) as store:
        if complete is not None:
            store.complete_deletion(complete)
        pending = store.pending_deletions()
    if json_out:
        print_json([t.model_dump(mode="json") for t in pending])
        return
    out_console.print(f"{len(pending)} pending deletion task(s)", highlight=False)
    _print_tasks(pending)


# --- receipts --------------------------------------------------------------------------------


@consent_app.command("receipt")
def receipt_command(
    record_id: str = typer.Argument(..., help="The consent record."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the receipt here (default: stdout)."
    ),
    database: str | None = _DATABASE,
    json_out: bool = _JSON,
) -> None:
    """Issue a signed receipt (JWS, Ed25519) the data subject can keep and anyone can verify."""
    with user_errors():
        with _store(database) as store:
            record = store.get(record_id)
        token = issue_receipt(record)
        if output is not None:
            write_text_atomic(output, token + "\n")
        if json_out:
            verified = verify_receipt(token)
            print_json(
                {
                    "receipt_id": verified.receipt_id,
                    "record_id": record.id,
                    "kid": verified.kid,
                    "jwk": verified.jwk,
                    "receipt": token,
                }
            )
        elif output is None:
            sys.stdout.write(token + "\n")
        else:
            out_console.print(f"receipt for {record.id} written to {output}", highlight=False)


@consent_app.command("verify-receipt")
def verify_receipt_command(
    receipt: Path = typer.Argument(..., help="The receipt file ('-' for stdin)."),
    public_key: Path | None = typer.Option(
        None, "--public-key", help="Expect this signer (a JWK, or a PEM public/private key)."
    ),
    kid: str | None = typer.Option(None, "--kid", help="Expect this signer (RFC 7638 kid)."),
    json_out: bool = _JSON,
) -> None:
    """Verify a receipt offline (no database): exit 0 only if intact and signed by a trusted
    key (this device's own, an imported one, or the one pinned); 3 if forged or untrusted."""
    with user_errors():
        token = _read_input(receipt)
        expected = load_public_key(public_key) if public_key else None
        verified = verify_receipt(token, expected, kid=kid)
        record = verified.record
        if json_out:
            print_json(
                {
                    "valid": True,
                    "receipt_id": verified.receipt_id,
                    "kid": verified.kid,
                    "trusted_as": verified.trusted_as,
                    "issued_at": iso(verified.issued_at),
                    "record": record_json(record),
                }
            )
        else:
            out_console.print(
                f"valid receipt {verified.receipt_id} signed by {verified.kid} "
                f"({verified.trusted_as}) at {iso(verified.issued_at)}\n  {_describe(record)}",
                highlight=False,
            )


def _read_input(path: Path) -> str:
    if str(path) == "-":
        return sys.stdin.read()
    try:
        return path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise InputError(f"no such file: {path}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path} is not a receipt (not ASCII text)") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None


# --- JSON-LD ---------------------------------------------------------------------------------


@consent_app.command("export")
def export_command(
    output: Path = typer.Argument(..., help="The JSON-LD file to write."),
    subject: str | None = typer.Option(None, "--subject", help="Only this subject."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing file."),
    allow_incomplete: bool = typer.Option(
        False,
        "--allow-incomplete",
        help="Also export records that lack ISO/IEC TS 27560 mandatory fields (they do not "
        "claim the DPV 27560 profile).",
    ),
    database: str | None = _DATABASE,
) -> None:
    """Export records as JSON-LD (DPV's ISO/IEC TS 27560 profile); refuses records that lack
    a mandatory field unless --allow-incomplete."""
    with user_errors():
        with _store(database) as store:
            found = store.list(subject_id=subject)
        incomplete = [(r.id, jsonld.missing_27560(r)) for r in found]
        incomplete = [(rid, missing) for rid, missing in incomplete if missing]
        if incomplete and not allow_incomplete:
            rid, missing = incomplete[0]
            raise InputError(
                f"{len(incomplete)} record(s) lack ISO/IEC TS 27560 mandatory fields, e.g. {rid}: "
                f"{', '.join(missing)} (set them with `bystander consent controller set`, or "
                "export with --allow-incomplete)"
            )
        with atomic_output(output, overwrite=overwrite) as temp:
            temp.write_text(jsonld.dumps(found), encoding="utf-8")
        out_console.print(f"exported {len(found)} record(s) to {output}", highlight=False)


@consent_app.command("import")
def import_command(
    source: Path = typer.Argument(..., help="A JSON-LD file written by export."),
    database: str | None = _DATABASE,
    json_out: bool = _JSON,
) -> None:
    """Import records from JSON-LD: all or nothing; identical records are skipped."""
    with user_errors():
        try:
            data = source.read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read {source}: {exc.strerror or exc}") from None
        parsed = jsonld.loads(data)
        with _store(database) as store:
            result = store.import_records(parsed)
        if json_out:
            print_json(result.model_dump())
        else:
            out_console.print(
                f"imported {result.added} record(s), {result.unchanged} already present",
                highlight=False,
            )


def register(app: typer.Typer) -> None:
    """Add the ``consent`` command group (with keys and the controller profile) to ``app``."""
    from bystander.cli import consent_setup_cmd

    consent_setup_cmd.register(consent_app)
    app.add_typer(consent_app, name="consent")
