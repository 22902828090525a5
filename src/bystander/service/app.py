"""The FastAPI application: ``create_app`` wires the core's stores behind token auth.

Every endpoint except ``GET /health`` needs an API token (``bystander token create``). Errors
are JSON ``{"detail": "one line"}`` with the matching status; no stack trace reaches a client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine

from bystander import __version__
from bystander.consent.models import ConsentNotFoundError
from bystander.consent.store import ConsentStore
from bystander.errors import BystanderError
from bystander.evidence.audit import AuditLog
from bystander.evidence.db import init_db, make_engine
from bystander.service.auth import TokenStore
from bystander.service.jobs import JobRunner
from bystander.service.settings import ServiceSettings


@dataclass
class Services:
    """What the routers use: one engine and the stores over it."""

    settings: ServiceSettings
    engine: Engine
    audit: AuditLog
    consent: ConsentStore
    tokens: TokenStore
    jobs: JobRunner = field(default_factory=JobRunner)
    job_folders: dict[str, Path] = field(default_factory=dict)
    captures: dict[str, Any] = field(default_factory=dict)  # live capture sessions by job


def open_services(settings: ServiceSettings, engine: Engine | None = None) -> Services:
    """The stores over ``engine`` (default: one for ``settings.database_url``)."""
    engine = engine or make_engine(settings.database_url)
    init_db(engine)
    audit = AuditLog(engine)
    return Services(settings, engine, audit, ConsentStore(engine, audit), TokenStore(engine, audit))


def create_app(settings: ServiceSettings | None = None, *, engine: Engine | None = None) -> FastAPI:
    """The service over the database in ``settings``, or over ``engine`` (which the caller
    then owns), opened when the app starts."""
    from bystander.service.routers import (
        audit,
        capture,
        consent,
        enrolment,
        inspections,
        jobs,
        moderation,
        protect,
        tokens,
    )

    settings = settings or ServiceSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = open_services(settings, engine)
        try:
            yield
        finally:
            app.state.services.jobs.shutdown()
            if engine is None:
                app.state.services.engine.dispose()

    app = FastAPI(
        title="Bystander",
        version=__version__,
        description="Consent records, the audit log and the moderation queue of a Bystander "
        "device or platform. Every endpoint but /health needs a Bearer API token.",
        lifespan=lifespan,
    )

    @app.get("/health", tags=["service"])
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    routers = (consent, enrolment, capture, audit, moderation, protect, inspections, jobs, tokens)
    for module in routers:
        app.include_router(module.router)
    from fastapi.staticfiles import StaticFiles

    from bystander.service import dashboard

    app.include_router(dashboard.router)
    static = Path(__file__).parent / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.exception_handler(ConsentNotFoundError)
    async def _not_found(request: Request, exc: ConsentNotFoundError) -> JSONResponse:
        return JSONResponse({"detail": _line(exc)}, status_code=404)

    @app.exception_handler(BystanderError)
    async def _refused(request: Request, exc: BystanderError) -> JSONResponse:
        return JSONResponse({"detail": _line(exc)}, status_code=400)

    return app


def _line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
