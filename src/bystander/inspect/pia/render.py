"""The assessment as Markdown or a self-contained HTML page."""

from __future__ import annotations

import re
from functools import cache

import jinja2

from bystander.inspect.pia.model import (
    LEVELS,
    Pia,
)

# --- rendering --------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*\[\]|~]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")


def md(text: object) -> str:
    """Text safe inside Markdown: one line, punctuation escaped, ``<``/``&`` as entities."""
    line = " ".join(str(text).split())
    line = line.replace("&", "&amp;").replace("<", "&lt;")
    return _MD_SPECIAL.sub(r"\\\1", line)


def _finalize_md(value: object) -> str:
    """Escape an expression's value, but not macro output already marked safe."""
    return str(value) if hasattr(value, "__html__") else md(value)


@cache
def _markdown_environment() -> jinja2.Environment:
    """Markdown templates: every ``{{ expression }}`` passes through :func:`md`."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("bystander.inspect", "templates"),
        autoescape=False,
        finalize=_finalize_md,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_pia(pia: Pia, fmt: str = "markdown") -> str:
    """The assessment as ``markdown`` or ``html`` (a self-contained page)."""
    if fmt in ("markdown", "md"):
        return _markdown_environment().get_template("pia.md.j2").render(pia=pia)
    if fmt == "html":
        from bystander.inspect.report.html import environment

        return environment().get_template("pia.html.j2").render(pia=pia, levels=LEVELS)
    raise ValueError(f"unknown PIA format {fmt!r}; choose one of: markdown, html")
