"""compact_strings: the same frame, holding its own strings, in as few queries as it can."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.lazyframe import engine

from botguard.judge.columns import compact_strings
from botguard.native import DISABLE_VARIABLE

_TEXT = st.none() | st.sampled_from(["", "a", "Mozilla/5.0", "é\x00b", "Disallow: /x"])


def _frame(rows: list[tuple[str | None, str | None, str | None, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={"user_agent": pl.String, "rule": pl.String, "path": pl.String, "count": pl.Int64},
        orient="row",
    )


@pytest.fixture(params=[True, False], ids=["kernel", "twin"])
def native(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.param:
        monkeypatch.delenv(DISABLE_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(DISABLE_VARIABLE, "1")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(_TEXT, _TEXT, _TEXT, st.integers(-5, 5)), max_size=12))
def test_compacted_frame_equals_the_frame(native: None, rows: list) -> None:
    """Every value, null and column stays where it was, with one or two columns stored once
    (their distinct values copied in one query, then each cut back out of it)."""
    frame = _frame(rows)
    for once in ((), ("user_agent",), ("user_agent", "rule"), ("rule", "path", "user_agent")):
        compacted = compact_strings(frame, once)
        assert compacted.schema == frame.schema
        assert compacted.equals(frame, null_equal=True), once


def test_an_empty_frame_is_made_afresh_without_a_query(monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty frame (a shard with no evidence, say) keeps its schema and runs no query."""
    big = _frame([("ua", "Disallow: /", "/x", 1)] * 1000)
    queries = []
    real = engine._LocalEngine.collect
    monkeypatch.setattr(
        engine._LocalEngine, "collect", lambda self, *a, **k: queries.append(1) or real(self, *a, **k)
    )
    empty = compact_strings(big.head(0), ("user_agent", "rule"))
    assert (empty.height, empty.schema, queries) == (0, big.schema, [])
    compact_strings(big, ("user_agent", "rule"))
    assert len(queries) == 2  # the distinct values stored once, then the frame
