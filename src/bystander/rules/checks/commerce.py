"""Subscriptions and platforms: auto-renewal, complaints, covert recordings, sale of biometrics."""

from __future__ import annotations

from dataclasses import dataclass

from bystander.inspect.records import Billing, Evidence, Moderation
from bystander.rules.checks.base import (
    DAY,
    CheckContext,
    CheckOutcome,
    Hits,
    check,
    insufficient,
    iso,
    not_applicable,
    passed,
)
from bystander.rules.checks.index import is_biometric

COMPLAINT_DAYS = 7  # default deadline when a complaint names none
ACTED = frozenset({"taken_down", "anonymized", "rejected", "held"})
REMOVED = frozenset({"taken_down", "anonymized", "rejected"})
PUBLISHED = frozenset({"accepted", "featured"})
COVERT_WORDS = ("covert", "secret", "hidden", "偷拍", "偷录", "bystander", "no consent")
SALE_PURPOSES = (
    "sale",
    "sell",
    "advertis",
    "marketing",
    "data_broker",
    "broker",
    "monetis",
    "monetiz",
    "profit",
    "resale",
)


def _billing_gate(ev: Evidence) -> CheckOutcome | None:
    sub = ev.device.subscription
    if ev.billing:
        return None
    if not sub.offered:
        return not_applicable("no subscription offered and no billing events")
    if sub.auto_renew:
        return insufficient("an auto-renewing subscription is offered but no billing events")
    return not_applicable("the subscription does not renew automatically")


def _renewals(ev: Evidence) -> list[Billing]:
    return [b for b in ev.billing if b.event == "renewal"]


@check("renewal_without_opt_in", "Auto-renewal without the consumer's opt-in", ("billing",))
def renewal_without_opt_in(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """A subscription renewed with no prior explicit opt-in to auto-renewal."""
    gate = _billing_gate(ev)
    if gate is not None:
        return gate
    opted: set[str] = set()
    hits = Hits("renewals without an opt-in")
    for b in ev.billing:
        if b.event == "opt_in":
            opted.add(b.subscription_id)
        elif b.event == "renewal" and b.subscription_id not in opted and hits.want():
            amount = f" ({b.amount:g} {b.currency or ''})".rstrip() if b.amount else ""
            hits.add(
                b.ref,
                f"subscription {b.subscription_id} renewed at {iso(b.t)}{amount} "
                "with no opt-in to auto-renewal",
            )
    return hits.outcome("every renewal followed an opt-in")


@check("renewal_without_reminder", "Renewal without a prior reminder", ("billing",))
def renewal_without_reminder(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """A renewal with no reminder since the previous renewal, at least the declared days before.

    The declared window is ``subscription.reminder_days_before`` (0 when not declared).
    """
    gate = _billing_gate(ev)
    if gate is not None:
        return gate
    days = ev.device.subscription.reminder_days_before or 0
    first_reminder: dict[str, float | None] = {}
    hits = Hits("renewals without a timely reminder")
    for b in ev.billing:
        sid = b.subscription_id
        if b.event == "reminder_sent":
            if first_reminder.get(sid) is None:
                first_reminder[sid] = float("-inf") if b.t is None else b.t
        elif b.event == "renewal":
            r = first_reminder.get(sid)
            t = float("inf") if b.t is None else b.t
            if (r is None or r > t - days * DAY) and hits.want():
                late = "" if r is None else f" (reminder at {iso(r)} was too late)"
                window = f" at least {days} days before" if days else " before"
                hits.add(
                    b.ref,
                    f"subscription {sid} renewed at {iso(b.t)} with no reminder{window}{late}",
                )
            first_reminder[sid] = None
    return hits.outcome("every renewal was preceded by a reminder")


@check("no_cancel_option", "No simple way to cancel auto-renewal", ("billing",))
def no_cancel_option(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """Cancellation not offered: declared so, or a renewal never preceded by a cancel option."""
    gate = _billing_gate(ev)
    if gate is not None:
        return gate
    sub = ev.device.subscription
    hits = Hits("renewals without a cancel option")
    if sub.cancel_any_time is False:
        hits.hit("profile:subscription.cancel_any_time", "the subscription cannot be cancelled")
    if sub.cancel_any_time:
        return hits.outcome("cancellation any time is declared")
    shown: set[str] = set()
    for b in ev.billing:
        if b.event == "cancel_option_shown":
            shown.add(b.subscription_id)
        elif b.event == "renewal" and b.subscription_id not in shown and hits.want():
            hits.add(
                b.ref,
                f"subscription {b.subscription_id} renewed at {iso(b.t)} "
                "with no cancel option ever shown",
            )
    return hits.outcome("a cancel option was shown before every renewal")


def _moderation_gate(ev: Evidence) -> CheckOutcome | None:
    return None if ev.moderation else not_applicable("no platform moderation records")


@check("complaint_not_acted_on", "Complaint not acted on in time", ("moderation",))
def complaint_not_acted_on(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """A complaint about content with no takedown, anonymisation, hold or rejection by its deadline.

    The deadline is the complaint's own, else 7 days.
    """
    gate = _moderation_gate(ev)
    if gate is not None:
        return gate
    pending: dict[str, list[Moderation]] = {}
    hits = Hits("complaints not acted on in time")
    complaints = 0

    def deadline(c: Moderation) -> float:
        if c.deadline is not None:
            return c.deadline
        return (c.t if c.t is not None else ctx.now) + COMPLAINT_DAYS * DAY

    for m in ev.moderation:
        if m.action == "complaint":
            complaints += 1
            pending.setdefault(m.content_id, []).append(m)
        elif m.action in ACTED:
            for c in pending.pop(m.content_id, []):
                due = deadline(c)
                if m.t is not None and m.t > due and hits.want():
                    hits.add(
                        c.ref,
                        f"complaint about {c.content_id} at {iso(c.t)} acted on at {iso(m.t)} "
                        f"({m.action}), after the deadline {iso(due)}",
                    )
    for items in pending.values():
        for c in items:
            due = deadline(c)
            if ctx.now > due and hits.want():
                hits.add(
                    c.ref,
                    f"complaint about {c.content_id} at {iso(c.t)} never acted on "
                    f"(deadline {iso(due)})",
                )
    if not complaints:
        return passed("no complaints")
    return hits.outcome("every complaint was acted on in time")


@check(
    "covert_recording_accepted",
    "Recording of bystanders published without consent",
    ("moderation",),
)
def covert_recording_accepted(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """Content showing identifiable bystanders accepted for publication with no consent refs."""
    gate = _moderation_gate(ev)
    if gate is not None:
        return gate
    info: dict[str, tuple[int, bool]] = {}
    hits = Hits("uploads with non-consenting bystanders accepted")
    for m in ev.moderation:
        count, consented = info.get(m.content_id, (0, False))
        if m.bystander_count is not None:
            count = m.bystander_count
        consented = consented or bool(m.consent_refs)
        info[m.content_id] = (count, consented)
        if m.action == "accepted" and count > 0 and not consented and hits.want():
            hits.add(
                m.ref,
                f"upload {m.content_id} accepted at {iso(m.t)} showing {count} identifiable "
                "bystander(s) with no consent",
            )
    return hits.outcome("no upload with non-consenting bystanders was accepted")


@dataclass
class _Content:
    """What a platform's records say about one content item."""

    first_ref: str = ""
    bystanders: int = 0
    consented: bool = False
    flagged: str = ""  # why the platform knew: its own screening, featuring it
    live: bool = False  # published and not removed
    featured: bool = False


def _history(ev: Evidence) -> dict[str, _Content]:
    items: dict[str, _Content] = {}
    for m in ev.moderation:
        c = items.setdefault(m.content_id, _Content(first_ref=m.ref))
        if m.bystander_count is not None:
            c.bystanders = m.bystander_count
        c.consented = c.consented or bool(m.consent_refs)
        reason = (m.reason or "").lower()
        if m.action in ("held", "screened") or any(w in reason for w in COVERT_WORDS):
            c.flagged = c.flagged or f"its own screening flagged it ({m.ref})"
        if m.action == "featured":
            c.featured = True
            c.flagged = c.flagged or f"it featured the upload ({m.ref})"
        if m.action in PUBLISHED:
            c.live = True
        elif m.action in REMOVED:
            c.live = False
    return items


@check(
    "platform_kept_known_infringement",
    "Platform kept up an upload it knew infringed",
    ("moderation",),
)
def platform_kept_known_infringement(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """An upload showing non-consenting bystanders that the platform knew of (its screening
    flagged it, or it featured it) and still keeps published (Civil Code Art 1197)."""
    gate = _moderation_gate(ev)
    if gate is not None:
        return gate
    hits = Hits("known infringing uploads left up")
    for cid, c in _history(ev).items():
        if c.live and c.flagged and c.bystanders > 0 and not c.consented and hits.want():
            hits.add(
                c.first_ref,
                f"upload {cid} shows {c.bystanders} non-consenting bystander(s); the platform "
                f"knew ({c.flagged}) and it is still published",
            )
    return hits.outcome("no upload the platform knew to infringe is still published")


@check("biometric_sale_or_profit", "Biometric data sold or used for profit", ())
def biometric_sale_or_profit(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """A declared data flow of biometric data for sale, advertising or other profit."""
    flows = [
        (i, f)
        for i, f in enumerate(ev.device.data_flows)
        if any(is_biometric(c) for c in f.data_categories)
    ]
    if not flows:
        return not_applicable("no declared flow of biometric data")
    hits = Hits("biometric flows for profit")
    for i, f in flows:
        purpose = (f.purpose or "").lower()
        if any(word in purpose for word in SALE_PURPOSES):
            hits.hit(
                f"profile:data_flows[{i}]",
                f"biometric data flows to {f.destination} for {f.purpose!r}",
            )
    return hits.outcome("no biometric flow is for sale or profit")
