"""Records the render stage produces: one :class:`RuleFile` per file a target needs."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RuleFile"]


@dataclass(frozen=True, slots=True)
class RuleFile:
    """A generated file: its name inside the target directory and its full text (ASCII only).

    A ``secret`` file (the challenge files carry the pass keys) is written readable by its owner
    only (0600; servers read configuration as root) and its content never shown in a diff.
    """

    name: str
    text: str
    secret: bool = False
