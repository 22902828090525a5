"""The `bystander` command.

Sub-commands are registered lazily (``bystander.cli.lazy``): a command's module, and what it
imports, loads only when that command runs, so ``bystander protect`` starts fast.
"""

from __future__ import annotations

import sys

import typer

from bystander._version import __version__
from bystander.cli.lazy import LazyGroup

app = typer.Typer(
    name="bystander",
    cls=LazyGroup,
    help="Privacy guard for camera devices: anonymize bystanders, enforce consent, keep evidence.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"bystander {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    from bystander.cli.common import State  # not at import: --help needs none of it

    State.debug = debug


def main() -> None:
    app(prog_name="bystander", args=sys.argv[1:])


if __name__ == "__main__":
    main()
