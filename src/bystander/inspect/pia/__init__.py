"""A pre-filled personal-information impact assessment (PIA / DPIA) from an inspection.

The structure serves three laws at once: CAC/MPS Facial Recognition Measures Art 9 (legality and
necessity of purpose and method; impact on rights and mitigations; risk of leak, tampering, loss
or illegal acquisition and the harm; whether measures are lawful, effective and proportionate),
PIPL Art 55-56 and GDPR Art 35(7) (systematic description; necessity and proportionality; risks to
rights and freedoms; measures). Sections follow the CNIL method: 1 Context, 2 Necessity and
proportionality, 3 Risks (illegitimate access, unwanted modification, disappearance), 4 Measures,
5 Validation.

Everything is a *draft*: facts come from the device profile and the failing rules; what the tool
cannot know is an explicit ``TODO`` placeholder, never an invented fact.

>>> pia = build_pia(inspection)             # doctest: +SKIP
>>> markdown = render_pia(pia, "markdown")  # doctest: +SKIP
"""

from bystander.inspect.pia.assess import build_pia
from bystander.inspect.pia.model import (
    LEVELS,
    TODO,
    FlowRow,
    Measure,
    Pia,
    PiaField,
    PlannedMeasure,
    Risk,
    RuleRef,
    is_todo,
    todo,
)
from bystander.inspect.pia.render import md, render_pia

__all__ = [
    "LEVELS",
    "TODO",
    "FlowRow",
    "Measure",
    "Pia",
    "PiaField",
    "PlannedMeasure",
    "Risk",
    "RuleRef",
    "build_pia",
    "is_todo",
    "md",
    "render_pia",
    "todo",
]
