"""``Services``: the engine and stores the routers use (``service.app`` opens them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from bystander.consent.store import ConsentStore
from bystander.evidence.audit import AuditLog
from bystander.service.auth import TokenStore
from bystander.service.jobs import JobRunner
from bystander.service.settings import ServiceSettings


@dataclass
class Services:
    """What the routers use: one engine and the stores over it."""

    settings: ServiceSettings
    engine: Engine
    audit: AuditLog
    consent: ConsentStore
    tokens: TokenStore
    jobs: JobRunner
    captures: dict[str, Any] = field(default_factory=dict)  # live capture sessions by job
