"""Device profiles sent through the API: parsed safely, and never a key to the server's files.

``bystander capture`` reads a profile's ``zone_policy`` as a path, which is right for the
device owner but, through the API, would let any device token probe and read server files
(and block on a FIFO). Here ``zone_policy`` is ``default`` or the *name* of a policy in the
service's zone-policy folder (``<home>/zone-policies/NAME.yaml``): a plain name, a regular
file (no links, FIFOs or devices), at most ``MAX_ZONE_BYTES``, parsed without aliases.
Call :func:`load_api_profile` from a worker thread: it reads a file.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import yaml

from bystander import config, safe_yaml
from bystander.guard.profile import DeviceProfile, ProfileError
from bystander.guard.zones import ZoneError, ZonePolicy, parse_rules

MAX_PROFILE_BYTES = 20_000
MAX_ZONE_BYTES = 64 * 1024
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def zone_policy_folder() -> Path:
    """Where the service looks up named zone policies (the admin puts them there)."""
    return config.home() / "zone-policies"


def load_api_profile(text: str, folder: Path | None = None) -> tuple[DeviceProfile, ZonePolicy]:
    """The profile in ``text`` and its zone policy; ``ProfileError``/``ZoneError`` (one line,
    never a server path) if either is unacceptable."""
    try:
        data = safe_yaml.load(text, MAX_PROFILE_BYTES)
    except RecursionError:
        raise ProfileError("profile: YAML nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc) or "syntax error"
        raise ProfileError(f"profile: malformed YAML{at} ({problem})") from None
    profile = DeviceProfile.from_dict(data, "profile")
    return profile, named_zone_policy(profile, folder or zone_policy_folder())


def named_zone_policy(profile: DeviceProfile, folder: Path) -> ZonePolicy:
    """The zone policy a profile names: the shipped default, or ``folder/NAME.yaml``."""
    name = profile.zone_policy
    base = ZonePolicy.default(profile.jurisdiction)
    if name == "default":
        return base
    if not _NAME.fullmatch(name):
        raise ZoneError(
            "profile: zone_policy must be 'default' or the name of a zone policy installed "
            "on the server (letters, digits, '-' and '_'; not a path)"
        )
    where = f"zone policy {name!r}"
    data = _parse(_read_regular(folder / f"{name}.yaml", where), where)
    if not isinstance(data, dict):
        raise ZoneError(f"{where}: a zone policy maps jurisdictions to location rules")
    return base.layered(parse_rules(data.get(base.jurisdiction) or {}, where))


def _read_regular(path: Path, where: str) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``MAX_ZONE_BYTES``.

    Opened without following links and without blocking, then checked on the open
    descriptor, so a FIFO, device or swapped-in link is refused rather than read.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        raise ZoneError(f"{where} is not installed on the server") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ZoneError(f"{where} is not a regular file on the server")
        if info.st_size > MAX_ZONE_BYTES:
            raise ZoneError(f"{where} is larger than {MAX_ZONE_BYTES} bytes")
        return os.read(fd, MAX_ZONE_BYTES + 1)[:MAX_ZONE_BYTES]
    finally:
        os.close(fd)


def _parse(raw: bytes, where: str) -> object:
    try:
        return safe_yaml.load(raw.decode("utf-8"), MAX_ZONE_BYTES)
    except (UnicodeDecodeError, RecursionError, yaml.YAMLError):
        raise ZoneError(f"{where} is not valid YAML (aliases are not allowed)") from None
