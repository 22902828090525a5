"""Tables of the moderation queue (items, decisions, reviewer actions, complaints)."""

from __future__ import annotations
