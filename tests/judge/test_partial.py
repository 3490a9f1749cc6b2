"""Per-client partial aggregates merge exactly: the merge of consecutive pieces is the whole."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from botguard.catalog import load_catalog
from botguard.judge import aggregate, partial
from botguard.judge.aggregate import Aggregator
from botguard.judge.partial import (
    CLIENT_KEY,
    Partial,
    bucket_width,
    join_shards,
    merge,
    merge_all,
    split_shards,
)
from botguard.logs import read_batches
from botguard.logs.records import ParseStats
from botguard.native import DISABLE_VARIABLE
from botguard.robots import RobotsTxt

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def log() -> tuple[Aggregator, pl.DataFrame]:
    """The example log's parsed requests (one frame) and an aggregator for it."""
    robots = RobotsTxt.parse((EXAMPLES / "robots.txt").read_bytes())
    agg = Aggregator(load_catalog(), lambda host: robots, honeypots=("/internal/trap/",))
    rows = pl.concat(b.requests for b in read_batches([str(EXAMPLES / "access.log")]))
    return agg, rows


def partial_frames(part: Partial) -> tuple[pl.DataFrame, ...]:
    """The partial's frames in a fixed row order (a partial's row order carries no meaning,
    except evidence's within a client, which sorting by time keeps)."""
    return (
        part.clients.sort(CLIENT_KEY, nulls_last=True),
        part.rule_counts.sort(part.rule_counts.columns, nulls_last=True),
        part.evidence.sort([*CLIENT_KEY, "time"], nulls_last=True, maintain_order=True),
        part.time_counts.sort(part.time_counts.columns, nulls_last=True),
        part.path_counts.sort(part.path_counts.columns, nulls_last=True),
    )


def same_partial(a: Partial, b: Partial) -> bool:
    return all(x.equals(y) for x, y in zip(partial_frames(a), partial_frames(b), strict=True))


def _pieces(agg: Aggregator, rows: pl.DataFrame, cuts: list[int]) -> list[Partial]:
    bounds = [0, *sorted(set(cuts)), rows.height]
    return [
        agg.partial_of(rows.slice(start, end - start), ParseStats(lines=end - start))
        for start, end in itertools.pairwise(bounds)
    ]


@given(cuts=st.lists(st.integers(min_value=1, max_value=3592), max_size=12))
@settings(max_examples=25, deadline=None)
def test_merged_pieces_equal_the_whole(log: tuple[Aggregator, pl.DataFrame], cuts: list[int]) -> None:
    """Cut the log anywhere, aggregate the pieces apart, merge them: the partial of the whole."""
    agg, rows = log
    whole = agg.partial_of(rows, ParseStats(lines=rows.height))
    merged = merge_all(_pieces(agg, rows, cuts))
    assert same_partial(merged, whole)
    assert merged.stats.lines == whole.stats.lines


def test_batches_added_in_order_make_the_partial_of_the_whole(log: tuple[Aggregator, pl.DataFrame]) -> None:
    """A scan's batches are counted in the buckets of the span seen so far (wider than a batch's
    own as the day goes on); what they add up to is still the partial of the whole log."""
    agg, rows = log
    whole = agg.partial_of(rows, ParseStats(lines=rows.height))
    scan = Aggregator(agg.catalog, agg.robots_for, agg.honeypots)
    for start in range(0, rows.height, 400):
        scan.add(rows.slice(start, 400), ParseStats(lines=min(400, rows.height - start)))
    assert same_partial(scan.take(), whole)


def test_merge_is_associative(log: tuple[Aggregator, pl.DataFrame]) -> None:
    """merge(merge(a, b), c) == merge(a, merge(b, c)) == merge_all([a, b, c])."""
    agg, rows = log
    a, b, c = _pieces(agg, rows, [1000, 2500])
    left, right = merge(merge(a, b), c), merge(a, merge(b, c))
    assert same_partial(left, right) and same_partial(left, merge_all([a, b, c]))


def test_an_interval_across_the_cut_counts(log: tuple[Aggregator, pl.DataFrame]) -> None:
    """The Crawl-delay facts are the ones a cut could break: some client has fast intervals, and
    cutting between each pair of its requests still counts every one of them."""
    agg, rows = log
    whole = agg.partial_of(rows, ParseStats())
    fast = whole.clients.filter(pl.col("fast_gaps") > 0).sort("fast_gaps", descending=True).row(0, named=True)
    mine = (pl.col("ip") == fast["ip"]) & (pl.col("user_agent") == fast["user_agent"])
    positions = rows.with_row_index("i").filter(mine).get_column("i").to_list()
    merged = merge_all(_pieces(agg, rows, positions))
    assert merged.clients.filter(mine).get_column("fast_gaps").item() == fast["fast_gaps"]


def test_merging_nothing_is_empty() -> None:
    assert merge_all([]).clients.height == 0
    assert merge(Partial(), Partial()).stats.lines == 0


def _requests(tmp: Path, lines: list[str]) -> pl.DataFrame:
    log = tmp / "access.log"
    log.write_text("".join(lines), encoding="utf-8")
    return pl.concat(b.requests for b in read_batches([str(log)]))


def test_time_and_path_counts_merge_to_those_of_the_whole(tmp_path: Path) -> None:
    """Two hand-counted pieces: three minutes one morning (one-minute buckets) and a request the
    next morning. Merged, the span is a day, so 15-minute buckets: the morning's three requests
    fall in one, the next day's in another; the disallowed /cart counts twice, query or not."""
    agent = "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)"

    def line(day: int, clock: str, path: str, size: int) -> str:
        return f'54.36.148.1 - - [{day:02d}/Mar/2024:{clock} +0000] "GET {path} HTTP/1.1" 200 {size} "-" "{agent}"\n'

    def at(day: int, clock: str) -> int:
        hour, minute = map(int, clock.split(":"))
        return int(datetime(2024, 3, day, hour, minute, tzinfo=UTC).timestamp())

    robots = RobotsTxt.parse(b"User-agent: *\nDisallow: /cart\n")
    agg = Aggregator(load_catalog(), lambda host: robots)
    morning = _requests(tmp_path, [line(4, "10:00:01", "/a", 10), line(4, "10:00:02", "/cart?id=1", 20),
                                   line(4, "10:03:05", "/b", 30)])  # fmt: skip
    later = _requests(tmp_path, [line(5, "10:20:00", "/cart", 40)])
    a, b = agg.partial_of(morning, ParseStats()), agg.partial_of(later, ParseStats())
    assert sorted(a.time_counts.select("bucket", "requests", "bytes").rows()) == [
        (at(4, "10:00"), 2, 30), (at(4, "10:03"), 1, 30),
    ]  # fmt: skip
    merged = merge(a, b)
    assert sorted(merged.time_counts.select("bucket", "requests", "bytes").rows()) == [
        (at(4, "10:00"), 3, 60), (at(5, "10:15"), 1, 40),
    ]  # fmt: skip
    assert merged.path_counts.select("path", "requests").rows() == [("/cart", 2)]
    assert bucket_width(merged.clients) == 900
    assert same_partial(merged, agg.partial_of(pl.concat([morning, later]), ParseStats()))


@given(
    cuts=st.lists(st.integers(min_value=1, max_value=3592), max_size=8),
    stride=st.integers(min_value=1, max_value=7),
    offset=st.integers(min_value=0, max_value=6),
    shards=st.integers(min_value=2, max_value=9),
)
@settings(max_examples=25, deadline=None)
def test_a_merge_done_shard_by_shard_is_the_merge_done_at_once(
    log: tuple[Aggregator, pl.DataFrame], cuts: list[int], stride: int, offset: int, shards: int
) -> None:
    """A big merge runs one hash shard of clients at a time (memory): whatever the clients and
    the cuts, the shards put together are the merge of all clients at once, frame for frame."""
    agg, rows = log
    rows = rows.gather_every(stride, offset=min(offset, stride - 1))
    pieces = _pieces(agg, rows, [cut for cut in cuts if cut < rows.height])
    at_once, sharded = merge_all(pieces, shards=1), merge_all(pieces, shards=shards)
    assert same_partial(sharded, at_once)
    assert sharded.stats == at_once.stats
    split = split_shards(at_once, shards)
    assert sum(s.clients.height for s in split) == at_once.clients.height
    assert same_partial(join_shards(split, at_once.stats), at_once)


def test_a_scan_folds_one_shard_of_its_clients_at_a_time(
    log: tuple[Aggregator, pl.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    """While batches pile up, no merge re-groups more than about one shard of the clients (the
    working memory of a fold), and the result is still the partial of the whole log. (The polars
    way: with the compiled kernel, a scan's clients are folded in its running fold instead,
    and no merge re-groups them; tests/judge/test_native_fold.py.)"""
    monkeypatch.setenv(DISABLE_VARIABLE, "1")
    agg, rows = log
    monkeypatch.setattr(aggregate, "SMALL_ROWS", 0)  # (a small take is merged unsplit)
    monkeypatch.setattr(aggregate, "MERGE_ROWS", 40)
    monkeypatch.setattr(aggregate, "MERGE_MAX_ROWS", 80)
    merged_rows: list[int] = []

    def counting(parts: list[Partial], *, shards: int | None = None) -> Partial:
        merged_rows.append(sum(p.clients.height for p in parts))
        return merge_all(parts, shards=shards)

    monkeypatch.setattr(aggregate, "merge_all", counting)
    scan = Aggregator(agg.catalog, agg.robots_for, agg.honeypots)
    for start in range(0, rows.height, 200):
        scan.add(rows.slice(start, 200), ParseStats(lines=min(200, rows.height - start)))
    whole = agg.partial_of(rows, ParseStats(lines=rows.height))
    assert same_partial(scan.take(), whole)
    assert len(merged_rows) > aggregate.SHARDS  # folded while reading, not only at the end
    assert max(merged_rows) <= 2 * whole.clients.height / aggregate.SHARDS


def _text_bytes(column: pl.Series) -> int:
    """Bytes of string data a column's views point into (its Arrow data buffers, each once)."""
    buffers = {}
    for chunk in column.rechunk().to_arrow(compat_level=pl.CompatLevel.newest()).buffers()[2:]:
        if chunk is not None:
            buffers[chunk.address] = chunk.size
    return sum(buffers.values())


def test_a_scan_keeps_each_user_agent_once(log: tuple[Aggregator, pl.DataFrame]) -> None:
    """A user agent is shared by many clients (59 agents over 300k clients of a 10M-line log):
    the partial a scan folds its batches into holds each agent's text once per shard, not once
    per client row, and is the same partial."""
    agg, rows = log
    scan = Aggregator(agg.catalog, agg.robots_for, agg.honeypots)
    for start in range(0, rows.height, 500):
        scan.add(rows.slice(start, 500), ParseStats(lines=min(500, rows.height - start)))
    part = scan.take()
    assert same_partial(part, agg.partial_of(rows, ParseStats(lines=rows.height)))
    agents = part.clients.get_column("user_agent")
    distinct = agents.drop_nulls().unique().str.len_bytes().sum()
    assert agents.drop_nulls().str.len_bytes().sum() > 2 * aggregate.SHARDS * distinct  # repeats
    assert _text_bytes(agents) <= aggregate.SHARDS * distinct


def _scanner_rows(tmp: Path, lines: int, clients: int = 4) -> pl.DataFrame:
    """A few clients walking made-up paths under a disallowed prefix (each request a new path),
    and each also asking for /internal/a (3x) and /internal/b (2x) once every 10 requests."""

    heavy = ("/internal/a", "/internal/a", "/internal/a", "/internal/b", "/internal/b")

    def path(k: int) -> str:
        return heavy[k % 10] if k % 10 < len(heavy) else f"/internal/{k}"

    rows = [
        f"203.0.113.{k % clients} - - [04/Mar/2024:10:{k // 600 % 60:02d}:{k // 10 % 60:02d} +0000] "
        f'"GET {path(k)} HTTP/1.1" 404 1 "-" "Scanner/1.0"\n'
        for k in range(lines)
    ]
    return _requests(tmp, rows)


def test_a_partial_keeps_the_paths_requested_most_past_its_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Distinct disallowed paths are the one set a partial keeps that a log can grow without
    new clients: past PATHS_KEPT a merge keeps the paths requested most, with exact counts when
    they stay above the cut, so four clients' made-up paths cost no more rows than the bound."""
    monkeypatch.setattr(partial, "PATHS_KEPT", 12)
    rows = _scanner_rows(tmp_path, 2_000)
    agg = Aggregator(load_catalog(), lambda host: RobotsTxt.parse(b"User-agent: *\nDisallow: /internal/\n"))
    pieces = _pieces(agg, rows, list(range(100, rows.height, 100)))
    merged = merge_all(pieces)
    exact = pl.concat(p.path_counts for p in pieces).group_by("path").agg(pl.col("requests").sum())
    assert exact.height > 1_000  # what an unbounded partial held
    kept = merged.path_counts.group_by("path").agg(pl.col("requests").sum())
    assert kept.height <= 12
    assert merged.path_counts.height <= 12 * 4
    top = dict(kept.sort("requests", descending=True).head(2).rows())
    assert top == {"/internal/a": 600, "/internal/b": 400}  # exact: heavy in every piece
    sharded = merge_all(pieces, shards=3).path_counts.group_by("path").agg(pl.col("requests").sum())
    assert sharded.height <= 12 and dict(sharded.sort("requests", descending=True).head(2).rows()) == top


def test_a_log_of_few_clients_folds_its_counts_while_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A few clients never gather MERGE_ROWS client rows: their batches' counts (one path row per
    request here) are folded once MERGE_COUNT_ROWS of them wait, not held to the end of the file."""
    monkeypatch.setattr(partial, "PATHS_KEPT", 12)
    monkeypatch.setattr(aggregate, "MERGE_COUNT_ROWS", 400)
    rows = _scanner_rows(tmp_path, 4_000)
    scan = Aggregator(load_catalog(), lambda host: RobotsTxt.parse(b"User-agent: *\nDisallow: /internal/\n"))
    waiting = []
    for start in range(0, rows.height, 100):
        scan.add(rows.slice(start, 100), ParseStats(lines=100))
        waiting.append(sum(p.path_counts.height for shard in scan._shards for p in shard.pending))
    assert max(waiting) <= 400 + 100  # one batch beyond the bound at most
    assert scan.take().path_counts.group_by("path").len().height <= 12


@pytest.mark.parametrize("native", [True, False], ids=["kernel", "twin"])
@pytest.mark.parametrize("batch", [37, 400, 5000])
def test_a_small_take_merged_unsplit_is_the_partial_the_shards_make(
    log: tuple[Aggregator, pl.DataFrame], monkeypatch: pytest.MonkeyPatch, native: bool, batch: int
) -> None:
    """While a take's pieces hold at most SMALL_ROWS rows they are merged at once, not cut into
    shards: the same partial (and parse counts) as the shards' (SMALL_ROWS 0), whether they stay
    small to the end, pass the bound midway (cut then, in log order) or the bound is 0; one
    merge, where the shards fold each (a query per frame and shard)."""
    if native:
        monkeypatch.delenv(DISABLE_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(DISABLE_VARIABLE, "1")
    agg, rows = log
    rows = rows.head(2000)

    def take(small_rows: int) -> tuple[Partial, list[int]]:
        monkeypatch.setattr(aggregate, "SMALL_ROWS", small_rows)
        merged: list[int] = []

        def counting(parts: list[Partial], *, shards: int | None = None) -> Partial:
            merged.append(len(parts))
            return merge_all(parts, shards=shards)

        monkeypatch.setattr(aggregate, "merge_all", counting)
        scan = Aggregator(agg.catalog, agg.robots_for, agg.honeypots)
        takes = []
        for _ in range(2):  # a second file: the aggregator starts over after a take
            for start in range(0, rows.height, batch):
                scan.add(rows.slice(start, batch), ParseStats(lines=min(batch, rows.height - start)))
            takes.append(scan.take())
        assert same_partial(takes[0], takes[1])
        return takes[1], merged

    sharded, shard_merges = take(0)
    found = {small_rows: take(small_rows) for small_rows in (10_000, 300)}
    for small_rows, (part, _) in found.items():
        assert same_partial(part, sharded), small_rows
        assert part.stats == sharded.stats
    assert len(found[10_000][1]) == 2 < len(shard_merges)  # one merge a take
