"""Adapter from the crawler catalogue to :data:`botguard.decide.build.CrawlerLookup`."""

from __future__ import annotations

from functools import lru_cache

from botguard.catalog import Catalog, load_catalog
from botguard.catalog.matcher import HAND_CHECKED
from botguard.decide.agents import blockable_name
from botguard.decide.build import CrawlerInfo, CrawlerLookup

__all__ = ["catalog_lookup"]

#: Regex metacharacters: a pattern using any of them unescaped is not a plain string.
_META = frozenset("\\^$.|?*+()[]{}")


def _literal(pattern: str) -> str | None:
    r"""A catalogue regex that is really a plain string, unescaped, else None.

    Examples:
        >>> _literal(r"leakix\.net"), _literal("Seekport Crawler"), _literal(r"^curl$"), _literal(r"\d+bot")
        ('leakix.net', 'Seekport Crawler', None, None)
    """
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern) and not pattern[i + 1].isalnum():
            out.append(pattern[i + 1])  # an escaped punctuation character is itself
            i += 2
            continue
        if ch in _META:
            return None
        out.append(ch)
        i += 1
    return "".join(out)


def catalog_lookup(catalog: Catalog | None = None) -> CrawlerLookup:
    """A lookup over ``catalog`` (the bundled one by default): token = robots token, name or literal pattern.

    A bot triggers an entry by calling itself by the entry's word, so an imported entry's token
    is only offered when a self-chosen name could be blocked by it too
    (:func:`~botguard.decide.agents.blockable_name`: ``Seeker`` and ``Notion`` name people's phones
    and apps); a hand-checked entry's tokens were chosen and checked by a person.
    """
    cat = catalog if catalog is not None else load_catalog()

    @lru_cache(maxsize=4096)
    def lookup(name: str) -> CrawlerInfo | None:
        try:
            crawler = cat.by_name(name)
        except KeyError:
            return None
        candidates = [crawler.robots_token, crawler.name, *(_literal(p) for p in crawler.patterns)]
        checked = crawler.priority >= HAND_CHECKED
        tokens = tuple(dict.fromkeys(t for t in candidates if t and (checked or blockable_name(t))))
        return CrawlerInfo(tokens=tokens, verifiable=crawler.verification is not None)

    return lookup
