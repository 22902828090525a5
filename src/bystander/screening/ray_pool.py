"""Run a per-item function on a Ray cluster: one model per worker actor, bounded in-flight work,
and one failing item (or one dying worker) never stopping the batch.

>>> for result in run_on_ray(paths, make_worker, workers=2):        # doctest: +SKIP
...     print(result.index, result.error or result.value)

``make_worker`` is pickled to each actor and called once there (that is where a model loads);
the function it returns is then called for every item the actor gets. At most
``max_in_flight`` items are submitted at a time (default: two per worker), so a batch of a
million paths never floods the cluster. Results come back as they finish, each with its
index. An exception in an item is that item's ``error``. An actor that dies (a crash in native
code) is replaced; the items it held are tried once more, each on an actor of its own (only
one of them may be to blame), and an item under which a second actor dies fails with
``worker died``. The batch goes on.
``address`` None starts a local cluster for this call and stops it afterwards; an address
joins that cluster and leaves it running.
"""

from __future__ import annotations

import socket
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from bystander.errors import BystanderError

T = TypeVar("T")
R = TypeVar("R")

#: Seconds to wait for a remote cluster's port to answer.
CONNECT_TIMEOUT_S = 5.0


class RayPoolError(BystanderError):
    """The cluster cannot be reached, or no worker could start."""


@dataclass(frozen=True)
class PoolResult(Generic[R]):
    """One item's result: ``value`` on success, else a one-line ``error``."""

    index: int
    item: str
    value: R | None
    error: str | None


class _Worker:
    """The actor: builds the worker function once, then applies it to items."""

    def __init__(self, make_worker: Callable[[], Callable[[Any], Any]]) -> None:
        self.fn: Callable[[Any], Any] | None = None
        self.error: str | None = None
        try:
            self.fn = make_worker()
        except Exception as exc:  # reported by ``ready``, in one line
            self.error = _one_line(exc)

    def ready(self) -> str | None:
        """None when the worker was built, else why not."""
        return self.error

    def run(self, item: Any) -> tuple[bool, Any]:
        if self.fn is None:
            return False, f"worker not ready: {self.error}"
        try:
            return True, self.fn(item)
        except Exception as exc:  # the item fails, the actor lives on
            return False, _one_line(exc)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def run_on_ray(
    items: Sequence[T],
    make_worker: Callable[[], Callable[[T], R]],
    *,
    address: str | None = None,
    workers: int = 1,
    max_in_flight: int | None = None,
    cpus_per_worker: float = 1.0,
) -> Iterator[PoolResult[R]]:
    """Apply ``make_worker()`` to every item on ``workers`` Ray actors (see the module)."""
    if workers < 1:
        raise ValueError("workers must be >= 1")
    limit = max_in_flight or 2 * workers
    if limit < 1:
        raise ValueError("max_in_flight must be >= 1")
    import ray

    started_here = connect(address, workers, cpus_per_worker)
    try:
        yield from _run(ray, items, make_worker, workers, limit, cpus_per_worker)
    finally:
        if started_here:
            ray.shutdown()


def connect(address: str | None, workers: int, cpus_per_worker: float = 1.0) -> bool:
    """Join ``address`` or start a local cluster for ``workers``; True when it was started
    here (the caller then stops it with ``ray.shutdown()``). Already connected: False."""
    import ray

    if ray.is_initialized():
        return False
    options: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "logging_level": "ERROR",
        "configure_logging": False,
    }
    if address is None:
        cpus = max(1, round(workers * cpus_per_worker))
        try:
            ray.init(num_cpus=cpus, **options)
        except Exception as exc:
            raise RayPoolError(f"cannot start a local Ray cluster: {_one_line(exc)}") from None
        return True
    _reachable(address)
    try:
        ray.init(address=address, **options)
    except Exception as exc:
        raise RayPoolError(f"cannot join the Ray cluster at {address}: {_one_line(exc)}") from None
    return False


def _reachable(address: str) -> None:
    """Fail fast (one line) when ``host:port`` does not answer; Ray itself waits minutes."""
    if address == "auto":
        return
    target = address.split("://", 1)[-1]
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise RayPoolError(f"Ray address must be HOST:PORT or ray://HOST:PORT, not {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise RayPoolError(f"cannot join the Ray cluster at {address}: {reason}") from None


def _run(
    ray: Any,
    items: Sequence[T],
    make_worker: Callable[[], Callable[[T], R]],
    workers: int,
    limit: int,
    cpus_per_worker: float,
) -> Iterator[PoolResult[R]]:
    actor_class = ray.remote(num_cpus=cpus_per_worker, max_restarts=0)(_Worker)
    actors = [_start(ray, actor_class, make_worker) for _ in range(workers)]
    per_actor = max(1, -(-limit // workers))
    load = {id(actor): 0 for actor in actors}
    pending: deque[int] = deque(range(len(items)))
    deaths: dict[int, int] = {}  # item index -> times its actor died under it
    running: dict[Any, tuple[int, Any]] = {}  # object ref -> (item index, actor)
    alone: set[int] = set()  # actors running a suspect item, which gets them to itself
    while pending or running:
        while pending and len(running) < limit:
            free = [a for a in actors if id(a) not in alone]
            actor = min(free, key=lambda a: load[id(a)]) if free else None
            suspect = pending[0] in deaths
            if actor is None or load[id(actor)] >= (1 if suspect else per_actor):
                break
            if suspect and load[id(actor)]:
                break
            index = pending.popleft()
            running[actor.run.remote(items[index])] = (index, actor)
            load[id(actor)] += 1
            if suspect:
                alone.add(id(actor))
        done, _ = ray.wait(list(running), num_returns=1)
        index, actor = running.pop(done[0])
        load[id(actor)] -= 1
        if index in deaths:
            alone.discard(id(actor))
        try:
            ok, value = ray.get(done[0])
        except ray.exceptions.RayActorError as exc:
            if actor in actors:  # replace it once, whichever of its items reports first
                fresh = _start(ray, actor_class, make_worker)
                actors[actors.index(actor)] = fresh
                load[id(fresh)] = 0
            deaths[index] = deaths.get(index, 0) + 1
            if deaths[index] == 1:  # maybe it was a neighbour's item: try once more
                pending.appendleft(index)
                continue
            ok, value = False, f"worker died: {_one_line(exc)}"
        except Exception as exc:
            ok, value = False, _one_line(exc)
        yield PoolResult(index, str(items[index]), value if ok else None, None if ok else value)


def _start(ray: Any, actor_class: Any, make_worker: Callable[[], Any]) -> Any:
    """An actor whose worker has been built (its model loaded)."""
    actor = actor_class.remote(make_worker)
    try:
        error = ray.get(actor.ready.remote())
    except Exception as exc:
        error = _one_line(exc)
    if error is not None:
        ray.kill(actor)
        raise RayPoolError(f"a Ray worker could not start: {error}")
    return actor
