"""The `bystander` command."""

from __future__ import annotations

import sys

import typer

from bystander import __version__
from bystander.cli import (
    audit_cmd,
    badge_cmd,
    bench_cmd,
    capture_cmd,
    consent_cmd,
    demo_cmd,
    enroll_cmd,
    eval_cmd,
    inspect_cmd,
    provenance_cmd,
    replay_cmd,
    retention_cmd,
    screen_cmd,
    serve_cmd,
)
from bystander.cli.common import State
from bystander.cli.protect_cmd import protect_command

app = typer.Typer(
    name="bystander",
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
    State.debug = debug


app.command("protect")(protect_command)
for _module in (eval_cmd, bench_cmd, demo_cmd):
    _module.register(app)
consent_cmd.register(app)
audit_cmd.register(app)
replay_cmd.register(audit_cmd.audit_app)
capture_cmd.register(app)
retention_cmd.register(app)
inspect_cmd.register(app)
provenance_cmd.register(app)
badge_cmd.register(app)
enroll_cmd.register(app)
screen_cmd.register(app)
serve_cmd.register(app)


def main() -> None:
    app(prog_name="bystander", args=sys.argv[1:])


if __name__ == "__main__":
    main()
