"""Threaded pipeline stages: order kept, errors handed back, threads stopped."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from bystander.vision.stages import Worker, prefetch


def test_prefetch_keeps_order_and_runs_ahead_on_another_thread() -> None:
    threads: set[str] = set()

    def items() -> Iterator[int]:
        for i in range(50):
            threads.add(threading.current_thread().name)
            yield i

    assert list(prefetch(items(), depth=4, name="decode-test")) == list(range(50))
    assert threads == {"decode-test"}


def test_prefetch_reraises_the_producer_error_in_sequence() -> None:
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("corrupt packet")

    seen = []
    with pytest.raises(ValueError, match="corrupt packet"):
        for item in prefetch(items()):
            seen.append(item)
    assert seen == [1, 2]


def test_prefetch_stops_the_producer_when_the_consumer_stops() -> None:
    produced = []
    finished = threading.Event()

    def items() -> Iterator[int]:
        try:
            for i in range(10_000):
                produced.append(i)
                yield i
        finally:
            finished.set()

    for item in prefetch(items(), depth=2):
        if item == 3:
            break
    assert len(produced) < 20  # bounded read-ahead, not the whole sequence
    assert not any(t.name == "prefetch" for t in threading.enumerate())


def test_worker_runs_jobs_in_order_on_its_thread() -> None:
    ran: list[tuple[int, str]] = []
    with Worker(name="encode-test") as worker:
        for i in range(20):
            worker.submit(lambda i=i: ran.append((i, threading.current_thread().name)))
    assert [i for i, _ in ran] == list(range(20))
    assert {name for _, name in ran} == {"encode-test"}


def test_worker_error_is_raised_and_later_jobs_are_skipped() -> None:
    ran = []

    def fail() -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"), Worker() as worker:
        worker.submit(lambda: ran.append(1))
        worker.submit(fail)
        worker.submit(lambda: ran.append(2))
        time.sleep(0.05)
        for _ in range(100):  # a later submit reports the failure
            worker.submit(lambda: ran.append(3))
            time.sleep(0.001)
    assert ran == [1]


def test_worker_cancel_on_caller_error_drops_pending_jobs() -> None:
    started = threading.Event()
    release = threading.Event()
    ran = []

    def slow() -> None:
        started.set()
        release.wait(2)
        ran.append("slow")

    with pytest.raises(KeyError), Worker() as worker:
        worker.submit(slow)
        worker.submit(lambda: ran.append("after"))
        started.wait(2)
        release.set()
        raise KeyError("caller failed")
    assert "after" not in ran


def test_transcode_error_stops_every_stage_before_returning(demo_clip, tmp_path) -> None:
    from bystander.vision.video_io import transcode

    class Failing:
        def __init__(self) -> None:
            self.seen = 0

        def push(self, frame):
            self.seen += 1
            if self.seen == 3:
                raise RuntimeError("detector exploded")
            return [frame]

        def flush(self):
            return []

    with pytest.raises(RuntimeError, match="detector exploded"):
        transcode(demo_clip.path, tmp_path / "out.mp4", Failing())
    alive = {t.name for t in threading.enumerate()}
    assert "decode" not in alive and "bystander-encode" not in alive
