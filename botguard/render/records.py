"""Records of the render stage: one :class:`RuleFile` per file a target needs, and who the
challenge routing sends to serve (:class:`ChallengeTargets`)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ChallengeTargets", "RuleFile"]


@dataclass(frozen=True, slots=True)
class RuleFile:
    """A generated file: its name inside the target directory and its full text (ASCII only).

    A ``secret`` file (the challenge files carry the pass keys) is written readable by its owner
    only (0600; servers read configuration as root) and its content never shown in a diff.
    """

    name: str
    text: str
    secret: bool = False


@dataclass(frozen=True, slots=True)
class ChallengeTargets:
    """Who must solve a challenge: addresses/networks (CIDR), exact user agents and agent substrings
    (both case-insensitive), exact (address, agent) pairs; and who never is, whatever else matches
    (the allowlist: agent substrings, networks, (address, exact agent) pairs)."""

    networks: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()
    tokens: tuple[str, ...] = ()
    clients: tuple[tuple[str, str], ...] = ()
    allow_agents: tuple[str, ...] = ()
    allow_networks: tuple[str, ...] = ()
    allow_clients: tuple[tuple[str, str], ...] = ()
