"""Zone policy: where capture and face recognition are allowed, as data per jurisdiction.

The session knows its location type, declared by the app or looked up in a geofence list.
In hotel rooms, public baths, changing rooms and toilets capture is refused and face
recognition disabled by default (CAC/MPS Facial Recognition Measures Art 13; Civil Code
Art 1033). Other location types are allowed. A custom policy (YAML) may add restrictions
but never relax a default refusal.

>>> ZonePolicy.default("CN").rule(LocationType.TOILET).capture
False
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from bystander.errors import InputError


class LocationType(StrEnum):
    HOTEL_ROOM = "hotel_room"
    PUBLIC_BATH = "public_bath"
    CHANGING_ROOM = "changing_room"
    TOILET = "toilet"
    PUBLIC = "public"
    STREET = "street"
    HOME = "home"
    WORKPLACE = "workplace"
    UNKNOWN = "unknown"


class ZoneError(InputError):
    """A zone policy file cannot be read or tries to relax a default."""


@dataclass(frozen=True, slots=True)
class ZoneRule:
    """What a location type allows, and why."""

    capture: bool = True
    face_recognition: bool = True
    basis: str = ""


ALLOWED = ZoneRule(basis="no restriction for this location type")

_SENSITIVE = (
    LocationType.HOTEL_ROOM,
    LocationType.PUBLIC_BATH,
    LocationType.CHANGING_ROOM,
    LocationType.TOILET,
)
_CN = "CAC/MPS Facial Recognition Measures Art 13; Civil Code Art 1033"
_EU = "GDPR Art 5(1)(c), 9 (private spaces; data minimisation)"
_US_IL = "BIPA 740 ILCS 14; 720 ILCS 5/26-4 (unauthorized video recording)"

#: The shipped policy: jurisdiction -> location type -> rule (unlisted types are allowed).
DEFAULT_POLICY: dict[str, dict[LocationType, ZoneRule]] = {
    code: {t: ZoneRule(capture=False, face_recognition=False, basis=basis) for t in _SENSITIVE}
    for code, basis in (("CN", _CN), ("EU", _EU), ("US-IL", _US_IL))
}
#: Used for a jurisdiction the policy does not list: the strictest shipped rules.
FALLBACK = "CN"


class ZonePolicy:
    """The zone rules of one jurisdiction."""

    def __init__(self, jurisdiction: str, rules: Mapping[LocationType, ZoneRule]) -> None:
        self.jurisdiction = jurisdiction.upper()
        self.rules = dict(rules)

    def rule(self, location: LocationType) -> ZoneRule:
        return self.rules.get(LocationType(location), ALLOWED)

    @classmethod
    def default(cls, jurisdiction: str) -> ZonePolicy:
        code = jurisdiction.upper()
        rules = DEFAULT_POLICY.get(code) or DEFAULT_POLICY[FALLBACK]
        return cls(code, rules)

    @classmethod
    def resolve(cls, reference: str, jurisdiction: str) -> ZonePolicy:
        """``reference`` is ``default`` or a YAML file layered over the defaults."""
        base = cls.default(jurisdiction)
        if reference == "default":
            return base
        path = Path(reference)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ZoneError(f"cannot read zone policy {path}: {type(exc).__name__}") from None
        if not isinstance(data, dict):
            raise ZoneError(f"{path}: a zone policy maps jurisdictions to location rules")
        custom = data.get(base.jurisdiction) or {}
        return base.layered(parse_rules(custom, str(path)))

    def layered(self, custom: Mapping[LocationType, ZoneRule]) -> ZonePolicy:
        """This policy with ``custom`` rules on top; relaxing a refusal is an error."""
        rules = dict(self.rules)
        for location, rule in custom.items():
            old = self.rule(location)
            if (rule.capture and not old.capture) or (
                rule.face_recognition and not old.face_recognition
            ):
                why = f"zone policy cannot relax the default for {location} ({old.basis})"
                raise ZoneError(why)
            rules[location] = rule
        return ZonePolicy(self.jurisdiction, rules)


def parse_rules(data: Any, where: str) -> dict[LocationType, ZoneRule]:
    if not isinstance(data, dict):
        raise ZoneError(f"{where}: rules must map location types to settings")
    rules: dict[LocationType, ZoneRule] = {}
    for key, value in data.items():
        try:
            location = LocationType(key)
        except ValueError:
            raise ZoneError(f"{where}: unknown location type {key!r}") from None
        if not isinstance(value, dict) or set(value) - {"capture", "face_recognition", "basis"}:
            raise ZoneError(f"{where}: {key}: expected capture, face_recognition, basis")
        rules[location] = ZoneRule(
            capture=bool(value.get("capture", True)),
            face_recognition=bool(value.get("face_recognition", True)),
            basis=str(value.get("basis", where)),
        )
    return rules


@dataclass(frozen=True, slots=True)
class Geofence:
    """A circle on the map with a location type."""

    lat: float
    lon: float
    radius_m: float
    location: LocationType


def locate(
    fences: Iterable[Geofence], lat: float, lon: float, default: LocationType = LocationType.UNKNOWN
) -> LocationType:
    """The location type at (lat, lon): the most restrictive fence containing it."""
    hits = [f.location for f in fences if _distance_m(f.lat, f.lon, lat, lon) <= f.radius_m]
    for location in _SENSITIVE:
        if location in hits:
            return location
    return hits[0] if hits else default


def _distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine) in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_000.0 * math.asin(math.sqrt(min(1.0, h)))
