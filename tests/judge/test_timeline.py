"""Requests over time: the judge's counts per client and bucket, summarised once verdicts are final.

A hand-written log whose buckets are known, scanned by the real CLI into a real state database
and read back; and the invariants on the bundled example (every request in exactly one bucket
of its kind, its verdict and, for the busiest operators, its operator).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from botguard.judge.records import Traffic
from botguard.judge.store import latest_scan
from botguard.judge.timeline import MAX_BUCKETS, width_for
from botguard.logs import read_batches
from botguard.state import State
from tests.e2e.scan.conftest import AHREFS, BYTESPIDER, CHROME, GOOGLEBOT
from tests.helpers import run_cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _line(ip: str, minute: int, second: int, path: str, agent: str, size: int = 100) -> str:
    return f'{ip} - - [04/Mar/2024:10:{minute:02d}:{second:02d} +0000] "GET {path} HTTP/1.1" 200 {size} "-" "{agent}"\n'


def _scan(tmp: Path, log: str, robots: str) -> Traffic:
    (tmp / "access.log").write_text(log, encoding="utf-8")
    (tmp / "robots.txt").write_text(robots, encoding="utf-8")
    result = run_cli("scan", str(tmp / "access.log"), "--robots", str(tmp / "robots.txt"), "--state",
                     str(tmp / "state.db"), "--no-dns", "--format", "json", "-o", str(tmp / "scan.json"))  # fmt: skip
    assert result.exit_code == 0, result.output
    with State(tmp / "state.db") as state:
        stored = latest_scan(state)
    assert stored is not None and stored.traffic is not None
    return stored.traffic


def test_hand_counted_buckets(tmp_path: Path) -> None:
    """Four minutes of log: one-minute buckets, each request in its minute, by kind and verdict;
    the disallowed paths by whom, without their query strings."""
    log = (
        _line("110.249.201.1", 0, 1, "/a", BYTESPIDER) + _line("110.249.201.1", 0, 2, "/b", BYTESPIDER)
        + _line("110.249.201.1", 3, 5, "/c?x=1", BYTESPIDER)
        + _line("54.36.148.1", 1, 0, "/cart?id=2", AHREFS, 1000) + _line("54.36.148.1", 1, 9, "/cart", AHREFS)
        + _line("66.249.66.1", 2, 0, "/robots.txt", GOOGLEBOT) + _line("66.249.66.1", 2, 30, "/p", GOOGLEBOT)
        + _line("192.0.2.9", 3, 59, "/", CHROME)
    )  # fmt: skip
    traffic = _scan(tmp_path, log, "User-agent: *\nDisallow: /cart\n\nUser-agent: Bytespider\nDisallow: /\n")
    assert (traffic.width, traffic.buckets) == (60, 4)
    assert traffic.start == datetime(2024, 3, 4, 10, 0, tzinfo=UTC)
    by_kind = {s.name: s.counts for s in traffic.by_kind}
    assert by_kind["AI training"] == (2, 0, 0, 1)
    assert by_kind["SEO"] == (0, 2, 0, 0)
    assert by_kind["search engines"] == (0, 0, 2, 0)
    assert by_kind["people"] == (0, 0, 0, 1)
    assert sum(map(sum, by_kind.values())) == 8
    by_operator = {s.name: s.counts for s in traffic.by_operator}
    assert by_operator["ByteDance"] == (2, 0, 0, 1) and by_operator["Google"] == (0, 0, 2, 0)
    assert sum(map(sum, (s.counts for s in traffic.by_verdict))) == 8
    shares = {k.kind: (k.clients, k.requests, k.bytes) for k in traffic.kinds}
    assert shares["SEO"] == (1, 2, 1100) and shares["AI training"] == (1, 3, 300)
    paths = {p.path: (p.requests, p.clients, p.by) for p in traffic.disallowed_paths}
    assert paths["/cart"] == (2, 1, (("AhrefsBot", 2),))
    assert paths["/c"][0] == 1 and "/c?x=1" not in paths
    series = {(c.ip, c.user_agent): c.counts for c in traffic.clients}
    assert series[("110.249.201.1", BYTESPIDER)] == (2, 0, 0, 1)


def test_example_every_request_in_one_bucket(tmp_path: Path) -> None:
    """The example's day: each series adds up to the scan's requests, in at most MAX_BUCKETS."""
    log = (EXAMPLES / "access.log").read_text(encoding="utf-8")
    traffic = _scan(tmp_path, log, (EXAMPLES / "robots.txt").read_text(encoding="utf-8"))
    total = sum(k.requests for k in traffic.kinds)
    assert (
        total
        == sum(map(sum, (s.counts for s in traffic.by_kind)))
        == sum(map(sum, (s.counts for s in traffic.by_verdict)))
    )
    assert traffic.buckets <= MAX_BUCKETS and traffic.width == 900
    assert all(len(s.counts) == traffic.buckets for s in (*traffic.by_kind, *traffic.by_operator))
    assert {s.name for s in traffic.by_verdict} == {"allow", "monitor", "challenge", "block"}


def test_bucket_width_grows_with_the_span() -> None:
    assert width_for(0, 59) == 60
    assert width_for(0, 200 * 60 - 1) == 60  # 200 one-minute buckets: at the limit
    assert width_for(0, 200 * 60) == 300  # 201: one too many
    assert width_for(0, 10 * 365 * 86_400) == 604_800  # the widest, however long the span


def test_example_series_are_the_requests_counted_one_by_one(tmp_path: Path) -> None:
    """The summary sums each client's counts per label at once; counted again from the parsed
    requests, one row per request joined to its client's verdict and operator, every series of
    the example's day is the same (each client's requests land under its own labels)."""
    log = (EXAMPLES / "access.log").read_text(encoding="utf-8")
    traffic = _scan(tmp_path, log, (EXAMPLES / "robots.txt").read_text(encoding="utf-8"))
    with State(tmp_path / "state.db") as state:
        stored = latest_scan(state)
    assert stored is not None
    requests = pl.concat(b.requests for b in read_batches([str(EXAMPLES / "access.log")]))
    start = int(traffic.start.timestamp())
    rows = requests.join(stored.clients.select("ip", "user_agent", "verdict", "operator"),
                         on=["ip", "user_agent"], nulls_equal=True).with_columns(
        index=(pl.col("time").dt.epoch("s") - start) // traffic.width
    )  # fmt: skip
    for name, series in (("verdict", traffic.by_verdict), ("operator", traffic.by_operator)):
        assert series
        for one in series:
            counted = rows.filter(pl.col(name) == one.name).group_by("index").len()
            expected = [0] * traffic.buckets
            for index, n in counted.iter_rows():
                expected[index] = n
            assert list(one.counts) == expected, (name, one.name)
