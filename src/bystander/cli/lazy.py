"""Lazy sub-commands: a command's module is imported only when that command runs.

Importing every command module costs about a second (SQLAlchemy, PyAV, OpenCV, pydantic
models...), which `bystander protect` on one photo would pay before any work. The root group
knows each command by a static table of names and one-line help, so ``bystander --help``
lists them all without importing any; ``bystander NAME ...`` imports NAME's module alone.
``tests/test_cli_startup.py`` checks the table against the real commands.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup

try:  # typer >= 0.20 vendors click
    from typer import _click as click
except ImportError:  # pragma: no cover - older typer uses the click package
    import click  # type: ignore[no-redef]


@dataclass(frozen=True)
class LazyCommand:
    """One top-level command: where it is registered from, and its line in ``--help``."""

    name: str
    module: str
    help: str


def _register(module: str) -> Callable[[typer.Typer], None]:
    """The ``register(app)`` of a command module (imported when called)."""

    def register(app: typer.Typer) -> None:
        importlib.import_module(module).register(app)

    return register


def _register_protect(app: typer.Typer) -> None:
    from bystander.cli.protect_cmd import protect_command

    app.command("protect")(protect_command)


def _register_audit(app: typer.Typer) -> None:
    from bystander.cli import audit_cmd, replay_cmd

    audit_cmd.register(app)
    replay_cmd.register(audit_cmd.audit_app)


_P, _C = "bystander.cli.", "_cmd"
#: every top-level command, in ``--help`` order
COMMANDS: tuple[LazyCommand, ...] = (
    LazyCommand(
        "protect",
        _P + "protect" + _C,
        "Anonymize every face in videos and images, keeping format, size, frame rate and audio.",
    ),
    LazyCommand(
        "eval",
        _P + "eval" + _C,
        "Measure privacy quality: the share of annotated faces `protect` hides, by face size.",
    ),
    LazyCommand(
        "bench",
        _P + "bench" + _C,
        "Measure protect throughput against the transcode ceiling and deface on the same frames.",
    ),
    LazyCommand(
        "demo",
        _P + "demo" + _C,
        "Build a sample clip (a real face moving, with sound), protect it, show the files.",
    ),
    LazyCommand(
        "capture",
        _P + "capture" + _C,
        "Capture through the guard: indicator, consent and zone rules, bystanders blurred.",
    ),
    LazyCommand(
        "inspect",
        _P + "inspect" + _C,
        "Check a device's evidence against the rules, article by article.",
    ),
    LazyCommand(
        "pia",
        _P + "inspect" + _C,
        "Write a personal-information impact assessment pre-filled from the evidence.",
    ),
    LazyCommand(
        "sign",
        _P + "provenance" + _C,
        "Sign a file with the device identity (e.g. a file protected elsewhere).",
    ),
    LazyCommand(
        "verify",
        _P + "provenance" + _C,
        "Validate C2PA manifests offline and say what they prove, in plain words.",
    ),
    LazyCommand(
        "screen",
        _P + "screen" + _C,
        "Screen uploads: provenance, identifiable faces, then a decision by policy.",
    ),
    LazyCommand(
        "serve",
        _P + "serve" + _C,
        "Serve the HTTP API (consent, audit log, moderation) with token auth.",
    ),
    LazyCommand(
        "consent",
        _P + "consent" + _C,
        "Consent records (ISO/IEC TS 27560, W3C DPV): grant, withdraw, check, receipts.",
    ),
    LazyCommand(
        "audit",
        _P + "audit" + _C,
        "Tamper-evident audit log: verify it offline, export it, sign checkpoints.",
    ),
    LazyCommand(
        "retention",
        _P + "retention" + _C,
        "Destroy stored data that is due, and publish the retention schedule.",
    ),
    LazyCommand("rules", _P + "inspect" + _C, "Browse the rule catalog."),
    LazyCommand(
        "keys",
        _P + "provenance" + _C,
        "The device identity that signs C2PA manifests (a TEST chain for development).",
    ),
    LazyCommand(
        "badge",
        _P + "badge" + _C,
        "Consent badges: printed or on-screen markers that keep a consenting face visible.",
    ),
    LazyCommand(
        "enroll",
        _P + "enroll" + _C,
        "Face enrolment of people who gave separate consent (templates stay in the vault).",
    ),
    LazyCommand(
        "moderation",
        _P + "screen" + _C,
        "The moderation queue: review held uploads, complaints, takedowns.",
    ),
    LazyCommand(
        "token",
        _P + "serve" + _C,
        "API tokens for `bystander serve` (roles, revocation).",
    ),
)
BY_NAME = {command.name: command for command in COMMANDS}
#: modules whose ``register`` needs more than ``module.register(app)``
_SPECIAL: dict[str, Callable[[typer.Typer], None]] = {
    _P + "protect" + _C: _register_protect,
    _P + "audit" + _C: _register_audit,
}
#: click commands already built, by name (built once a process: registration is not idempotent)
_LOADED: dict[str, click.Command] = {}


def load_command(name: str) -> click.Command | None:
    """The real click command ``name`` (importing its module), or None if there is none."""
    if name in _LOADED:
        return _LOADED[name]
    entry = BY_NAME.get(name)
    if entry is None:
        return None
    holder = typer.Typer()
    register = _SPECIAL.get(entry.module) or _register(entry.module)
    register(holder)
    group = typer.main.get_group(holder)
    for built_name, command in group.commands.items():
        _LOADED.setdefault(built_name, command)
    return _LOADED.get(name)


class LazyGroup(TyperGroup):
    """The root group: commands from ``COMMANDS``, imported on first use."""

    _listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        extra = [name for name in self.commands if name not in BY_NAME]
        return [command.name for command in COMMANDS] + extra

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        entry = BY_NAME.get(cmd_name)
        if entry is None:
            return None
        if self._listing:  # the help page needs a name and a line, not the command
            return TyperCommand(cmd_name, help=entry.help, short_help=entry.help)
        command = load_command(cmd_name)
        if command is not None:
            self.commands[cmd_name] = command
        return command

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False
