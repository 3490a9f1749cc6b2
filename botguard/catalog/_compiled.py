"""The catalogue's compiled form: validated entries and the matcher's pattern facts as one JSON file.

Loading the shipped catalogue means validating ~2,900 entries and analysing ~3,000 regexes,
about 0.13 s of every start; its compiled form reads back in a few milliseconds. It is written
into a :mod:`botguard.cache` entry keyed by the catalogue's bytes and the code that derives it,
with the SHA-256 of the JSON beside it: a file that does not match is :class:`CacheDamaged`,
and the catalogue is loaded from its source again.
"""

from __future__ import annotations

from dataclasses import astuple
from pathlib import Path
from typing import Any

from botguard.cache import CacheDamaged, read_checked_json, write_checked_json
from botguard.catalog._literals import PlainText
from botguard.catalog.catalog import Catalog
from botguard.catalog.matcher import PatternFacts
from botguard.catalog.records import Crawler, Verification

#: The modules whose code decides what the compiled form holds (part of its cache key).
SOURCES = tuple(
    Path(__file__).with_name(name) for name in ("loader.py", "records.py", "matcher.py", "_literals.py")
)
BODY, CHECK = "catalog.json", "catalog.sha256"


def write_compiled(catalog: Catalog, entry: Path) -> None:
    """Store ``catalog`` with its pattern facts in the directory ``entry``."""
    doc = {
        "crawlers": [list(astuple(c)) for c in catalog.crawlers],
        "exclusions": list(catalog.exclusions),
        "masks": list(catalog.masks),
        "facts": [_fact_row(f) for f in catalog.pattern_facts()],
    }
    write_checked_json(doc, entry, BODY)


def read_compiled(entry: Path) -> Catalog:
    """The catalogue stored in ``entry``; :class:`CacheDamaged` unless it is exactly what was written."""
    doc = read_checked_json(entry, BODY)
    try:
        crawlers = [_crawler(row) for row in doc["crawlers"]]
        facts = [_fact(row) for row in doc["facts"]]
        if len(facts) != sum(len(c.patterns) for c in crawlers):
            raise CacheDamaged(f"{entry / BODY}: pattern facts do not fit the entries")
        return Catalog(crawlers, doc["exclusions"], masks=doc["masks"], facts=facts)
    except (KeyError, TypeError, ValueError) as exc:
        raise CacheDamaged(f"{entry / BODY}: {exc}") from None


def _crawler(row: list[Any]) -> Crawler:
    (name, operator, category, patterns, token, respects, verification, url, generic, priority) = row
    return Crawler(
        name=name,
        operator=operator,
        category=category,
        patterns=tuple(patterns),
        robots_token=token,
        respects_robots=respects,
        verification=None if verification is None else Verification(*map(tuple, verification)),
        url=url,
        generic=generic,
        priority=priority,
    )


def _fact_row(fact: PatternFacts) -> list[Any]:
    literals = None if fact.literals is None else sorted(fact.literals)
    return [literals, fact.score, None if fact.plain is None else list(astuple(fact.plain))]


def _fact(row: list[Any]) -> PatternFacts:
    literals, score, plain = row
    return PatternFacts(
        None if literals is None else frozenset(literals), score, None if plain is None else PlainText(*plain)
    )
