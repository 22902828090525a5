"""`bystander serve` (the HTTP API) and `bystander token ...` (its API tokens).

bystander token create --role admin [--label ops]     # prints the token once
bystander token create --role subject --subject ds-7f3a
bystander token list | revoke TOKEN_ID
bystander serve [--host 127.0.0.1] [--port 8765] [--database URL]   # prints its URL; docs at /docs
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer

from bystander.cli.common import out_console, print_json, user_errors
from bystander.evidence.audit import AuditLog
from bystander.evidence.db import init_db, make_engine
from bystander.service.tokens import Role, TokenStore

token_app = typer.Typer(help="API tokens for `bystander serve` (roles, revocation).",
                        no_args_is_help=True)  # fmt: skip
_DATABASE = typer.Option(
    None, "--database", metavar="URL", help="Database URL (default: BYSTANDER_DATABASE_URL)."
)


@contextmanager
def _tokens(database: str | None) -> Iterator[TokenStore]:
    engine = make_engine(database)
    try:
        init_db(engine)
        yield TokenStore(engine, AuditLog(engine, checkpoint_every=1))
    finally:
        engine.dispose()


@token_app.command("create")
def create_command(
    role: Role = typer.Option(..., "--role", help="admin, device, auditor, moderator, subject"),
    subject: str | None = typer.Option(None, "--subject", help="The data subject (role subject)."),
    label: str = typer.Option("", "--label", help="What the token is for."),
    database: str | None = _DATABASE,
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Create a token; its secret is printed once and only its hash is kept."""
    with user_errors(), _tokens(database) as tokens:
        principal, secret = tokens.create(role, subject_id=subject, label=label)
    if json_out:
        print_json(principal.to_dict() | {"token": secret})
    else:
        out_console.print(f"token {principal.token_id} ({role}): {secret}", highlight=False)


@token_app.command("list")
def list_command(database: str | None = _DATABASE) -> None:
    """Every token (never a secret)."""
    with user_errors(), _tokens(database) as tokens:
        print_json([p.to_dict() | {"revoked": revoked} for p, revoked in tokens.list()])


@token_app.command("revoke")
def revoke_command(token_id: str = typer.Argument(...), database: str | None = _DATABASE) -> None:
    """Revoke a token (at once in this process; within 5 s in a running server)."""
    with user_errors(), _tokens(database) as tokens:
        tokens.revoke(token_id)
    out_console.print(f"revoked {token_id}", highlight=False)


def serve_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8765, "--port", min=0, max=65535, help="0: any free port."),
    database: str | None = _DATABASE,
    workers: int = typer.Option(0, "--workers", min=0, help="Job workers (0: by CPU count)."),
    job_processes: bool = typer.Option(
        True, "--job-processes/--job-threads",
        help="Run protect, screen and inspect jobs in worker processes (default), or on "
        "threads of the server's process.",
    ),
    ray: bool = typer.Option(
        False, "--ray", help="Run protect jobs on a Ray cluster (one actor per worker)."
    ),
    ray_address: str | None = typer.Option(
        None, "--ray-address", metavar="HOST:PORT",
        help="Join this Ray cluster (implies --ray; default: start a local one).",
    ),
    secure_cookies: bool | None = typer.Option(
        None, "--secure-cookies/--no-secure-cookies",
        help="Mark dashboard cookies Secure (default: when the request came over https).",
    ),
) -> None:
    """Serve the HTTP API (consent, audit log, moderation) with token auth."""
    import faulthandler
    import os
    import signal

    import uvicorn

    from bystander.service.app import create_app
    from bystander.service.jobs import default_workers
    from bystander.service.settings import ServiceSettings

    if hasattr(signal, "SIGUSR1"):  # `kill -USR1 PID` prints every thread's stack to stderr
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    os.umask(0o077)  # uploads, results and the database: the service's alone
    settings = ServiceSettings(database_url=database, workers=workers,
                               secure_cookies=secure_cookies,
                               retention_sweep_seconds=3600.0,
                               job_processes=job_processes, ray=ray or bool(ray_address),
                               ray_address=ray_address)  # fmt: skip
    if settings.ray:  # here, on the main thread: Ray takes SIGTERM, uvicorn then takes it back
        from bystander.service.job_ray import connect_cluster

        connect_cluster(ray_address, workers or default_workers())
    config = uvicorn.Config(create_app(settings), host=host, port=port, log_level="warning",
                            proxy_headers=True)  # fmt: skip
    _announcing_server(config).run()


def _announcing_server(config: Any) -> Any:
    """uvicorn's server, printing one line with the URL once the socket is listening."""
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if not self.started:
                return
            for server in self.servers:
                for sock in server.sockets:
                    host, port = sock.getsockname()[:2]
                    shown = f"[{host}]" if ":" in host else host
                    out_console.print(
                        f"bystander serve: listening on http://{shown}:{port}/ "
                        f"(dashboard /, API /api, docs /docs with a token)",
                        highlight=False, soft_wrap=True,
                    )  # fmt: skip
                    return

    return Server(config)


def register(app: typer.Typer) -> None:
    """Add ``serve`` and ``token`` to ``app``."""
    app.command("serve")(serve_command)
    app.add_typer(token_app, name="token")
