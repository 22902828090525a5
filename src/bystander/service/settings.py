"""Settings of `bystander serve`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceSettings:
    """``database_url`` None: SQLite in BYSTANDER_HOME (or BYSTANDER_DATABASE_URL).

    ``secure_cookies`` None: the dashboard's cookies are ``Secure`` when the request came
    over https (behind a proxy: run uvicorn with ``--proxy-headers``); True/False force it.
    ``workers`` 0: sized to the machine (half the CPUs, 2 to 8). ``retention_sweep_seconds``:
    run the retention schedule at start-up and this often (``bystander serve``: hourly).
    ``job_processes``: protect, screen and inspect jobs run in worker processes (one per
    worker), not on threads of the server's process (``bystander serve``: on). ``ray``:
    protect jobs run on Ray actors, on the cluster at ``ray_address`` or on a local one.
    """

    database_url: str | None = None
    max_upload_bytes: int = 512 * 1024 * 1024
    max_json_bytes: int = 256 * 1024
    max_image_pixels: int = 40_000_000
    max_bundle_bytes: int = 256 * 1024 * 1024
    max_bundle_files: int = 10_000
    max_bundle_ratio: int = 100
    secure_cookies: bool | None = None
    workers: int = 0
    retention_sweep_seconds: float | None = None
    job_processes: bool = False
    ray: bool = False
    ray_address: str | None = None
