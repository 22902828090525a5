"""Collection and storage lifecycle: over-collection, retention, deletion, requests."""

from __future__ import annotations

from bystander.inspect.records import ConsentAction, Evidence
from bystander.rules.checks.base import (
    DAY,
    CheckContext,
    CheckOutcome,
    Hits,
    check,
    insufficient,
    iso,
    not_applicable,
)
from bystander.rules.checks.index import (
    FACE,
    ConsentIndex,
    is_biometric,
    is_local_host,
    is_personal,
)
from bystander.rules.checks.transfer import label

# Deletion and request deadlines: 15 working days (2019 method item 6), approximated as
# 21 calendar days (three weeks; public holidays not counted).
REQUEST_DAYS = 21
BIPA_YEARS_DAYS = 3 * 365.25


def _covered(cat: str, declared: list[str]) -> bool:
    return any(cat == d or cat.startswith(d + ".") for d in declared)


@check(
    "undeclared_data_collected",
    "Data collected beyond what the device declares",
    ("egress", "stores"),
)
def undeclared_data_collected(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """Personal data sent or stored in a category the profile does not declare (over-collection).

    Declared = ``declared_data_categories`` plus the categories of declared data flows.
    """
    d = ev.device
    declared = list(d.declared_data_categories)
    declared += [c for f in d.data_flows for c in f.data_categories]
    if not declared:
        return insufficient("the profile declares no data categories")
    if not ev.egress and not ev.stores and not ev.has_traffic:
        return insufficient("no traffic capture or storage inventory in the bundle")
    seen: dict[str, bool] = {}
    hits = Hits("records of undeclared data categories")

    def undeclared(cat: str) -> bool:
        bad = seen.get(cat)
        if bad is None:
            bad = seen[cat] = is_personal(cat) and not _covered(cat, declared)
        return bad

    for e in ev.egress:
        if not e.allowed or is_local_host(e.host):
            continue
        extra = [c for c in e.data_categories if undeclared(c)]
        if extra and hits.want():
            hits.add(
                e.ref,
                f"{', '.join(label(c) for c in sorted(extra))} sent to {e.host} at {iso(e.t)} "
                "but not declared",
            )
    for s in ev.stores:
        if undeclared(s.data_category) and hits.want():
            hits.add(s.ref, f"{label(s.data_category)} {s.record_id} stored but not declared")
    return hits.outcome("everything collected is declared")


def _declared_retention(ev: Evidence, cat: str) -> float | None:
    """The profile's retention for ``cat`` or its nearest declared ancestor."""
    table = ev.device.retention_days
    probe = cat
    while probe:
        if probe in table:
            return table[probe]
        probe = probe.rpartition(".")[0]
    return None


@check("retention_exceeded", "Data kept longer than declared", ("stores",))
def retention_exceeded(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """A stored item older than its declared retention (deleted late, or still kept)."""
    if not ev.stores:
        return insufficient("no storage inventory in the bundle")
    now = ctx.now
    hits = Hits("items kept beyond their declared retention")
    judged = 0
    for s in ev.stores:
        days = (
            s.retention_days
            if s.retention_days is not None
            else _declared_retention(ev, s.data_category)
        )
        if days is None or s.t_created is None:
            continue
        judged += 1
        end = s.t_deleted if s.t_deleted is not None else now
        age = (end - s.t_created) / DAY
        if age > days and hits.want():
            state = f"deleted at {iso(s.t_deleted)}" if s.t_deleted is not None else "still kept"
            hits.add(
                s.ref,
                f"{label(s.data_category)} {s.record_id} created {iso(s.t_created)}, {state}: "
                f"{age:.0f} days against a declared retention of {days:g}",
            )
    if not judged:
        return insufficient("no stored item has a declared retention")
    return hits.outcome("every item is within its declared retention")


@check(
    "biometric_retention_over_3_years",
    "Biometric data kept over 3 years after last interaction",
    ("stores", "biometric_ops"),
)
def biometric_retention_over_3_years(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """A biometric item kept more than 3 years after the person's last interaction (BIPA)."""
    stores = [s for s in ev.stores if is_biometric(s.data_category)]
    if not stores:
        return not_applicable("no stored biometric data in the bundle")
    last: dict[str, float] = {}
    for op in ev.biometric_ops:
        if op.subject_id is not None and op.t is not None:
            last[op.subject_id] = max(op.t, last.get(op.subject_id, op.t))
    now = ctx.now
    hits = Hits("biometric items kept over 3 years")
    for s in stores:
        if s.t_created is None:
            continue
        since = max(s.t_created, last.get(s.subject_id or "", s.t_created))
        end = s.t_deleted if s.t_deleted is not None else now
        if (end - since) / DAY > BIPA_YEARS_DAYS and hits.want():
            hits.add(
                s.ref,
                f"{label(s.data_category)} {s.record_id} kept until {iso(end)}, more than 3 years "
                f"after the last interaction ({iso(since)})",
            )
    return hits.outcome("no biometric item outlived 3 years after last interaction")


@check(
    "template_kept_after_withdrawal",
    "Biometric data kept after consent was withdrawn",
    ("stores", "consents"),
)
def template_kept_after_withdrawal(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """A subject's biometric item not deleted within 21 days of withdrawing consent."""
    stores = [s for s in ev.stores if is_biometric(s.data_category) and s.subject_id]
    if not stores:
        return not_applicable("no stored biometric data of identified subjects")
    if not any(c.action is ConsentAction.WITHDRAWN for c in ev.consents):
        return not_applicable("no consent was withdrawn")
    indexes: dict[str, ConsentIndex] = {}
    now = ctx.now
    hits = Hits("biometric items kept after withdrawal")
    for s in stores:
        parts = s.data_category.split(".")
        scope = f"{parts[2]}.processing" if len(parts) > 2 else "biometric"
        idx = indexes.get(scope)
        if idx is None:
            idx = indexes[scope] = ConsentIndex(ev.consents, scope)
        last = idx.last_event(s.subject_id, None)
        if last is None or last.action is not ConsentAction.WITHDRAWN or last.t is None:
            continue
        if s.t_created is not None and s.t_created > last.t:
            continue
        due = last.t + REQUEST_DAYS * DAY
        end = s.t_deleted if s.t_deleted is not None else now
        if end > due and hits.want():
            state = f"deleted {iso(s.t_deleted)}" if s.t_deleted is not None else "still kept"
            hits.add(
                s.ref,
                f"{label(s.data_category)} {s.record_id} of {s.subject_id} {state}; consent "
                f"withdrawn {iso(last.t)} ({last.ref}), deletion due by {iso(due)}",
            )
    return hits.outcome("biometric data was deleted after withdrawal")


@check("subject_request_overdue", "Data-subject request not completed in time", ("requests",))
def subject_request_overdue(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """A request not completed within 15 working days (approximated as 21 calendar days)."""
    if not ev.requests:
        return not_applicable("no data-subject requests in the bundle")
    now = ctx.now
    hits = Hits("requests completed late or not at all")
    for r in ev.requests:
        if r.t_received is None:
            continue
        due = r.t_received + REQUEST_DAYS * DAY
        end = r.t_completed if r.t_completed is not None else now
        if end > due and hits.want():
            state = f"completed {iso(r.t_completed)}" if r.t_completed else "still open"
            hits.add(
                r.ref,
                f"{r.kind} request received {iso(r.t_received)} {state}; due by {iso(due)} "
                "(15 working days)",
            )
    return hits.outcome("every request was completed in time")


FACE_IMAGE = FACE + ".image"
RAW_IMAGE_DAYS = 1.0  # raw face images deleted within a day of recognition


@check(
    "raw_face_image_kept",
    "Raw face images kept or matched off the terminal",
    ("stores", "egress"),
)
def raw_face_image_kept(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """Raw face images sent off the device (matching not on the collecting terminal) or kept
    more than a day instead of only a template (GB/T 35273-2020 6.3)."""
    images = [s for s in ev.stores if s.data_category == FACE_IMAGE]
    sent = [
        e
        for e in ev.egress
        if e.allowed and not is_local_host(e.host) and FACE_IMAGE in e.data_categories
    ]
    if not images and not sent:
        if not ev.has_traffic and not ev.egress and not ev.stores:
            return insufficient("no traffic capture or storage inventory in the bundle")
        return not_applicable("no raw face image was stored or sent")
    now = ctx.now
    hits = Hits("raw face images kept or sent off the device")
    for e in sent:
        if hits.want():
            hits.add(e.ref, f"raw face image sent to {e.host} at {iso(e.t)}")
    for s in images:
        if s.t_created is None:
            continue
        end = s.t_deleted if s.t_deleted is not None else now
        days = (end - s.t_created) / DAY
        if days > RAW_IMAGE_DAYS and hits.want():
            hits.add(s.ref, f"raw face image {s.record_id} kept {days:.0f} days in {s.location}")
    return hits.outcome("raw face images are deleted after recognition and stay on the device")
