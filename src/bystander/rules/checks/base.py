"""The check model: small functions with metadata, registered by a decorator.

A check reads typed evidence records and returns a :class:`CheckOutcome` that says one of four
things: it *failed* (with hits, each naming a record ``ref``), it *passed*, it is *not
applicable* to this device, or the bundle holds *insufficient evidence* to decide. Checks never
loop over records inside loops over records: they index by subject or scope and bisect on times,
so a million records stay cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum

from bystander.inspect.records import Evidence

MAX_HITS = 50
DAY = 86400.0


class Status(StrEnum):
    FAILED = "failed"
    PASSED = "passed"
    NOT_APPLICABLE = "not_applicable"
    INSUFFICIENT = "insufficient_evidence"


@dataclass(frozen=True, slots=True)
class Hit:
    """One offending record and a one-line message naming the evidence."""

    ref: str
    message: str


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    """What one check concluded about one evidence bundle."""

    status: Status
    hits: tuple[Hit, ...] = ()
    total: int = 0  # hits found, of which at most MAX_HITS are listed
    reason: str = ""  # why passed / not applicable / insufficient, or a failure summary

    @property
    def failed(self) -> bool:
        return self.status is Status.FAILED


@dataclass(frozen=True, slots=True)
class CheckContext:
    """What a check may know besides the evidence: the inspection date."""

    today: date

    @property
    def now(self) -> float:
        """The end of the inspection day, as epoch seconds (UTC)."""
        return datetime(self.today.year, self.today.month, self.today.day, tzinfo=UTC).timestamp()


CheckFn = Callable[[Evidence, CheckContext], CheckOutcome]


@dataclass(frozen=True, slots=True)
class Check:
    """A registered check: its id, what it looks for, the record kinds it reads."""

    id: str
    title: str
    description: str
    reads: tuple[str, ...]
    fn: CheckFn = field(repr=False)

    def __call__(self, ev: Evidence, ctx: CheckContext) -> CheckOutcome:
        return self.fn(ev, ctx)


CHECKS: dict[str, Check] = {}


def check(check_id: str, title: str, reads: tuple[str, ...]) -> Callable[[CheckFn], CheckFn]:
    """Register ``fn`` as check ``check_id``; its docstring is the description."""

    def register(fn: CheckFn) -> CheckFn:
        if check_id in CHECKS:
            raise ValueError(f"duplicate check id {check_id!r}")
        doc = (fn.__doc__ or title).strip().splitlines()[0]
        CHECKS[check_id] = Check(check_id, title, doc, reads, fn)
        return fn

    return register


class Hits:
    """Collects hits, listing at most ``MAX_HITS`` but counting them all.

    Use ``if hits.want(): hits.add(ref, message)`` so messages are only built when listed.
    """

    def __init__(self, what: str) -> None:
        self.what = what  # e.g. "captures started without recording consent"
        self.total = 0
        self.items: list[Hit] = []

    def want(self) -> bool:
        """Count one hit; whether its message should be built (under the cap)."""
        self.total += 1
        return len(self.items) < MAX_HITS

    def add(self, ref: str, message: str) -> None:
        self.items.append(Hit(ref, message))

    def hit(self, ref: str, message: str) -> None:
        """Count and (under the cap) list one hit whose message is already built."""
        if self.want():
            self.add(ref, message)

    def outcome(self, passed: str = "") -> CheckOutcome:
        """Failed with the hits, or passed with ``passed`` as its reason."""
        if not self.total:
            return CheckOutcome(Status.PASSED, reason=passed)
        listed = len(self.items)
        more = f" ({listed} listed)" if listed < self.total else ""
        return CheckOutcome(
            Status.FAILED, tuple(self.items), self.total, f"{self.total} {self.what}{more}"
        )


def passed(reason: str = "") -> CheckOutcome:
    return CheckOutcome(Status.PASSED, reason=reason)


def not_applicable(reason: str) -> CheckOutcome:
    return CheckOutcome(Status.NOT_APPLICABLE, reason=reason)


def insufficient(reason: str) -> CheckOutcome:
    return CheckOutcome(Status.INSUFFICIENT, reason=reason)


def fail(ref: str, message: str, what: str = "problem") -> CheckOutcome:
    """Failed with a single hit."""
    return CheckOutcome(Status.FAILED, (Hit(ref, message),), 1, f"1 {what}")


def iso(t: float | None) -> str:
    """``2025-10-02T10:00Z`` for epoch seconds (minute precision), ``an unknown time`` for None."""
    if t is None or t != t or t in (float("inf"), float("-inf")):
        return "an unknown time"
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%MZ")
