"""Incremental scans keep the judge's rows beside the stored partial: a cron run judges again
only the clients its new lines name (and those whose identity changed), and its report is the
bytes a full scan of the same file writes. Kept rows read back from the state database are as
untrusted as the log: rows that are damaged or do not fit mean judging every client again."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import botguard.judge as judge_module
from botguard.app import Env, ScanRequest, run_scan
from botguard.config import Settings, load_settings
from botguard.robots.sources import RobotsOption
from tests.helpers import generated_day
from tests.judge.scans import scan_json

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[bytes], Path]:
    """A generated 12k-line day (crawlers with Crawl-delay, claims of verifiable crawlers)."""
    out = tmp_path_factory.mktemp("judged")
    log, robots = out / "day.log", out / "robots.txt"
    generated_day(log, robots, lines=12000, seed=11)
    return log.read_bytes().splitlines(keepends=True), robots


class Cron:
    """A log scanned as a cron job does (state kept between runs), counting the client rows the
    verdict step judges in each scan."""

    def __init__(self, tmp: Path, robots: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.log, self.state, self.robots = tmp / "access.log", tmp / "state.db", robots
        self.judged: list[int] = []
        real = judge_module.judge_clients

        def counted(totals: pl.DataFrame, *args: Any, **kwargs: Any) -> pl.DataFrame:
            self.judged[-1] += totals.height
            return real(totals, *args, **kwargs)

        monkeypatch.setattr(judge_module, "judge_clients", counted)

    def append(self, lines: list[bytes]) -> None:
        with self.log.open("ab") as out:
            out.writelines(lines)

    def scan(self, *, save: bool = True, identity: bool = True, settings: Settings | None = None) -> str:
        """The scan's JSON report, as text (the bytes ``--format json`` writes)."""
        self.judged.append(0)
        request = ScanRequest(
            paths=(str(self.log),), settings=settings or load_settings(str(EXAMPLES / "botguard.yaml")),
            robots=RobotsOption(default=str(self.robots)), save=save, dns=False, identity=identity,
        )  # fmt: skip
        return scan_json(run_scan(request, Env(state_path=str(self.state))).result)

    def full(self, **kwargs: Any) -> str:
        """A scan that stores nothing and uses nothing stored."""
        return self.scan(save=False, **kwargs)


def _clients(report: str) -> int:
    return len(json.loads(report)["clients"])


def test_a_cron_run_judges_only_the_clients_its_new_lines_name(
    tmp_path: Path, day: tuple[list[bytes], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each run's report is byte for byte a full scan's, through tails and a fold of the tail
    into the partial, while a run judges a few dozen clients of the day's, not all of them."""
    lines, robots = day
    cron = Cron(tmp_path, robots, monkeypatch)
    cron.append(lines[:9000])
    first = cron.scan()
    assert cron.judged[-1] == _clients(first)
    for start, end in [(9000, 9030), (9030, 9060), (9060, 9060), (9060, 12000), (12000, 12000)]:
        cron.append(lines[start:end])
        report = cron.scan()
        judged = cron.judged[-1]
        assert report == cron.full(), f"after line {end}"
        if end - start <= 30:  # the new lines name at most 30 clients (the tail another 30)
            assert judged <= 2 * 30, f"judged {judged} clients after line {end}"
    assert _clients(first) > 2 * 30 * 8  # (at the start, every client was judged each run)


def test_a_client_whose_identity_changed_is_judged_again(
    tmp_path: Path, day: tuple[list[bytes], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Identity is asked again each run (a proof may change without a new line: DNS answers,
    new lists, a claim grown too old to check): the clients whose identity differs from the
    kept rows' are judged again, and only they and the named ones. Here the claims grow too
    old (``identity.max_log_age_days``), which changes the verifiable crawlers' identities."""
    lines, robots = day
    cron = Cron(tmp_path, robots, monkeypatch)
    cron.append(lines[:9000])
    before = json.loads(cron.scan())["clients"]
    settings = load_settings(str(EXAMPLES / "botguard.yaml"))
    aged = replace(settings, identity=replace(settings.identity, max_log_age_days=0))
    cron.append(lines[9000:9020])
    report = cron.scan(settings=aged)
    assert report == cron.full(settings=aged)
    after = {(c["ip"], c["user_agent"]): c for c in json.loads(report)["clients"]}
    changed = [c for c in before if after[(c["ip"], c["user_agent"])]["identity"] != c["identity"]]
    # a client the new lines do not name (its request count is what it was) changed identity
    assert any(after[(c["ip"], c["user_agent"])]["requests"] == c["requests"] for c in changed)
    assert len(changed) <= cron.judged[-2] <= len(changed) + 20 < len(before)


def test_another_policy_means_judging_every_client(
    tmp_path: Path, day: tuple[list[bytes], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines, robots = day
    cron = Cron(tmp_path, robots, monkeypatch)
    cron.append(lines[:9000])
    cron.scan()
    cron.append(lines[9000:9020])
    settings = load_settings(str(EXAMPLES / "botguard.yaml"))
    stricter = replace(settings, policy=replace(settings.policy, challenge_min_pages=1))
    report = cron.scan(settings=stricter)
    assert report == cron.full(settings=stricter)
    assert cron.judged[-2] == _clients(report)


def _damaged(blob: bytes) -> bytes:
    middle = len(blob) // 2
    return blob[:middle] + bytes([blob[middle] ^ 0xFF]) + blob[middle + 1 :]


def _without_rows(blob: bytes) -> bytes:
    """The kept rows, validly encoded, but a tenth of them (rows that do not fit the partial)."""
    return _encoded(_decoded(blob).gather_every(10))


def _other_columns(blob: bytes) -> bytes:
    return _encoded(pl.DataFrame({"ip": ["192.0.2.1"], "user_agent": ["x"]}))


def _duplicated(blob: bytes) -> bytes:
    """The first ten rows twice, the last ten dropped: the right count, not the right clients."""
    rows = _decoded(blob)
    return _encoded(pl.concat([rows.head(10), rows.head(rows.height - 10)]))


def _decoded(blob: bytes) -> pl.DataFrame:
    from botguard.judge.partial import frame_from_bytes  # imported here: the module collects on older trees
    from botguard.judge.records import JUDGED_SCHEMA

    return frame_from_bytes(blob, JUDGED_SCHEMA)


def _encoded(rows: pl.DataFrame) -> bytes:
    from botguard.judge.partial import frame_to_bytes

    return frame_to_bytes(rows)


@pytest.mark.parametrize(
    "edit",
    [
        "UPDATE scan_partial_judgements SET judged = :damaged",
        "UPDATE scan_partial_judgements SET judged = :without_rows",
        "UPDATE scan_partial_judgements SET judged = :duplicated",
        "UPDATE scan_partial_judgements SET judged = :other_columns",
        "UPDATE scan_partial_judgements SET judged = 'text'",
        "UPDATE scan_partial_judgements SET judged = x''",
        "UPDATE scan_partial_judgements SET byte_offset = byte_offset || 'x'",
        "UPDATE scan_partial_judgements SET byte_offset = 7",
        "UPDATE scan_partial_judgements SET byte_offset = byte_offset + 0.5",
        "DROP TABLE scan_partial_judgements",
    ],
)
def test_kept_rows_that_are_damaged_or_do_not_fit_mean_judging_every_client(
    tmp_path: Path, day: tuple[list[bytes], Path], monkeypatch: pytest.MonkeyPatch, edit: str
) -> None:
    lines, robots = day
    cron = Cron(tmp_path, robots, monkeypatch)
    cron.append(lines[:9000])
    cron.scan()
    with sqlite3.connect(cron.state) as conn:
        (blob,) = conn.execute("SELECT judged FROM scan_partial_judgements").fetchone()
        values = {
            "damaged": _damaged(blob), "without_rows": _without_rows(blob), "duplicated": _duplicated(blob),
            "other_columns": _other_columns(blob),
        }  # fmt: skip
        conn.execute(edit, {name: value for name, value in values.items() if f":{name}" in edit})
    cron.append(lines[9000:9020])
    report = cron.scan()
    assert report == cron.full()
    assert cron.judged[-2] == _clients(report)
    cron.append(lines[9020:9040])  # the next run has rows it can use again
    assert cron.scan() == cron.full()
    assert cron.judged[-2] <= 2 * 40


def test_a_cron_run_asks_identity_only_for_claims_and_the_named_clients(
    tmp_path: Path, day: tuple[list[bytes], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An address that claims no crawler is only its network: its identity is kept while the
    network tables are the same, so a run asks identity for the claims and the named clients."""
    from botguard.identity import setup

    lines, robots = day
    cron = Cron(tmp_path, robots, monkeypatch)
    asked: list[int] = []
    real = setup.enrich

    def counted(pairs: pl.DataFrame, *args: Any, **kwargs: Any) -> pl.DataFrame:
        asked.append(pairs.height)
        return real(pairs, *args, **kwargs)

    monkeypatch.setattr(setup, "enrich", counted)
    cron.append(lines[:9000])
    first = json.loads(cron.scan())["clients"]
    claims = sum(c["crawler"] is not None for c in first)
    cron.append(lines[9000:9020])
    asked.clear()
    assert cron.scan() == cron.full()
    assert asked[0] <= claims + 20 < len(first) // 2, (asked, claims)


def test_other_network_tables_mean_judging_every_client(
    tmp_path: Path, day: tuple[list[bytes], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines, robots = day
    cron = Cron(tmp_path, robots, monkeypatch)
    cron.append(lines[:9000])
    cron.scan()
    settings = load_settings(str(EXAMPLES / "botguard.yaml"))
    without = replace(settings, identity=replace(settings.identity, bundled_asn=False))
    cron.append(lines[9000:9020])
    report = cron.scan(settings=without)
    assert report == cron.full(settings=without)
    assert cron.judged[-2] == _clients(report)


@pytest.mark.xfail(
    strict=True,
    reason="the kept rows' digest is unkeyed and covers only their bytes: rows edited to other valid"
    " values and sealed again (write access to the state database) are taken as they are, like the"
    " stored partial's (tests/judge/test_incremental_hostile.py); binding them needs a keyed digest",
)
def test_kept_rows_edited_to_other_valid_verdicts_are_not_used(
    tmp_path: Path, day: tuple[list[bytes], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines, robots = day
    cron = Cron(tmp_path, robots, monkeypatch)
    cron.append(lines[:9000])
    cron.scan()
    with sqlite3.connect(cron.state) as conn:
        (blob,) = conn.execute("SELECT judged FROM scan_partial_judgements").fetchone()
        edited = _decoded(blob).with_columns(verdict=pl.lit("allow"))
        conn.execute("UPDATE scan_partial_judgements SET judged = ?", (_encoded(edited),))
    cron.append(lines[9000:9020])
    assert cron.scan() == cron.full()
