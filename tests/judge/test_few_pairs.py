"""A batch's few new (unit, target) pairs get the same facts in plain Python (``_fewpairs``) as
the polars way gives them (``Aggregator._pair_facts`` and ``_verdicts``, the oracle), and only
the pairs the plain way reads as polars does (ASCII targets, a few of them) take it."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from botguard.catalog import load_catalog
from botguard.judge import aggregate
from botguard.judge._fewpairs import FEW_PAIRS, takes_few
from botguard.judge.aggregate import Aggregator
from botguard.robots import RobotsTxt
from botguard.robots.history import RobotsTimeline

_LIVE = RobotsTxt.parse(
    b"User-agent: *\nDisallow: /cart\nDisallow: /internal/\nAllow: /internal/open\nDisallow: /*.PDF$\n\n"
    b"User-agent: AhrefsBot\nCrawl-delay: 10\nDisallow: /search\n\n"
    b"User-agent: GPTBot\nDisallow: /\n"
)
_OLDER = RobotsTxt.parse(
    b"User-agent: *\nDisallow: /internal/\nAllow: /cart\n\nUser-agent: GPTBot\nDisallow: /a\n"
)
#: (host, token) of each unit the tests number: one robots.txt, and a host with two versions in
#: effect at once (a target is allowed when either allows it).
_UNITS = [(None, "*"), (None, "AhrefsBot"), (None, "GPTBot"), ("old", "*"), ("old", "GPTBot")]
_HONEYPOTS = ("/internal/trap/", "/.env")

#: Targets as a hostile log may spell them, in ASCII: robots.txt and asset lookalikes, case,
#: a newline before the end (Python's ``$`` would match there, Rust's not), queries and
#: fragments, ``//`` (a URL's host to the engine), traps, "", and null.
_SPELLED = [
    "/", "", "/robots.txt", "/robots.txt?x", "/robots.txt#f", "/robots.txt\n", "/robots.txtx", "/ROBOTS.TXT",
    "/a.css", "/a.CsS?v=1", "/a.css\n", "/a.jpeg#x", "/a.cssx", "/cart", "/cart?a\nb", "/x?y\nz",
    "/internal/open", "/internal/trap/x", "/.env", "/a/.env", "/cart/internal/trap/", "//internal/x",
    "/doc.PDF", "/doc.PDF\n", "/search?q=1", "http://h/cart", "/p%2Fq", "\x00", "/a#b?c",
]  # fmt: skip
_ASCII_TARGETS = st.one_of(
    st.none(),
    st.sampled_from(_SPELLED),
    st.text(alphabet="/?#.\n\x00$*acinopstxCSTR", max_size=12),
)
#: A batch's new pairs: each (unit, target) once.
_PAIRS = st.lists(st.tuples(st.integers(-1, len(_UNITS) - 1), _ASCII_TARGETS), max_size=40, unique=True)
_CATALOG = load_catalog()


class _Learned:
    """A stand-in for the pair book: records what it is taught."""

    def __init__(self) -> None:
        self.taught: list[tuple[np.ndarray, np.ndarray, list[str | None]]] = []

    def learn(self, flags: np.ndarray, rules: np.ndarray, paths: list[str | None]) -> None:
        self.taught.append((flags.copy(), rules.copy(), list(paths)))


def _robots_for(host: str | None) -> RobotsTxt | RobotsTimeline:
    return RobotsTimeline((), ((_LIVE, _OLDER),)) if host == "old" else _LIVE


def _learned(
    pairs: list[tuple[int, str | None]],
) -> list[tuple[int, int | None, str] | tuple[int, None, None]]:
    """What the pair book is taught of ``pairs``: each pair's flags and its rule (line, text)."""
    scan = Aggregator(_CATALOG, _robots_for, _HONEYPOTS)
    for host, token in _UNITS:
        scan._unit(host, 0, token)
    book = _Learned()
    scan._book = book  # type: ignore[assignment]
    fresh = pl.DataFrame(
        {"unit": [u for u, _ in pairs], "target": [t for _, t in pairs]},
        schema={"unit": pl.Int32, "target": pl.String},
    )
    scan._learn_pairs(fresh)
    ((flags, rules, paths),) = book.taught
    numbered = list(scan._rules)
    named = [
        numbered[n] if flag & 8 else (None, None)
        for n, flag in zip(rules.tolist(), flags.tolist(), strict=True)
    ]
    return [(f, *rule, path) for f, rule, path in zip(flags.tolist(), named, paths, strict=True)]  # type: ignore[misc]


def _polars_way(monkeypatch: pytest.MonkeyPatch, pairs: list[tuple[int, str | None]]) -> list[Any]:
    with monkeypatch.context() as patched:
        patched.setattr(aggregate, "FEW_PAIRS", -1)
        return _learned(pairs)


@given(pairs=_PAIRS)
@settings(max_examples=200, deadline=None)
def test_few_pairs_get_the_facts_the_polars_way_gives(pairs: list[tuple[int, str | None]]) -> None:
    """Generated pairs (ASCII targets that tell Python's regexes from Rust's, units with Crawl-
    delay, several groups, two versions in effect, no robots.txt): the same flags (robots.txt
    fetch, asset, trap, asked, refused), refusing rules and paths, pair for pair."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert _learned(pairs) == _polars_way(monkeypatch, pairs)


def test_the_plain_way_is_taken_for_a_few_ascii_pairs_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """A few ASCII targets go the plain way; a non-ASCII one (case folding differs), or more
    than FEW_PAIRS, the polars way."""
    taken: list[int] = []
    real = aggregate.few_pair_facts
    monkeypatch.setattr(aggregate, "few_pair_facts", lambda *a: taken.append(1) or real(*a))
    _learned([(0, "/cart"), (2, None)])
    assert taken == [1]
    _learned([(0, "/a.g\u0130f")])
    _learned([(0, f"/{n}") for n in range(FEW_PAIRS + 1)])
    assert taken == [1]
    assert takes_few(["/a", None]) and not takes_few(["/caf\u00e9"])


def test_an_asset_spelled_with_a_dotless_i_is_what_polars_says() -> None:
    """Python's case-insensitive ``i`` matches U+0130 and U+0131, Rust's does not: such a
    target goes the polars way, and is no asset."""
    flags = _learned([(0, "/a.g\u0131f"), (0, "/a.GIF")])
    assert [f & 2 for f, *_ in flags] == [0, 2]


def test_refused_pairs_cite_the_live_versions_rule() -> None:
    """The refusing rule of a pair both versions refuse is the live one's; a pair the older
    version allows is allowed."""
    found = _learned([(3, "/internal/x"), (3, "/cart"), (4, "/a"), (4, "/b"), (0, "/cart?q")])
    assert [(f & 8, line, rule, path) for f, line, rule, path in found] == [
        (8, 3, "Disallow: /internal/", "/internal/x"),
        (0, None, None, "/cart"),
        (8, 12, "Disallow: /", "/a"),
        (0, None, None, "/b"),
        (8, 2, "Disallow: /cart", "/cart"),
    ]
