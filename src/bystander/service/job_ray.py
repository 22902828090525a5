"""Job work on a Ray cluster (``bystander serve --ray``): for when protecting outgrows one machine.

Each job worker thread of ``JobRunner`` owns one ``RaySlot``: a Ray actor (one CPU) that runs
one job at a time, on whichever node the cluster places it. Only ``portable`` tasks go there
(work that reads and writes plain files at the top of its folder and nothing else: protect); the
others stay in the server's worker processes. A node need not share the server's disk: the slot
sends the job's files (the upload) to the actor, which works in a private temporary folder
(0700, removed afterwards; one left by an actor that was killed, with the server or by
``RaySlot.close``, is removed by the next actor started on that node) and sends back the files
the work wrote. They are published into the job's folder, each under a temporary name renamed
into place, only once the whole job succeeded: a failed or interrupted job leaves nothing. The
upload itself stays the server's, so its deletion when the job ends is logged as for any job.
The thread polls the actor for progress twice a second. An actor that dies fails its job (as a
worker process that dies) and is replaced for the next one. A cluster is joined
(``--ray-address``) or started for the server (``bystander.screening.ray_pool.connect``); actors
die with the server that owns them, so after a restart the unfinished jobs are queued again like
any others.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from bystander.fsutil import private_directory
from bystander.service.job_model import JobInfo, Progress, Task
from bystander.service.messages import public_line

_POLL_S = 0.5
_started_here = False
_lock = threading.Lock()


def connect_cluster(address: str | None, workers: int) -> None:
    """Join ``address`` or start a local cluster with ``workers`` CPUs (once per process)."""
    global _started_here
    from bystander.screening.ray_pool import connect

    with _lock:
        _started_here = connect(address, workers) or _started_here


def disconnect_cluster() -> None:
    """Stop the local cluster this process started (a joined one keeps running)."""
    global _started_here
    with _lock:
        if _started_here:
            import ray

            ray.shutdown()
            _started_here = False


def work_root() -> Path:
    """This node's folder of actors' job folders (0700, this user's; refused otherwise)."""
    root = Path(tempfile.gettempdir()) / f"bystander-ray-jobs-{os.getuid()}"
    if not private_directory(root):
        raise RuntimeError(f"unsafe Ray work folder {root.name} (not a private directory)")
    return root


def process_tag(pid: int) -> str | None:
    """``PID.START``: a process's id and start time (clock ticks since boot), which together
    name one process even after its pid is reused; None when no such process runs."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat_line[stat_line.rindex(")") + 2 :].split()
    return f"{pid}.{fields[19]}"  # field 22 of stat(5), counted after the command name


def sweep_dead_folders(root: Path) -> list[str]:
    """Remove job folders (and the uploads in them) left by actors that no longer run."""
    removed: list[str] = []
    if process_tag(os.getpid()) is None:  # no /proc: liveness unknown, remove nothing
        return removed
    for entry in root.iterdir():
        tag = entry.name.split("-", 1)[0]
        pid = tag.split(".", 1)[0]
        if not pid.isdigit() or process_tag(int(pid)) == tag:
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry.name)
    return removed


class _JobActor:
    """Runs one job at a time in a temporary folder; answers progress meanwhile."""

    def __init__(self) -> None:
        from bystander.service.native import prime_native_bindings

        prime_native_bindings()
        self.root = work_root()
        self.tag = process_tag(os.getpid()) or str(os.getpid())
        sweep_dead_folders(self.root)
        self.share, self.message = 0.0, ""

    def progress(self) -> tuple[float, str]:
        return self.share, self.message

    def run(self, task: Task, job: JobInfo, inputs: dict[str, bytes]) -> tuple[bool, Any]:
        """(True, (result, written files, node)) or (False, a one-line error)."""
        self.share, self.message = 0.0, ""

        def progress(share: float, message: str = "") -> None:
            self.share, self.message = float(share), str(message)[:200]

        try:
            with tempfile.TemporaryDirectory(prefix=f"{self.tag}-", dir=self.root) as tmp:
                folder = Path(tmp)
                for name, data in inputs.items():
                    (folder / name).write_bytes(data)
                    os.chmod(folder / name, 0o600)
                result = task.build(replace(job, folder=str(folder)))(progress)
                written = {p.name: p.read_bytes() for p in sorted(folder.iterdir())
                           if p.is_file() and p.name not in inputs}  # fmt: skip
        except Exception as exc:
            return False, public_line(exc)
        import ray

        return True, (result, written, str(ray.get_runtime_context().get_node_id())[:12])


class RaySlot:
    """One actor on the cluster and the job folder's files to and from it."""

    def __init__(self) -> None:
        self._actor: Any = None

    def run(self, task: Task, job: JobInfo, progress: Progress) -> dict[str, Any]:
        import ray

        folder = Path(job.folder)
        inputs = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
        actor = self._ensure(ray)
        try:
            ref = actor.run.remote(task, job, inputs)
            del inputs
            while not ray.wait([ref], timeout=_POLL_S)[0]:
                progress(*ray.get(actor.progress.remote()))
            ok, value = ray.get(ref)
        except ray.exceptions.RayActorError:
            self.close()
            raise RuntimeError("the Ray worker died") from None
        if not ok:
            raise RuntimeError(value)
        result, written, node = value
        _publish(folder, written)
        return dict(result) | {"ray_node": node}

    def close(self) -> None:
        actor, self._actor = self._actor, None
        if actor is not None:
            import ray

            with contextlib.suppress(Exception):
                ray.kill(actor)

    def _ensure(self, ray: Any) -> Any:
        if self._actor is None:
            remote = ray.remote(num_cpus=1, max_restarts=0, max_concurrency=2)(_JobActor)
            self._actor = remote.remote()
        return self._actor


def _publish(folder: Path, written: dict[str, bytes]) -> None:
    """Every file, each renamed into place once complete (0600); none if one fails."""
    temps: list[tuple[Path, Path]] = []
    try:
        for name, data in written.items():
            if "/" in name or name.startswith("."):
                raise RuntimeError("the Ray worker returned an unsafe file name")
            temp = folder / f".{name}.ray-partial"
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            temps.append((temp, folder / name))
    except BaseException:
        for temp, _ in temps:
            temp.unlink(missing_ok=True)
        raise
    for temp, target in temps:
        os.replace(temp, target)
