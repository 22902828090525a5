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

from dataclasses import asdict

import typer

from bystander.cli.common import fail, out_console, print_json, user_errors
from bystander.cli.consent_common import (
    DATABASE_OPTION,
    JSON_OPTION,
    Role,
    consent_app,
    consent_evidence,
    consent_store,
    controller_for,
    describe_record,
    parse_recipient,
    parse_retention,
    parse_time,
    print_tasks,
    record_json,
)
from bystander.consent.controller import ControllerProfile
from bystander.consent.deletion import carry_out_deletions
from bystander.consent.models import (
    ConsentDecision,
    ConsentKind,
    ConsentState,
    Scope,
    SubjectRole,
    iso,
)
from bystander.evidence.retention import RetentionManager
from bystander.evidence.vault import TemplateVault


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
    database: str | None = DATABASE_OPTION,
    json_out: bool = JSON_OPTION,
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
    with user_errors(), consent_store(database) as store:
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
            controller=controller_for(controller, shared),
            notice=notice or shared.notice,
            language=language or shared.language,
            expires=parse_time(expires) if expires else None,
            method=method,
        )
        if json_out:
            print_json(record_json(record))
        else:
            out_console.print(f"granted {describe_record(record)}", highlight=False)


@consent_app.command("refuse")
def refuse_command(
    subject: str = typer.Option(..., "--subject", help="Pseudonymous id of who refuses."),
    scope: list[Scope] = typer.Option(..., "--scope", help="What is refused (repeat)."),
    role: SubjectRole = typer.Option(SubjectRole.WEARER, "--role", help="The subject's role."),
    under_14: bool = typer.Option(False, "--age-under-14", help="The subject is under 14."),
    reason: str | None = typer.Option(None, "--reason", help="Why (kept in the record)."),
    database: str | None = DATABASE_OPTION,
    json_out: bool = JSON_OPTION,
) -> None:
    """Record a refusal; it also blocks consent for the same scopes given before it."""
    with user_errors(), consent_store(database) as store:
        record = store.refuse(subject, scope, role=role, under_14=under_14, reason=reason)
        if json_out:
            print_json(record_json(record))
        else:
            out_console.print(f"refused {describe_record(record)}", highlight=False)


# --- lifecycle -------------------------------------------------------------------------------


@consent_app.command("withdraw")
def withdraw_command(
    record_id: str = typer.Argument(..., help="The consent record."),
    reason: str | None = typer.Option(None, "--reason", help="Why (kept in the record)."),
    database: str | None = DATABASE_OPTION,
    json_out: bool = JSON_OPTION,
) -> None:
    """Withdraw consent now and delete the data that depended on it (templates, files)."""
    with user_errors(), consent_evidence(database) as (store, engine, sink):
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
            out_console.print(f"withdrawn {describe_record(result.record)}", highlight=False)
            print_tasks(result.tasks)
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
    database: str | None = DATABASE_OPTION,
    json_out: bool = JSON_OPTION,
) -> None:
    """Renew a given or expired consent (without --expires it no longer expires)."""
    with user_errors(), consent_store(database) as store:
        record = store.renew(record_id, until=parse_time(expires) if expires else None)
        if json_out:
            print_json(record_json(record))
        else:
            out_console.print(f"renewed {describe_record(record)}", highlight=False)


@consent_app.command("expire")
def expire_command(
    now: str | None = typer.Option(None, "--now", help="Expire as of this time (default now)."),
    database: str | None = DATABASE_OPTION,
    json_out: bool = JSON_OPTION,
) -> None:
    """Mark every consent whose validity has ended as expired."""
    with user_errors(), consent_store(database) as store:
        expired = store.expire_due(parse_time(now) if now else None)
        if json_out:
            print_json([record_json(r) for r in expired])
            return
        out_console.print(f"{len(expired)} consent record(s) expired", highlight=False)
        for record in expired:
            out_console.print(f"  {describe_record(record)}", highlight=False)


# --- queries ---------------------------------------------------------------------------------


@consent_app.command("check")
def check_command(
    subject: str = typer.Option(..., "--subject", help="Pseudonymous subject id."),
    scope: Scope = typer.Option(..., "--scope", help="The use to check."),
    kind: ConsentKind = typer.Option(ConsentKind.GENERAL, "--kind", help="Kind required."),
    at: str | None = typer.Option(None, "--at", help="Check as of this time (default now)."),
    database: str | None = DATABASE_OPTION,
    json_out: bool = JSON_OPTION,
) -> None:
    """Say whether consent allows the use; exit status 0 if allowed, 1 if not."""
    with user_errors(), consent_store(database) as store:
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
    database: str | None = DATABASE_OPTION,
    json_out: bool = JSON_OPTION,
) -> None:
    """Show one record with its events."""
    with user_errors(), consent_store(database) as store:
        record = store.get(record_id)
        links = store.links(record_id)
    if json_out:
        print_json(record_json(record) | {"links": [x.model_dump(mode="json") for x in links]})
        return
    p = record.processing
    lines = [
        describe_record(record),
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
    database: str | None = DATABASE_OPTION,
    json_out: bool = JSON_OPTION,
) -> None:
    """List consent records, oldest first."""
    with user_errors(), consent_store(database) as store:
        found = store.list(subject_id=subject, state=state)
    if json_out:
        print_json([record_json(r) for r in found])
        return
    out_console.print(f"{len(found)} consent record(s)", highlight=False)
    for record in found:
        out_console.print(
            f"  {describe_record(record)} given {iso(record.created_at)}", highlight=False
        )


@consent_app.command("deletions")
def deletions_command(
    complete: str | None = typer.Option(
        None, "--complete", metavar="TASK_ID", help="Mark this task done."
    ),
    database: str | None = DATABASE_OPTION,
    json_out: bool = JSON_OPTION,
) -> None:
    """List pending deletion tasks (data that depended on withdrawn consent)."""
    with user_errors(), consent_store(database) as store:
        if complete is not None:
            store.complete_deletion(complete)
        pending = store.pending_deletions()
    if json_out:
        print_json([t.model_dump(mode="json") for t in pending])
        return
    out_console.print(f"{len(pending)} pending deletion task(s)", highlight=False)
    print_tasks(pending)


def register(app: typer.Typer) -> None:
    """Add the ``consent`` command group (with keys and the controller profile) to ``app``."""
    from bystander.cli import consent_receipts_cmd, consent_setup_cmd

    consent_receipts_cmd.register(consent_app)
    consent_setup_cmd.register(consent_app)
    app.add_typer(consent_app, name="consent")
