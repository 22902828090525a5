"""YAML from untrusted hands: the safe loader, with aliases refused and the text size-capped.

``yaml.safe_load`` still expands aliases, so a kilobyte of nested ``&a [*b, *b, ...]`` becomes
gigabytes of objects (a "billion laughs"). Profiles, zone policies and evidence bundles never
need aliases, so :func:`load` refuses them while composing, before anything is built.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.events import AliasEvent
from yaml.nodes import Node

#: The default cap on a YAML document (1 MiB): far above any profile or manifest.
MAX_YAML_BYTES = 1 << 20


class YamlAliasError(yaml.YAMLError):
    """The document uses an alias (``*name``), which untrusted YAML may not."""

    problem = "aliases (*name) are not allowed"

    def __str__(self) -> str:
        return self.problem


class NoAliasSafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that stops at the first alias instead of expanding it."""

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(AliasEvent):
            raise YamlAliasError()
        return super().compose_node(parent, index)


def load(text: str | bytes, max_bytes: int = MAX_YAML_BYTES) -> Any:
    """Parse one YAML document safely: no aliases, no custom tags, at most ``max_bytes``.

    Raises ``yaml.YAMLError`` (``YamlAliasError`` for an alias; a too-large text is a
    ``yaml.YAMLError`` too, so callers need one ``except``).
    """
    size = len(text.encode("utf-8") if isinstance(text, str) else text)
    if size > max_bytes:
        raise yaml.YAMLError(f"YAML document larger than {max_bytes} bytes")
    loader = NoAliasSafeLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
