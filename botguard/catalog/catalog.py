"""The crawler catalogue: look-ups by name and category, and memoised classification."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from botguard.catalog.matcher import Matcher, PatternFacts, analyse
from botguard.catalog.records import Crawler

#: Distinct user agents remembered per catalogue; a 1M-line log has ~5-30k, so this is ample.
DEFAULT_CACHE_SIZE = 200_000


class Catalog:
    """A loaded crawler catalogue.

    Classification is memoised per distinct user agent on the instance (bounded, oldest
    evicted first), since logs repeat the same few thousand agents millions of times.
    ``exclusions`` (browser tokens) are removed before generic entries are matched; ``masks``
    (device models, build ids, in-app browser metadata) before any entry is.

    Examples
    --------
    >>> from botguard.catalog import load_catalog
    >>> cat = load_catalog()
    >>> cat.classify("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)").name
    'Googlebot'
    >>> cat.classify("Googlebot-Image/1.0").name
    'Googlebot-Image'
    >>> firefox = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
    >>> cat.classify(firefox) is None
    True
    >>> cat.by_name("GPTBot").category
    'ai-training'
    """

    __slots__ = (
        "_by_name", "_cache", "_cache_size", "_facts", "_matcher", "crawlers", "exclusions", "masks",
    )  # fmt: skip

    def __init__(
        self,
        crawlers: Sequence[Crawler],
        exclusions: Sequence[str] = (),
        *,
        masks: Sequence[str] = (),
        cache_size: int = DEFAULT_CACHE_SIZE,
        facts: Sequence[PatternFacts] | None = None,
    ) -> None:
        self.crawlers: tuple[Crawler, ...] = tuple(crawlers)
        self.exclusions: tuple[str, ...] = tuple(exclusions)
        self.masks: tuple[str, ...] = tuple(masks)
        self._by_name = {c.name: c for c in self.crawlers}
        self._matcher: Matcher | None = None
        self._facts = tuple(facts) if facts is not None else None
        self._cache: dict[str, Crawler | None] = {}
        self._cache_size = cache_size

    def __repr__(self) -> str:
        return f"<Catalog {len(self.crawlers)} crawlers>"

    def __len__(self) -> int:
        return len(self.crawlers)

    def by_name(self, name: str) -> Crawler:
        """The entry called ``name``; ``KeyError`` if the catalogue has none."""
        return self._by_name[name]

    def by_category(self, category: str) -> list[Crawler]:
        """All entries of one category, in catalogue order."""
        return [c for c in self.crawlers if c.category == category]

    def classify(self, user_agent: str) -> Crawler | None:
        """The crawler ``user_agent`` belongs to, or ``None`` for browsers and unknown agents."""
        try:
            return self._cache[user_agent]
        except KeyError:
            return self.classify_many((user_agent,))[0]

    def classify_many(self, user_agents: Iterable[str]) -> list[Crawler | None]:
        """Classify a batch: each distinct unseen agent is matched once, in one vectorised pass."""
        agents = user_agents if isinstance(user_agents, list) else list(user_agents)
        cache = self._cache
        todo = list({ua: None for ua in agents if ua not in cache})
        if not todo:
            return [cache[ua] for ua in agents]
        results = self._match(todo)
        found = dict(zip(todo, results))
        answers = [found[ua] if ua in found else cache[ua] for ua in agents]
        self._remember(todo, results)  # after answering: eviction cannot lose this batch's hits
        return answers

    def known(self) -> list[tuple[str, Crawler | None]]:
        """The agents classified so far and their answers, oldest first (see catalog.memo)."""
        return list(self._cache.items())

    def learn(self, pairs: Sequence[tuple[str, Crawler | None]]) -> None:
        """Remember answers worked out by this catalogue's matcher elsewhere (another process:
        catalog.memo), as if classified here; agents known already keep their answer."""
        new = [(agent, crawler) for agent, crawler in pairs if agent not in self._cache]
        self._remember([agent for agent, _ in new], [crawler for _, crawler in new])

    def pattern_facts(self) -> tuple[PatternFacts, ...]:
        """What the matcher knows of every pattern, in catalogue order (worked out once)."""
        if self._facts is None:
            self._facts = analyse(self.crawlers)
        return self._facts

    def matcher(self) -> Matcher:
        """The matcher (built on first use, so loading a catalogue stays cheap; a process that
        forks the commands that classify builds it before: botguard daemon)."""
        if self._matcher is None:
            self._matcher = Matcher(self.crawlers, self.exclusions, self.masks, self.pattern_facts())
        return self._matcher

    def _match(self, agents: list[str]) -> list[Crawler | None]:
        crawlers = self.crawlers
        return [None if i is None else crawlers[i] for i in self.matcher().match_many(agents)]

    def _remember(self, agents: list[str], results: list[Crawler | None]) -> None:
        """Store results, evicting the oldest entries past the bound."""
        cache = self._cache
        overflow = len(cache) + len(agents) - self._cache_size
        if overflow > 0:
            for key in list(cache)[:overflow]:
                del cache[key]
        for ua, crawler in zip(agents[-self._cache_size :], results[-self._cache_size :]):
            cache[ua] = crawler
