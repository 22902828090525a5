"""The API documents behind auth: ``/openapi.json``, ``/docs`` (Swagger UI), ``/redoc``.

They need a token like the API (Bearer, or the dashboard's login cookie in a browser). The
Swagger UI and ReDoc scripts come from the ``fastapi-offline`` package and are served from
``/docs-assets``, so the pages work with no internet and under a strict CSP (no CDN, no
inline script).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from bystander.service.auth import principal_from_request

router = APIRouter(include_in_schema=False)

_SWAGGER = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Bystander API</title><link rel="stylesheet" href="/docs-assets/swagger-ui.css">
</head><body><div id="swagger-ui"></div>
<script src="/docs-assets/swagger-ui-bundle.js"></script>
<script src="/static/swagger-init.js"></script></body></html>"""

_REDOC = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Bystander API</title></head><body>
<redoc spec-url="/openapi.json"></redoc>
<script src="/docs-assets/redoc.standalone.js"></script></body></html>"""


def assets_folder() -> Path:
    import fastapi_offline

    return Path(fastapi_offline.__file__).parent / "static"


def mount(app: FastAPI) -> None:
    """Add the document routes and the local assets to ``app``."""
    app.include_router(router)
    app.mount("/docs-assets", StaticFiles(directory=str(assets_folder())), name="docs-assets")


def _allowed(request: Request) -> bool:
    try:
        principal_from_request(request)
    except Exception:
        return False
    return True


@router.get("/openapi.json")
def openapi(request: Request) -> Response:
    if not _allowed(request):
        return JSONResponse({"detail": "a valid API token is required"}, status_code=401,
                            headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
    document: dict[str, Any] = request.app.openapi()
    return JSONResponse(document)


@router.get("/docs")
def swagger(request: Request) -> Response:
    if not _allowed(request):
        return RedirectResponse("/login", status_code=303)
    return HTMLResponse(_SWAGGER)


@router.get("/redoc")
def redoc(request: Request) -> Response:
    if not _allowed(request):
        return RedirectResponse("/login", status_code=303)
    return HTMLResponse(_REDOC)
