"""Adapter from the crawler catalogue to :data:`botguard.decide.build.CrawlerLookup`."""

from __future__ import annotations

from functools import lru_cache

from botguard.catalog import Catalog, load_catalog
from botguard.decide.build import CrawlerInfo, CrawlerLookup

__all__ = ["catalog_lookup"]


def catalog_lookup(catalog: Catalog | None = None) -> CrawlerLookup:
    """A lookup over ``catalog`` (the bundled one by default): token = robots token or name."""
    cat = catalog if catalog is not None else load_catalog()

    @lru_cache(maxsize=4096)
    def lookup(name: str) -> CrawlerInfo | None:
        try:
            crawler = cat.by_name(name)
        except KeyError:
            return None
        return CrawlerInfo(token=crawler.robots_token or crawler.name, verifiable=crawler.verification is not None)

    return lookup
