"""Records of the online model: slot policies, parameter deltas, learner settings, stream counters.

Frozen, slotted dataclasses so configurations can be shared and used as constructor defaults;
:class:`StreamCounters` is the one mutable record (it counts while the stream runs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np


@dataclass(frozen=True, slots=True)
class SlotPolicy:
    """Per-slot admission and expiry (Monolith's occurrence threshold and expire time).

    ``admit_after``: sightings before a key gets a row (1 = at once); rare keys such as single
    /24s stay out of memory until they recur. ``ttl``: seconds of stream time without an update
    after which the row is dropped (None = never), so rotating IPs do not grow the table forever.
    """

    admit_after: int = 1
    ttl: float | None = None


@dataclass(frozen=True, slots=True)
class Delta:
    """Rows changed since the last publication: values (idempotent to replay) and deleted keys."""

    keys: tuple[str, ...]
    weights: np.ndarray
    tombstones: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.keys) + len(self.tombstones)


@dataclass(frozen=True, slots=True)
class LearnerConfig:
    """Optimiser settings; the defaults are the notes' measured choices (Adagrad, lr 0.1).

    FTRL-Proximal (``optimizer="ftrl"``) gives sparse, auditable weights via ``l1``.
    """

    optimizer: Literal["adagrad", "ftrl"] = "adagrad"
    lr: float = 0.1
    eps: float = 1e-6
    alpha: float = 0.1
    beta: float = 1.0
    l1: float = 0.5
    l2: float = 1.0

    def __post_init__(self) -> None:
        if self.optimizer not in ("adagrad", "ftrl"):
            raise ValueError(f"unknown optimizer {self.optimizer!r}")


@dataclass(frozen=True, slots=True)
class RuleCandidate:
    """A crawler signature the model proposes to block, with the evidence a reviewer needs.

    Contract between the learner (``botguard.model.stream``), the candidate store and CLI
    (``botguard candidates``) and deploy-rules: ``signature`` is the exact model key
    (``"ua_tok=novascrape"``, ``"ip24=203.0.113"``, ``"asn=64500"``) and identifies the
    candidate across runs; ``match_kind``/``match_value`` say how a renderer enforces it, using
    the decide stage's match kinds (``ua_pattern`` = case-insensitive substring, ``cidr``,
    ``asn``). Values come from hostile logs: renderers escape them, nothing else may.
    """

    signature: str
    match_kind: Literal["ua_pattern", "cidr", "asn"]
    match_value: str
    action: Literal["block", "throttle"]
    score: float  # mean model probability over the signature's recent requests
    bad_rate_lcb: float  # Wilson lower bound of the share of its requests scored above threshold
    support_requests: int
    support_ips: int
    first_seen: float  # stream time (epoch seconds) of the signature's first request
    proposed_at: float  # stream time when it first qualified
    requests_to_candidate: int  # the signature's requests seen when it first qualified
    explanation: tuple[tuple[str, float], ...] = ()  # top (feature, contribution) pairs
    label_counts: tuple[tuple[str, int], ...] = ()  # weak-label source -> examples, e.g. ("robots", 40)


@dataclass(slots=True)
class StreamCounters:
    """What the stream learner did (for reports, benches and tests; snapshots keep them)."""

    events: int = 0
    trained: dict[str, int] = field(default_factory=dict)  # label source -> examples trained
    labelled_actors: dict[str, int] = field(default_factory=dict)
    expired_unlabelled: int = 0  # buffered events dropped without a label (only scored)
    deltas: int = 0
    last_publish: float | None = None
    last_snapshot: float | None = None  # stream time of the last snapshot() (None: never)


@dataclass(frozen=True, slots=True)
class ClientRaise:
    """A client a campaign signature raised: what ties it to the campaign, and what to do about it.

    Contract between the model step and the verdicts (scan) and decisions: ``action`` is
    ``"challenge"`` when the evidence is only behavioural (the campaign), ``"block"`` when the
    client also has evidence of its own (a honeypot hit, a spoofed claim, robots.txt violations
    while walking the catalogue); ``reason`` is one line for the report.
    """

    ip: str
    user_agent: str
    signature: str  # the campaign signature's key, e.g. "walk=/product/{n}@1795411691"
    kind: str  # walk | referer | agent | network | self-walk
    reason: str
    support: int  # distinct clients (addresses) behind the signature when it raised this one
    confidence: float  # the campaign's probability that a member is unwanted
    at: float  # stream time of the raise
    action: Literal["challenge", "block"] = "challenge"
