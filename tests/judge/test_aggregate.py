"""The judge's aggregation does not depend on how the log is cut into batches."""

from __future__ import annotations

import weakref
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from botguard import judge
from botguard.catalog import load_catalog
from botguard.config import Allowlist, Settings
from botguard.identity.asn import RangeTableAsn
from botguard.identity.enrich import enrich
from botguard.judge import ScanResult, aggregate, aggregator, judge_batches, judge_partial
from botguard.judge._pairs import BookFound, PairBook
from botguard.judge.values import client_json_frame
from botguard.logs import read_batches
from botguard.native import DISABLE_VARIABLE, kernel
from botguard.robots import RobotsTxt
from botguard.robots.columns import judge_versions, logged_target, refusing_ranks

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _scan(batch_lines: int) -> ScanResult:
    robots = RobotsTxt.parse((EXAMPLES / "robots.txt").read_bytes())
    batches = read_batches([str(EXAMPLES / "access.log")], "combined", batch_lines=batch_lines)
    return judge_batches(
        batches, load_catalog(), lambda host: robots, Settings(honeypots=("/internal/trap/",))
    )


def test_the_batch_size_changes_no_verdict_reason_or_count() -> None:
    """The example read in batches of 97 lines is judged exactly as read in one batch: a
    Crawl-delay interval that spans two batches counts like any other."""
    whole, cut = _scan(500_000), _scan(97)
    assert whole.summary == cut.summary
    assert client_json_frame(cut.clients).equals(client_json_frame(whole.clients))
    assert cut.crawlers == whole.crawlers
    reasons = whole.clients.get_column("reasons").explode().drop_nulls()
    assert reasons.str.starts_with("ignored Crawl-delay").any()  # the fact this is about is there


def _judged_in_shards(shards: int | None) -> tuple[ScanResult, list[int]]:
    """The example judged with identity (ranges and a range table of networks), ``shards``
    shards of addresses at a time; also how many pairs each call of identity was given."""
    catalog = load_catalog()
    robots = RobotsTxt.parse((EXAMPLES / "robots.txt").read_bytes())
    settings = Settings(
        honeypots=("/internal/trap/",),
        allowlist=Allowlist(networks=(ip_network("66.249.64.0/19"),), user_agents=("uptimerobot",)),
    )
    agg = aggregator(catalog, lambda host: robots, settings)
    for batch in read_batches([str(EXAMPLES / "access.log")], "combined"):
        agg.add(batch.requests, batch.stats)
    calls: list[int] = []

    def identify(pairs: pl.DataFrame) -> pl.DataFrame:
        calls.append(pairs.height)
        return enrich(pairs, catalog, asn_db=RangeTableAsn())

    result = judge_partial(
        agg.take(), catalog, lambda host: robots, settings, identify=identify, shards=shards
    )
    return result, calls


@pytest.mark.parametrize("shards", [2, 3, 7])
def test_clients_judged_shard_by_shard_are_judged_as_all_at_once(shards: int) -> None:
    """A big scan judges its clients one hash shard of addresses at a time (the verdict step's
    working frames are a shard's): verdicts, reasons, identity, evidence, order and roll-ups
    are those of judging every client at once."""
    whole, calls = _judged_in_shards(1)
    cut, cut_calls = _judged_in_shards(shards)
    assert len(calls) == 1 and len(cut_calls) == shards
    assert sum(cut_calls) == calls[0]  # every (address, crawler) pair asked once
    assert cut.clients.equals(whole.clients)
    assert cut.crawlers == whole.crawlers and cut.summary == whole.summary
    assert whole.clients.get_column("verdict").n_unique() >= 3  # there is something to get wrong
    assert whole.clients.get_column("allowlisted").is_not_null().any()
    assert whole.clients.get_column("identity").is_in(["verified", "spoofed"]).any()


def test_a_big_scan_is_judged_a_shard_of_clients_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past JUDGE_ROWS clients, no step of the verdicts sees more than about a shard of them."""
    whole, _ = _judged_in_shards(None)
    monkeypatch.setattr(judge, "JUDGE_ROWS", 40)
    cut, calls = _judged_in_shards(None)
    assert len(calls) >= whole.clients.height // 40
    assert max(calls) < whole.clients.height / 2
    assert cut.clients.equals(whole.clients)


def _judged_targets(monkeypatch: pytest.MonkeyPatch) -> list[tuple[tuple[int, ...], str, str]]:
    """Each (robots.txt versions, token, target) the robots.txt judge is given, in order (the
    real judge answers): a column of them, or a few in plain Python (``refusing_ranks``)."""
    calls: list[tuple[tuple[int, ...], str, str]] = []

    def counted(versions, token, targets):
        calls.extend((tuple(id(v) for v in versions), token, t) for t in targets.to_list())
        return judge_versions(versions, token, targets)

    def counted_few(versions, token, targets):
        calls.extend((tuple(id(v) for v in versions), token, logged_target(t)) for t in targets)
        return refusing_ranks(versions, token, targets)

    monkeypatch.setattr(aggregate, "judge_versions", counted)
    monkeypatch.setattr(aggregate, "refusing_ranks", counted_few)
    return calls


def test_each_target_is_judged_once_per_scan_not_once_per_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Paths repeat from batch to batch: a target judged by one robots.txt group in one batch
    is not judged again in a later one, and the verdicts are those of one whole batch."""
    whole = _scan(500_000)
    calls = _judged_targets(monkeypatch)
    cut = _scan(97)
    assert client_json_frame(cut.clients).equals(client_json_frame(whole.clients))
    assert len(calls) == len(set(calls)) > 0
    rows = pl.concat(b.requests for b in read_batches([str(EXAMPLES / "access.log")], "combined"))
    assert len(calls) < rows.height / 2  # there were repeats to skip


@pytest.mark.parametrize("native", [False, True])
def test_kept_verdicts_start_over_past_their_bound(monkeypatch: pytest.MonkeyPatch, native: bool) -> None:
    """The verdicts kept between batches stay within JUDGED_PAIRS (or one batch's new ones):
    past it they start over, and the scan's verdicts are the same. Without the kernel they are
    the polars way's kept verdicts; with it, the running fold's pair book (its pairs, asked or
    not, counted before each batch: at the bound it starts over, then holds that batch's)."""
    if native and kernel("judge._fold") is None:
        pytest.skip("the C kernel is not built here")
    if not native:
        monkeypatch.setenv(DISABLE_VARIABLE, "1")
    whole = _scan(500_000)
    monkeypatch.setattr(aggregate, "JUDGED_PAIRS", 5)
    calls = _judged_targets(monkeypatch)
    robots = RobotsTxt.parse((EXAMPLES / "robots.txt").read_bytes())
    settings = Settings(honeypots=("/internal/trap/",))
    agg = aggregator(load_catalog(), lambda host: robots, settings)
    looked_up: list[tuple[int, bool]] = []  # (new pairs, started over) of each batch in the book
    real_find = PairBook.find

    def find(book: PairBook, *args: Any) -> BookFound:
        found = real_find(book, *args)
        looked_up.append((len(found[1]), found[2]))
        return found

    monkeypatch.setattr(PairBook, "find", find)
    starts = 0
    for batch in read_batches([str(EXAMPLES / "access.log")], "combined", batch_lines=97):
        before = len(calls)
        kept = agg._book.facts().count if native and agg._book is not None else agg._judged.height
        agg.add(batch.requests, batch.stats)
        if native:
            assert agg._book is not None
            (fresh, started_over), over = looked_up[-1], kept >= 5
            assert started_over == over
            assert agg._book.facts().count == (fresh if over else kept + fresh)
            starts += over
        else:
            fresh = len(calls) - before
            assert agg._judged.height == (kept + fresh if kept + fresh <= 5 else fresh)
            starts += kept + fresh > 5
    assert starts > 1
    cut = judge_partial(agg.take(), load_catalog(), lambda host: robots, settings)
    assert client_json_frame(cut.clients).equals(client_json_frame(whole.clients))


def test_each_request_is_counted_once_beside_targets_judged_in_another_spelling(tmp_path: Path) -> None:
    """A batch holding ``/`` and ``//favicon.ico`` (which the robots.txt engine reads as a path
    of its own) counts each request once: the clients' requests add up to the lines parsed."""
    line = '203.0.113.{n} - - [17/May/2015:10:05:0{s} +0000] "GET {t} HTTP/1.1" 200 5 "-" "curl/8"\n'
    log = tmp_path / "a.log"
    targets = ["/", "//favicon.ico", "/", "/private/x", "/"]
    log.write_text("".join(line.format(n=i % 2, s=i, t=t) for i, t in enumerate(targets)))
    robots = RobotsTxt.parse(b"User-agent: *\nDisallow: /private\n")
    result = judge_batches(
        read_batches([str(log)], "combined"), load_catalog(), lambda host: robots, Settings()
    )
    assert result.summary.parsed == 5
    assert result.clients.get_column("requests").sum() == 5
    assert result.clients.get_column("disallowed_requests").sum() == 1


_AGENTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Googlebot/2.1",  # the same crawler and token, another agent
    "GOOGLEBOT/2.1",  # the same text in another case
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",  # has a Crawl-delay
    "curl/8.4.0",  # unknown: the `*` group
    "-",  # no agent
    'evil \\"bot\\"/1.0',  # an escaped quote inside
    "caf\\xC3\\xA9-bot/1.0 \\xFF",  # escaped bytes, one not UTF-8
]
_ROBOTS = b"""User-agent: bingbot
Crawl-delay: 10
Disallow: /private

User-agent: Googlebot
Disallow: /nogoogle

User-agent: *
Disallow: /private
Disallow: /nogoogle/open
Allow: /nogoogle
"""


def _tricky_log(tmp_path: Path) -> Path:
    """Each agent from two addresses asking for paths each group judges otherwise, some of them
    within a second of each other (Crawl-delay), in a raw byte line or two."""
    targets = ["/", "/private/a", "/nogoogle/x", "/nogoogle/open/y", "/robots.txt", "/Private/a"]
    lines = []
    for i in range(240):
        agent = _AGENTS[i % len(_AGENTS)]
        target = targets[i % len(targets)]
        lines.append(
            f"198.51.100.{i % 3} - - [17/May/2015:10:{i // 480:02d}:{i // 8 % 60:02d} +0000] "
            f'"GET {target} HTTP/1.1" 200 5 "-" "{agent}"\n'.encode()
        )
    lines.append(
        b'198.51.100.3 - - [17/May/2015:11:00:00 +0000] "GET /private/z HTTP/1.1" 200 5 "-" "raw \xff\xfe"\n'
    )
    log = tmp_path / "tricky.log"
    log.write_bytes(b"".join(lines))
    return log


def test_units_looked_up_per_agent_are_those_looked_up_per_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With one robots.txt for every host, what each row is judged by follows from its agent:
    it is looked up once per distinct agent of a batch, not per row. Agents of one crawler in
    other spellings, another case, escaped quotes and bytes, no agent and a Crawl-delay group
    give the same partial (every frame, the same rows) as the lookup per row."""
    log = _tricky_log(tmp_path)
    robots = RobotsTxt.parse(_ROBOTS)

    def partial_of(per_row: bool) -> aggregate.Partial:
        agg = aggregator(load_catalog(), lambda host: robots, Settings())
        if per_row:
            monkeypatch.setattr(aggregate.Aggregator, "_units_by_agent", lambda self: False)
        rows_looked_up = []
        real = aggregate.Aggregator._with_units
        monkeypatch.setattr(
            aggregate.Aggregator,
            "_with_units",
            lambda self, rows: rows_looked_up.append(1) or real(self, rows),
        )
        for batch in read_batches([str(log)], "combined", batch_lines=50):
            agg.add(batch.requests, batch.stats)
        assert bool(rows_looked_up) == per_row
        return agg.take()

    by_agent, by_row = partial_of(False), partial_of(True)
    for name in ("clients", "rule_counts", "evidence", "time_counts", "path_counts"):
        ours, theirs = getattr(by_agent, name), getattr(by_row, name)
        # (a frame's row order is its group_by's)
        assert ours.sort(ours.columns).equals(theirs.sort(theirs.columns)), name
    clients = by_agent.clients
    assert clients.get_column("fast_gaps").sum() > 0  # the Crawl-delay fact is there
    assert clients.get_column("disallowed").sum() > 0
    assert clients.get_column("token").n_unique() >= 3  # several groups judged


def test_a_handed_partial_is_let_go_once_its_shards_are_spilled(monkeypatch: pytest.MonkeyPatch) -> None:
    """A partial handed over (judge.Handed) and judged in shards is judged as one held, and
    its per-client frames are gone before the first shard is judged: judging holds one shard
    of them (read back from the spill file), not every client's."""
    catalog = load_catalog()
    robots = RobotsTxt.parse((EXAMPLES / "robots.txt").read_bytes())
    settings = Settings(honeypots=("/internal/trap/",))

    def partial() -> judge.Partial:
        agg = aggregator(catalog, lambda host: robots, settings)
        for batch in read_batches([str(EXAMPLES / "access.log")], "combined"):
            agg.add(batch.requests, batch.stats)
        return agg.take()

    held, _, _ = judge.judge_again(partial(), catalog, lambda host: robots, settings, shards=3)
    part = partial()
    frames = [weakref.ref(getattr(part, name)) for name in ("clients", "rule_counts", "evidence")]
    handed = judge.Handed(part)
    del part  # the caller's own reference goes: the judge holds the only one
    alive: list[bool] = []
    judged = judge._judged

    def noted(*args: Any) -> pl.DataFrame:
        alive.append(any(frame() is not None for frame in frames))
        return judged(*args)

    monkeypatch.setattr(judge, "_judged", noted)
    cut, _, whole = judge.judge_again(handed, catalog, lambda host: robots, settings, shards=3)
    assert whole and alive == [False, False, False]
    assert cut.clients.equals(held.clients)
    assert cut.crawlers == held.crawlers and cut.summary == held.summary
    assert cut.activity is not None and held.activity is not None
    assert cut.activity.width == held.activity.width
    assert cut.activity.counts.equals(held.activity.counts)
    assert cut.activity.disallowed.equals(held.activity.disallowed)
