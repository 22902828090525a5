"""`bystander enroll ...`: enrol a consenting person's face, list and remove templates.

bystander enroll add ds-7f3a --photo me.jpg [--photo me2.jpg] [--purpose consent_recognition]
bystander enroll add ds-7f3a --video selfie.mp4        # a 5-second selfie video, one face

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
from bystander.errors import InputError
from bystander.evidence.audit import AuditLog
from bystander.evidence.db import init_db, make_engine
from bystander.evidence.vault import TemplateVault
from bystander.recognition.embedder import FaceEmbedder
from bystander.recognition.enrolment import (
    DEFAULT_PURPOSE,
    Samples,
    combined,
    enroll_samples,
    photo_samples,
    video_samples,
)
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
        sink = AuditLog(engine, checkpoint_every=1)  # every change is covered when logged
        yield _Context(ConsentStore(engine, sink), TemplateVault(engine, sink=sink), sink)
    finally:
        engine.dispose()


def _detector() -> Any:
    from bystander.vision.detectors import create_detector

    detector = create_detector("centerface")

    def find(frame: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        return np.asarray(detector.detect(frame).xyxy, dtype=np.float32)

    return find


#: At most this much of an enrolment video is read (a selfie clip of a few seconds).
MAX_VIDEO_FRAMES = 300


def _video_frames(path: Path) -> Iterator[npt.NDArray[np.uint8]]:
    """RGB frames of the first ``MAX_VIDEO_FRAMES`` of ``path``; unreadable: one clear line."""
    import av

    if not path.is_file():
        raise InputError(f"--video: no such file: {path}")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InputError(f"--video: {path} has no video stream")
            for index, frame in enumerate(container.decode(video=0)):
                if index >= MAX_VIDEO_FRAMES:
                    return
                yield np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)
    except av.error.FFmpegError as exc:
        raise InputError(f"--video: cannot read {path}: {exc}") from None


@enroll_app.command("add")
def add_command(
    subject: str = typer.Argument(..., help="The data subject's pseudonymous id."),
    photo: list[Path] = typer.Option(
        [], "--photo", help="A photo showing exactly one face (repeatable)."
    ),
    video: Path | None = typer.Option(
        None, "--video", help="A short video of the person alone (the first 10 s are used)."
    ),
    purpose: str = typer.Option(DEFAULT_PURPOSE, "--purpose", help="The template's purpose."),
    database: str | None = _DATABASE,
    json_out: bool = _JSON,
) -> None:
    """Enrol SUBJECT (needs separate consent for face-enrolment; guardian's if under 14).

    Give one or more --photo, a --video, or both: all their samples make one template.
    """
    with user_errors(), _open(database) as ctx:
        if not photo and video is None:
            raise InputError("give at least one --photo or a --video")
        embedder, find = FaceEmbedder(), _detector()
        parts: list[Samples] = []
        if photo:
            images = [read_image(path).rgb for path in photo]
            parts.append(photo_samples(images, embedder, find))
        if video is not None:
            parts.append(video_samples(_video_frames(video), embedder, find))
        samples = combined(*parts)
        try:
            result = enroll_samples(
                subject, samples, ctx.consents, ctx.vault, sink=ctx.sink, purpose=purpose
            )
        finally:
            samples.clear()
            for part in parts:
                part.clear()
        if json_out:
            print_json(result.__dict__)
        else:
            out_console.print(
                f"enrolled {result.subject_id} from {result.photos} face sample(s): "
                f"template {result.template_id} "
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
