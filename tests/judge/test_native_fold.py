"""The aggregator's compiled kernel (botguard/judge/_fold.c) gives what its polars twin gives.

Each test runs the same input through the kernel and through the twin (``BOTGUARD_NO_NATIVE=1``)
and compares: the ids of :func:`~botguard.judge._ids.group_ids`, and whole partials of
generated batches (hostile spellings, nulls, Crawl-delay agents, unsorted times, per-host
judging) and of the example log cut into batches.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from botguard.catalog import load_catalog
from botguard.judge._ids import group_ids, group_ids_pure
from botguard.judge.aggregate import Aggregator
from botguard.judge.partial import Partial, bucket_width, merge_all
from botguard.logs import read_batches
from botguard.logs.records import REQUEST_SCHEMA, ParseStats
from botguard.native import DISABLE_VARIABLE, kernel
from botguard.robots import RobotsTxt
from tests.judge.test_partial import partial_frames, same_partial

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

pytestmark = pytest.mark.skipif(kernel("judge._fold") is None, reason="the C kernel is not built here")

_ROBOTS = RobotsTxt.parse(
    b"User-agent: *\nDisallow: /cart\nDisallow: /internal/\nAllow: /internal/open\n\n"
    b"User-agent: AhrefsBot\nCrawl-delay: 10\nDisallow: /search\n\n"
    b"User-agent: GPTBot\nDisallow: /\n"
)
_AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0 Safari/537.36",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
    "curl/8.5.0",
    "",
    "x" * 300,
    None,
]
_TARGETS = [
    "/", "/robots.txt", "/robots.txt?x=1", "/cart", "/cart?id=2", "/internal/trap/a", "/internal/open",
    "/static/app.css", "/search?q=1", "//internal/x", "/caf\u00e9", "", None,
]  # fmt: skip
_START = datetime(2024, 3, 4, tzinfo=UTC)


def _with_kernel(monkeypatch: pytest.MonkeyPatch, on: bool) -> None:
    if on:
        monkeypatch.delenv(DISABLE_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(DISABLE_VARIABLE, "1")


def _row() -> st.SearchStrategy[dict[str, object]]:
    return st.fixed_dictionaries(
        {
            "ip": st.sampled_from(["203.0.113.9", "2001:db8::1", "198.51.100.77", "10.0.0.1"]),
            "time": st.integers(0, 3 * 86_400_000_000).map(lambda us: _START + timedelta(microseconds=us)),
            "method": st.sampled_from(["GET", "HEAD", None]),
            "target": st.sampled_from(_TARGETS),
            "valid_request": st.sampled_from([True, True, False, None]),
            "status": st.sampled_from([200, 301, 404, 429, 500, None]),
            "bytes": st.sampled_from([0, 512, 10**9, None]),
            "referer": st.sampled_from(["-", "", "https://example.com/", None]),
            "user_agent": st.sampled_from(_AGENTS),
            "host": st.sampled_from(["www.example.com", "WWW.Example.com", "shop.example.com", None]),
        }
    )


def _batch(rows: list[dict[str, object]]) -> pl.DataFrame:
    frame = pl.DataFrame(rows, schema={name: REQUEST_SCHEMA[name] for name in rows[0]})
    return frame.with_columns(
        protocol=pl.lit("HTTP/1.1"), request=pl.lit("GET / HTTP/1.1"), source=pl.lit("a.log"),
        line_no=pl.int_range(pl.len(), dtype=pl.Int64),
    ).select(list(REQUEST_SCHEMA)).cast(REQUEST_SCHEMA)  # type: ignore[arg-type]  # fmt: skip


def _aggregator(per_host: bool) -> Aggregator:
    return Aggregator(load_catalog(), lambda host: _ROBOTS, ("/internal/trap/",), per_host)


def _cut(frame: pl.DataFrame, cuts: list[int]) -> list[pl.DataFrame]:
    """``frame`` cut into batches at the rows ``cuts`` (out-of-range ones ignored)."""
    bounds = [0, *sorted({c for c in cuts if c < frame.height}), frame.height]
    return [frame.slice(start, end - start) for start, end in itertools.pairwise(bounds)]


def _kernel_and_twin_partials(monkeypatch: pytest.MonkeyPatch, batches: list[pl.DataFrame]) -> list[Partial]:
    """The partial of a scan of ``batches``, with the compiled fold, then with its polars twin."""
    found = []
    for on in (True, False):
        _with_kernel(monkeypatch, on)
        scan = _aggregator(per_host=False)
        for batch in batches:
            scan.add(batch, ParseStats(lines=batch.height))
        found.append(scan.take())
    return found


@given(
    batches=st.lists(st.lists(_row(), min_size=1, max_size=60), min_size=1, max_size=4),
    per_host=st.booleans(),
)
@settings(max_examples=60, deadline=None)
def test_a_scan_folded_by_the_kernel_is_the_one_folded_in_polars(
    batches: list[list[dict[str, object]]], per_host: bool
) -> None:
    """Generated batches (every fact's column with nulls and hostile values, times out of
    order, Crawl-delay agents, per-host judging): the partial of each batch and of the scan
    is the same with the kernel and without it."""
    frames = [_batch(rows) for rows in batches]
    with pytest.MonkeyPatch.context() as monkeypatch:
        found = []
        for on in (True, False):
            _with_kernel(monkeypatch, on)
            agg = _aggregator(per_host)
            pieces = [agg.partial_of(frame, ParseStats()) for frame in frames]
            scan = _aggregator(per_host)
            for frame in frames:
                scan.add(frame, ParseStats(lines=frame.height))
            found.append((pieces, merge_all(pieces), scan.take()))
    (ours_pieces, ours_merged, ours_scan), (twin_pieces, twin_merged, twin_scan) = found
    for ours, twin in zip(ours_pieces, twin_pieces, strict=True):
        assert same_partial(ours, twin)
    assert same_partial(ours_merged, twin_merged)
    assert same_partial(ours_scan, twin_scan)
    assert same_partial(ours_scan, ours_merged)


def test_the_example_log_folds_alike_with_and_without_the_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """The example log in batches of 250 lines: the same scan partial either way, with
    Crawl-delay intervals, disallowed requests and robots.txt fetches in it."""
    robots = RobotsTxt.parse((EXAMPLES / "robots.txt").read_bytes())
    found = []
    for on in (True, False):
        _with_kernel(monkeypatch, on)
        agg = Aggregator(load_catalog(), lambda host: robots, ("/internal/trap/",))
        for batch in read_batches([str(EXAMPLES / "access.log")], "combined", batch_lines=250):
            agg.add(batch.requests, batch.stats)
        found.append(agg.take())
    assert same_partial(*found)
    clients = found[0].clients
    assert clients.get_column("fast_gaps").sum() > 0
    assert clients.get_column("disallowed").sum() > 0
    assert clients.get_column("robots_fetched").sum() > 0


_STRINGS = st.lists(
    st.one_of(st.none(), st.text(max_size=20), st.sampled_from(["a" * 13, "a" * 12, ""])), max_size=80
)


@given(values=_STRINGS, cut=st.integers(0, 80), numbers=st.booleans())
@settings(max_examples=200, deadline=None)
def test_group_ids_are_those_of_the_polars_twin(values: list[str | None], cut: int, numbers: bool) -> None:
    """Rows numbered by their key's first appearance: null apart from "", strings longer and
    shorter than an Arrow view's inline 12 bytes, keys with a number, columns of several chunks
    and slices of one."""
    whole = pl.Series("s", values, pl.String)
    chunked = pl.concat([whole.head(cut), whole.slice(cut)], rechunk=False)
    sliced = pl.Series("s", ["pad", *values, "pad"], pl.String).slice(1, len(values))
    extra = (
        pl.Series([i % 2 for i in range(len(values))], dtype=pl.UInt32) if numbers else None
    )  # (not the text's)
    for strings in (whole, chunked, sliced):
        ours, twin = group_ids(strings, extra), group_ids_pure(strings, extra)
        assert ours[0].to_list() == twin[0].to_list()
        assert ours[1].to_list() == twin[1].to_list()


def test_group_ids_refuses_what_is_not_text() -> None:
    """A column of numbers, or fewer numbers than rows, is refused: never read past a buffer."""
    fold = kernel("judge._fold")
    assert fold is not None
    with pytest.raises(TypeError):
        fold.group_ids(pl.Series([1, 2]).__arrow_c_stream__())
    with pytest.raises(ValueError):
        fold.group_ids(pl.Series(["a", "b"]).__arrow_c_stream__(), b"\x00" * 4)


# ---------------------------------------------------------------- the running fold (_running.py)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _hostile_row() -> st.SearchStrategy[dict[str, object]]:
    """A row as ``_row`` draws it, but any address (text of any kind, "", null) and any time: a
    null, one before 1970 (batches holding either go the polars way) or one anywhere from 1970
    to a year on (so that the scan's bucket width widens as batches come)."""
    times = st.one_of(
        st.integers(0, 400 * 86_400_000_000).map(lambda us: _START + timedelta(microseconds=us)),
        st.integers(0, 10**6).map(lambda us: _EPOCH + timedelta(microseconds=us)),
        st.sampled_from([None, _EPOCH - timedelta(microseconds=1), datetime(1900, 1, 1, tzinfo=UTC)]),
    )
    return _row().flatmap(
        lambda row: st.fixed_dictionaries(
            {
                **{name: st.just(value) for name, value in row.items()},
                "ip": st.one_of(
                    st.sampled_from(["203.0.113.9", "2001:db8::1", "", None]), st.text(max_size=14)
                ),
                "time": st.one_of(st.just(row["time"]), times),
            }
        )
    )


def _running_adds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the batches the running fold is handed (rows per call)."""
    from botguard.judge import _running

    added: list[int] = []
    real = _running.RunningFold.add

    def counting(self: _running.RunningFold, rows: pl.DataFrame, *args: object, **kwargs: object) -> object:
        added.append(rows.height)
        return real(self, rows, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_running.RunningFold, "add", counting)
    return added


@given(
    rows=st.lists(_hostile_row(), min_size=1, max_size=120),
    cuts=st.lists(st.integers(1, 119), max_size=6),
)
@settings(max_examples=40, deadline=None)
def test_a_scan_in_the_running_fold_is_the_one_folded_in_polars(
    rows: list[dict[str, object]], cuts: list[int]
) -> None:
    """Generated rows (hostile addresses, nulls in every column, times null, before 1970 or
    spread over a year, Crawl-delay agents) cut into batches at any rows: the scan's partial
    with the running fold is the one the polars twin folds, and the one of the whole log
    (rows without a time in a Crawl-delay client once made the batches' gaps differ from the
    whole log's: seed 120682428700044092518393708914641852802)."""
    frame = _batch(rows)
    batches = _cut(frame, cuts)
    with pytest.MonkeyPatch.context() as monkeypatch:
        added = _running_adds(monkeypatch)
        found = _kernel_and_twin_partials(monkeypatch, batches)
        _with_kernel(monkeypatch, False)
        whole = _aggregator(per_host=False).partial_of(frame, ParseStats(lines=frame.height))
    taken = [batch for batch in batches if _takeable(batch.get_column("time"))]
    assert len(added) == len(taken)  # every batch the kernel takes went to the running fold
    assert same_partial(found[0], found[1])
    assert same_partial(found[0], Partial(*partial_frames(whole)[:5], stats=found[0].stats))


def _takeable(times: pl.Series) -> bool:
    """Whether the kernel takes a batch of these times: none null, none before 1970."""
    first = times.min()
    return not times.has_nulls() and isinstance(first, datetime) and first >= _EPOCH


def test_the_running_fold_widens_its_buckets_and_keeps_ties_in_log_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A client asking for disallowed paths five times in the same second, cut 1 + 4 across
    batches, then again a week later: its evidence is its first three requests in log order
    (the kernel keeps the earliest of ties, not the latest), and its requests per bucket are
    counted in the week's width (floored when it widened), as in polars. Another client comes
    first in the second batch (its number in that batch is not its number in the scan): each
    one's disallowed requests are counted under its own rule row."""
    same = _START + timedelta(hours=5, minutes=7, seconds=30)  # (not on a wider bucket's start)
    rows = [{**_plain(f"/cart?n={n}"), "time": same} for n in range(5)]
    rows.insert(1, {**_plain("/cart?other"), "ip": "198.51.100.8", "time": same})
    rows.append({**_plain("/cart?n=9"), "time": same + timedelta(days=7)})
    frame = _batch(rows)
    batches = [frame.slice(0, 1), frame.slice(1, 5), frame.slice(6, 1)]
    found = []
    for on in (True, False):
        _with_kernel(monkeypatch, on)
        added = _running_adds(monkeypatch)
        scan = _aggregator(per_host=False)
        for batch in batches:
            scan.add(batch, ParseStats(lines=batch.height))
        found.append(scan.take())
        assert len(added) == (3 if on else 0)
    ours, twin = found
    assert same_partial(ours, twin)
    first = ours.evidence.filter(pl.col("ip") == "198.51.100.7")
    assert first.get_column("target").to_list() == ["/cart?n=0", "/cart?n=1", "/cart?n=2"]
    width = bucket_width(ours.clients)
    assert width > 60  # (the first batches counted in minutes)
    assert sorted(set(ours.time_counts.get_column("bucket").to_list())) == [
        int(same.timestamp()) // width * width,
        int((same + timedelta(days=7)).timestamp()) // width * width,
    ]
    assert ours.time_counts.get_column("requests").sum() == 7
    counts = dict(ours.rule_counts.select("ip", "count").iter_rows())
    assert counts == {"198.51.100.7": 6, "198.51.100.8": 1}


def test_the_running_fold_lets_its_tables_go_once_emitted(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel's tables go as soon as the take copies them out (they were held beside the
    frames built from the copies: a big scan's read peak), and a spent fold refuses to be added
    to or emitted again rather than hand back nothing."""
    _with_kernel(monkeypatch, True)
    scan = _aggregator(per_host=False)
    batch = _batch([_plain("/cart?n=1"), _plain("/")])
    scan.add(batch, ParseStats(lines=batch.height))
    fold = scan._running
    assert fold is not None
    assert scan.take().clients.get_column("requests").to_list() == [2]
    assert fold._state is None
    with pytest.raises(RuntimeError, match="emitted"):
        fold.emit(pl.DataFrame(), pl.DataFrame())
    with pytest.raises(RuntimeError, match="emitted"):  # (refused before its arguments are read)
        fold.add(batch, (np.zeros(0), None), (pl.Series([]), pl.Series([])), 60)  # type: ignore[arg-type]


def _plain(target: str) -> dict[str, object]:
    return {
        "ip": "198.51.100.7", "time": _START, "method": "GET", "target": target, "valid_request": True,
        "status": 200, "bytes": 1, "referer": "-", "user_agent": "curl/8.5.0", "host": None,
    }  # fmt: skip


def test_the_running_fold_refuses_what_does_not_add_up() -> None:
    """Arguments that do not describe one batch are refused with a ValueError, never read past
    a buffer: ids past their counts, buffers of the wrong size, a time before 1970, a width
    narrower than or not a multiple of the last one, a path number past its count."""
    fold = kernel("judge._fold")
    assert fold is not None
    state = fold.running_new()

    def add(**changed: object) -> object:
        args: dict[str, object] = {
            "rows": 1, "clients": 1, "pairs": 1, "client": _u32(0), "pair": _u32(0), "pair_flags": b"\x0c",
            "row_flags": b"\x01", "time": _i64(10**12), "status": b"\xc8\x00", "bytes": _i64(1),
            "min_gap": b"\x00" * 8, "width": 300, "addresses": pl.Series(["1.2.3.4"]), "agents": _u32(0),
            "rules": _u32(0), "paths": _u32(0), "path_count": 1,
        }  # fmt: skip
        args.update(changed)
        values = list(args.values())
        values[12] = args["addresses"].__arrow_c_stream__()  # type: ignore[attr-defined]
        return fold.running_add(state, *values)

    evidence, *_ = add()  # a disallowed request: asked and refused
    assert evidence == _u32(0)
    for bad in (
        {"client": _u32(1)}, {"pair": _u32(1)}, {"time": _i64(-1)}, {"width": 60}, {"width": 400},
        {"paths": _u32(1)}, {"rows": 2}, {"status": b"\x00"}, {"agents": b""}, {"clients": 2},
    ):  # fmt: skip
        with pytest.raises(ValueError):
            add(**bad)
    with pytest.raises(TypeError):
        add(addresses=pl.Series([1]))
    emitted = fold.running_emit(state)
    assert emitted[0] == ["1.2.3.4"]  # the refused calls added nothing
    assert np.frombuffer(emitted[2], np.int64)[0] == 1


def _u32(value: int) -> bytes:
    return np.array([value], np.uint32).tobytes()


def _i64(value: int) -> bytes:
    return np.array([value], np.int64).tobytes()
