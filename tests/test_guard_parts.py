"""Capture guard parts: profiles, zones, prohibited analyses, clocks, the simulated indicator."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from bystander.consent.models import Scope
from bystander.guard.analyses import (
    AnalysisRegistry,
    ModelPlugin,
    ProhibitedAnalysisError,
    prohibited_outputs,
)
from bystander.guard.clock import FakeClock, SystemClock
from bystander.guard.indicator import IndicatorError, Pattern, SimulatedIndicator, StallMode
from bystander.guard.profile import DeviceProfile, ProfileError
from bystander.guard.zones import Geofence, LocationType, ZoneError, ZonePolicy, locate
from tests.guard_rig import profile

GOOD = """\
device_id: glasses-0001
device_type: smart-glasses
jurisdiction: cn
wearer_id: wearer-1
microphone: true
cloud: true
indicator:
  t_lead_ms: 250
  visibility: "3 m indoors"
consents:
  - scope: live-stream
"""


def test_profile_loads_and_demands_consents(tmp_path: Path) -> None:
    path = tmp_path / "device.yaml"
    path.write_text(GOOD)
    prof = DeviceProfile.load(path)
    assert prof.jurisdiction == "CN" and prof.indicator.t_lead_ms == 250
    assert prof.indicator.period_ns == 50_000_000
    scopes = [c.scope for c in prof.required_consents(audio=True)]
    assert scopes == [
        Scope.RECORD_VIDEO, Scope.RECORD_AUDIO, Scope.CLOUD_PROCESSING, Scope.LIVE_STREAM,
    ]  # fmt: skip
    assert Scope.RECORD_AUDIO not in [c.scope for c in prof.required_consents(audio=False)]


@pytest.mark.parametrize(
    ("indicator", "field"),
    [
        ({"t_lead_ms": 100}, "indicator.t_lead_ms"),
        ({"confirm_timeout_ms": 500}, "indicator.confirm_timeout_ms"),
        ({"watchdog_hz": 10}, "indicator.watchdog_hz"),
        ({"still_min_on_ms": 100}, "indicator.still_min_on_ms"),
        ({"video_pattern": "still"}, "indicator"),
        ({"video_pattern": "off"}, "indicator"),
        ({"enabled": False}, "indicator.enabled"),
    ],
)
def test_profile_cannot_weaken_the_rules(indicator: dict[str, Any], field: str) -> None:
    with pytest.raises(ProfileError) as caught:
        profile(indicator={"visibility": "3 m", **indicator})
    message = str(caught.value)
    assert field in message and "\n" not in message


@pytest.mark.parametrize(
    "extra", [{"disable_indicator": True}, {"debug": True}, {"jurisdiction": "China"}]
)
def test_profile_has_no_bypass_switch(extra: dict[str, Any]) -> None:
    with pytest.raises(ProfileError):
        profile(**extra)


def test_profile_needs_tested_visibility() -> None:
    with pytest.raises(ProfileError, match="visibility"):
        profile(indicator={})


def test_profile_load_errors_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("device_id: [unclosed\n")
    with pytest.raises(ProfileError, match="malformed YAML at line"):
        DeviceProfile.load(bad)
    bad.write_text("- a list\n")
    with pytest.raises(ProfileError, match="mapping"):
        DeviceProfile.load(bad)
    with pytest.raises(ProfileError, match="cannot read"):
        DeviceProfile.load(tmp_path / "missing.yaml")


def test_zone_defaults_per_jurisdiction() -> None:
    for code in ("CN", "EU", "US-IL", "JP"):
        policy = ZonePolicy.default(code)
        for location in ("hotel_room", "public_bath", "changing_room", "toilet"):
            rule = policy.rule(LocationType(location))
            assert not rule.capture and not rule.face_recognition
        assert policy.rule(LocationType.PUBLIC).capture
    assert "Art 13" in ZonePolicy.default("CN").rule(LocationType.TOILET).basis


def test_custom_zone_policy_can_restrict_not_relax(tmp_path: Path) -> None:
    path = tmp_path / "zones.yaml"
    path.write_text("CN:\n  workplace: {capture: false, basis: company rule}\n")
    policy = ZonePolicy.resolve(str(path), "CN")
    assert not policy.rule(LocationType.WORKPLACE).capture
    path.write_text("CN:\n  toilet: {capture: true, face_recognition: true}\n")
    with pytest.raises(ZoneError, match="relax"):
        ZonePolicy.resolve(str(path), "CN")
    path.write_text("CN:\n  spaceship: {capture: false}\n")
    with pytest.raises(ZoneError, match="unknown location"):
        ZonePolicy.resolve(str(path), "CN")


def test_geofence_picks_the_most_restrictive_fence() -> None:
    fences = [
        Geofence(31.2304, 121.4737, 500, LocationType.PUBLIC),
        Geofence(31.2305, 121.4738, 30, LocationType.HOTEL_ROOM),
    ]
    assert locate(fences, 31.2305, 121.4738) is LocationType.HOTEL_ROOM
    assert locate(fences, 31.2330, 121.4737) is LocationType.PUBLIC  # ~290 m away
    assert locate(fences, 0.0, 0.0) is LocationType.UNKNOWN


@pytest.mark.parametrize(
    "output", ["ethnicity", "Race", "religious_belief", "health-status", "political_party",
               "sexual orientation", "disability_score"],
)  # fmt: skip
def test_prohibited_analyses_are_refused(output: str) -> None:
    registry = AnalysisRegistry()
    with pytest.raises(ProhibitedAnalysisError, match=r"Art 5\(1\)\(g\)"):
        registry.register(ModelPlugin("bad", outputs=("age", output), uses_faces=True))
    assert registry.names() == []


def test_allowed_analyses_register() -> None:
    registry = AnalysisRegistry()
    registry.register(ModelPlugin("captioner", outputs=("caption", "object_labels")))
    assert registry.names() == ["captioner"]
    registry.register(ModelPlugin("face-matcher", outputs=("identity",), uses_faces=True))
    assert registry.usable("captioner", face_recognition_allowed=False).name == "captioner"
    assert registry.usable("face-matcher", face_recognition_allowed=True).uses_faces
    with pytest.raises(ProhibitedAnalysisError, match="Art 13"):
        registry.usable("face-matcher", face_recognition_allowed=False)
    assert prohibited_outputs(["face_count", "scene"]) == {}
    with pytest.raises(ProhibitedAnalysisError, match="no declared outputs"):
        registry.register(ModelPlugin("silent", outputs=()))


def test_fake_clock_sleep_modes() -> None:
    clock = FakeClock()
    clock.sleep(0.5)
    assert clock.monotonic_ns() == 500_000_000
    with pytest.raises(ValueError):
        clock.advance(-1)
    manual = FakeClock(auto_advance=False)
    done = threading.Event()

    def sleeper() -> None:
        manual.sleep(0.01)
        done.set()

    thread = threading.Thread(target=sleeper)
    thread.start()
    assert not done.wait(0.02)
    manual.advance_ms(10)
    assert done.wait(2)
    thread.join()
    system = SystemClock()
    before = system.monotonic_ns()
    system.sleep(0.001)
    assert system.monotonic_ns() > before


def test_simulated_indicator_knobs() -> None:
    clock = FakeClock()
    led = SimulatedIndicator(clock, lag_ms=20, occluded=None)
    assert not led.read_back().on
    led.command(True, Pattern.VIDEO)
    assert not led.read_back().on  # lagging read-back
    clock.advance_ms(20)
    reading = led.read_back()
    assert reading.on and reading.at_ns == clock.monotonic_ns() and reading.occluded is None
    led.fail()
    assert not led.read_back().on
    led.repair()
    led.set_stall(StallMode.RAISE)
    with pytest.raises(IndicatorError):
        led.read_back()
    led.set_stall(StallMode.BLOCK)
    box: list[bool] = []
    thread = threading.Thread(target=lambda: box.append(led.read_back().on))
    thread.start()
    thread.join(0.05)
    assert thread.is_alive()  # blocked in the driver
    led.unstall()
    thread.join(2)
    assert box == [True]
    led.command(False, Pattern.OFF)
    assert led.pattern is Pattern.OFF and not led.read_back().on
