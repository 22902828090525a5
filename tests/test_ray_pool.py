"""Screening on Ray: one model load per actor, bounded in-flight work, a failing item or a
dying actor isolated, and `bystander screen --ray` giving the same outcomes as in-process."""

from __future__ import annotations

import functools
import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bystander.cli.app import app
from bystander.measure.synthetic import SyntheticClip
from bystander.screening.ray_pool import PoolResult, RayPoolError, run_on_ray
from tests import ray_workers
from tests.helpers import runner

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    """One small local cluster (2 CPUs) for the module; run_on_ray joins it."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             configure_logging=False, logging_level="ERROR")  # fmt: skip
    yield
    ray.shutdown()


def test_a_bad_address_fails_fast_with_one_line() -> None:
    """(Runs before the module's cluster starts: a started Ray is joined as it is.)"""
    pytest.importorskip("ray")
    started = time.monotonic()
    with pytest.raises(RayPoolError, match=r"cannot join the Ray cluster at 127\.0\.0\.1:1"):
        list(run_on_ray([1], ray_workers.broken, address="127.0.0.1:1"))
    assert time.monotonic() - started < 15


def _run(items: list[int], log_dir: Path, **options: int) -> list[PoolResult[tuple[int, int]]]:
    make = functools.partial(ray_workers.counting, str(log_dir))
    return sorted(run_on_ray(items, make, **options), key=lambda r: r.index)  # type: ignore[arg-type]


def test_every_item_is_done_with_one_model_load_per_actor(cluster: None, tmp_path: Path) -> None:
    results = _run([0, 1, 2, 4, 6, 7], tmp_path, workers=2)
    assert [r.value[0] for r in results if r.value] == [0, 2, 4, 8, 12, 14]
    assert all(r.error is None for r in results)
    pids = {r.value[1] for r in results if r.value}
    assert len(pids) == 2  # both actors worked
    assert len(list(tmp_path.glob("started-*"))) == 2  # each loaded its model once


def test_a_failing_item_and_a_dying_actor_do_not_stop_the_batch(
    cluster: None, tmp_path: Path
) -> None:
    results = _run(list(range(8)), tmp_path, workers=2)
    errors = {r.index: r.error for r in results if r.error}
    assert set(errors) == {3, 5}
    assert errors[3] == "ValueError: item 3 is broken"
    assert errors[5] is not None and errors[5].startswith("worker died")
    assert [r.value[0] for r in results if r.value] == [0, 2, 4, 8, 12, 14]
    # the actor that died under item 5 was replaced, then its replacement died too (item 5
    # was tried once more, alone); every other item still ran
    assert len(list(tmp_path.glob("started-*"))) == 4


def test_in_flight_work_is_bounded(cluster: None, tmp_path: Path) -> None:
    """With max_in_flight 1 the items never overlap in time, though two actors exist."""
    _run([0, 1, 2, 4], tmp_path, workers=2, max_in_flight=1)
    spans = sorted(
        tuple(float(v) for v in p.read_text().split()) for p in tmp_path.glob("run-*")
    )
    assert len(spans) == 4
    assert all(later[0] >= earlier[1] for earlier, later in itertools.pairwise(spans))


def test_a_worker_that_cannot_start_is_a_clear_error(cluster: None) -> None:
    message = r"could not start: RuntimeError: the model file is missing$"
    with pytest.raises(RayPoolError, match=message):
        list(run_on_ray([1, 2], ray_workers.broken, workers=1))


def test_screen_on_ray_matches_screening_here(
    cluster: None, home: Path, demo_clip: SyntheticClip, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(demo_clip.path.read_bytes()[:3000])
    args = ["screen", str(demo_clip.path), str(broken), "--json", "--no-queue",
            "--anonymized-dir", str(tmp_path)]  # fmt: skip
    here = runner.invoke(app, args)
    on_ray = runner.invoke(app, [*args, "--ray", "--workers", "2"])
    assert here.exit_code == on_ray.exit_code == 2, on_ray.output
    keep = ("decision", "class", "sha256", "faces", "rules", "error")
    local = [{k: r[k] for k in keep} for r in json.loads(here.stdout)]
    remote = [{k: r[k] for k in keep} for r in json.loads(on_ray.stdout)]
    assert remote == local
    assert [r["decision"] for r in remote] == ["anonymize", "reject"]
