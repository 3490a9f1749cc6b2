"""The running fold's pair book (``_fold.book_*``, door botguard/judge/_pairs.py) numbers pairs as
its pure twin does, batch after batch, at its bounds too, and refuses what is not one batch.

The aggregator-level checks (a scan through the book gives the polars way's partial, with the
book starting over inside it) are at the end; the running fold's own tests are in
test_native_fold.py.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from botguard.judge import aggregate
from botguard.judge._pairs import PairBook, PairNumbers
from botguard.native import kernel
from tests.judge.test_native_fold import (
    _START,
    _batch,
    _cut,
    _kernel_and_twin_partials,
    _plain,
    _row,
)
from tests.judge.test_partial import same_partial

pytestmark = pytest.mark.skipif(kernel("judge._fold") is None, reason="the C kernel is not built here")

#: Targets as a hostile log may spell them: any text (NUL, controls, non-ASCII), views'
#: inline-length edges (12 and 13 bytes), "", null, and a long one.
_TARGETS = st.one_of(
    st.none(),
    st.text(max_size=16),
    st.sampled_from(["/", "/a" * 6, "/a" * 6 + "b", "", "\x00", "/caf\u00e9", "/x" * 400]),
)
_PAIRS = st.lists(st.tuples(st.integers(-1, 3), _TARGETS), min_size=0, max_size=40)


def _column(pairs: list[tuple[int, str | None]], cut: int) -> tuple[pl.Series, np.ndarray]:
    """The targets as a column of two chunks cut at ``cut`` (a slice of a longer one when the
    cut is odd: an Arrow offset), and the units as int32."""
    targets = pl.Series("target", [t for _, t in pairs], pl.String)
    if cut % 2:
        padded = pl.Series("target", ["pad", *targets.to_list(), "pad"], pl.String)
        targets = padded.slice(1, len(pairs))
    else:
        targets = pl.concat([targets.head(cut), targets.slice(cut)], rechunk=False)
    return targets, np.array([u for u, _ in pairs], np.int32)


def _book() -> Any:
    fold = kernel("judge._fold")
    assert fold is not None
    return fold


@given(
    batches=st.lists(st.tuples(_PAIRS, st.integers(0, 40)), min_size=1, max_size=8),
    bound=st.integers(1, 30),
    bytes_bound=st.sampled_from([1, 40, 1 << 20]),
)
@settings(max_examples=150, deadline=None)
def test_the_book_numbers_pairs_as_its_twin_batch_after_batch(
    batches: list[tuple[list[tuple[int, str | None]], int]], bound: int, bytes_bound: int
) -> None:
    """Batches of (unit, target) pairs with hostile targets, nulls apart from "", one target
    under several units, columns in chunks and slices: every batch gives the twin's pair numbers,
    new pairs and start-overs, with bounds small enough that the book fills, and starts over,
    by count and by bytes, many times."""
    fold = _book()
    state = fold.book_new(bound, bytes_bound)
    twin = PairNumbers(bound, bytes_bound)
    for pairs, cut in batches:
        targets, units = _column(pairs, cut)
        ids, fresh, started_over = fold.book_find(state, targets.__arrow_c_stream__(), units)
        want = twin.find(targets, units)
        assert np.frombuffer(ids, np.uint32).tolist() == want[0].tolist()
        assert np.frombuffer(fresh, np.uint32).tolist() == want[1].tolist()
        assert started_over == want[2]


def test_the_book_is_the_meaning_of_its_numbers() -> None:
    """What the twin is checked against: one number per distinct (unit, target), null apart from
    "", a target under two units two pairs, numbers kept across batches, new ones after the
    last, and the start-over once the book holds its bound."""
    twin = PairNumbers(bound=4, bytes_bound=1 << 20)
    targets = pl.Series(["/a", "/a", None, "", "/a"], dtype=pl.String)
    ids, fresh, over = twin.find(targets, np.array([0, 1, 0, 0, 0], np.int32))
    assert (ids.tolist(), fresh.tolist(), over) == ([0, 1, 2, 3, 0], [0, 1, 2, 3], False)
    ids, fresh, over = twin.find(pl.Series(["/b", "/a"]), np.array([0, 0], np.int32))
    assert (ids.tolist(), fresh.tolist(), over) == ([0, 1], [0, 1], True)  # (4 held: over)
    ids, fresh, over = twin.find(pl.Series(["/a", "/c"]), np.array([0, 0], np.int32))
    assert (ids.tolist(), fresh.tolist(), over) == ([1, 2], [1], False)


def test_the_book_starts_over_at_its_bounds_not_before() -> None:
    """At ``bound`` pairs (or ``bytes_bound`` bytes of targets) before a batch the book starts
    over, one pair (or byte) short of it it does not; a batch's own new pairs may take it past."""
    fold = _book()
    for bound, bytes_bound, first, over in (
        (3, 1 << 20, ["/1", "/2", "/3"], True),
        (4, 1 << 20, ["/1", "/2", "/3"], False),
        (100, 6, ["/1", "/2", "/3"], True),
        (100, 7, ["/1", "/2", "/3"], False),
        (2, 1 << 20, ["/1", "/2", "/3", "/4"], True),
    ):
        state = fold.book_new(bound, bytes_bound)
        column = pl.Series(first, dtype=pl.String)
        units = np.zeros(len(first), np.int32)
        ids, fresh, started = fold.book_find(state, column.__arrow_c_stream__(), units)
        assert np.frombuffer(ids, np.uint32).tolist() == list(range(len(first))) and not started
        again = pl.Series(["/1", "/9"], dtype=pl.String)
        ids, fresh, started = fold.book_find(state, again.__arrow_c_stream__(), np.zeros(2, np.int32))
        assert started == over
        want = [0, 1] if over else [0, len(first)]
        assert np.frombuffer(ids, np.uint32).tolist() == want
        assert np.frombuffer(fresh, np.uint32).tolist() == ([0, 1] if over else [1])


def test_the_book_refuses_what_is_not_one_batch() -> None:
    """Units that are not one int32 per target, a column that is not text, bounds that are not
    positive: refused (ValueError, TypeError), and a refused batch adds no pair."""
    fold = _book()
    for bad in ((0, 10), (10, 0), (-1, 10), (1 << 40, 10)):
        with pytest.raises(ValueError):
            fold.book_new(*bad)
    state = fold.book_new(10, 1 << 20)
    targets = pl.Series(["/a", "/b"], dtype=pl.String)
    for units in (
        np.zeros(2, np.int64), np.zeros(1, np.int32), np.zeros(3, np.int32), np.zeros(5, np.uint8), b"",
    ):  # fmt: skip
        with pytest.raises(ValueError):
            fold.book_find(state, targets.__arrow_c_stream__(), units)
    with pytest.raises(TypeError):
        fold.book_find(state, pl.Series([1, 2]).__arrow_c_stream__(), np.zeros(2, np.int32))
    with pytest.raises(ValueError):  # (not a stream capsule; nor is the state a book)
        fold.book_find(state, targets, np.zeros(2, np.int32))
    with pytest.raises(ValueError):
        fold.book_find(fold.running_new(), targets.__arrow_c_stream__(), np.zeros(2, np.int32))
    _, fresh, _ = fold.book_find(state, targets.__arrow_c_stream__(), np.zeros(2, np.int32))
    assert np.frombuffer(fresh, np.uint32).tolist() == [0, 1]  # nothing was added before
    book = PairBook(fold, 10, 1 << 20)
    with pytest.raises(ValueError):
        book.find(targets, np.zeros(2, np.int64))
    with pytest.raises(ValueError):
        book.learn(np.zeros(2, np.uint8), np.zeros(1, np.uint32), ["/a", "/b"])
    with pytest.raises(ValueError):
        PairNumbers(10, 10).find(targets, np.zeros(3, np.int32))


@given(
    rows=st.lists(_row(), min_size=1, max_size=90),
    cuts=st.lists(st.integers(1, 89), max_size=8),
    bound=st.integers(1, 6),
)
@settings(max_examples=30, deadline=None)
def test_a_scan_whose_book_starts_over_is_the_one_folded_in_polars(
    rows: list[dict[str, object]], cuts: list[int], bound: int
) -> None:
    """Generated batches (hostile targets, nulls, Crawl-delay agents) through the running fold
    with a pair book of a few pairs, so it starts over inside the scan, again and again: the
    scan's partial is the polars way's (verdicts, rule counts, evidence and path counts too)."""
    batches = _cut(_batch(rows), cuts)
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(aggregate, "JUDGED_PAIRS", bound)
        found = _kernel_and_twin_partials(monkeypatch, batches)
    assert same_partial(found[0], found[1])


def test_pairs_new_in_a_later_batch_are_judged_and_cited(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pair first seen in the third batch, after the book started over in the second, is
    judged, counted under its own rule and path and cited with its own target; pairs seen
    before keep theirs."""
    monkeypatch.setattr(aggregate, "JUDGED_PAIRS", 2)
    targets = [["/cart?a", "/"], ["/search", "/cart?a", "/x"], ["/internal/x?q", "/cart?a"]]
    rows = [
        {**_plain(t), "time": _START + timedelta(seconds=10 * b + k)}
        for b, batch in enumerate(targets)
        for k, t in enumerate(batch)
    ]
    frame = _batch(rows)
    found = _kernel_and_twin_partials(monkeypatch, _cut(frame, [2, 5]))
    assert same_partial(*found)
    ours = found[0]
    assert sorted(ours.evidence.get_column("target").to_list()) == ["/cart?a", "/cart?a", "/internal/x?q"]
    assert dict(ours.path_counts.select("path", "requests").iter_rows()) == {"/cart": 3, "/internal/x": 1}
    rules = dict(ours.rule_counts.select("rule", "count").iter_rows())
    assert rules == {"Disallow: /cart": 3, "Disallow: /internal/": 1}
