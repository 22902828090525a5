"""The per-file work of a corpus, the same in this process and on a Ray worker.

A worker loads the detector (and the signing identity) once, then protects file after file
with ``Protector``: the output is written to a temporary name, signed, recorded in its
sidecar (``bystander.corpus.state``) and only then renamed into place, so a worker killed at
any point leaves no half-written output under a final name.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bystander.corpus.state import write_sidecar
from bystander.jobs.protect import Protector, ProtectSettings
from bystander.vision.detectors import FaceDetector
from bystander.vision.report import ItemReport


@dataclass(frozen=True)
class WorkerConfig:
    """What every worker needs (pickled to Ray actors)."""

    settings: ProtectSettings
    output: str
    fingerprint: str
    identity_dir: str | None = None  # None: outputs are not signed


@dataclass(frozen=True)
class FileTask:
    """One file to protect; ``replace`` when an earlier run's output is to be replaced."""

    source: str
    rel: str
    replace: bool = False


#: called with (finished temporary output, target, its report, whether it was signed)
Recorder = Callable[[Path, Path, ItemReport, bool], None]


class _RecordingProtector(Protector):
    """A ``Protector`` that writes the sidecar once the output is complete and signed, just
    before ``atomic_output`` publishes it."""

    def __init__(self, *args: Any, record: Recorder, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._record = record

    def _sign(self, temp: Path, target: Path, item: ItemReport, detector: FaceDetector) -> None:
        super()._sign(temp, target, item, detector)
        signed = self.identity is not None and target not in self.unsigned
        self._record(temp, target, item, signed)


def node_name() -> str:
    """The Ray node this runs on (its id's first 12 characters), else ``local``."""
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        try:
            return str(ray.get_runtime_context().get_node_id())[:12]
        except Exception:  # pragma: no cover - outside a task
            pass
    return "local"


class CorpusWorker:
    """Protects ``FileTask``s into ``config.output``; one detector for all of them."""

    def __init__(self, config: WorkerConfig) -> None:
        identity = None
        if config.identity_dir is not None:
            from bystander.provenance.pki import load_identity

            identity = load_identity(Path(config.identity_dir))
        self.config = config
        self.output = Path(config.output)
        self._protectors: dict[bool, Protector] = {}
        self._identity = identity
        self.node = node_name()
        self.host = f"{socket.gethostname()}:{os.getpid()}"

    def _protector(self, overwrite: bool) -> Protector:
        found = self._protectors.get(overwrite)
        if found is None:
            detector = next((p.detector for p in self._protectors.values()), None)
            settings = replace(self.config.settings, overwrite=overwrite)
            found = _RecordingProtector(settings, detector, self._identity, record=self._record)
            self._protectors[overwrite] = found
        return found

    def _record(self, temp: Path, target: Path, item: ItemReport, signed: bool) -> None:
        rel = target.relative_to(self.output)
        dump = item.model_dump(mode="json")
        write_sidecar(self.output, rel, temp, self.config.fingerprint, signed, dump)

    def __call__(self, task: FileTask) -> dict[str, Any]:
        """Protect one file; raises (with a one-line message) when it fails."""
        started, cpu = time.perf_counter(), time.process_time()
        protector = self._protector(task.replace)
        source, target = Path(task.source), self.output / task.rel
        item = protector.protect_file(source, target)
        return {
            "item": item.model_dump(mode="json", exclude={"frames"}),
            "signed": self._identity is not None and target not in protector.unsigned,
            "detector": protector.detector.describe(),
            "node": self.node,
            "worker": self.host,
            "seconds": round(time.perf_counter() - started, 4),
            "cpu_seconds": round(time.process_time() - cpu, 4),
            # all CPU this worker process used so far (start-up and model loading included)
            "worker_cpu_total": round(time.process_time(), 4),
        }


def make_worker(config: WorkerConfig) -> Callable[[FileTask], dict[str, Any]]:
    """For ``run_on_ray``: built once on each actor (that is where the detector loads)."""
    return CorpusWorker(config)
