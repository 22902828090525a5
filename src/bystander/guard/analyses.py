"""Prohibited analyses: the guard refuses model plug-ins that infer sensitive traits.

Biometric categorisation that infers race or ethnicity, religion, health, political opinions
or sexual orientation is prohibited in the EU (AI Act Art 5(1)(g)) and advised against in
China (2023 draft of the Facial Recognition Measures). A plug-in declares its outputs; any
declared output in a prohibited category is refused with ``ProhibitedAnalysisError``.

>>> registry = AnalysisRegistry()
>>> registry.register(ModelPlugin("scene-captioner", outputs=("caption",)))
>>> registry.names()
['scene-captioner']
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from bystander.errors import BystanderError

BASIS = "EU AI Act Art 5(1)(g)"

#: Prohibited category -> words that, in a declared output name, fall into it.
PROHIBITED: dict[str, tuple[str, ...]] = {
    "ethnicity": ("ethnicity", "ethnic", "race", "racial", "skin_tone", "ancestry"),
    "religion": ("religion", "religious", "belief", "faith"),
    "health": ("health", "disease", "illness", "disability", "medical", "diagnosis"),
    "politics": ("politics", "political", "party_affiliation", "ideology"),
    "sexual orientation": ("sexual_orientation", "sexuality", "sex_life", "orientation"),
}
_WORDS = {word: category for category, words in PROHIBITED.items() for word in words}


class ProhibitedAnalysisError(BystanderError):
    """A plug-in declares an output the guard must never produce."""


@dataclass(frozen=True, slots=True)
class ModelPlugin:
    """An analysis model as the guard sees it: a name and its declared outputs."""

    name: str
    outputs: tuple[str, ...]
    uses_faces: bool = False


def prohibited_outputs(outputs: Iterable[str]) -> dict[str, str]:
    """Declared output -> the prohibited category it falls in (empty when all are fine)."""
    found: dict[str, str] = {}
    for output in outputs:
        norm = re.sub(r"[^a-z0-9]+", "_", output.lower()).strip("_")
        parts = norm.split("_")
        for word, category in _WORDS.items():
            if word in parts or word == norm or (("_" in word) and word in norm):
                found[output] = category
                break
    return found


class AnalysisRegistry:
    """The plug-ins a device may run; registration checks their declared outputs."""

    def __init__(self) -> None:
        self._plugins: dict[str, ModelPlugin] = {}

    def register(self, plugin: ModelPlugin) -> None:
        bad = prohibited_outputs(plugin.outputs)
        if bad:
            listed = ", ".join(f"{out} ({cat})" for out, cat in bad.items())
            raise ProhibitedAnalysisError(
                f"plug-in {plugin.name!r} refused: it declares prohibited outputs {listed}; "
                f"inferring these from people is prohibited ({BASIS})"
            )
        if not plugin.outputs:
            raise ProhibitedAnalysisError(f"plug-in {plugin.name!r} refused: no declared outputs")
        self._plugins[plugin.name] = plugin

    def usable(self, name: str, face_recognition_allowed: bool) -> ModelPlugin:
        """The plug-in ``name`` if it may run here; a face plug-in is refused in zones where
        face recognition is disabled (``CaptureSession.face_recognition_allowed``)."""
        plugin = self._plugins[name]
        if plugin.uses_faces and not face_recognition_allowed:
            raise ProhibitedAnalysisError(
                f"plug-in {name!r} uses faces, and face recognition is disabled here "
                "(CAC/MPS Facial Recognition Measures Art 13)"
            )
        return plugin

    def names(self) -> list[str]:
        return sorted(self._plugins)

    def get(self, name: str) -> ModelPlugin:
        return self._plugins[name]
