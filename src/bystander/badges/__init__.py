"""Consent badges: a biometric-free way for a person who consented to stay visible.

A person shows a printed or phone-displayed marker (a signed QR code, or an ArUco marker
mapped to a short-lived registration); the face right above a valid badge is not redacted.
See ``docs/badges.md`` for the threat model (stolen and copied badges).
"""

from bystander.badges.attach import attach
from bystander.badges.detect import Badge, find_badges
from bystander.badges.policy import BadgeConsent, BadgeFrame, BadgeVerdict
from bystander.badges.tokens import (
    BadgeError,
    BadgeRegistry,
    BadgeToken,
    signing_key,
    verify_payload,
)

__all__ = [
    "Badge",
    "BadgeConsent",
    "BadgeError",
    "BadgeFrame",
    "BadgeRegistry",
    "BadgeToken",
    "BadgeVerdict",
    "attach",
    "find_badges",
    "signing_key",
    "verify_payload",
]
