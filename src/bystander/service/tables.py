"""Tables of the HTTP service (API tokens, background jobs)."""

from __future__ import annotations
