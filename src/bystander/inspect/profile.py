"""The inspected device's declared facts: the ``profile`` file of an evidence bundle.

A maker (or an auditor, from teardown and documentation) states what the device is and how it
is built: sensors, indicator, zones, data flows, retention, authentication, access control,
subscriptions. Checks compare these declarations with the observed records. Unknown keys are
errors, so a typo cannot silently pass a check.

Example ``profile.yaml``::

    device_id: lock-0042
    device_type: door-lock
    vendor: Example Locks Ltd
    markets: [CN]
    sensors: [camera]
    face_recognition: true
    authentication:
      methods: [face]
    data_flows:
      - data_categories: [user.biometric.face.template]
        destination: api.example-cloud.com
        country: SG
        purpose: remote unlock
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


DEVICE_TYPES = (
    "smart-glasses",
    "home-camera",
    "door-lock",
    "kids-watch",
    "smart-speaker",
    "learning-tablet",
    "ai-toy",
    "dashcam",
    "platform",
    "other",
)


class Processor(_Strict):
    """Who processes the personal information, and how to reach them."""

    name: str | None = None
    contact: str | None = None
    country: str | None = None


class IndicatorDeclaration(_Strict):
    """The recording indicator as built."""

    present: bool = False
    kind: str | None = None  # led | screen | sound
    covers: list[str] = Field(default_factory=list)  # sensors it signals: camera, microphone
    hardwired: bool | None = None  # powered with the sensor, not by software
    visible_to_bystanders: bool | None = None
    tamper_detection: bool | None = None
    visibility: str | None = None  # tested visibility, e.g. "3 m indoors"
    t_lead_ms: float | None = Field(default=None, ge=0)  # lit this long before the first frame


class DataFlow(_Strict):
    """A declared flow of personal data off the device."""

    data_categories: list[str]
    destination: str  # host name, or "on_device"
    country: str | None = None
    purpose: str | None = None
    consent_scope: str | None = None  # the consent scope this flow relies on
    encrypted: bool | None = None


class Authentication(_Strict):
    """How a person unlocks or authenticates to the device."""

    methods: list[str] = Field(default_factory=list)  # face, pin, password, card, key, app...
    default_method: str | None = None


class AccessControl(_Strict):
    """Who can reach the device's data and feeds."""

    remote_view_requires_auth: bool | None = None
    default_password: bool | None = None  # one shared default credential
    unique_credentials: bool | None = None
    user_roles: bool | None = None
    encryption_at_rest: bool | None = None
    encryption_in_transit: bool | None = None
    access_log: bool | None = None


class Subscription(_Strict):
    """A paid service sold with the device."""

    offered: bool = False
    auto_renew: bool = False
    reminder_days_before: int | None = None  # declared pre-renewal reminder
    cancel_any_time: bool | None = None


class Security(_Strict):
    """Baseline security declarations (ETSI EN 303 645)."""

    vuln_disclosure_url: str | None = None
    support_period: str | None = None
    software_updates: bool | None = None


class InspectedDevice(_Strict):
    """The profile of the device under inspection."""

    device_id: str = Field(min_length=1, max_length=200)
    device_type: str = Field(min_length=1, max_length=50)
    vendor: str | None = None
    model: str | None = None
    markets: list[str] = Field(default_factory=list)  # CN, EU, US-IL ...
    # whose conduct the evidence documents: manufacturer, deployer, platform, user
    roles: list[str] = Field(default_factory=lambda: ["manufacturer"])
    processor: Processor = Field(default_factory=Processor)
    sensors: list[str] = Field(default_factory=list)
    indicator: IndicatorDeclaration = Field(default_factory=IndicatorDeclaration)
    face_recognition: bool = False
    biometrics: list[str] = Field(default_factory=list)  # face, voice, fingerprint
    zones: list[str] = Field(default_factory=list)  # where it is sold/deployed to be used
    zone_guard: bool | None = None  # face recognition switches off in private spaces
    targets_children: bool = False  # marketed to, or used by, under-14s
    data_flows: list[DataFlow] = Field(default_factory=list)
    retention_days: dict[str, float] = Field(default_factory=dict)  # category -> days
    authentication: Authentication = Field(default_factory=Authentication)
    access_control: AccessControl = Field(default_factory=AccessControl)
    subscription: Subscription = Field(default_factory=Subscription)
    security: Security = Field(default_factory=Security)
    declared_data_categories: list[str] = Field(default_factory=list)  # what it says it collects
    purposes: list[str] = Field(default_factory=list)
    # legal bases other than consent the processing relies on (PIPL Art 13(2)-(7)):
    # contract, statutory_duty, emergency, news_reporting, disclosed_data, other_law
    legal_bases: list[str] = Field(default_factory=list)
