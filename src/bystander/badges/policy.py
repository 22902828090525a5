"""Which faces stay visible because of a badge: valid token, live consent, right purpose.

A face stays visible only when *all* hold at the frame's time: a badge is attached to it
(``bystander.badges.attach``), the badge decodes to a registered token (a QR badge's signature
checks out against the device key), the token is neither revoked nor expired, the token was
issued for the scope asked about, and the consent record it names still permits that scope
(not withdrawn, not expired, not refused; the store's subject rules such as guardian consent
for minors apply). Anything else, including any error, leaves the face redacted.

>>> gate = BadgeConsent(store, BadgeRegistry(), signing_key().public_key())   # doctest: +SKIP
>>> gate.visible(frame_rgb, faces, at).faces                                   # doctest: +SKIP
frozenset({0})
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

import numpy.typing as npt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bystander.badges.attach import attach
from bystander.badges.detect import Badge, Frame, find_badges
from bystander.badges.tokens import BadgeError, BadgeRegistry, BadgeToken, verify_payload
from bystander.consent.models import ConsentError, ConsentKind, Scope, utc
from bystander.consent.store import ConsentStore
from bystander.vision.detections import Detections

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BadgeVerdict:
    """Whether one badge lets its wearer stay visible, and why (never a name)."""

    valid: bool
    reason: str
    token_id: str | None = None
    record_id: str | None = None


@dataclass(frozen=True)
class BadgeFrame:
    """One frame's outcome: the face indices that stay visible, with a reason for each."""

    faces: frozenset[int] = frozenset()
    reasons: dict[int, str] = field(default_factory=dict)
    verdicts: dict[int, BadgeVerdict] = field(default_factory=dict)  # per attached face
    badges: tuple[Badge, ...] = ()


class BadgeConsent:
    """Decides badge validity against the registry, the device key and the consent store."""

    def __init__(
        self,
        store: ConsentStore,
        registry: BadgeRegistry,
        public_key: Ed25519PublicKey | Ed25519PrivateKey,
        scope: Scope = Scope.RECORD_VIDEO,
        kind: ConsentKind = ConsentKind.GENERAL,
    ) -> None:
        self.store = store
        self.registry = registry
        self.public_key = public_key
        self.scope = Scope(scope)
        self.kind = ConsentKind(kind)

    def token_for(self, badge: Badge, at: datetime) -> BadgeToken:
        """The registered token ``badge`` shows (``BadgeError`` if none or forged)."""
        if badge.kind == "qr":
            return verify_payload(badge.data, self.registry, self.public_key)
        if not badge.data.isdigit():
            raise BadgeError("ArUco badge id is not a number")
        token = self.registry.by_marker(int(badge.data), at)
        if token is None:
            raise BadgeError(f"no live badge uses ArUco id {badge.data}")
        return token

    def check_token(self, token: BadgeToken, at: datetime) -> BadgeVerdict:
        """Is ``token`` valid at ``at`` for this gate's scope?"""
        when = utc(at)
        tid, rid = token.token_id, token.record_id
        if token.revoked_at is not None and token.revoked_at <= when:
            return BadgeVerdict(False, f"badge {tid} revoked", tid, rid)
        if when >= token.expires_at:
            return BadgeVerdict(False, f"badge {tid} expired", tid, rid)
        if token.scope != self.scope.value:
            wrong = f"badge {tid} is for {token.scope}, not {self.scope}"
            return BadgeVerdict(False, wrong, tid, rid)
        record = self.store.get(rid)
        if self.scope not in record.scopes:
            return BadgeVerdict(False, f"consent {rid} does not cover {self.scope}", tid, rid)
        if not any(span.covers(when) for span in record.validity()):
            return BadgeVerdict(False, f"consent {rid} is not valid now ({record.state})", tid, rid)
        decision = self.store.check(record.subject.id, self.scope, when, self.kind)
        if not decision.allowed:
            return BadgeVerdict(False, f"consent {rid}: {decision.reason}", tid, rid)
        return BadgeVerdict(True, f"badge {tid}: consent {rid} for {self.scope}", tid, rid)

    def check_badge(self, badge: Badge, at: datetime) -> BadgeVerdict:
        """``check_token`` for a seen badge; an unknown, forged or unreadable one is invalid."""
        try:
            return self.check_token(self.token_for(badge, at), at)
        except (BadgeError, ConsentError) as exc:
            return BadgeVerdict(False, str(exc))

    def visible(
        self,
        frame_rgb: Frame,
        faces: Detections | npt.ArrayLike,
        at: datetime | None = None,
        badges: list[Badge] | None = None,
    ) -> BadgeFrame:
        """Faces in ``faces`` that stay visible in ``frame_rgb`` at ``at``; errors -> none."""
        try:
            when = utc(at)
            seen = find_badges(frame_rgb) if badges is None else badges
            verdicts = {i: self.check_badge(b, when) for i, b in attach(seen, faces).items()}
            allowed = {i: v.reason for i, v in verdicts.items() if v.valid}
            return BadgeFrame(frozenset(allowed), allowed, verdicts, tuple(seen))
        except Exception:  # fail closed: when unsure, redact everyone
            log.warning("badge consent failed; no face stays visible", exc_info=True)
            return BadgeFrame()
