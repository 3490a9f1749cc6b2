"""Catalog API: look-ups, memoisation, batches, and agreement with a brute-force matcher."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable

import pytest

from botguard.catalog import Catalog, Crawler, load_catalog
from botguard.catalog._literals import requirement
from botguard.catalog.records import CATEGORIES
from botguard.catalog.reference import bundled_agents


def test_by_name_and_by_category(catalog: Catalog) -> None:
    """by_name raises KeyError for unknown names; by_category filters in catalogue order."""
    assert catalog.by_name("GPTBot").operator == "OpenAI"
    with pytest.raises(KeyError):
        catalog.by_name("NoSuchBot")
    scanners = catalog.by_category("scanner")
    assert {"zgrab", "masscan", "Nuclei", "sqlmap", "Nikto"} <= {c.name for c in scanners}
    assert all(c.category == "scanner" for c in scanners)
    assert catalog.by_category("nonsense") == []
    assert set(CATEGORIES) == {c.category for c in catalog.crawlers}


def test_classify_many_matches_classify_and_keeps_order(catalog: Catalog, browser_uas: list[str]) -> None:
    """A batch with duplicates answers in input order, like one call per agent."""
    batch = ["curl/8.0", browser_uas[0], "Googlebot-Image/1.0", "curl/8.0", ""] * 3
    assert catalog.classify_many(iter(batch)) == [catalog.classify(ua) for ua in batch]
    assert catalog.classify_many([]) == []


def test_memoised_and_bounded() -> None:
    """Results are cached per distinct agent on the instance, up to the bound."""
    catalog = Catalog(load_catalog().crawlers, load_catalog().exclusions, cache_size=10)
    agents = [f"probe-{i} curl/8.{i}" for i in range(25)]
    assert all(c is not None and c.name == "curl" for c in catalog.classify_many(agents))
    assert len(catalog._cache) == 10
    assert catalog.classify(agents[-1]).name == "curl"


def test_records_are_frozen(catalog: Catalog) -> None:
    """Crawler records are immutable values."""
    entry = catalog.by_name("Googlebot")
    with pytest.raises(AttributeError):
        entry.name = "x"  # type: ignore[misc]
    assert isinstance(entry, Crawler) and isinstance(entry.patterns, tuple)


def _reference(catalog: Catalog) -> Callable[[str], str | None]:
    """Brute force: every pattern, same tiers, masks and ranking, no prefilter."""
    strip = re.compile("|".join(f"(?:{e})" for e in catalog.exclusions), re.IGNORECASE)
    mask = re.compile("|".join(f"(?:{m})" for m in catalog.masks), re.IGNORECASE)
    compiled = [
        (_tier(c), (c.priority, requirement(p).score, -owner), c.name, re.compile(p, re.IGNORECASE))
        for owner, c in enumerate(catalog.crawlers)
        for p in c.patterns
    ]

    def classify(ua: str) -> str | None:
        masked = mask.sub("", ua)
        for tier, text in (("checked", ua), ("named", masked), ("generic", strip.sub("", masked))):
            hits = [(rank, name) for t, rank, name, rx in compiled if t == tier and rx.search(text)]
            if hits:
                return max(hits)[1]
        return None

    return classify


def _tier(crawler: Crawler) -> str:
    """Hand-checked entries see the whole agent; other named ones the masked agent; then generic."""
    if crawler.generic:
        return "generic"
    return "checked" if crawler.priority >= 2 else "named"


def test_prefiltered_matcher_agrees_with_brute_force(catalog: Catalog, browser_uas, shared, lines) -> None:
    """The literal prefilter never changes an answer (sampled crawlers, browsers, masked devices)."""
    crawlers = lines(shared("crawler-detect", "tests_data_user_agent_crawlers.txt"))
    devices = [ua for ua in bundled_agents("browsers") if "Build/" in ua or "[FB" in ua]
    sample = (
        random.Random(9).sample(crawlers, 300)
        + browser_uas[:60]
        + random.Random(9).sample(devices, 100)
        + [f"{ua} Sonic/1.0" for ua in devices[:20]]
    )
    fast = [c.name if c else None for c in catalog.classify_many(sample)]
    reference = _reference(catalog)
    slow = [reference(ua) for ua in sample]
    assert fast == slow


def test_load_is_fast() -> None:
    """Loading runs on every scan: ~30 ms of CPU here. CPU time, not wall time, so a busy machine
    (the suite beside other work) does not fail a bound that holds for the code."""
    start = time.process_time()
    load_catalog()
    assert time.process_time() - start < 0.5
