"""`bystander protect --corpus|--ray ...`: a corpus as one resumable job, here or on Ray.

Called by ``protect_cmd`` once the protect settings are parsed; the per-file work, the
resume rules and the report live in ``bystander.corpus``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import typer

from bystander.cli.common import (
    err_console,
    out_console,
    print_error,
    print_json,
    progress_enabled,
    signing_identity,
)
from bystander.corpus.report import CorpusItem, CorpusReport
from bystander.errors import InputError
from bystander.fsutil import write_text_atomic
from bystander.jobs.protect import ProtectSettings

REPORT_NAME = "corpus-report.json"

CORPUS_OPTION = typer.Option(
    False,
    "--corpus",
    help="Protect the inputs as one resumable corpus job: a rerun skips files already "
    "finished (output hash and signature verified), failures are listed in one report.",
)
RAY_OPTION = typer.Option(
    False, "--ray", help="Corpus job on Ray, one task per file (local cluster by default)."
)
RAY_ADDRESS_OPTION = typer.Option(
    None,
    "--ray-address",
    metavar="HOST:PORT",
    help="Join this Ray cluster (implies --ray).",
)
WORKERS_OPTION = typer.Option(
    None, "--workers", min=1, max=4096, help="Ray worker actors [default: the cluster's CPUs]."
)
MANIFEST_OPTION = typer.Option(
    [],
    "--manifest",
    help="A text file listing inputs, one a line (relative to the file); implies --corpus.",
)


@contextmanager
def _corpus_progress(enabled: bool, total: int) -> Iterator[CorpusProgress]:
    progress = CorpusProgress(enabled, total)
    try:
        yield progress
    finally:
        progress.close()


class CorpusProgress:
    """One Rich bar over the whole corpus, with counts of done, skipped and failed files."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.counts = {"done": 0, "skipped": 0, "failed": 0}
        self._progress = None
        if enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]corpus"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[counts]}"),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=err_console,
            )
            self._progress.start()
            self._task = self._progress.add_task("corpus", total=total, counts=self._text())

    def _text(self) -> str:
        c = self.counts
        return f"{c['done']} done, {c['skipped']} skipped, {c['failed']} failed"

    def __call__(self, item: CorpusItem) -> None:
        self.counts[item.status] += 1
        if self._progress is not None:
            self._progress.update(self._task, advance=1, counts=self._text())

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()


def run_corpus_command(
    inputs: Sequence[Path],
    manifests: Sequence[Path],
    output: Path,
    settings: ProtectSettings,
    *,
    sign: bool,
    ray: bool,
    address: str | None,
    workers: int | None,
    report: Path | None,
    quiet: bool,
    json_out: bool,
) -> None:
    """Plan, run and report a corpus; exits 1 when any file failed."""
    from bystander.corpus.inputs import plan_corpus
    from bystander.corpus.runner import run_corpus

    if settings.keep_visible:
        raise InputError("--keep-visible is not supported for corpus jobs yet")
    planned = plan_corpus(inputs, manifests, output)
    if not planned.jobs and not planned.rejected:
        raise InputError("no videos or images in the inputs")
    identity = signing_identity() if sign else None
    engine: Literal["local", "ray"] = "ray" if ray or address is not None else "local"
    total = len(planned.jobs) + len(planned.rejected)
    with _corpus_progress(progress_enabled(quiet, json_out), total) as progress:
        result = run_corpus(
            planned,
            output,
            settings,
            identity,
            engine=engine,
            address=address,
            workers=workers,
            overwrite=settings.overwrite,
            on_item=progress,
        )
    target = report or output / REPORT_NAME
    write_text_atomic(target, result.to_json())
    if json_out:
        print_json({"report": str(target), **result.model_dump(by_alias=True, exclude={"items"})})
    elif not quiet:
        out_console.print(summary_line(result), highlight=False)
        out_console.print(f"report: {target}", highlight=False)
    for failure in result.failures:
        print_error(f"{failure.input}: {failure.error}")
    if result.failures:
        raise typer.Exit(1)


def summary_line(result: CorpusReport) -> str:
    t = result.totals
    where = "here" if result.engine == "local" else f"on Ray ({result.workers} workers)"
    return (
        f"corpus: {t.files} file(s): {t.done} protected, {t.skipped} already finished, "
        f"{t.failed} failed, {where} in {result.seconds:.1f} s "
        f"({result.files_per_second:.2f} files/s)"
    )
