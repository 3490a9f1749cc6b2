"""Records the render stage produces: one :class:`RuleFile` per file a target needs."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RuleFile"]


@dataclass(frozen=True, slots=True)
class RuleFile:
    """A generated file: its name inside the target directory and its full text (ASCII only)."""

    name: str
    text: str
