"""Weak labels per actor from evidence botguard already has, with the notes' leakage rules.

Why weak labels: nobody labels crawler traffic by hand, but the scan already proves some clients
bad (they hit a honeypot, break robots.txt, spoof a search engine, or are a catalogue crawler the
policy blocks) and some good (an IP inside a search engine's published ranges, a browser that
loads assets and follows links at a reading pace). The model learns from those and generalises to
clients no rule catches, through the features they share (network, UA tokens, behaviour).

Leakage rules (../shared/notes/online-model.md §2), enforced here and in the stream:

1. The features a label source reads are masked on the examples it labelled (:data:`MASKS`):
   a UA-list label never shows the model UA slots, a robots.txt or honeypot label never shows
   the path, the human rule never shows the behaviour slots it reads. "Hit a disallowed path"
   is never a feature, and honeypot paths never reach the path features at all.
2. No look-ahead: a label is decided at the time of the event that completes the evidence, from
   the actor's events up to then; the stream trains it on that actor's events scored before it
   (a short join buffer) and on later ones, never on events it dropped unlabelled.
3. Offline identity only: a spoofer is a claim of a verifiable crawler from an IP outside its
   published ranges (:func:`botguard.identity.enrich.check_claim` with no DNS answer); no DNS in the stream.

The human rule mirrors the judge's (``botguard.judge.verdict._kind`` with
:class:`botguard.config.HumanRules`) but reads the actor's raw counts, split into two views that
read disjoint evidence (co-training): ``human_assets`` (a reading pace and page assets) and
``human_referer`` (a reading pace and referers). Each view masks only the slots it read, so the
model cannot learn a view back from its own inputs (the circular false positive of notes §2
rule 4), yet every behaviour slot but the pace trains from both sides: ``ref`` from people the
asset view labelled, ``asset_b`` from people the referer view labelled. One rule reading both
would mask ``ref`` and ``asset_b`` on every person, so they would learn only from bots, which
send referers or not alike, and a disguised scraper that sends neither would look like a
person. A client both views accept takes one by its id's parity (:func:`referer_view`), so each
slot also sees the typical person's value (a referer *and* assets) on the human side; always one
view would leave the other's slot trained only on the people that view alone accepts. Both views
keep the judge's guards against programs (:meth:`Labeler.automated`), which only ever withhold a
label; one of them reads assets (more than ``max_pages_without_assets`` pages and none), so a
referer-view person with that many pages did load an asset, however few.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from botguard.catalog import Crawler
from botguard.config import Settings
from botguard.identity.enrich import check_claim
from botguard.identity.records import SPOOFED, VERIFIED
from botguard.judge.verdict import BROWSER_RE
from botguard.model.features import PATH_SLOTS, UA_SLOTS

Source = Literal[
    "verified", "honeypot", "spoofer", "catalog", "robots", "human_assets", "human_referer", "human"
]

#: Browser-like user agents (the judge's test): only these can be labelled human.
BROWSER = re.compile(BROWSER_RE)

#: Behaviour slots the human rule reads (assets, referers, pacing): all of them, on the client
#: pass's person label and on a ``human`` label from an older snapshot.
HUMAN_SLOTS = frozenset({"asset_b", "ref", "ref_kind", "rate_b"})
#: The human label's views, each reading the pace and one of assets or referers.
HUMAN_VIEWS = ("human_assets", "human_referer")

#: Slots masked on the examples each source labelled (leakage rule 1).
MASKS: dict[str, frozenset[str]] = {
    "verified": UA_SLOTS,  # reads the UA's claim (and the IP: the network is what it teaches)
    "spoofer": UA_SLOTS,  # reads the UA's claim
    "catalog": UA_SLOTS,  # reads the UA against the catalogue
    "honeypot": PATH_SLOTS,  # reads the path
    "robots": PATH_SLOTS,  # reads paths against robots.txt (not whether robots.txt was fetched)
    "human_assets": frozenset({"asset_b", "rate_b"}),  # ref stays: the view did not read it
    "human_referer": frozenset({"ref", "ref_kind", "rate_b"}),  # asset_b stays
    "human": HUMAN_SLOTS,  # restored from an older snapshot: it read both
}
POSITIVE: frozenset[str] = frozenset({"honeypot", "spoofer", "catalog", "robots"})

#: The human rule looks at an actor once it made this many requests (fewer say nothing).
HUMAN_MIN_REQUESTS = 6


def referer_view(uid: Any, assets_ok: Any, referers_ok: Any) -> Any:
    """Whether the referer view labels a human client (else the asset view, when its share is
    met): when only its referers meet their share, or both shares are met and its id is odd (a
    stable choice, the same in a scan and a watch; scalars or arrays)."""
    return np.logical_and(referers_ok, np.logical_not(assets_ok) | ((np.asarray(uid) & 1) == 1))


@dataclass(frozen=True, slots=True)
class Label:
    """A weak label of one actor: unwanted (True) or not, which source, and when it was decided."""

    unwanted: bool
    source: Source
    decided_at: float


@dataclass(slots=True)
class ActorEvidence:
    """What the label sources read about one actor, accumulated over its events so far (≤ now)."""

    crawler: Crawler | None
    identity: str  # verified / spoofed / unverifiable / unknown (offline: published ranges only)
    browser: bool
    first: float = 0.0
    last: float = 0.0
    requests: int = 0
    pages: int = 0
    assets: int = 0
    referers: int = 0
    invalid: int = 0
    disallowed: int = 0
    honeypot: int = 0
    fast_pages: int = 0  # pages less than min_seconds_per_page after the actor's previous page
    last_page: float | None = None


def identity_of(crawler: Crawler | None, in_range: bool, network: object | None) -> str:
    """Offline identity of a claim: the identity stage's claim check without a DNS answer."""
    return check_claim(crawler, in_range, None, network).identity  # type: ignore[arg-type]


class Labeler:
    """Decides an actor's weak label from its evidence, by priority (first source that fires wins).

    Order: verified good bot (policy: never blocked unless ``block_verified``) > honeypot >
    spoofer > catalogue category the policy blocks > robots.txt violations by a non-human >
    human (one of its views). Positive labels are final; a human label turns positive if a positive
    source fires later.
    """

    def __init__(self, settings: Settings) -> None:
        self.policy = settings.policy
        self.human = settings.human
        self._blocked = frozenset(settings.policy.block_categories)

    def decide(self, ev: ActorEvidence, now: float, uid: int = 0) -> Label | None:
        """The label the evidence supports at ``now``, or None (the actor is only scored); ``uid``
        (:func:`botguard.model._actors.actor_uid`) picks the human view when both accept."""
        policy = self.policy
        if ev.identity == VERIFIED and not policy.block_verified:
            return Label(False, "verified", now)
        if ev.honeypot and policy.block_on_honeypot:
            return Label(True, "honeypot", now)
        if ev.identity == SPOOFED and policy.block_spoofed:
            return Label(True, "spoofer", now)
        if ev.crawler is not None and ev.crawler.category in self._blocked:
            return Label(True, "catalog", now)
        automated = self.automated(ev)
        if ev.disallowed >= policy.block_min_disallowed and (not ev.browser or automated):
            return Label(True, "robots", now)
        if ev.browser and ev.crawler is None and not automated and self.humanlike(ev):
            assets_ok, referers_ok = self._shares(ev)
            return Label(
                False, "human_referer" if referer_view(uid, assets_ok, referers_ok) else "human_assets", now
            )
        return None

    def automated(self, ev: ActorEvidence) -> bool:
        """A browser UA that behaves like a program (the judge's `automated` kind, on counts so far)."""
        rules = self.human
        if ev.honeypot or ev.invalid:
            return True
        if ev.pages > rules.max_pages_without_assets and ev.assets == 0:
            return True
        if ev.fast_pages >= 4:  # five pages each under min_seconds_per_page after the one before
            return True
        return ev.pages >= 10 and not self._shares_ok(ev)

    def humanlike(self, ev: ActorEvidence) -> bool:
        """Loads assets or sends referers, at a reading pace, over enough requests to tell."""
        if ev.requests < HUMAN_MIN_REQUESTS or ev.pages < 1:
            return False
        reading = (ev.last - ev.first) / max(ev.pages, 1) >= self.human.min_seconds_per_page
        return reading and self._shares_ok(ev)

    def _shares_ok(self, ev: ActorEvidence) -> bool:
        return any(self._shares(ev))

    def _shares(self, ev: ActorEvidence) -> tuple[bool, bool]:
        """Whether its assets, and its referers, meet their share of its requests."""
        n = max(ev.requests, 1)
        return ev.assets / n >= self.human.min_asset_share, ev.referers / n >= self.human.min_referer_share
