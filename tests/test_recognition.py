"""Face recognition for consenting people: embeddings, enrolment, matching, the vault at rest."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pytest
import typer
from PIL import Image
from sqlalchemy import Engine, func, select, text
from typer.testing import CliRunner

from bystander.consent.deletion import withdraw_and_delete
from bystander.consent.models import ConsentKind, Scope, utc
from bystander.consent.store import ConsentStore
from bystander.evidence.events import EventType, MemorySink
from bystander.evidence.vault import (
    TemplateVault,
    VaultIntegrityError,
    VaultKeyError,
    VaultKeyring,
)
from bystander.recognition import (
    ConsentedFaces,
    EmbedderError,
    EnrolmentError,
    FaceEmbedder,
    dlib_box,
    enroll,
)
from bystander.recognition.enrolment import FaceFinder

PURPOSE = "consent_recognition"
#: The astronaut's face in ``skimage.data.astronaut()`` (a tight, dlib-style box).
ASTRO_BOX = np.array([[175.0, 76.0, 265.0, 166.0]])

Image8 = npt.NDArray[np.uint8]


@pytest.fixture(scope="module")
def embedder() -> FaceEmbedder:
    return FaceEmbedder(width_scale=1.0)


@pytest.fixture(scope="module")
def astronaut() -> Image8:
    import skimage.data

    return np.ascontiguousarray(cast(Any, skimage.data).astronaut(), dtype=np.uint8)


def _find_astronaut(frame: Image8) -> npt.NDArray[np.float64]:
    return ASTRO_BOX.copy()


def _fixed(boxes: npt.NDArray[np.float64]) -> FaceFinder:
    def find(frame: Image8) -> npt.NDArray[np.float64]:
        return boxes

    return find


def _jpeg(img: Image8, quality: int) -> Image8:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def _dlib_faces(root: Path) -> list[tuple[Image8, npt.NDArray[np.float64]]]:
    import xml.etree.ElementTree as ET

    faces = []
    tree = ET.parse(root / "dlib-faces" / "testing.xml").getroot()
    for image in tree.iter("image"):
        rgb = np.asarray(Image.open(root / "dlib-faces" / str(image.get("file"))).convert("RGB"))
        for b in image.iter("box"):
            x, y = float(b.get("left", 0)), float(b.get("top", 0))
            w, h = float(b.get("width", 0)), float(b.get("height", 0))
            if w >= 60:  # the larger faces: embeddings of tiny faces are noisy
                faces.append((rgb, np.array([[x, y, x + w, y + h]])))
    return faces


# --- the embedder ---------------------------------------------------------------------------


def test_same_face_under_augmentation_is_close(embedder: FaceEmbedder, astronaut: Image8) -> None:
    base = embedder.embed(astronaut, ASTRO_BOX)
    assert base.shape == (1, 128) and base.dtype == np.float32
    bright = np.clip(astronaut.astype(np.float32) * 1.3, 0, 255).astype(np.uint8)
    for variant in (_jpeg(astronaut, 40), bright):
        assert np.linalg.norm(embedder.embed(variant, ASTRO_BOX) - base) < 0.3
    shifted = ASTRO_BOX + np.array([[6.0, -5.0, 6.0, -5.0]])
    assert np.linalg.norm(embedder.embed(astronaut, shifted) - base) < 0.3


def test_different_faces_are_far(
    embedder: FaceEmbedder, astronaut: Image8, shared_data: Path
) -> None:
    faces = _dlib_faces(shared_data)
    assert len(faces) >= 2
    astro = embedder.embed(astronaut, ASTRO_BOX)[0]
    others = np.stack([embedder.embed(img, box)[0] for img, box in faces])
    assert (np.linalg.norm(others - astro, axis=1) > 0.5).all()


def test_centerface_boxes_are_narrowed_for_dlib() -> None:
    assert dlib_box([100, 50, 220, 150]) == (110, 50, 210, 150)
    assert dlib_box([100, 50, 200, 150], width_scale=1.0) == (100, 50, 200, 150)


@pytest.mark.parametrize(
    "frame, boxes",
    [
        (np.zeros((64, 64), np.uint8), [[0, 0, 10, 10]]),
        (np.zeros((64, 64, 3), np.float32), [[0, 0, 10, 10]]),
        (np.zeros((64, 64, 3), np.uint8), [[10, 10, 5, 20]]),
        (np.zeros((64, 64, 3), np.uint8), [[100, 100, 120, 120]]),
        (np.zeros((64, 64, 3), np.uint8), [[np.nan, 0, 10, 10]]),
        (np.zeros((64, 64, 3), np.uint8), [1, 2, 3]),
    ],
)
def test_bad_input_fails_closed(embedder: FaceEmbedder, frame: object, boxes: object) -> None:
    with pytest.raises(EmbedderError):
        embedder.embed(frame, boxes)  # type: ignore[arg-type]


def test_no_boxes_no_embeddings(embedder: FaceEmbedder, astronaut: Image8) -> None:
    assert embedder.embed(astronaut, np.zeros((0, 4))).shape == (0, 128)


# --- enrolment and matching -------------------------------------------------------------------


class World:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sink = MemorySink()
        self.key = VaultKeyring.from_key(bytes(range(32)))
        self.consents = ConsentStore(engine, self.sink)
        self.vault = TemplateVault(engine, self.key, sink=self.sink)
        self.faces = ConsentedFaces(self.vault, self.consents, PURPOSE)

    def enroll(self, subject: str, photo: Image8, embedder: FaceEmbedder) -> str:
        result = enroll(
            subject,
            [photo],
            self.consents,
            self.vault,
            embedder,
            _find_astronaut,
            sink=self.sink,
            purpose=PURPOSE,
        )
        return result.template_id


@pytest.fixture()
def world(engine: Engine) -> Iterator[World]:
    yield World(engine)


def _separate(world: World, subject: str = "ds-astro") -> str:
    return world.consents.grant(subject, [Scope.FACE_ENROLMENT], kind=ConsentKind.SEPARATE).id


def _refusals(world: World) -> list[str]:
    return [str(e.reason) for e in world.sink.events if e.type is EventType.TEMPLATE_ACCESS_REFUSED]


def test_enrolment_refused_without_consent(
    world: World, embedder: FaceEmbedder, astronaut: Image8
) -> None:
    with pytest.raises(EnrolmentError, match="no consent"):
        world.enroll("ds-astro", astronaut, embedder)
    assert world.vault.count() == 0
    assert _refusals(world) == ["enrolment_refused"]


def test_enrolment_refused_with_general_consent(
    world: World, embedder: FaceEmbedder, astronaut: Image8
) -> None:
    world.consents.grant("ds-astro", [Scope.FACE_ENROLMENT], kind=ConsentKind.GENERAL)
    with pytest.raises(EnrolmentError, match="does not satisfy separate"):
        world.enroll("ds-astro", astronaut, embedder)
    assert world.vault.count() == 0


def test_under_14_needs_a_guardian(world: World, embedder: FaceEmbedder, astronaut: Image8) -> None:
    world.consents.grant(
        "ds-kid", [Scope.RECORD_VIDEO], kind=ConsentKind.GUARDIAN, under_14=True, guardian_id="g1"
    )
    world.consents.grant("ds-kid", [Scope.FACE_ENROLMENT], kind=ConsentKind.SEPARATE)
    with pytest.raises(EnrolmentError, match="under 14"):
        world.enroll("ds-kid", astronaut, embedder)
    world.consents.grant(
        "ds-kid", [Scope.FACE_ENROLMENT], kind=ConsentKind.GUARDIAN, under_14=True, guardian_id="g1"
    )
    world.enroll("ds-kid", astronaut, embedder)
    assert world.vault.count() == 1


def test_exactly_one_face_per_photo(
    world: World, embedder: FaceEmbedder, astronaut: Image8
) -> None:
    _separate(world)
    for boxes in (np.zeros((0, 4)), np.vstack([ASTRO_BOX, ASTRO_BOX + 200])):
        with pytest.raises(EnrolmentError, match=f"shows {len(boxes)} faces"):
            enroll(
                "ds-astro",
                [astronaut],
                world.consents,
                world.vault,
                embedder,
                _fixed(boxes),
            )
    assert world.vault.count() == 0


def test_enrol_match_withdraw(world: World, embedder: FaceEmbedder, astronaut: Image8) -> None:
    record_id = _separate(world)
    world.enroll("ds-astro", astronaut, embedder)
    created = [e for e in world.sink.events if e.type is EventType.TEMPLATE_CREATED]
    assert len(created) == 1 and created[0].subject_id == "ds-astro"
    assert set(created[0].data) == {"template_id", "consent_record_id", "purpose"}

    probe = embedder.embed(_jpeg(astronaut, 50), ASTRO_BOX + 3)
    before = utc()
    assert world.faces.identify(probe, at=before) == ["ds-astro"]
    assert world.faces.identify(probe, at=before - timedelta(days=1)) == [None]  # before consent
    assert ConsentedFaces(world.vault, world.consents, "other_purpose").identify(probe) == [None]

    report = withdraw_and_delete(world.consents, record_id, vault=world.vault)
    assert report.templates_deleted == 1 and report.ok
    assert world.vault.count() == 0
    deleted = [e for e in world.sink.events if e.type is EventType.TEMPLATE_DELETED]
    assert len(deleted) == 1 and deleted[0].reason == "consent_withdrawn"
    assert world.faces.identify(probe) == [None]


def test_withdrawn_consent_redacts_even_before_deletion_runs(
    world: World, embedder: FaceEmbedder, astronaut: Image8
) -> None:
    record_id = _separate(world)
    world.enroll("ds-astro", astronaut, embedder)
    probe = embedder.embed(astronaut, ASTRO_BOX)
    assert world.faces.identify(probe) == ["ds-astro"]
    world.consents.withdraw(record_id)
    assert world.vault.count() == 1  # deletion not run yet
    assert world.faces.identify(probe) == [None]


def test_strangers_redacted_and_never_written(
    world: World, embedder: FaceEmbedder, astronaut: Image8
) -> None:
    _separate(world)
    world.enroll("ds-astro", astronaut, embedder)
    template = embedder.embed(astronaut, ASTRO_BOX)[0]
    rng = np.random.default_rng(1)
    strangers = template + rng.normal(0, 0.2, (5, 128)).astype(np.float32)
    assert (np.linalg.norm(strangers - template, axis=1) > 0.6).all()
    events, rows = len(world.sink.events), _row_counts(world.engine)
    assert world.faces.identify(strangers) == [None] * 5
    assert world.faces.identify(np.full((1, 128), np.nan, np.float32)) == [None]
    assert len(world.sink.events) == events
    assert _row_counts(world.engine) == rows


def test_ambiguous_between_two_subjects_is_redacted(
    world: World, embedder: FaceEmbedder, astronaut: Image8
) -> None:
    template = embedder.embed(astronaut, ASTRO_BOX)[0]
    twin = template.copy()
    twin[:4] += 0.01  # a second enrolled person who looks the same to the model
    for subject, vector in (("ds-a", template), ("ds-b", twin)):
        record = world.consents.grant(subject, [Scope.FACE_ENROLMENT], kind=ConsentKind.SEPARATE)
        world.vault.store(subject, vector, record.id, PURPOSE)
    assert world.faces.identify(template[None, :]) == [None]


def test_vault_holds_no_clear_embedding(
    world: World, embedder: FaceEmbedder, astronaut: Image8
) -> None:
    _separate(world)
    world.enroll("ds-astro", astronaut, embedder)
    template = embedder.embed(astronaut, ASTRO_BOX)[0]
    with world.engine.connect() as conn:
        raw = b"".join(
            bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode()
            for row in conn.execute(text("SELECT * FROM biometric_templates"))
            for v in row
        )
    assert raw and template.tobytes()[:16] not in raw
    assert template.astype(np.float64).tobytes()[:16] not in raw
    assert f"{template[0]:.4f}".encode() not in raw
    other = TemplateVault(world.engine, VaultKeyring.from_key(bytes(32)))
    with pytest.raises(VaultKeyError, match="not available"):
        ConsentedFaces(other, world.consents, PURPOSE).identify(template[None, :])
    # the same key id with other key bytes (a forged keyring) fails authentication
    forged = VaultKeyring({world.key.current_id: bytes(32)}, world.key.current_id)
    with pytest.raises(VaultIntegrityError):
        ConsentedFaces(TemplateVault(world.engine, forged), world.consents, PURPOSE).identify(
            template[None, :]
        )


def _row_counts(engine: Engine) -> dict[str, int]:
    from bystander.evidence.db import Base

    with engine.connect() as conn:
        return {
            name: int(conn.scalar(select(func.count()).select_from(table)) or 0)
            for name, table in Base.metadata.tables.items()
        }


# --- the CLI --------------------------------------------------------------------------------


def test_cli_enroll_list_remove(home: Path, tmp_path: Path, astronaut: Image8) -> None:
    from bystander.cli.enroll_cmd import register

    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None: ...

    runner = CliRunner()
    photo = tmp_path / "astro.png"
    Image.fromarray(astronaut).save(photo)
    refused = runner.invoke(app, ["enroll", "add", "ds-astro", "--photo", str(photo)])
    assert refused.exit_code != 0
    assert "refused" in refused.output and "no consent" in refused.output
    listed = runner.invoke(app, ["enroll", "list", "--json"])
    assert listed.exit_code == 0 and listed.output.strip() == "[]"
    removed = runner.invoke(app, ["enroll", "remove", "ds-astro"])
    assert removed.exit_code == 0 and "deleted 0" in removed.output


def test_cli_enrolls_with_separate_consent(home: Path, tmp_path: Path, astronaut: Image8) -> None:
    """End to end with the CenterFace detector: its widened box is narrowed for dlib."""
    from bystander.cli.enroll_cmd import register
    from bystander.evidence.db import init_db, make_engine

    engine = make_engine()
    init_db(engine)
    ConsentStore(engine).grant("ds-astro", [Scope.FACE_ENROLMENT], kind=ConsentKind.SEPARATE)
    engine.dispose()
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None: ...

    photo = tmp_path / "astro.png"
    Image.fromarray(np.ascontiguousarray(astronaut[0:300, 80:360])).save(photo)
    runner = CliRunner()
    added = runner.invoke(app, ["enroll", "add", "ds-astro", "--photo", str(photo)])
    assert added.exit_code == 0, added.output
    assert "enrolled ds-astro" in added.output
    listed = runner.invoke(app, ["enroll", "list", "--json"])
    assert '"subject_id": "ds-astro"' in listed.output
    removed = runner.invoke(app, ["enroll", "remove", "ds-astro"])
    assert "deleted 1 template(s)" in removed.output
