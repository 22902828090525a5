"""The OpenAPI document: the Bearer scheme, the error answers of every operation, and the
real media types of downloads (``/openapi.json`` itself is served by ``service.docs``)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
#: Declared on every API router: what a refused request answers.
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No valid API token", "content": _ERROR},
    403: {"description": "The token's role may not do this, or a cross-site request",
          "content": _ERROR},
    404: {"description": "No such resource (or not yours)", "content": _ERROR},
    413: {"description": "Request body over the size limit", "content": _ERROR},
    422: {"description": "Invalid request", "content": _ERROR},
}  # fmt: skip


def binary(media_type: str = "application/octet-stream") -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route that answers a file of ``media_type``."""
    schema = {"type": "string", "format": "binary"}
    return {200: {"description": "The file", "content": {media_type: {"schema": schema}}}}


def install(app: FastAPI) -> None:
    """Build the document once, on first use, with the fixes below."""

    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = get_openapi(title=app.title, version=app.version,
                               description=app.description, routes=app.routes)  # fmt: skip
        _fix(document)
        app.openapi_schema = document
        return document

    app.openapi = build  # type: ignore[method-assign]


def _fix(document: dict[str, Any]) -> None:
    components = document.setdefault("components", {})
    components.setdefault("schemas", {})["Error"] = {
        "type": "object", "required": ["detail"],
        "properties": {"detail": {"type": "string", "description": "One line"}},
    }  # fmt: skip
    for path, item in document.get("paths", {}).items():
        for operation in item.values():
            if path == "/health":
                operation["security"] = []
                operation.get("responses", {}).pop("422", None)
                continue
            responses = operation.setdefault("responses", {})
            for code, answer in ERRORS.items():
                responses.setdefault(str(code), answer)
            responses.pop("default", None)
            for answer in responses.values():
                content = answer.get("content", {})
                if len(content) > 1 and content.get("application/json", {}).get("schema") == {}:
                    del content["application/json"]  # a file route's placeholder
            # FastAPI's own 422 (HTTPValidationError) is replaced by our Error shape
            responses["422"] = ERRORS[422]
    components["schemas"].pop("HTTPValidationError", None)
    components["schemas"].pop("ValidationError", None)
