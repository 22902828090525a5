"""Shared fixtures: small real-face media built in the test, and ../shared/data when present."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bystander.evidence.db import scratch_database
from bystander.jobs.protect import Protector, ProtectSettings
from bystander.measure.synthetic import SyntheticClip, make_demo_clip

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def _no_writes_to_the_real_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Point BYSTANDER_HOME at a throwaway folder for every test (identities, audit keys and
    databases created on first use never land in the developer's own home); ``home`` below
    gives a test its own."""
    if "BYSTANDER_HOME" not in os.environ:
        monkeypatch.setenv("BYSTANDER_HOME", str(tmp_path_factory.getbasetemp() / "default-home"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not available")
    return SHARED_DATA


@pytest.fixture(scope="session")
def protector() -> Protector:
    """One loaded detector for the whole session (model compilation is the slow part)."""
    return Protector(ProtectSettings(overwrite=True))


@pytest.fixture(scope="session")
def demo_clip(tmp_path_factory: pytest.TempPathFactory) -> SyntheticClip:
    """A 320x180 clip: the astronaut's face moving and growing across a scene, with a tone."""
    folder = tmp_path_factory.mktemp("clip")
    return make_demo_clip(folder / "moving.mp4", width=320, height=180, frames=30)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """A fresh, initialised database: a SQLite file, or a private schema in PostgreSQL.

    PostgreSQL runs when BYSTANDER_TEST_POSTGRES_URL is set (.ci/run sets it); otherwise
    those cases skip.
    """
    url = None
    if request.param == "postgres":
        url = os.environ.get("BYSTANDER_TEST_POSTGRES_URL")
        if not url:
            pytest.skip("BYSTANDER_TEST_POSTGRES_URL is not set")
    with scratch_database(url) as db:
        yield db


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private BYSTANDER_HOME (and its default SQLite database) for CLI tests."""
    monkeypatch.setenv("BYSTANDER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("BYSTANDER_DATABASE_URL", raising=False)
    return tmp_path / "home"
