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
from botguard.judge._seal import SEAL_BYTES
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


#: Kept rows per stored chunk in the tests below: the 9k-line first scan's clients make several.
SMALL_CHUNKS = 100


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> int:
    from botguard.judge import incremental  # imported here: the module collects on older trees

    monkeypatch.setattr(incremental, "JUDGED_CHUNK_ROWS", SMALL_CHUNKS)
    return SMALL_CHUNKS


def test_kept_rows_are_encoded_stored_and_decoded_a_chunk_at_a_time(
    tmp_path: Path, day: tuple[list[bytes], Path], monkeypatch: pytest.MonkeyPatch, small_chunks: int
) -> None:
    """Neither a full scan's end nor a cron run holds all kept rows encoded: each chunk of at
    most JUDGED_CHUNK_ROWS rows is encoded as it is stored and decoded as it is read."""
    from botguard.judge import incremental, partial

    sizes: dict[str, list[int]] = {"encoded": [], "decoded": []}
    encode, decode = partial.frame_to_bytes, partial.frame_from_bytes

    def encoded(frame: pl.DataFrame, *args: Any) -> bytes:
        sizes["encoded"].append(frame.height)
        return encode(frame, *args)

    def decoded(*args: Any) -> pl.DataFrame:
        frame = decode(*args)
        sizes["decoded"].append(frame.height)
        return frame

    monkeypatch.setattr(incremental, "frame_to_bytes", encoded)
    monkeypatch.setattr(incremental, "frame_from_bytes", decoded)
    lines, robots = day
    cron = Cron(tmp_path, robots, monkeypatch)
    cron.append(lines[:9000])
    clients = _clients(cron.scan())
    assert sum(sizes["encoded"]) == clients and max(sizes["encoded"]) <= small_chunks
    with sqlite3.connect(cron.state) as conn:
        (chunks,) = conn.execute("SELECT count(*) FROM scan_partial_judgements WHERE tail = 0").fetchone()
    assert chunks == -(-clients // small_chunks) > 2
    cron.append(lines[9000:9030])
    assert cron.scan() == cron.full()
    assert sum(sizes["decoded"]) == clients and max(sizes["decoded"]) <= small_chunks
    assert cron.judged[-2] <= 2 * 30


def _damaged(blob: bytes) -> bytes:
    middle = len(blob) // 2
    return blob[:middle] + bytes([blob[middle] ^ 0xFF]) + blob[middle + 1 :]


def _label(conn: sqlite3.Connection, tail: int, chunk: int) -> str:
    """The label a chunk is sealed under (rows encoded with it are taken as that chunk's)."""
    from botguard.judge import incremental

    (count,) = conn.execute("SELECT count(*) FROM scan_partial_judgements WHERE tail = ?", (tail,)).fetchone()
    offset, fingerprint = conn.execute(
        "SELECT byte_offset, fingerprint FROM scan_partial_judgements WHERE tail = ? AND chunk = ?",
        (tail, chunk),
    ).fetchone()
    return incremental._chunk_label(tail, chunk, count, offset, fingerprint)


def _blob(conn: sqlite3.Connection, chunk: int, tail: int = 0) -> bytes:
    (blob,) = conn.execute(
        "SELECT judged FROM scan_partial_judgements WHERE tail = ? AND chunk = ?", (tail, chunk)
    ).fetchone()
    return blob


def _set(conn: sqlite3.Connection, chunk: int, blob: bytes, tail: int = 0) -> None:
    conn.execute(
        "UPDATE scan_partial_judgements SET judged = ? WHERE tail = ? AND chunk = ?", (blob, tail, chunk)
    )


def _decoded(conn: sqlite3.Connection, chunk: int, tail: int = 0) -> pl.DataFrame:
    from botguard.judge.partial import frame_from_bytes
    from botguard.judge.records import JUDGED_SCHEMA

    return frame_from_bytes(_blob(conn, chunk, tail)[:-SEAL_BYTES], JUDGED_SCHEMA, _label(conn, tail, chunk))


def _resealed(conn: sqlite3.Connection, chunk: int, rows: pl.DataFrame, tail: int = 0) -> None:
    """``rows`` validly encoded as the chunk's (rows that do not fit the partial)."""
    from botguard.judge.partial import frame_to_bytes

    _set(conn, chunk, frame_to_bytes(rows, _label(conn, tail, chunk)), tail)


def _swapped(conn: sqlite3.Connection) -> None:
    first, second = _blob(conn, 1), _blob(conn, 2)
    _set(conn, 1, second)
    _set(conn, 2, first)


def _sql(statement: str) -> Any:
    return lambda conn: conn.execute(statement)


#: Edits of the kept rows of a first scan stored in chunks, each of which must mean judging
#: every client again (never a traceback or a verdict read from rows that do not fit).
EDITS: dict[str, Any] = {
    "a chunk's bytes damaged": lambda conn: _set(conn, 1, _damaged(_blob(conn, 1))),
    "a tenth of a chunk's rows": lambda conn: _resealed(conn, 1, _decoded(conn, 1).gather_every(10)),
    "a chunk's rows duplicated": lambda conn: _resealed(
        conn, 1, pl.concat([_decoded(conn, 1).head(10), _decoded(conn, 1).head(SMALL_CHUNKS - 10)])
    ),
    "a chunk of another chunk's rows": lambda conn: _resealed(conn, 1, _decoded(conn, 2)),
    "a chunk of other columns": lambda conn: _resealed(
        conn, 1, pl.DataFrame({"ip": ["192.0.2.1"], "user_agent": ["x"]})
    ),
    "a chunk's bytes text": _sql("UPDATE scan_partial_judgements SET judged = 'text' WHERE chunk = 1"),
    "a chunk's bytes empty": _sql("UPDATE scan_partial_judgements SET judged = x'' WHERE chunk = 1"),
    "every chunk empty": _sql("UPDATE scan_partial_judgements SET judged = x''"),
    "a chunk's offset text": _sql(
        "UPDATE scan_partial_judgements SET byte_offset = byte_offset || 'x' WHERE chunk = 1"
    ),
    "every offset text": _sql("UPDATE scan_partial_judgements SET byte_offset = byte_offset || 'x'"),
    "every offset 7": _sql("UPDATE scan_partial_judgements SET byte_offset = 7"),
    "a chunk's offset +0.5": _sql(
        "UPDATE scan_partial_judgements SET byte_offset = byte_offset + 0.5 WHERE chunk = 1"
    ),
    "a chunk's fingerprint another": _sql(
        "UPDATE scan_partial_judgements SET fingerprint = 'x' WHERE chunk = 1"
    ),
    "a middle chunk missing": _sql("DELETE FROM scan_partial_judgements WHERE chunk = 1"),
    "the last chunk missing": _sql(
        "DELETE FROM scan_partial_judgements WHERE chunk = (SELECT max(chunk) FROM scan_partial_judgements)"
    ),
    "two chunks swapped": _swapped,
    "a chunk's bytes another chunk's": lambda conn: _set(conn, 1, _blob(conn, 2)),
    "the last chunk renumbered": _sql(
        "UPDATE scan_partial_judgements SET chunk = chunk + 100"
        " WHERE chunk = (SELECT max(chunk) FROM scan_partial_judgements)"
    ),
    "a chunk's number text": _sql("UPDATE scan_partial_judgements SET chunk = chunk || 'x' WHERE chunk = 1"),
    "a chunk added": _sql(
        "INSERT INTO scan_partial_judgements SELECT device, inode, tail,"
        " (SELECT max(chunk) + 1 FROM scan_partial_judgements), byte_offset, fingerprint, judged"
        " FROM scan_partial_judgements WHERE chunk = 0"
    ),
    "a chunk's seal another chunk's": lambda conn: _set(
        conn, 1, _blob(conn, 1)[:-SEAL_BYTES] + _blob(conn, 2)[-SEAL_BYTES:]
    ),
    "a chunk's seal cut off": lambda conn: _set(conn, 1, _blob(conn, 1)[:-SEAL_BYTES]),
    "a chunk's seal damaged": lambda conn: _set(conn, 1, _blob(conn, 1)[:-1] + b"\0"),
    # text that is not UTF-8: sqlite3 fails as it reads such a value, so none may be fetched
    "a chunk's bytes text not UTF-8": _sql(
        "UPDATE scan_partial_judgements SET judged = CAST(x'ff00' AS TEXT) WHERE chunk = 1"
    ),
    "a chunk's bytes damaged into text": _sql(
        "UPDATE scan_partial_judgements SET judged = substr(judged, 1, 100) || x'00' || substr(judged, 102)"
        " WHERE chunk = 1"
    ),
    "a chunk's offset text not UTF-8": _sql(
        "UPDATE scan_partial_judgements SET byte_offset = CAST(x'ff' AS TEXT) WHERE chunk = 1"
    ),
    "a chunk's number text not UTF-8": _sql(
        "UPDATE scan_partial_judgements SET chunk = CAST(x'ff' AS TEXT) WHERE chunk = 1"
    ),
    "the table dropped": _sql("DROP TABLE scan_partial_judgements"),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_kept_rows_that_are_damaged_or_do_not_fit_mean_judging_every_client(
    tmp_path: Path,
    day: tuple[list[bytes], Path],
    monkeypatch: pytest.MonkeyPatch,
    small_chunks: int,
    edit: str,
) -> None:
    lines, robots = day
    cron = Cron(tmp_path, robots, monkeypatch)
    cron.append(lines[:9000])
    cron.scan()
    with sqlite3.connect(cron.state) as conn:
        EDITS[edit](conn)
    cron.append(lines[9000:9020])
    report = cron.scan()
    assert report == cron.full()
    assert cron.judged[-2] == _clients(report)
    cron.append(lines[9020:9040])  # the next run has rows it can use again
    assert cron.scan() == cron.full()
    assert cron.judged[-2] <= 2 * 40


@pytest.mark.parametrize("edit", ["damaged", "missing", "swapped"])
def test_a_tails_kept_rows_damaged_mean_judging_every_client(
    tmp_path: Path, day: tuple[list[bytes], Path], monkeypatch: pytest.MonkeyPatch, edit: str
) -> None:
    """The rows kept of the clients a stored tail names (on top of every client's) are chunks
    too, checked the same way."""
    from botguard.judge import incremental

    monkeypatch.setattr(incremental, "JUDGED_CHUNK_ROWS", 10)
    lines, robots = day
    cron = Cron(tmp_path, robots, monkeypatch)
    cron.append(lines[:9000])
    cron.scan()
    cron.append(lines[9000:9100])
    cron.scan()
    with sqlite3.connect(cron.state) as conn:
        (chunks,) = conn.execute("SELECT count(*) FROM scan_partial_judgements WHERE tail = 1").fetchone()
        assert chunks >= 3
        if edit == "damaged":
            _set(conn, 1, _damaged(_blob(conn, 1, tail=1)), tail=1)
        elif edit == "missing":
            conn.execute("DELETE FROM scan_partial_judgements WHERE tail = 1 AND chunk = 1")
        else:
            first, second = _blob(conn, 0, tail=1), _blob(conn, 2, tail=1)
            _set(conn, 0, second, tail=1)
            _set(conn, 2, first, tail=1)
    cron.append(lines[9100:9120])
    report = cron.scan()
    assert report == cron.full()
    assert cron.judged[-2] == _clients(report)


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


def test_kept_rows_edited_to_other_valid_verdicts_are_not_used(
    tmp_path: Path, day: tuple[list[bytes], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines, robots = day
    cron = Cron(tmp_path, robots, monkeypatch)
    cron.append(lines[:9000])
    cron.scan()
    with sqlite3.connect(cron.state) as conn:
        _resealed(conn, 0, _decoded(conn, 0).with_columns(verdict=pl.lit("allow")))
    cron.append(lines[9000:9020])
    assert cron.scan() == cron.full()
