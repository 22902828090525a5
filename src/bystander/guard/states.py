"""The capture session's states (``OFF -> ARMING -> LIT -> CAPTURING -> DRAINING -> OFF``,
and a latched ``FAULT``)."""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    OFF = "OFF"
    ARMING = "ARMING"
    LIT = "LIT"
    CAPTURING = "CAPTURING"
    DRAINING = "DRAINING"
    FAULT = "FAULT"


#: States in which the indicator is commanded on and the session can fault.
ACTIVE = (State.ARMING, State.LIT, State.CAPTURING, State.DRAINING)
#: States in which samples may be released.
RELEASING = (State.CAPTURING, State.DRAINING)
