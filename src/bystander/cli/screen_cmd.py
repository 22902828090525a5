"""`bystander screen` (screen uploads) and `bystander moderation ...` (the queue).

bystander screen upload.mp4 photo.jpg [--policy P] [--trust ROOT.pem] [--ray [ADDRESS]]
bystander moderation list [--status held] | show ID | decide ID accept|hold|reject --reviewer R
bystander moderation complain ID|SHA256 --from REF --grounds TEXT | takedown ID --by R --reason T
bystander moderation resolve COMPLAINT --by R --outcome rejected | stats

``screen`` exits 0 when every upload was accepted or anonymized, 2 when any was held or
rejected, 1 on a usage error (nothing is screened).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from bystander.cli.common import out_console, print_json, user_errors
from bystander.errors import InputError
from bystander.evidence.audit import AuditLog
from bystander.evidence.db import init_db, make_engine
from bystander.screening.policy import Decision, load_policy

if TYPE_CHECKING:
    from bystander.screening.queue import ModerationQueue
    from bystander.screening.screen import ScreenOutcome

EXIT_HELD_OR_REJECTED = 2
_DATABASE = typer.Option(
    None, "--database", metavar="URL", help="Database URL (default: BYSTANDER_DATABASE_URL)."
)
_JSON = typer.Option(False, "--json", help="Print JSON on stdout.")

moderation_app = typer.Typer(
    help="The moderation queue: review held uploads, complaints, takedowns.",
    no_args_is_help=True,
)


@contextmanager
def _queue(database: str | None, deadline_hours: float = 24.0) -> Iterator[ModerationQueue]:
    from bystander.screening.queue import ModerationQueue

    engine = make_engine(database)
    try:
        init_db(engine)
        yield ModerationQueue(
            engine,
            AuditLog(engine, checkpoint_every=1),  # every decision is covered when logged
            takedown_deadline=timedelta(hours=deadline_hours),
        )
    finally:
        engine.dispose()


def build_screen_worker(
    policy_path: Path | None, trust: tuple[Path, ...], anonymized_dir: Path | None
) -> Callable[[Path], ScreenOutcome]:
    """A screener's ``screen`` (the model loads here): what each Ray actor runs."""
    from bystander.screening.screen import Screener

    screener = Screener(
        load_policy(policy_path), trust_roots=list(trust), anonymized_dir=anonymized_dir
    )
    return screener.screen


def _expand(inputs: list[Path]) -> list[Path]:
    from bystander.vision.media import is_media

    files: list[Path] = []
    for path in inputs:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and is_media(p)))
        else:
            files.append(path)  # a missing or odd file is screened, and fails on its own
    if not files:
        raise InputError("no uploads to screen")
    return files


def screen_command(
    inputs: list[Path] = typer.Argument(..., help="Uploads (videos, images) or folders."),
    policy: Path | None = typer.Option(None, "--policy", help="Screening policy (YAML)."),
    trust: list[Path] = typer.Option(
        [], "--trust", help="PEM root(s) of the device makers you trust (repeat)."
    ),
    anonymized_dir: Path | None = typer.Option(
        None, "--anonymized-dir", help="Where anonymized versions go [default: beside each]."
    ),
    ray: bool = typer.Option(False, "--ray", help="Run on Ray (local cluster by default)."),
    address: str | None = typer.Option(
        None, "--ray-address", metavar="ADDRESS", help="Join this Ray cluster (implies --ray)."
    ),
    workers: int = typer.Option(2, "--workers", min=1, max=1024, help="Ray worker actors."),
    queue: bool = typer.Option(
        True, "--queue/--no-queue", help="Record outcomes in the moderation queue."
    ),
    database: str | None = _DATABASE,
    json_out: bool = _JSON,
) -> None:
    """Screen uploads: provenance, identifiable faces, then a decision by policy."""
    with user_errors():
        rules = load_policy(policy)  # a bad policy stops everything before any work
        files = _expand(inputs)
        make = functools.partial(build_screen_worker, policy, tuple(trust), anonymized_dir)
        outcomes = _screen_all(files, make, ray or address is not None, address, workers)
        with _queue(database, rules.takedown_deadline_hours) as moderation:
            rows: list[dict[str, Any]] = []
            for outcome in outcomes:
                data = outcome.to_dict()
                if queue:
                    data["item_id"] = moderation.submit(outcome).id
                rows.append(data)
                if not json_out:
                    _print(outcome, data.get("item_id"))
    if json_out:
        print_json(rows)
    if any(r["decision"] in (Decision.HOLD, Decision.REJECT) for r in rows):
        raise typer.Exit(EXIT_HELD_OR_REJECTED)


def _screen_all(
    files: list[Path],
    make: Callable[[], Callable[[Path], ScreenOutcome]],
    on_ray: bool,
    address: str | None,
    workers: int,
) -> Iterator[ScreenOutcome]:
    """Outcomes in input order, screened here or on Ray (a failed item is an outcome too)."""
    if not on_ray:
        screen = make()
        yield from (screen(path) for path in files)
        return
    from bystander.screening.ray_pool import run_on_ray

    results = sorted(
        run_on_ray(files, make, address=address, workers=workers), key=lambda r: r.index
    )
    for result in results:
        if result.value is not None:
            yield result.value
        else:
            yield _failed(files[result.index], result.error or "unknown error")


def _failed(path: Path, error: str) -> ScreenOutcome:
    """The outcome for an upload whose screening crashed (the policy's ``unreadable``)."""
    from bystander.screening.screen import Reason, ScreenOutcome

    reason = Reason(f"the upload could not be screened: {error}")
    return ScreenOutcome(str(path), None, None, Decision.REJECT, "unreadable", (reason,),
                         error=error)  # fmt: skip


def _print(outcome: ScreenOutcome, item_id: str | None) -> None:
    colour = {"accept": "green", "anonymize": "cyan", "hold": "yellow", "reject": "red"}
    decision = outcome.decision.value
    first = outcome.reasons[0].text if outcome.reasons else ""
    rules = sorted({rule for r in outcome.reasons for rule in r.rules})
    extra = f" [{', '.join(rules)}]" if rules else ""
    item = f" (item {item_id})" if item_id else ""
    out_console.print(
        f"[{colour[decision]}]{decision}[/] {outcome.path}{item}: {first}{extra}", highlight=False
    )
    if outcome.anonymized_path:
        out_console.print(f"  anonymized: {outcome.anonymized_path}", highlight=False)


# --- moderation -------------------------------------------------------------------------------


@moderation_app.command("list")
def list_command(
    status: str | None = typer.Option(None, "--status", help="held, rejected, taken_down..."),
    limit: int = typer.Option(100, "--limit", min=1, max=10_000),
    database: str | None = _DATABASE,
    json_out: bool = _JSON,
) -> None:
    """Items in the queue, newest first."""
    with user_errors(), _queue(database) as moderation:
        items = moderation.list(status, limit)
    if json_out:
        print_json([i.to_dict() for i in items])
        return
    for item in items:
        reason = item.outcome.get("reasons", [{}])[0].get("text", "")
        out_console.print(f"{item.id} {item.status:<10} {item.path}: {reason}", highlight=False)


@moderation_app.command("show")
def show_command(
    item_id: str = typer.Argument(...),
    database: str | None = _DATABASE,
) -> None:
    """One item: the screening outcome, its actions and complaints (JSON)."""
    with user_errors(), _queue(database) as moderation:
        item = moderation.get(item_id)
        data = item.to_dict() | {"outcome": item.outcome, "actions": moderation.actions(item_id)}
        data["complaints"] = [c.to_dict() for c in moderation.complaints() if c.item_id == item_id]
    print_json(data)


@moderation_app.command("decide")
def decide_command(
    item_id: str = typer.Argument(...),
    decision: str = typer.Argument(..., help="accept, hold or reject"),
    reviewer: str = typer.Option(..., "--reviewer", help="Who decides (an id)."),
    note: str = typer.Option("", "--note", help="Why."),
    database: str | None = _DATABASE,
    json_out: bool = _JSON,
) -> None:
    """A reviewer's decision on an item."""
    with user_errors(), _queue(database) as moderation:
        try:
            choice = Decision(decision)
        except ValueError:
            raise InputError(f"decision must be accept, hold or reject, not {decision!r}") from None
        item = moderation.decide(item_id, reviewer, choice, note)
    _done(item.to_dict(), f"{item.id}: {item.status}", json_out)


@moderation_app.command("complain")
def complain_command(
    target: str = typer.Argument(..., help="Item id or the upload's SHA-256."),
    complainant: str = typer.Option(..., "--from", help="Who complains (a reference, not a name)."),
    grounds: str = typer.Option(..., "--grounds", help="What the complaint says."),
    policy: Path | None = typer.Option(None, "--policy", help="Policy with the deadline."),
    database: str | None = _DATABASE,
    json_out: bool = _JSON,
) -> None:
    """Record a complaint (notice and takedown); it must be acted on by its deadline."""
    with user_errors():
        hours = load_policy(policy).takedown_deadline_hours
        with _queue(database, hours) as moderation:
            complaint = moderation.complain(target, complainant, grounds)
    _done(complaint.to_dict(), f"complaint {complaint.id} on item {complaint.item_id}: act by "
          f"{complaint.deadline.isoformat(timespec='minutes')}", json_out)  # fmt: skip


@moderation_app.command("takedown")
def takedown_command(
    item_id: str = typer.Argument(...),
    actor: str = typer.Option(..., "--by", help="Who takes it down (an id)."),
    reason: str = typer.Option(..., "--reason", help="Why."),
    database: str | None = _DATABASE,
    json_out: bool = _JSON,
) -> None:
    """Take an item down; its open complaints are resolved."""
    with user_errors(), _queue(database) as moderation:
        item = moderation.take_down(item_id, actor, reason)
    _done(item.to_dict(), f"{item.id}: taken down", json_out)


@moderation_app.command("resolve")
def resolve_command(
    complaint_id: str = typer.Argument(...),
    actor: str = typer.Option(..., "--by", help="Who resolves it (an id)."),
    outcome: str = typer.Option(..., "--outcome", help="E.g. rejected, no_action."),
    database: str | None = _DATABASE,
    json_out: bool = _JSON,
) -> None:
    """Close a complaint without a takedown."""
    with user_errors(), _queue(database) as moderation:
        complaint = moderation.resolve(complaint_id, actor, outcome)
    _done(complaint.to_dict(), f"complaint {complaint.id}: {outcome}", json_out)


@moderation_app.command("stats")
def stats_command(database: str | None = _DATABASE) -> None:
    """Items by status, open and overdue complaints, time to takedown (JSON)."""
    with user_errors(), _queue(database) as moderation:
        print_json(moderation.stats().to_dict())


def _done(data: dict[str, Any], line: str, json_out: bool) -> None:
    if json_out:
        print_json(data)
    else:
        out_console.print(line, highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``screen`` and ``moderation`` to ``app``."""
    app.command("screen")(screen_command)
    app.add_typer(moderation_app, name="moderation")
