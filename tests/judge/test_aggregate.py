"""The judge's per-batch robots.txt verdicts: memoised across batches, in bounded memory."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from botguard.catalog import load_catalog
from botguard.judge import aggregate
from botguard.judge.aggregate import Aggregator
from botguard.logs import read_batches
from botguard.robots import RobotsTxt

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _judge(monkeypatch: pytest.MonkeyPatch, limit: int) -> tuple[Aggregator, int]:
    """The example log through an Aggregator whose memo holds ``limit`` verdicts; the most it held."""
    monkeypatch.setattr(aggregate, "MEMO_LIMIT", limit)
    robots = RobotsTxt.parse((EXAMPLES / "robots.txt").read_bytes())
    agg = Aggregator(load_catalog(), lambda host: robots)
    most = 0
    for batch in read_batches([str(EXAMPLES / "access.log")], "combined", batch_lines=300):
        agg.add(batch.requests)
        most = max(most, sum(len(verdicts) for verdicts in agg._memo.values()))
    return agg, most


def test_memo_is_bounded_over_all_tokens_together(monkeypatch: pytest.MonkeyPatch) -> None:
    """However many tokens (and hosts, and robots.txt versions) a log has, the memo holds at most
    MEMO_LIMIT verdicts, and starting afresh changes no answer."""
    unbounded, held = _judge(monkeypatch, 10**9)
    assert held > 400 and len(unbounded._memo) > 5  # many tokens, each with its own verdicts
    bounded, held = _judge(monkeypatch, 100)
    assert held <= 100
    assert _facts(bounded).equals(_facts(unbounded))
    counts = [_rule_counts(agg) for agg in (bounded, unbounded)]
    assert counts[0].equals(counts[1]) and counts[0].height > 0


def _facts(agg: Aggregator) -> pl.DataFrame:
    """Per-client totals, with the crawler named (ids depend on the order agents were first seen)."""
    totals = agg.totals()
    assert totals is not None
    names = [crawler.name if crawler else None for crawler in agg.crawlers]
    crawler = pl.Series("crawler", [names[i] for i in totals.get_column("crawler_id")], pl.String)
    return totals.drop("crawler_id").with_columns(crawler).sort(["ip", "user_agent"])


def _rule_counts(agg: Aggregator) -> pl.DataFrame:
    """Disallowed requests per client and rule, the rule by its text (ids are per Aggregator)."""
    counts = agg.rule_counts()
    assert counts is not None
    rule = pl.Series("rule", [agg.rules[i].text for i in counts.get_column("rule_id")], pl.String)
    return counts.drop("rule_id").with_columns(rule).sort(["ip", "user_agent", "rule"])
