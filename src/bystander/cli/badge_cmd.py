"""`bystander badge ...`: issue, revoke, list and check consent badges.

bystander badge issue RECORD_ID -o badge.png                 # signed QR, valid 12 hours
bystander badge issue RECORD_ID -o badge.png --kind aruco --expires 2h
bystander badge revoke TOKEN
bystander badge list
bystander badge check photo.jpg                             # which badges are valid now
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from bystander.badges.detect import find_badges
from bystander.badges.policy import BadgeConsent
from bystander.badges.render import render_badge, write_badge
from bystander.badges.tokens import BadgeError, BadgeRegistry, BadgeToken, signing_key
from bystander.cli.common import out_console, print_json, user_errors
from bystander.cli.consent_common import parse_time
from bystander.consent.models import ConsentKind, Scope, iso, utc
from bystander.consent.store import ConsentStore
from bystander.evidence.audit import AuditLog
from bystander.evidence.db import init_db, make_engine
from bystander.vision.image_io import read_image

badge_app = typer.Typer(
    help="Consent badges: printed or on-screen markers that keep a consenting face visible.",
    no_args_is_help=True,
)

_DATABASE = typer.Option(
    None, "--database", metavar="URL", help="Database URL (default: BYSTANDER_DATABASE_URL)."
)
_REGISTRY = typer.Option(
    None, "--registry", help="Badge registry file (default: $BYSTANDER_HOME/badges.json)."
)
_JSON = typer.Option(False, "--json", help="Print JSON on stdout.")
_AT = typer.Option(None, "--at", help="As of this time (default now).")


class Kind(StrEnum):
    qr = "qr"
    aruco = "aruco"


@contextmanager
def _store(database: str | None) -> Iterator[ConsentStore]:
    engine = make_engine(database)
    try:
        init_db(engine)
        yield ConsentStore(engine, AuditLog(engine, checkpoint_every=1))
    finally:
        engine.dispose()


@contextmanager
def _registry(path: Path | None, database: str | None) -> Iterator[BadgeRegistry]:
    """The badge registry, with issue and revoke recorded in the audit log."""
    engine = make_engine(database)
    try:
        init_db(engine)
        yield BadgeRegistry(path, sink=AuditLog(engine, checkpoint_every=1))
    finally:
        engine.dispose()


_LIFETIME = re.compile(r"(\d+)\s*(m|h|d)", re.IGNORECASE)


def parse_expiry(text: str, now: datetime) -> datetime:
    """``30m``, ``12h``, ``2d`` from ``now``, or a date/time (``2027-01-01``)."""
    match = _LIFETIME.fullmatch(text.strip())
    if match is None:
        return parse_time(text)
    amount, unit = int(match.group(1)), match.group(2).lower()
    unit_name = {"m": "minutes", "h": "hours", "d": "days"}[unit]
    return now + timedelta(**{unit_name: amount})


def token_json(token: BadgeToken, at: datetime) -> dict[str, Any]:
    return token.to_json() | {"live": token.live(at)}


def _describe(token: BadgeToken, at: datetime) -> str:
    marker = f" (ArUco id {token.marker_id})" if token.marker_id is not None else ""
    if token.revoked_at is not None:
        state = f"revoked {iso(token.revoked_at)}"
    elif token.live(at):
        state = f"valid until {iso(token.expires_at)}"
    else:
        state = f"expired {iso(token.expires_at)}"
    return f"{token.token_id}: {token.kind}{marker} for consent {token.record_id} [{state}]"


@badge_app.command("issue")
def issue_command(
    record_id: str = typer.Argument(..., help="The consent record the badge stands for."),
    output: Path = typer.Option(..., "-o", "--output", help="Badge image to write (PNG)."),
    kind: Kind = typer.Option(Kind.qr, "--kind", help="qr (signed) or aruco (id only)."),
    scope: Scope = typer.Option(Scope.RECORD_VIDEO, "--scope", help="What the badge permits."),
    expires: str = typer.Option("12h", "--expires", help="Lifetime (30m, 12h, 2d) or a time."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
    database: str | None = _DATABASE,
    registry_path: Path | None = _REGISTRY,
    json_out: bool = _JSON,
) -> None:
    """Issue a badge for a consent record that covers --scope now, and write its image."""
    with user_errors():
        now = utc()
        with _store(database) as store:
            record = store.get(record_id)
            if scope not in record.scopes:
                raise BadgeError(f"consent {record_id} does not cover {scope}")
            if not any(span.covers(now) for span in record.validity()):
                raise BadgeError(f"consent {record_id} is not valid now ({record.state})")
        until = parse_expiry(expires, now)
        key = signing_key()
        with _registry(registry_path, database) as registry:
            token = registry.issue(record_id, kind=kind.value, scope=scope, expires=until, at=now)
        write_badge(output, render_badge(token, key), overwrite=overwrite)
    if json_out:
        print_json(token_json(token, now) | {"image": str(output)})
    else:
        out_console.print(
            f"issued {_describe(token, now)} -> {output}", highlight=False, markup=False
        )


@badge_app.command("revoke")
def revoke_command(
    token_id: str = typer.Argument(..., help="The badge token to revoke."),
    registry_path: Path | None = _REGISTRY,
    database: str | None = _DATABASE,
    json_out: bool = _JSON,
) -> None:
    """Revoke a badge at once: its wearer is redacted from now on."""
    with user_errors(), _registry(registry_path, database) as registry:
        token = registry.revoke(token_id)
    now = utc()
    if json_out:
        print_json(token_json(token, now))
    else:
        out_console.print(f"revoked {_describe(token, now)}", highlight=False, markup=False)


@badge_app.command("list")
def list_command(
    all_tokens: bool = typer.Option(False, "--all", help="Include revoked and expired badges."),
    registry_path: Path | None = _REGISTRY,
    json_out: bool = _JSON,
) -> None:
    """List live badges (with --all, every badge issued)."""
    now = utc()
    with user_errors():
        tokens = [t for t in BadgeRegistry(registry_path).tokens() if all_tokens or t.live(now)]
    if json_out:
        print_json([token_json(t, now) for t in tokens])
        return
    if not tokens:
        out_console.print("no badges", highlight=False, markup=False)
    for token in tokens:
        out_console.print(_describe(token, now), highlight=False, markup=False)


@badge_app.command("check")
def check_command(
    image: Path = typer.Argument(..., help="A photo or frame to look for badges in."),
    scope: Scope = typer.Option(Scope.RECORD_VIDEO, "--scope", help="The use to check."),
    kind: ConsentKind = typer.Option(ConsentKind.GENERAL, "--kind", help="Kind required."),
    at: str | None = _AT,
    database: str | None = _DATABASE,
    registry_path: Path | None = _REGISTRY,
    json_out: bool = _JSON,
) -> None:
    """Say which badges are visible in IMAGE and whether each is valid; exit 1 if none is."""
    with user_errors():
        when = parse_time(at) if at else utc()
        frame = read_image(image).rgb
        badges = find_badges(frame)
        with _store(database) as store:
            gate = BadgeConsent(
                store, BadgeRegistry(registry_path), signing_key().public_key(), scope, kind
            )
            verdicts = [gate.check_badge(b, when) for b in badges]
    rows = [
        {
            "kind": b.kind,
            "box": [round(v, 1) for v in b.box],
            "token_id": v.token_id,
            "valid": v.valid,
            "reason": v.reason,
        }
        for b, v in zip(badges, verdicts, strict=True)
    ]
    if json_out:
        print_json(rows)
    else:
        if not rows:
            out_console.print("no badges found", highlight=False, markup=False)
        for row in rows:
            verdict = "valid" if row["valid"] else "invalid"
            out_console.print(
                f"{row['kind']} badge at {row['box']}: {verdict}: {row['reason']}",
                highlight=False,
                markup=False,
            )
    if not any(v.valid for v in verdicts):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the ``badge`` command group to ``app``."""
    app.add_typer(badge_app, name="badge")
