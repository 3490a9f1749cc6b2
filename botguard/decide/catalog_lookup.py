"""Adapter from the crawler catalogue to :data:`botguard.decide.build.CrawlerLookup`."""

from __future__ import annotations

from functools import lru_cache

from botguard.catalog import Catalog, load_catalog, plain_text
from botguard.decide.build import CrawlerInfo, CrawlerLookup

__all__ = ["catalog_lookup"]


def catalog_lookup(catalog: Catalog | None = None) -> CrawlerLookup:
    """A lookup over ``catalog`` (the bundled one by default): tokens = robots token, name, then
    the text of each plain pattern (:func:`~botguard.catalog.plain_text`)."""
    cat = catalog if catalog is not None else load_catalog()

    @lru_cache(maxsize=4096)
    def lookup(name: str) -> CrawlerInfo | None:
        try:
            crawler = cat.by_name(name)
        except KeyError:
            return None
        candidates = [crawler.robots_token, crawler.name, *(plain_text(p) for p in crawler.patterns)]
        tokens = tuple(dict.fromkeys(t for t in candidates if t))
        return CrawlerInfo(tokens=tokens, verifiable=crawler.verification is not None)

    return lookup
