"""Adapter from the crawler catalogue to :data:`botguard.decide.build.CrawlerLookup`."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from botguard.catalog import Catalog, load_catalog, plain_text
from botguard.catalog.matcher import HAND_CHECKED
from botguard.decide.agents import blockable_name

if TYPE_CHECKING:
    from botguard.decide.build import CrawlerLookup

__all__ = ["catalog_lookup"]


def catalog_lookup(catalog: Catalog | None = None) -> CrawlerLookup:
    """A lookup over ``catalog`` (the bundled one by default): tokens = robots token, name, then
    the text of each plain pattern (:func:`~botguard.catalog.plain_text`).

    A bot triggers an entry by calling itself by the entry's word, so an imported entry's token
    is only offered when a self-chosen name could be blocked by it too
    (:func:`~botguard.decide.agents.blockable_name`: ``Seeker`` and ``Notion`` name people's phones
    and apps); a hand-checked entry's tokens were chosen and checked by a person.
    """
    # Imported here: the door binds this function at import, and a scan never builds decisions.
    from botguard.decide.build import CrawlerInfo

    cat = catalog if catalog is not None else load_catalog()

    @lru_cache(maxsize=4096)
    def lookup(name: str) -> CrawlerInfo | None:
        try:
            crawler = cat.by_name(name)
        except KeyError:
            return None
        candidates = [crawler.robots_token, crawler.name, *(plain_text(p) for p in crawler.patterns)]
        checked = crawler.priority >= HAND_CHECKED
        tokens = tuple(dict.fromkeys(t for t in candidates if t and (checked or blockable_name(t))))
        return CrawlerInfo(tokens=tokens, verifiable=crawler.verification is not None)

    return lookup
