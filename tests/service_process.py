"""A real `bystander serve` process on loopback for the hostile-client and restart tests.

``ServerProcess`` starts the CLI in a subprocess (its own BYSTANDER_HOME, a SQLite file or a
private PostgreSQL schema), reads the port from its start-up line, and creates tokens with
``bystander token create`` on the same database.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import Engine, text

from bystander.evidence.db import make_engine


@contextmanager
def database_url(kind: str, home: Path) -> Iterator[str]:
    """A SQLite file in ``home``, or a private schema in BYSTANDER_TEST_POSTGRES_URL."""
    if kind == "sqlite":
        yield f"sqlite:///{home / 'bystander.db'}"
        return
    base = os.environ["BYSTANDER_TEST_POSTGRES_URL"]
    schema = f"hostile_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    joiner = "&" if "?" in base else "?"
    try:
        yield f"{base}{joiner}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@dataclass
class ServerProcess:
    home: Path
    database: str
    args: tuple[str, ...] = ()
    proc: subprocess.Popen[str] | None = None
    url: str = ""
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ, BYSTANDER_HOME=str(self.home))
        env.pop("BYSTANDER_DATABASE_URL", None)
        return env

    def cli(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "bystander", *args], env=self.env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    def token(self, role: str, subject: str | None = None) -> str:
        args = ["token", "create", "--role", role, "--database", self.database, "--json"]
        if subject:
            args += ["--subject", subject]
        secret: str = json.loads(self.cli(*args))["token"]
        return secret

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        # files, not pipes: a pipe nobody drains fills up and blocks the server
        out_path = self.home.parent / "serve.out"
        out_path.write_text("")
        with (self.home.parent / "serve.log").open("a") as log, out_path.open("a") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bystander", "serve", "--port", "0",
                 "--database", self.database, *self.args],
                env=self.env, stdout=out, stderr=log, text=True,
            )  # fmt: skip
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            for line in out_path.read_text().splitlines():
                if "listening on" in line:
                    self.url = line.split("listening on ", 1)[1].split()[0].rstrip("/")
                    return
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited: {self.log()[-2000:]}")
            time.sleep(0.05)
        raise AssertionError("serve printed no start-up line")

    def log(self) -> str:
        path = self.home.parent / "serve.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        """Send ``sig`` and wait (SIGKILL after 60 s); the exit status."""
        if self.proc is None:
            return None
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(timeout=30)
        self.proc = None
        return code

    def client(self, who: str | None = None, **kwargs: object) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        kwargs.setdefault("timeout", 60)
        return httpx.Client(base_url=self.url, headers=headers,
                            **kwargs)  # type: ignore[arg-type]  # fmt: skip

    def engine(self) -> Engine:
        return make_engine(self.database)


def wait_job(client: httpx.Client, job_id: str, timeout: float = 180) -> dict[str, object]:
    """The job once it is done or failed. A poll that times out is asked again until the
    deadline: what is tested is that the job ends, not how fast a loaded server answers
    (a server that stops answering still fails at the deadline)."""
    deadline = time.monotonic() + timeout
    job: dict[str, object] = {}
    while time.monotonic() < deadline:
        try:
            job = client.get(f"/api/jobs/{job_id}").json()
        except httpx.TimeoutException:
            continue
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {job}")
