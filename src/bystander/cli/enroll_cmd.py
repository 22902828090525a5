"""`bystander enroll ...`: enrol a consenting person's face, list and remove templates.

bystander enroll add ds-7f3a --photo me.jpg [--photo me2.jpg] [--purpose consent_recognition]
bystander enroll list [--json]
bystander enroll remove ds-7f3a
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import typer

from bystander.cli.common import out_console, print_json, user_errors
from bystander.consent.store import ConsentStore
from bystander.evidence.audit import AuditLog
from bystander.evidence.db import init_db, make_engine
from bystander.evidence.vault import TemplateVault
from bystander.recognition.embedder import FaceEmbedder
from bystander.recognition.enrolment import DEFAULT_PURPOSE, enroll
from bystander.vision.image_io import read_image

enroll_app = typer.Typer(
    help="Face enrolment of people who gave separate consent (templates stay in the vault).",
    no_args_is_help=True,
)

_DATABASE = typer.Option(
    None, "--database", metavar="URL", help="Database URL (default: BYSTANDER_DATABASE_URL)."
)
_JSON = typer.Option(False, "--json", help="Print JSON on stdout.")


@dataclass
class _Context:
    consents: ConsentStore
    vault: TemplateVault
    sink: AuditLog


@contextmanager
def _open(database: str | None) -> Iterator[_Context]:
    engine = make_engine(database)
    try:
        init_db(engine)
        sink = AuditLog(engine)
        yield _Context(ConsentStore(engine, sink), TemplateVault(engine, sink=sink), sink)
    finally:
        engine.dispose()


def _detector() -> Any:
    from bystander.vision.detectors import create_detector

    detector = create_detector("centerface")

    def find(frame: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        return np.asarray(detector.detect(frame).xyxy, dtype=np.float32)

    return find


@enroll_app.command("add")
def add_command(
    subject: str = typer.Argument(..., help="The data subject's pseudonymous id."),
    photo: list[Path] = typer.Option(..., "--photo", help="A photo showing exactly one face."),
    purpose: str = typer.Option(DEFAULT_PURPOSE, "--purpose", help="The template's purpose."),
    database: str | None = _DATABASE,
    json_out: bool = _JSON,
) -> None:
    """Enrol SUBJECT (needs separate consent for face-enrolment; guardian's if under 14)."""
    with user_errors(), _open(database) as ctx:
        images = [read_image(path).rgb for path in photo]
        result = enroll(
            subject,
            images,
            ctx.consents,
            ctx.vault,
            FaceEmbedder(),
            _detector(),
            sink=ctx.sink,
            purpose=purpose,
        )
        if json_out:
            print_json(result.__dict__)
        else:
            out_console.print(
                f"enrolled {result.subject_id}: template {result.template_id} "
                f"(consent {result.consent_record_id}, purpose {result.purpose})"
            )


@enroll_app.command("list")
def list_command(database: str | None = _DATABASE, json_out: bool = _JSON) -> None:
    """List enrolled templates (ids and consent links only, never face data)."""
    with user_errors(), _open(database) as ctx:
        rows = [
            {
                "template_id": t.template_id,
                "subject_id": t.subject_id,
                "consent_record_id": t.consent_record_id,
                "purpose": t.purpose,
                "created_at": t.created_at.isoformat(),
            }
            for t in ctx.vault.templates()
        ]
        if json_out:
            print_json(rows)
            return
        if not rows:
            out_console.print("no enrolled faces")
        for row in rows:
            out_console.print(
                f"{row['subject_id']}  template {row['template_id']}  "
                f"consent {row['consent_record_id']}  {row['purpose']}"
            )


@enroll_app.command("remove")
def remove_command(
    subject: str = typer.Argument(..., help="The data subject whose templates to delete."),
    database: str | None = _DATABASE,
) -> None:
    """Delete every template of SUBJECT now (logged as template.deleted)."""
    with user_errors(), _open(database) as ctx:
        count = ctx.vault.delete_for_subject(subject, reason="removed by operator")
        out_console.print(f"deleted {count} template(s) of {subject}")


def register(app: typer.Typer) -> None:
    """Add the ``enroll`` command group to ``app``."""
    app.add_typer(enroll_app, name="enroll")
