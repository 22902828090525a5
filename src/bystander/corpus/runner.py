"""Run a planned corpus here or on Ray, resuming where an earlier run stopped."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from bystander._version import __version__
from bystander.corpus.inputs import PlannedCorpus
from bystander.corpus.report import CorpusItem, CorpusReport, CorpusTotals, NodeThroughput
from bystander.corpus.state import check_finished, remove_stale_partials, settings_fingerprint
from bystander.corpus.worker import FileTask, WorkerConfig, make_worker
from bystander.jobs.protect import ProtectSettings

if TYPE_CHECKING:
    from bystander.provenance.pki import DeviceIdentity

#: called after each file is settled (done, skipped or failed)
OnItem = Callable[[CorpusItem], None]


@dataclass(frozen=True)
class _Outcome:
    task: FileTask
    value: dict[str, Any] | None
    error: str | None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _from_item(item: dict[str, Any] | None) -> dict[str, Any]:
    if not item:
        return {}
    summary = item.get("summary") or {}
    return {
        "kind": item.get("kind"),
        "frames": summary.get("frames"),
        "regions_redacted": summary.get("regions_redacted"),
        "whole_frames_redacted": summary.get("whole_frames_redacted"),
    }


def _run_local(tasks: list[FileTask], config: WorkerConfig) -> Iterator[_Outcome]:
    worker = None
    for task in tasks:
        try:
            if worker is None:
                worker = make_worker(config)
            yield _Outcome(task, worker(task), None)
        except Exception as exc:  # the file fails alone; its reason in one line
            yield _Outcome(task, None, _one_line(exc))


def _run_ray(
    tasks: list[FileTask],
    config: WorkerConfig,
    address: str | None,
    workers: int | None,
    pool: dict[str, int],
) -> Iterator[_Outcome]:
    """Outcomes as Ray workers finish them; ``pool["workers"]`` is set to the actors used."""
    import ray

    from bystander.screening.ray_pool import connect, run_on_ray

    if config.settings.threads is None:  # one inference thread per actor, one actor per CPU
        config = replace(config, settings=replace(config.settings, threads=1))
    started = connect(address, workers or _local_cpus())
    try:
        cpus = ray.cluster_resources().get("CPU", 1)  # type: ignore[no-untyped-call]
        count = workers or max(1, int(cpus))
        pool["workers"] = count
        make = functools.partial(make_worker, config)
        for result in run_on_ray(tasks, make, address=address, workers=count):
            yield _Outcome(tasks[result.index], result.value, result.error)
    finally:
        if started:
            ray.shutdown()


def _local_cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1


def run_corpus(
    planned: PlannedCorpus,
    output: Path,
    settings: ProtectSettings,
    identity: DeviceIdentity | None = None,
    *,
    engine: Literal["local", "ray"] = "local",
    address: str | None = None,
    workers: int | None = None,
    overwrite: bool = False,
    on_item: OnItem | None = None,
) -> CorpusReport:
    """Protect every job of ``planned`` into ``output``; one ``CorpusReport`` for all.

    Files finished by an earlier run (same settings, output hash and signature verified) are
    skipped unless ``overwrite``. An existing output that no corpus run made is a failure
    of that file unless ``overwrite``. Any other failure fails its file alone.
    """
    started = time.perf_counter()
    output = Path(output)
    signed = identity is not None
    fingerprint = settings_fingerprint(settings.describe(), signed)
    trust_root = identity.root_path if identity is not None else None
    items: list[CorpusItem] = []

    def settle(item: CorpusItem) -> None:
        items.append(item)
        if on_item is not None:
            on_item(item)

    for source, reason in planned.rejected:
        settle(CorpusItem(input=source, output=None, status="failed", error=reason))
    tasks: list[FileTask] = []
    reasons: dict[str, str] = {}
    stale = 0
    for job in planned.jobs:
        target = job.target(output)
        status = check_finished(output, job.rel, fingerprint, trust_root)
        where = {"input": str(job.source), "output": str(job.rel)}
        if status.finished and not overwrite:
            fields = {**where, "reason": status.reason, "signed": signed}
            settle(
                CorpusItem.model_validate(
                    {**fields, **_from_item(status.item), "status": "skipped"}
                )
            )
        elif target.exists() and not status.ours and not overwrite:
            error = f"output exists: {target} (not from a corpus run; use --overwrite)"
            settle(CorpusItem.model_validate({**where, "status": "failed", "error": error}))
        else:
            stale += remove_stale_partials(target)
            tasks.append(FileTask(str(job.source), str(job.rel), replace=target.exists()))
            reasons[str(job.rel)] = "overwrite" if overwrite else status.reason
    config = WorkerConfig(
        settings,
        str(output),
        fingerprint,
        str(identity.directory) if identity is not None else None,
    )
    pool = {"workers": 1}
    worker_cpu: dict[tuple[str, str], float] = {}  # (node, worker) -> its CPU time so far
    if engine == "ray" and tasks:
        outcomes = _run_ray(tasks, config, address, workers, pool)
    else:
        outcomes = _run_local(tasks, config)
    detector: dict[str, object] | None = None
    for outcome in outcomes:
        where = {"input": outcome.task.source, "output": outcome.task.rel}
        if outcome.value is None:
            error = outcome.error or "unknown error"
            settle(CorpusItem.model_validate({**where, "status": "failed", "error": error}))
            continue
        value = outcome.value
        detector = detector or value.get("detector")
        worker = (str(value.get("node")), str(value.get("worker")))
        worker_cpu[worker] = max(worker_cpu.get(worker, 0.0), value.get("worker_cpu_total") or 0.0)
        done = {
            **where,
            "status": "done",
            "reason": reasons.get(outcome.task.rel),
            **{key: value.get(key) for key in ("signed", "node", "seconds", "cpu_seconds")},
            **_from_item(value.get("item")),
        }
        settle(CorpusItem.model_validate(done))
    seconds = time.perf_counter() - started
    totals = CorpusTotals(
        files=len(items),
        done=sum(i.status == "done" for i in items),
        skipped=sum(i.status == "skipped" for i in items),
        failed=sum(i.status == "failed" for i in items),
    )
    return CorpusReport(
        bystander_version=__version__,
        engine=engine,
        address=address,
        workers=pool["workers"],
        output=str(output),
        settings=settings.describe(),
        detector=detector,
        totals=totals,
        seconds=round(seconds, 3),
        files_per_second=round(totals.done / seconds, 3) if seconds > 0 else 0.0,
        nodes=node_throughput(items, seconds, worker_cpu),
        stale_partials_removed=stale,
        items=items,
    )


def node_throughput(
    items: list[CorpusItem], seconds: float, worker_cpu: dict[tuple[str, str], float]
) -> list[NodeThroughput]:
    """Files, busy and CPU time per node: what one more node of the same kind would add."""
    nodes: dict[str, list[CorpusItem]] = {}
    for item in items:
        if item.status == "done" and item.node is not None:
            nodes.setdefault(item.node, []).append(item)
    rows = []
    for node, done in sorted(nodes.items()):
        busy = sum(i.seconds or 0.0 for i in done)
        rows.append(
            NodeThroughput(
                node=node,
                files=len(done),
                busy_seconds=round(busy, 3),
                files_per_second=round(len(done) / seconds, 3) if seconds > 0 else 0.0,
                files_per_busy_second=round(len(done) / busy, 3) if busy else 0.0,
                cpu_seconds=round(sum(i.cpu_seconds or 0.0 for i in done), 3),
                worker_cpu_seconds=round(
                    sum(cpu for (n, _), cpu in worker_cpu.items() if n == node), 3
                ),
            )
        )
    return rows
