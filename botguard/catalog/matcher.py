"""Batch user-agent matcher: literal prefilter, then only the candidate regexes, most specific first.

Why this shape: the catalogue has thousands of case-insensitive regexes. A per-UA loop over all
of them, or one giant alternation, costs milliseconds per UA in Python's backtracking engine.
Instead each pattern is reduced to the literals it cannot match without (see ``_literals``);
one vectorised Aho-Corasick pass (polars' ``extract_many``, Rust) finds which literals occur in
every distinct UA of a batch, and Python's ``re`` then runs only those candidates, ordered by
specificity so the first hit is the answer.

Two tiers keep generic patterns from stealing named crawlers (the Crawler-Detect rule):

1. named entries are searched in the full user agent; the highest ``priority`` wins, then the
   most specific match (``Googlebot-Image`` over ``Googlebot``, ``Applebot-Extended`` over
   ``Applebot``);
2. only if none matched, generic entries are searched in the user agent with browser tokens
   (Crawler-Detect's exclusions: ``Mozilla/5.0``, ``Windows NT 10.0``, ``SLCC2``-free ``.NET CLR``
   ...) stripped out, so a generic ``spider`` never sees ``Baiduspider``'s named rival and a
   plain browser leaves nothing to match.

Imported patterns (named or generic) never see text that describes the person's device rather
than the client: the catalogue's masks remove the model and build id of ``(Linux; Android 14;
HUAWEI SONIC Build/AP3A...)`` and in-app browser metadata (``[FBAN/...;FBCR/OrangeBotswana]``),
so no imported word can name a phone model, an Android build id or a carrier as a crawler.
Hand-checked entries (priority ``HAND_CHECKED`` and up, which outrank every other entry anyway)
are matched first, on the whole agent: their patterns know where a device model sits (Seznam's
screenshot generator names itself in the model slot).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from botguard.catalog._literals import PlainText, plain_literal, requirement
from botguard.catalog.records import Crawler

#: Priority of hand-checked catalogue entries: matched on the unmasked agent, before the rest.
HAND_CHECKED = 2


@dataclass(frozen=True, slots=True)
class _Pattern:
    """One regex of one entry, with its prefilter literals and rank (higher = more specific)."""

    source: str
    owner: int
    literals: frozenset[str] | None
    rank: tuple[int, int, int]
    plain: PlainText | None  # plain text: matched as a string test


class _Tier:
    """All patterns of one tier, indexed by literal, with regexes compiled on first use."""

    def __init__(self, patterns: list[_Pattern]) -> None:
        self.patterns = patterns
        by_literal: dict[str, list[int]] = {}
        always: list[int] = []
        for pid, pat in enumerate(patterns):
            if pat.literals is None:
                always.append(pid)
                continue
            for lit in pat.literals:
                by_literal.setdefault(lit, []).append(pid)
        self.by_literal = by_literal
        self.literals = sorted(by_literal)
        self.always = tuple(always)
        self._compiled: dict[int, re.Pattern[str]] = {}
        self._candidates: dict[tuple[str, ...], tuple[int, ...]] = {}

    def regex(self, pid: int) -> re.Pattern[str]:
        """The compiled regex of a pattern; compiled lazily because most are never candidates."""
        rx = self._compiled.get(pid)
        if rx is None:
            rx = self._compiled[pid] = re.compile(self.patterns[pid].source, re.IGNORECASE)
        return rx

    def candidates(self, hits: Sequence[str]) -> tuple[int, ...]:
        """Pattern ids worth running for these literal hits, most specific first (memoised:
        thousands of agents share the same few hit lists, e.g. just ``bot``)."""
        key = tuple(hits)
        found = self._candidates.get(key)
        if found is None:
            pids = set(self.always)
            for lit in hits:
                pids.update(self.by_literal[lit])
            ranked = sorted(pids, key=lambda pid: self.patterns[pid].rank, reverse=True)
            found = self._candidates[key] = tuple(ranked)
        return found

    def best(self, text: str, hits: Sequence[str]) -> int | None:
        """Owner index of the most specific pattern matching ``text``, or ``None``."""
        lowered: str | None = None
        for pid in self.candidates(hits):
            pattern = self.patterns[pid]
            if pattern.plain is not None:  # plain text: a string test, no regex to compile
                if lowered is None:
                    lowered = text.lower()
                if pattern.plain.found_in(lowered):
                    return pattern.owner
            elif (self._compiled.get(pid) or self.regex(pid)).search(text):
                return pattern.owner
        return None


@dataclass(frozen=True, slots=True)
class PatternFacts:
    """What the matcher knows of one pattern besides its text: the literals one of which every
    match contains, how many literal characters it pins, and its string test when it is plain.

    Working these out parses each of the catalogue's ~3,000 regexes (~70 ms), so a catalogue
    keeps them in its compiled form (botguard.catalog.loader) for the next start.
    """

    literals: frozenset[str] | None
    score: int
    plain: PlainText | None


def analyse(crawlers: Sequence[Crawler]) -> tuple[PatternFacts, ...]:
    """The facts of every pattern of ``crawlers``, in catalogue order."""
    facts = []
    for crawler in crawlers:
        for source in crawler.patterns:
            req = requirement(source)
            facts.append(PatternFacts(req.literals, req.score, plain_literal(source)))
    return tuple(facts)


class Matcher:
    """Maps user agents to indices into a crawler tuple (or ``None``)."""

    def __init__(
        self,
        crawlers: Sequence[Crawler],
        exclusions: Sequence[str] = (),
        masks: Sequence[str] = (),
        facts: Sequence[PatternFacts] | None = None,
    ) -> None:
        checked: list[_Pattern] = []
        named: list[_Pattern] = []
        generic: list[_Pattern] = []
        known = iter(analyse(crawlers) if facts is None else facts)
        for owner, crawler in enumerate(crawlers):
            tier = generic if crawler.generic else checked if crawler.priority >= HAND_CHECKED else named
            for source in crawler.patterns:
                fact = next(known)
                # rank: priority, then literal characters pinned, then catalogue order
                rank = (crawler.priority, fact.score, -owner)
                tier.append(_Pattern(source, owner, fact.literals, rank, fact.plain))
        self._checked = _Tier(checked)
        self._named = _Tier(named)
        self._generic = _Tier(generic)
        self._exclusion_rx = _alternation(exclusions)
        self._mask_rx = _alternation(masks)

    def match_many(self, user_agents: Sequence[str]) -> list[int | None]:
        """Owner index for each user agent (callers pass distinct values: no caching here)."""
        if not user_agents:
            return []
        agents = pl.Series("ua", list(user_agents), dtype=pl.String)
        result = self._match_tier(self._checked, agents, list(user_agents))
        masked = _remove(self._mask_rx, agents)
        self._fill(result, self._named, masked)
        self._fill(result, self._generic, masked, strip=self._exclusion_rx)
        return result

    def _fill(
        self,
        result: list[int | None],
        tier: _Tier,
        series: pl.Series,
        strip: re.Pattern[str] | None = None,
    ) -> None:
        """Match the rows still unresolved against ``tier`` (after removing ``strip``)."""
        missing = [i for i, r in enumerate(result) if r is None]
        if not missing or not tier.patterns:
            return
        rest = _remove(strip, series.gather(missing))
        for i, r in zip(missing, self._match_tier(tier, rest, rest.to_list())):
            result[i] = r

    def _match_tier(self, tier: _Tier, series: pl.Series, texts: list[str]) -> list[int | None]:
        """Prefilter ``series`` by the tier's literals in one pass, then confirm candidates."""
        result: list[int | None] = [None] * len(texts)
        hit_lists, rows = self._literal_hits(tier, series)
        by_row: dict[int, list[str]] = dict(zip(rows, hit_lists))
        # patterns without a usable literal must see every row; keep that list tiny
        todo = range(len(texts)) if tier.always else by_row
        for row in todo:
            result[row] = tier.best(texts[row], by_row.get(row, ()))
        return result

    @staticmethod
    def _literal_hits(tier: _Tier, series: pl.Series) -> tuple[list[list[str]], list[int]]:
        """Rows with at least one literal hit, and their hits (Aho-Corasick, overlapping)."""
        if not tier.literals:
            return [], []
        frame = pl.DataFrame(
            {"hits": series.str.to_lowercase().str.extract_many(tier.literals, overlapping=True)}
        ).with_row_index("row")
        frame = frame.filter(pl.col("hits").list.len() > 0)
        return frame["hits"].to_list(), frame["row"].to_list()


def _alternation(patterns: Sequence[str]) -> re.Pattern[str] | None:
    """One case-insensitive regex matching any of ``patterns`` (``None`` for none)."""
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


def _remove(rx: re.Pattern[str] | None, series: pl.Series) -> pl.Series:
    """``series`` with every match of ``rx`` removed (vectorised; Python ``re`` fallback)."""
    if rx is None:
        return series
    try:
        return series.str.replace_all("(?i)" + rx.pattern, "")
    except pl.exceptions.ComputeError:  # a user regex Rust's engine rejects (lookaround...)
        return pl.Series("ua", [rx.sub("", s) for s in series.to_list()], dtype=pl.String)
