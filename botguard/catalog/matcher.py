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
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from botguard.catalog._literals import plain_literal, requirement
from botguard.catalog.records import Crawler


@dataclass(frozen=True, slots=True)
class _Pattern:
    """One regex of one entry, with its prefilter literals and rank (higher = more specific)."""

    source: str
    owner: int
    literals: frozenset[str] | None
    rank: tuple[int, int, int]
    plain: tuple[str, bool, bool] | None  # literal text, ^-anchored, $-anchored


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
                if _plain_match(lowered, pattern.plain):
                    return pattern.owner
            elif (self._compiled.get(pid) or self.regex(pid)).search(text):
                return pattern.owner
        return None


def _plain_match(lowered: str, plain: tuple[str, bool, bool]) -> bool:
    """Case-insensitive search of an ASCII literal, honouring ``^``/``$`` anchors."""
    literal, at_start, at_end = plain
    if at_start and at_end:
        return lowered == literal
    if at_start:
        return lowered.startswith(literal)
    if at_end:
        return lowered.endswith(literal)
    return literal in lowered


class Matcher:
    """Maps user agents to indices into a crawler tuple (or ``None``)."""

    def __init__(self, crawlers: Sequence[Crawler], exclusions: Sequence[str] = ()) -> None:
        named: list[_Pattern] = []
        generic: list[_Pattern] = []
        for owner, crawler in enumerate(crawlers):
            tier = generic if crawler.generic else named
            for source in crawler.patterns:
                req = requirement(source)
                # rank: literal characters pinned, then catalogue order (curated entries first)
                # priority, then literal characters pinned, then catalogue order
                rank = (crawler.priority, req.score, -owner)
                tier.append(_Pattern(source, owner, req.literals, rank, plain_literal(source)))
        self._named = _Tier(named)
        self._generic = _Tier(generic)
        self._exclusions = tuple(exclusions)
        self._exclusion_rx = (
            re.compile("|".join(f"(?:{e})" for e in exclusions), re.IGNORECASE) if exclusions else None
        )

    def match_many(self, user_agents: Sequence[str]) -> list[int | None]:
        """Owner index for each user agent (callers pass distinct values: no caching here)."""
        if not user_agents:
            return []
        series = pl.Series("ua", list(user_agents), dtype=pl.String)
        result = self._match_tier(self._named, series, list(user_agents))
        missing = [i for i, r in enumerate(result) if r is None]
        if missing and self._generic.patterns:
            rest = series.gather(missing)
            stripped = self._strip(rest)
            found = self._match_tier(self._generic, stripped, stripped.to_list())
            for i, r in zip(missing, found):
                result[i] = r
        return result

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

    def _strip(self, series: pl.Series) -> pl.Series:
        """Remove browser tokens before generic matching (vectorised; Python ``re`` fallback)."""
        if self._exclusion_rx is None:
            return series
        try:
            return series.str.replace_all("(?i)" + self._exclusion_rx.pattern, "")
        except pl.exceptions.ComputeError:  # a user regex Rust's engine rejects (lookaround...)
            rx = self._exclusion_rx
            return pl.Series("ua", [rx.sub("", s) for s in series.to_list()], dtype=pl.String)
