"""The device identity jobs sign their outputs with."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bystander.provenance.pki import DeviceIdentity


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr)


def signing_identity(note: Callable[[str], None] | None = None) -> DeviceIdentity:
    """The device identity outputs are signed with; a TEST one is created on first use, and
    ``note`` (standard error by default) is told so in one line."""
    from bystander.provenance.pki import ensure_identity

    identity, created = ensure_identity()
    if created:
        (note or _to_stderr)(
            f"created a TEST device identity for signing in {identity.directory} "
            "(replace it with your manufacturer certificate: `bystander keys init --help`)"
        )
    return identity
