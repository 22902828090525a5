"""The FastAPI application: ``create_app`` wires the core's stores behind token auth.

Every endpoint except ``GET /health`` needs an API token (``bystander token create``); the
OpenAPI document and its pages too. ``service.gate`` checks the token, body size and origin
before a route runs. Errors are JSON ``{"detail": "one line"}`` with the matching status; no
stack trace or server path reaches a client.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from bystander import config
from bystander._version import __version__
from bystander.consent.models import ConsentNotFoundError
from bystander.consent.store import ConsentStore
from bystander.errors import BystanderError
from bystander.evidence.audit import AuditLog
from bystander.evidence.db import init_db, make_engine
from bystander.service.auth import TokenStore
from bystander.service.csrf import CsrfKeys
from bystander.service.gate import Gate
from bystander.service.job_model import JobInfo
from bystander.service.jobs import JobRunner
from bystander.service.messages import public_line
from bystander.service.originals import RetentionSweeper
from bystander.service.refusals import RefusalLog
from bystander.service.services import Services
from bystander.service.settings import ServiceSettings


def open_services(settings: ServiceSettings, engine: Engine | None = None) -> Services:
    """The stores over ``engine`` (default: one for ``settings.database_url``), the home
    folder and database made private (0700 / 0600), and the job runner with unfinished
    jobs from before a restart resumed or marked failed."""
    from bystander.service.originals import release_original
    from bystander.service.routers import inspections, moderation, protect

    private_home()
    engine = engine or make_engine(settings.database_url)
    init_db(engine)
    private_database(engine)
    audit = AuditLog(engine, checkpoint_every=1)  # every entry is covered when logged

    def on_end(job: JobInfo) -> None:  # the job is over: its original goes, unless held
        original = job.params.get("original_id")
        if original and not job.result.get("original_held"):
            release_original(found, str(original), Path(job.folder) / str(job.params["input"]))

    jobs = JobRunner(engine, settings.workers, on_end, processes=settings.job_processes,
                     database_url=engine.url.render_as_string(hide_password=False),
                     ray=settings.ray, ray_address=settings.ray_address)  # fmt: skip
    found = Services(settings, engine, audit, ConsentStore(engine, audit),
                     TokenStore(engine, audit), jobs)  # fmt: skip
    jobs.recover({
        "protect": protect.PROTECT,
        "inspect": inspections.inspect_work,
        "screen": moderation.screen_work,
    })  # fmt: skip
    return found


def private_home() -> None:
    """The home folder (keys, database, uploads) is the service's alone."""
    home = config.home()
    home.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        os.chmod(home, 0o700)


def private_database(engine: Engine) -> None:
    """A SQLite database and its WAL and shared-memory files: mode 0600."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        return
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(OSError):
            os.chmod(database + suffix, 0o600)


def create_app(settings: ServiceSettings | None = None, *, engine: Engine | None = None) -> FastAPI:
    """The service over the database in ``settings``, or over ``engine`` (which the caller
    then owns), opened when the app starts."""
    from bystander.service import dashboard, docs, openapi
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
        app.state.services = await run_in_threadpool(open_services, settings, engine)
        app.state.refusals = RefusalLog(app.state.services.audit)
        sweeper = None
        if settings.retention_sweep_seconds:
            sweeper = RetentionSweeper(app.state.services, settings.retention_sweep_seconds)
        try:
            yield
        finally:
            if sweeper is not None:
                sweeper.close()
            await run_in_threadpool(app.state.services.jobs.shutdown)
            app.state.refusals.close()
            if engine is None:
                app.state.services.engine.dispose()

    app = FastAPI(
        title="Bystander",
        version=__version__,
        description="Consent records, the audit log and the moderation queue of a Bystander "
        "device or platform. Every endpoint but /health needs a Bearer API token.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.csrf = CsrfKeys()

    @app.get("/health", tags=["service"], summary="Liveness (no token needed)")
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    routers = (consent, enrolment, capture, audit, moderation, protect, inspections, jobs, tokens)
    for module in routers:
        app.include_router(module.router, responses=openapi.ERRORS)
    for module in (capture, moderation, protect, inspections, jobs):  # the dashboard's calls
        app.include_router(module.router, prefix="/ui", include_in_schema=False)
    from fastapi.staticfiles import StaticFiles

    app.include_router(dashboard.router)
    docs.mount(app)
    static = Path(__file__).parent / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    app.add_middleware(Gate, settings=settings)
    openapi.install(app)
    _handlers(app)
    return app


def _handlers(app: FastAPI) -> None:
    """JSON errors everywhere: one line, no input echoed, no server path, no stack trace."""

    @app.exception_handler(ConsentNotFoundError)
    async def _not_found(request: Request, exc: ConsentNotFoundError) -> JSONResponse:
        _audit_refusal(request, 404)
        return JSONResponse({"detail": public_line(exc)}, status_code=404)

    @app.exception_handler(BystanderError)
    async def _refused(request: Request, exc: BystanderError) -> JSONResponse:
        return JSONResponse({"detail": public_line(exc)}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            _audit_refusal(request, 404)
        detail = exc.detail if isinstance(exc.detail, str) else "request refused"
        return JSONResponse({"detail": public_line(detail)}, status_code=exc.status_code,
                            headers=exc.headers)  # fmt: skip

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "request"
        message = str(first.get("msg", "invalid request")).removeprefix("Value error, ")
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return JSONResponse({"detail": public_line(f"{where}: {message}{more}")}, status_code=422)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": "internal error (logged on the server)"}, status_code=500)


def _audit_refusal(request: Request, status: int) -> None:
    """A 404 on ``/api`` (a probe, or another subject's record) becomes an audit event."""
    if not request.url.path.startswith("/api/"):
        return
    refusals = getattr(request.app.state, "refusals", None)
    principal = getattr(request.state, "principal", None)
    if refusals is not None:
        token = getattr(principal, "token_id", None)
        refusals.record(status, request.method, request.url.path, token_id=token)
