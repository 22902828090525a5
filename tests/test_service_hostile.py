"""A hostile client against a real `bystander serve` process on loopback (SQLite, and
PostgreSQL when BYSTANDER_TEST_POSTGRES_URL is set): server-file probes through capture
profiles, YAML alias bombs, zip and tar.gz bombs, unauthenticated and oversized bodies,
giant-pixel images, huge JSON, CSRF, malformed JSON and numbers. Every attack must be refused
or bounded, answer JSON without server paths, write nothing outside the service's folders,
and leave ``/health`` responsive throughout."""

from __future__ import annotations

import io
import os
import socket
import stat
import struct
import tarfile
import threading
import time
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bystander.evidence.audit import AuditLog
from bystander.evidence.events import EventType
from bystander.measure.synthetic import SyntheticClip
from bystander.service.dashboard import DEFAULT_PROFILE
from tests.service_process import ServerProcess, database_url, wait_job

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


class HealthWatch:
    """Polls /health every 20 ms from a thread; keeps every latency."""

    def __init__(self, url: str) -> None:
        self.url, self.failures = url, 0
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self._stop.is_set():
                started = time.perf_counter()
                try:
                    ok = client.get("/health").status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.latencies.append(time.perf_counter() - started)
                self.failures += not ok
                self._stop.wait(0.02)

    def stop(self) -> tuple[float, float]:
        self._stop.set()
        self._thread.join(timeout=30)
        ordered = sorted(self.latencies)
        return ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[ServerProcess]:  # fmt: skip
    if request.param == "postgres" and not os.environ.get("BYSTANDER_TEST_POSTGRES_URL"):
        pytest.skip("BYSTANDER_TEST_POSTGRES_URL is not set")
    home = tmp_path_factory.mktemp("hostile") / "home"
    home.mkdir()
    with database_url(request.param, home) as url:
        proc = ServerProcess(home, url)
        proc.tokens = {r: proc.token(r) for r in ("admin", "device", "auditor", "moderator")}
        proc.tokens["alice"] = proc.token("subject", "ds-alice")
        proc.start()
        watch = HealthWatch(proc.url)
        try:
            yield proc
        finally:
            median, p99 = watch.stop()
            proc.stop()
        print(f"\n/health during the hostile suite: median {median * 1000:.1f} ms, "
              f"p99 {p99 * 1000:.1f} ms over {len(watch.latencies)} requests")  # fmt: skip
        assert watch.failures == 0
        assert p99 < 0.5, f"/health p99 {p99:.3f} s while under attack"


def _json_error(response: httpx.Response, status: int | tuple[int, ...], home: Path) -> str:
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json"), response.text[:200]
    detail: str = response.json()["detail"]
    assert str(home) not in detail and "/tmp" not in detail and "/etc" not in detail, detail
    return detail


def _health_fast(server: ServerProcess) -> None:
    started = time.perf_counter()
    assert httpx.get(server.url + "/health", timeout=10).status_code == 200
    assert time.perf_counter() - started < 1.0


# --- (a) server files through capture profiles ------------------------------------------------


def test_capture_profiles_cannot_name_server_files(server: ServerProcess, demo_clip: SyntheticClip
                                                   ) -> None:  # fmt: skip
    secret = server.home / "secret.yaml"
    secret.write_text("CN:\n  secret-key-material-AAAA: {capture: false}\n")
    zones = server.home / "zone-policies"
    zones.mkdir(exist_ok=True)
    fifo = zones / "fifo.yaml"
    if not fifo.exists():
        os.mkfifo(fifo)
    (zones / "link.yaml").unlink(missing_ok=True)
    (zones / "link.yaml").symlink_to(secret)
    clip = demo_clip.path.read_bytes()
    with server.client("device") as client:
        for reference in (str(secret), "/etc/passwd", "../secret", str(fifo), "fifo", "link",
                          "nonexistent", "/dev/zero"):  # fmt: skip
            profile = DEFAULT_PROFILE.replace("zone_policy: default", f"zone_policy: {reference}")
            started = time.perf_counter()
            answer = client.post("/api/capture/sessions", data={"profile": profile},
                                 files={"source": ("c.mp4", clip)})  # fmt: skip
            detail = _json_error(answer, 400, server.home)
            assert "AAAA" not in detail and "secret-key" not in detail
            assert time.perf_counter() - started < 5
            _health_fast(server)
    assert not list((server.home / "service" / "capture").glob("*/input.*")) if (
        server.home / "service" / "capture").exists() else True


def test_yaml_alias_bombs_are_refused(server: ServerProcess, demo_clip: SyntheticClip) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n"
        for i in range(9)
    )
    with server.client("device") as client:
        answer = client.post("/api/capture/sessions", data={"profile": DEFAULT_PROFILE + bomb},
                             files={"source": ("c.mp4", demo_clip.path.read_bytes())})  # fmt: skip
        assert "aliases" in _json_error(answer, 400, server.home)
    # the same bomb as an evidence bundle's device profile: the job fails, quickly, in bounds
    example = Path(__file__).resolve().parents[1] / "examples" / "bundles" / "glasses-compliant"
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as out:
        for path in sorted(example.rglob("*")):
            if path.is_file():
                data = path.read_bytes()
                if path.name == "manifest.yaml":
                    data += b"\n" + bomb.replace("a:", "x_bomb:", 1).encode()
                out.writestr(str(path.relative_to(example)), data)
    with server.client("auditor") as client:
        started = client.post("/api/inspections", files={"file": ("b.zip", archive.getvalue())})
        assert started.status_code == 202, started.text
        job = wait_job(client, started.json()["id"], timeout=60)
    assert job["state"] == "failed" and "alias" in str(job["message"]), job
    assert str(server.home) not in str(job["message"])
    _health_fast(server)


# --- (c) resource exhaustion ------------------------------------------------------------------


def _zip_bomb(size: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("manifest.yaml", "bundle: 1\n")
        with out.open("big.bin", "w") as member:
            chunk = bytes(1 << 20)
            for _ in range(size >> 20):
                member.write(chunk)
    return buffer.getvalue()


def _tar_bomb(size: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as out:
        info = tarfile.TarInfo("big.bin")
        info.size = size

        class Zeros:
            left = size

            def read(self, n: int = -1) -> bytes:
                n = self.left if n < 0 else min(n, self.left)
                self.left -= n
                return bytes(n)

        out.addfile(info, Zeros())
    return buffer.getvalue()


def test_archive_bombs_are_bounded(server: ServerProcess) -> None:
    bombs = {"zip": _zip_bomb(1 << 30), "tgz": _tar_bomb(1 << 30)}
    assert all(len(b) < 2 << 20 for b in bombs.values())  # ~1 MB each, 1 GB unpacked
    many = io.BytesIO()
    with zipfile.ZipFile(many, "w") as out:
        for n in range(10_001):
            out.writestr(f"f{n}", b"")
    slip = io.BytesIO()
    with zipfile.ZipFile(slip, "w") as out:
        out.writestr("../../escaped.txt", b"x")
    before = _disk_usage(server.home)
    inspect_folder = server.home / "service" / "inspect"
    existing = set(inspect_folder.iterdir()) if inspect_folder.exists() else set()
    with server.client("auditor") as client:
        for name, data in [*bombs.items(), ("many", many.getvalue()), ("slip", slip.getvalue())]:
            started = time.perf_counter()
            answer = client.post("/api/inspections", files={"file": (f"{name}.bin", data)})
            detail = _json_error(answer, 400, server.home)
            assert time.perf_counter() - started < 30, name
            assert "bundle" in detail, detail
            _health_fast(server)
    assert _disk_usage(server.home) - before < 50 << 20  # nothing big stayed behind
    assert not (server.home.parent / "escaped.txt").exists()
    assert set(inspect_folder.iterdir()) == existing  # refused uploads leave no folder


def _disk_usage(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _raw(server: ServerProcess, head: str, body: bytes = b"",
         wait: float = 10) -> tuple[int, float]:  # fmt: skip
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    started = time.perf_counter()
    with socket.create_connection((host, int(port)), timeout=wait) as sock:
        sock.sendall(head.encode() + b"\r\n\r\n" + body)
        reply = sock.recv(4096).decode("latin-1")
    return int(reply.split()[1]), time.perf_counter() - started


def test_huge_bodies_are_refused_before_they_are_read(server: ServerProcess) -> None:
    two_gb = 2 * 1024**3
    head = (f"POST /api/protect HTTP/1.1\r\nHost: x\r\nContent-Length: {two_gb}\r\n"
            "Content-Type: multipart/form-data; boundary=b")  # fmt: skip
    status, took = _raw(server, head, b"--b\r\n")
    assert status == 401 and took < 2  # no token: refused before a byte is spooled
    auth = f"\r\nAuthorization: Bearer {server.tokens['device']}"
    status, took = _raw(server, head + auth, b"--b\r\n")
    assert status == 413 and took < 2  # a token, but over the upload cap
    json_head = (f"POST /api/consent HTTP/1.1\r\nHost: x\r\nContent-Length: {150 << 20}\r\n"
                 f"Content-Type: application/json{auth}")  # fmt: skip
    status, took = _raw(server, json_head, b"{")
    assert status == 413 and took < 2
    # chunked, no Content-Length: cut off at the cap while streaming
    with server.client("device") as client:

        def chunks() -> Iterator[bytes]:
            yield b'{"subject_id": "ds-x", "scopes": ["record-video"], "purposes": ["'
            for _ in range(64):
                yield b"x" * 65536
            yield b'"]}'

        answer = client.post("/api/consent", content=chunks(),
                             headers={"Content-Type": "application/json"})  # fmt: skip
        _json_error(answer, 413, server.home)
        many = {"subject_id": "ds-x", "scopes": ["record-video"], "purposes": ["p"] * 33}
        _json_error(client.post("/api/consent", json=many), 422, server.home)
        long = {"subject_id": "ds-x", "scopes": ["record-video"], "purposes": ["p" * 201]}
        _json_error(client.post("/api/consent", json=long), 422, server.home)
    _health_fast(server)


def _png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))  # fmt: skip

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(bytes(width * 3 + 1) * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_giant_pixel_images_are_refused_before_decoding(server: ServerProcess) -> None:
    with server.client("device") as client:
        started = time.perf_counter()
        answer = client.post("/api/enrolment", data={"subject_id": "ds-alice"},
                             files={"photo": ("p.png", _png_header(16000, 7000))})  # fmt: skip
        assert "pixels" in _json_error(answer, 413, server.home)
        assert time.perf_counter() - started < 3
    _health_fast(server)
    enrol = server.home / "service" / "enrol"
    assert not enrol.exists() or not any(enrol.iterdir())  # the photo was not kept


# --- (d) CSRF, cookies, headers ---------------------------------------------------------------


def _login(server: ServerProcess, who: str) -> httpx.Client:
    client = server.client()
    page = client.get("/login")
    csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    done = client.post("/login", data={"token": server.tokens[who], "csrf": csrf},
                       headers={"Origin": server.url})  # fmt: skip
    assert done.status_code in (200, 303), done.text
    return client


def test_csrf_and_cookie_rules(server: ServerProcess) -> None:
    with server.client("device") as device:
        record = device.post("/api/consent", json={"subject_id": "ds-csrf",
                                                   "scopes": ["record-video"]}).json()  # fmt: skip
    # login itself needs its form token (login CSRF)
    with server.client() as anonymous:
        refused = anonymous.post("/login", data={"token": server.tokens["admin"]})
        assert refused.status_code == 403
    client = _login(server, "admin")
    cookie = client.cookies.get("bystander_token")
    assert cookie
    # the API never takes the cookie
    assert client.get("/api/consent").status_code == 401
    assert client.post(f"/api/consent/{record['id']}/withdraw").status_code == 401
    page = client.get("/consents").text
    token = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    withdraw = f"/consents/{record['id']}/withdraw"
    # a cross-site form post with the cookie: refused by Origin even with the right token
    cross = client.post(withdraw, data={"csrf": token}, headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403
    # same origin but no token, or another session's token: refused
    assert client.post(withdraw, data={"csrf": ""}).status_code == 403
    other = _login(server, "device")
    other_token = other.get("/consents").text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    assert other_token != token
    assert client.post(withdraw, data={"csrf": other_token}).status_code == 403
    # the dashboard's own calls need the header token
    assert client.get("/ui/api/jobs/x").status_code == 404
    assert client.post("/ui/api/capture/sessions/x/stop").status_code == 403
    with server.client("device") as device:
        assert '"withdrawn"' not in device.get(f"/api/consent/{record['id']}").text  # refused
    ok = client.post(withdraw, data={"csrf": token}, headers={"Origin": server.url})
    assert ok.status_code in (200, 303)
    with server.client("device") as device:
        assert '"withdrawn"' in device.get(f"/api/consent/{record['id']}").text
    other.close()
    client.close()


def test_security_headers_and_secure_cookies(server: ServerProcess) -> None:
    with server.client() as client:
        for path in ("/health", "/login", "/api/consent", "/nope"):
            headers = client.get(path).headers
            assert "frame-ancestors 'none'" in headers["content-security-policy"], path
            assert headers["x-content-type-options"] == "nosniff", path
            assert headers["x-frame-options"] == "DENY", path
        # cookies are Secure when the request came over https (behind a local proxy)
        assert "secure" not in client.get("/login").headers["set-cookie"].lower()
        proxied = client.get("/login", headers={"X-Forwarded-Proto": "https"})
        assert "; secure" in proxied.headers["set-cookie"].lower()


# --- (e) rough edges --------------------------------------------------------------------------


def test_malformed_json_and_numbers_answer_json_4xx(server: ServerProcess) -> None:
    with server.client("device") as client:
        nan = client.post("/api/consent", content=b'{"subject_id": NaN, "scopes": [NaN]}',
                          headers={"Content-Type": "application/json"})  # fmt: skip
        _json_error(nan, 422, server.home)
        _json_error(client.post("/api/consent", content=b"{", headers={
            "Content-Type": "application/json"}), (400, 422), server.home)  # fmt: skip
    with server.client("auditor") as client:
        for query in ("start=1e23", "start=99999999999999999999999", "start=-1", "limit=NaN"):
            _json_error(client.get(f"/api/audit/events?{query}"), 422, server.home)
        _json_error(client.get("/api/audit/proofs/inclusion?index=1e300"), 422, server.home)


def test_refusals_are_audited(server: ServerProcess) -> None:
    httpx.get(server.url + "/api/consent", headers={"Authorization": "Bearer bst_nope_x"})
    with server.client("alice") as alice:
        assert alice.get("/api/consent/no-such-record").status_code == 404
    engine = server.engine()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            denied = [e.event.data for e in AuditLog(engine).entries()
                      if e.event.type is EventType.API_ACCESS_DENIED]  # fmt: skip
            statuses = {d.get("status") for d in denied}
            if {401, 404} <= statuses:
                break
            time.sleep(0.2)
        assert {401, 404} <= statuses, denied[-5:]
    finally:
        engine.dispose()


# --- (b) originals, permissions ---------------------------------------------------------------


def test_originals_are_destroyed_when_their_job_ends(server: ServerProcess,
                                                     demo_clip: SyntheticClip) -> None:  # fmt: skip
    with server.client("device") as client:
        clip = demo_clip.path.read_bytes()
        started = client.post("/api/protect", files={"file": ("c.mp4", clip)})
        assert started.status_code == 202, started.text
        job = wait_job(client, started.json()["id"])
        assert job["state"] == "done" and job["progress"] == 1.0, job
        output = client.get(f"/api/jobs/{job['id']}/files/output")
        assert output.status_code == 200 and output.content[4:8] == b"ftyp"
    protect = server.home / "service" / "protect"
    assert list(protect.glob("*/input.*")) == []  # the unredacted original is gone
    for folder in protect.iterdir():
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        for path in folder.iterdir():
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
    assert stat.S_IMODE(server.home.stat().st_mode) == 0o700
    if server.database.startswith("sqlite"):
        for suffix in ("", "-wal"):
            database = server.home / f"bystander.db{suffix}"
            if database.exists():
                assert stat.S_IMODE(database.stat().st_mode) == 0o600, database
    engine = server.engine()
    try:
        deleted = [e.event.data for e in AuditLog(engine).entries()
                   if e.event.type is EventType.RETENTION_DELETED]  # fmt: skip
    finally:
        engine.dispose()
    assert any(d.get("data_category") == "user.media.recording.original" for d in deleted)


# --- (g) documents ----------------------------------------------------------------------------


def test_documents_need_a_token_and_work_offline(server: ServerProcess) -> None:
    with server.client() as anonymous:
        assert anonymous.get("/openapi.json").status_code == 401
        assert anonymous.get("/docs").status_code == 303
        assert anonymous.get("/redoc").status_code == 303
    with server.client("auditor") as client:
        document = client.get("/openapi.json").json()
        page = client.get("/docs").text
        assert "cdn" not in page.lower() and "/docs-assets/swagger-ui-bundle.js" in page
        script = client.get("/docs-assets/swagger-ui-bundle.js")
        assert script.status_code == 200 and len(script.content) > 100_000
        assert client.get("/docs-assets/redoc.standalone.js").status_code == 200
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"]["scheme"].lower() == "bearer"
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if path == "/health":
                continue
            assert {"401", "403", "404"} <= set(operation["responses"]), (method, path)
            assert operation.get("security"), (method, path)
    files = document["paths"]["/api/jobs/{job_id}/files/{name}"]["get"]["responses"]["200"]
    assert list(files["content"]) == ["application/octet-stream"]
    preview = document["paths"]["/api/capture/sessions/{job_id}/preview.jpg"]["get"]
    assert list(preview["responses"]["200"]["content"]) == ["image/jpeg"]
