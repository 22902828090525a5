"""Inspection reports: one findings model, many formats.

>>> from bystander.inspect.report import render
>>> print(render(inspection, "text"))  # doctest: +SKIP

Formats: ``text`` (terminal), ``json`` (``bystander.inspection/1``, schema in
``docs/inspection-schema.json``), ``sarif`` (2.1.0), ``html`` (for people) and ``junit`` (CI).
"""

from __future__ import annotations

from collections.abc import Callable

from bystander.inspect.findings import Inspection
from bystander.inspect.report.common import FORMATS
from bystander.inspect.report.html import render_html
from bystander.inspect.report.json_report import render_json
from bystander.inspect.report.junit import render_junit
from bystander.inspect.report.sarif import render_sarif
from bystander.inspect.report.text import render_text

__all__ = ["FORMATS", "render"]

_RENDERERS: dict[str, Callable[[Inspection], str]] = {
    "text": render_text,
    "json": render_json,
    "sarif": render_sarif,
    "html": render_html,
    "junit": render_junit,
}


def render(inspection: Inspection, fmt: str) -> str:
    """The inspection in one format; ``ValueError`` (listing the formats) for an unknown one."""
    try:
        renderer = _RENDERERS[fmt]
    except KeyError:
        raise ValueError(
            f"unknown report format {fmt!r}; choose one of: {', '.join(FORMATS)}"
        ) from None
    return renderer(inspection)
