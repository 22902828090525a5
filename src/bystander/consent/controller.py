"""What every consent record of a device shares: the controller and its processing terms.

ISO/IEC TS 27560 makes the controller's name, address and contact, the privacy notice, its
language, the purposes, the personal data, where it is stored, for how long and under which
jurisdiction mandatory in every record. They rarely change between two grants, so a device
sets them once (``bystander consent controller set``) in ``$BYSTANDER_HOME/consent-controller.json``
and ``consent grant`` fills in whatever a grant does not say itself.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from bystander import config
from bystander.consent.models import Controller, Duration, Jurisdiction, Text
from bystander.errors import InputError

_FILE = "consent-controller.json"


class ControllerProfile(BaseModel):
    """The shared part of a device's consent records (every field optional)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    controller: Controller | None = None
    notice: Text | None = None
    language: Text | None = None
    purposes: tuple[Text, ...] = ()
    data_categories: tuple[Text, ...] = ()
    storage_locations: tuple[Text, ...] = ()
    jurisdictions: tuple[Jurisdiction, ...] = ()
    retention: Duration | None = None

    @classmethod
    def path(cls) -> Path:
        return config.home() / _FILE

    @classmethod
    def load(cls) -> ControllerProfile:
        """The saved profile, or an empty one."""
        path = cls.path()
        try:
            return cls.model_validate_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValidationError, ValueError) as exc:
            first = str(exc).splitlines()[0]
            raise InputError(f"cannot read the consent controller terms {path}: {first}") from None

    def save(self) -> Path:
        """Write the profile atomically; returns its path."""
        path = self.path()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{_FILE}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(self.model_dump_json(indent=2, exclude_defaults=True) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        return path
