"""The scan JSON contract: the example scan's document byte for byte, and scans read back from it.

A scan read back (``deploy-rules --from SCAN.json``, the state database's latest scan) is the
judge's records again, equal to the scan that wrote it in everything the contract carries.
BOTGUARD_UPDATE_GOLDEN=1 rewrites the golden document (review the diff: other tools read it).
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest

from botguard.app import Env, ScanRequest, run_scan
from botguard.config import load_settings
from botguard.errors import InputError
from botguard.judge.records import CLIENT_JSON_KEYS, ClientVerdict, Evidence, ScanResult, client_records
from botguard.judge.store import latest_scan, save_scan
from botguard.judge.values import client_json_lines, scan_from_json
from botguard.robots.sources import RobotsOption
from botguard.state import State
from tests.helpers import run_cli
from tests.judge.scans import client_value, crawler_value, scan_json, scan_value
from tests.render.hostile import declared_bots, hostile_agents

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden" / "example-scan.json"
UPDATE = os.environ.get("BOTGUARD_UPDATE_GOLDEN") == "1"


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The state database of ``botguard scan`` of the bundled example (as ``make demo`` runs it),
    with its JSON report beside it; relative paths, so the summary names no machine's directory."""
    tmp = tmp_path_factory.mktemp("example")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)
        r = run_cli(
            "scan", "examples/access.log", "--robots", "examples/robots.txt", "--config",
            "examples/botguard.yaml", "--no-dns", "--state", str(tmp / "state.db"), "--format", "json",
            "--output", str(tmp / "scan.json"),
        )  # fmt: skip
    assert r.exit_code == 0, r.output
    return tmp


def test_example_scan_json_is_byte_identical(example: Path) -> None:
    """The example's scan JSON is exactly the reviewed document (summary, clients, crawlers)."""
    text = (example / "scan.json").read_text(encoding="utf-8")
    if UPDATE:
        GOLDEN.write_text(text, encoding="utf-8")
    assert GOLDEN.exists(), f"missing golden file {GOLDEN}: run with BOTGUARD_UPDATE_GOLDEN=1 and review"
    assert text == GOLDEN.read_text(encoding="utf-8")


def test_the_stored_scan_reads_back_as_the_report(example: Path) -> None:
    """The state database's latest scan, read back as records, writes the report byte for byte."""
    with State(example / "state.db") as state:
        stored = latest_scan(state)
    assert isinstance(stored, ScanResult)
    assert scan_json(stored) == (example / "scan.json").read_text(encoding="utf-8")


def _scan(log: Path, robots: Path, config: Path | None = None) -> ScanResult:
    """The judge's records of a scan, as ``botguard scan`` makes them (no DNS, nothing stored)."""
    request = ScanRequest(
        paths=(str(log),), settings=load_settings(config), robots=RobotsOption(default=str(robots)),
        save=False, dns=False,
    )  # fmt: skip
    return run_scan(request, Env()).result


def _hostile_log(tmp: Path) -> tuple[Path, Path]:
    """Hostile agents (quotes, backslashes, control bytes, invalid UTF-8, multi-KB) asking for
    hostile paths robots.txt forbids, so each client carries evidence with those paths."""
    paths = [r"/private/a\x22b", "/private/%00%0d%0a", "/private/\u00fc\u4e2d", "/private/<script>alert(1)</script>",
             "/private/${jndi:ldap://x/a}", "/private/a;b|c`d", "/private/'o'", r"/private/back\\slash\\",
             "/private/" + "x" * 3000, r"/private/?q=\x1b[2J", "/private/%{HTTP_HOST}"]  # fmt: skip
    lines = []
    for i, agent in enumerate([*declared_bots(40), *hostile_agents(40, seed=7)]):
        raw = agent.encode("utf-8", "surrogateescape")
        logged = "".join(chr(b) if 0x20 <= b < 0x7F and b not in b'"\\' else f"\\x{b:02X}" for b in raw)
        for n in range(3):
            path = paths[(i + n) % len(paths)]
            lines.append(f'198.51.100.{i % 250 + 1} - - [04/Mar/2024:10:{n:02d}:00 +0000] "GET {path} HTTP/1.1" '
                         f'200 5 "-" "{logged}"\n')  # fmt: skip
    (tmp / "access.log").write_text("".join(lines), encoding="utf-8")
    (tmp / "robots.txt").write_text("User-agent: *\nDisallow: /private/\n")
    return tmp / "access.log", tmp / "robots.txt"


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ScanResult]:
    """The bundled example and a log of hostile agents and paths, as the judge's records."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)
        example = _scan(
            Path("examples/access.log"), Path("examples/robots.txt"), Path("examples/botguard.yaml")
        )
    hostile = _scan(*_hostile_log(tmp_path_factory.mktemp("hostile")))
    assert example.clients.height > 300 and hostile.clients.height >= 80
    assert hostile.clients.get_column("evidence").list.len().min() == 3  # every client kept its paths
    return {"example": example, "hostile": hostile}


def _carried(result: ScanResult) -> tuple[object, ...]:
    """What the scan JSON carries of a scan: the rest reads back as None or empty."""
    return (
        replace(result.summary, invalid_requests=None),
        [
            replace(c, robots_token=None, judged_requests=None, invalid_requests=None)
            for c in result.client_rows()
        ],
        tuple(replace(c, robots_token=None, reasons=()) for c in result.crawlers),
    )


@pytest.mark.parametrize("name", ["example", "hostile"])
def test_a_report_reads_back_as_the_same_records(scans: dict[str, ScanResult], name: str) -> None:
    """ScanResult -> JSON -> ScanResult: equal records (clients, crawlers, summary) and the same JSON."""
    result = scans[name]
    text = scan_json(result)
    loaded = scan_from_json(text, "scan.json")
    assert _carried(loaded) == _carried(result)
    assert loaded.clients.select(CLIENT_JSON_KEYS).equals(result.clients.select(CLIENT_JSON_KEYS))
    assert scan_json(loaded) == text


@pytest.mark.parametrize("name", ["example", "hostile"])
def test_the_state_database_reads_back_the_same_records(
    scans: dict[str, ScanResult], name: str, tmp_path: Path
) -> None:
    """save_scan then latest_scan gives the records ``deploy-rules --from`` reads from the report."""
    result = scans[name]
    with State(tmp_path / "state.db") as state:
        save_scan(state, result, ["access.log"])
        stored = latest_scan(state)
    assert stored is not None
    assert _carried(stored) == _carried(result)
    assert scan_json(stored) == scan_json(result)


def test_a_scan_stored_in_many_parts_reads_back_in_order(
    scans: dict[str, ScanResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Clients are stored a part at a time (bounded memory): the parts read back as one frame."""
    from botguard.judge import store

    monkeypatch.setattr(store, "CHUNK_ROWS", 7)
    result = scans["example"]
    with State(tmp_path / "state.db") as state:
        save_scan(state, result, ["access.log"])
        parts = state.conn.execute("SELECT COUNT(*) FROM scan_client_tables").fetchone()[0]
        stored = latest_scan(state)
    assert parts == -(-result.clients.height // 7)
    assert stored is not None and scan_json(stored) == scan_json(result)


@pytest.mark.parametrize("name", ["example", "hostile"])
def test_a_scan_stored_a_row_per_client_still_reads_back(
    scans: dict[str, ScanResult], name: str, tmp_path: Path
) -> None:
    """A database written before the clients were kept column-wise (one JSON row per client in
    scan_clients) gives the same records: deploy-rules right after an upgrade reads it."""
    result = scans[name]
    with State(tmp_path / "state.db") as state:
        scan_id = save_scan(state, result, ["access.log"])
        with state.transaction() as conn:
            conn.execute("DELETE FROM scan_client_tables WHERE scan_id = ?", (scan_id,))
            keys = result.clients.select("ip", pl.col("user_agent").fill_null(""), "verdict", "score").rows()
            conn.executemany(
                "INSERT INTO scan_clients (scan_id, ip, user_agent, verdict, score, data) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (scan_id, *key, line)
                    for key, line in zip(keys, client_json_lines(result.clients), strict=True)
                ],
            )
        stored = latest_scan(state)
    assert stored is not None
    assert _carried(stored) == _carried(result)
    assert scan_json(stored) == scan_json(result)


def test_a_damaged_stored_client_table_is_named(scans: dict[str, ScanResult], tmp_path: Path) -> None:
    """Clients the database holds that are not what botguard wrote: an error naming the database
    and the scan, never a traceback from the Arrow reader."""
    with State(tmp_path / "state.db") as state:
        scan_id = save_scan(state, scans["example"], ["access.log"])
        (blob,) = state.conn.execute("SELECT data FROM scan_client_tables").fetchone()
        for damaged in (blob[: len(blob) // 2], b"\0" * len(blob), blob[:100] + bytes(200) + blob[300:]):
            with state.transaction() as conn:
                conn.execute("UPDATE scan_client_tables SET data = ?", (damaged,))
            with pytest.raises(InputError) as caught:
                latest_scan(state)
            assert f"{tmp_path / 'state.db'} (scan {scan_id})" in str(caught.value)


@pytest.mark.parametrize("name", ["example", "hostile"])
def test_client_records_are_the_frame_rows(scans: dict[str, ScanResult], name: str) -> None:
    """The column-wise records equal the rows converted one by one (evidence in its own client)."""
    clients = scans[name].clients
    want = []
    for row in clients.rows(named=True):
        values = {field: row[field] for field in ClientVerdict.__dataclass_fields__}
        values |= {
            "reasons": tuple(row["reasons"]),
            "evidence": tuple(Evidence(**e) for e in row["evidence"]),
        }
        want.append(ClientVerdict(**values))
    assert client_records(clients) == want
    assert client_records(clients.head(0)) == []


def test_a_scan_without_clients_reads_back() -> None:
    """An empty scan (no log lines) is still a scan."""
    loaded = scan_from_json(json.dumps(scan_value([])), "scan.json")
    assert loaded.clients.height == 0 and loaded.client_rows() == [] and loaded.crawlers == ()


def _client(**fields: object) -> dict[str, object]:
    return client_value("203.0.113.7", "EvilBot/1.0", "block") | fields


@pytest.mark.parametrize(
    ("doc", "problem"),
    [
        ([], "no top-level 'clients' and 'crawlers' lists"),
        ({"deploy": {"nginx": {"dir": "/etc/nginx"}}}, "no top-level 'clients' and 'crawlers' lists"),
        ({"summary": {}, "clients": {}, "crawlers": []}, "no top-level 'clients' and 'crawlers' lists"),
        (scan_value(["203.0.113.7"]), "clients[0] is not an object"),  # type: ignore[list-item]
        (scan_value([_client(), {k: v for k, v in _client().items() if k != "verdict"}]), "clients[1] has no 'verdict'"),
        (scan_value([_client(verdict="Block")]), "clients[0] verdict is not allow, monitor, challenge or block"),
        (scan_value([_client(ip=None)]), "clients[0] has no 'ip'"),
        (scan_value([_client(requests="5")]), "a client value has the wrong type"),
        (scan_value([_client(verified="yes")]), "a client value has the wrong type"),
        (scan_value([_client(first_seen="yesterday")]), "clients[0] first_seen is not a time like 2024-03-04T10:00:00Z"),
        (scan_value([_client(last_seen="2024-03-04T10:00:00+01:00")]), "clients[0] last_seen is not a time like"),
        (scan_value([_client(evidence=[{"time": "2024-03-04T10:00:00Z", "target": "/x"}])]),
         "clients[0] has evidence without a target, a rule or a time"),
        (scan_value([_client(user_agent="\ud800")]), "clients[0] holds text that is not valid Unicode"),
        (scan_value([_client()], [crawler_value("X", "block") | {"name": None}]), "crawlers[0] has no 'name'"),
        (scan_value([], [crawler_value("X", "ban")]), "crawlers[0] verdict is not allow, monitor, challenge or block"),
        (scan_value([], [crawler_value("X", "block", asns=[{"asn": "AS1"}])]), "crawlers[0].asns[0] asn is not an integer"),
        (scan_value([], [crawler_value("X", "block", clients=True)]), "crawlers[0] clients is not an integer"),
        ({"summary": None, "clients": [], "crawlers": []}, "summary is not an object"),
        (scan_value([]) | {"summary": {"lines": 1}}, "summary has no 'parsed'"),
        (scan_value([]) | {"summary": scan_value([])["summary"] | {"model": {"raised": 3}}},
         "summary.model has no 'clients_scored'"),
    ],
)  # fmt: skip
def test_a_document_that_is_not_a_scan_is_named(doc: object, problem: str) -> None:
    """Whatever makes a document not a scan is one error naming the first bad place."""
    with pytest.raises(InputError) as caught:
        scan_from_json(json.dumps(doc), "scan.json")
    message = str(caught.value)
    assert message.startswith("not a botguard scan JSON report: ") and problem in message, message
    assert message.endswith(" in scan.json") and "\n" not in message, message


def test_escaped_text_reads_back_as_the_text() -> None:
    """Agents written with JSON escapes (surrogate pairs, control characters, log escapes) read
    back as the same text; only a lone surrogate, which no log holds, is refused (above)."""
    agent = 'ü 🙂 \x01 \\x22 "q" \u2028 \\'
    doc = scan_value([client_value("203.0.113.7", agent, "block")])
    (client,) = scan_from_json(json.dumps(doc, ensure_ascii=True), "scan.json").client_rows()
    assert client.user_agent == agent


def test_text_that_is_not_json_is_named() -> None:
    with pytest.raises(InputError, match=r"^cannot read scan JSON: Expecting value: line 1 column 1"):
        scan_from_json("botguard_http.conf\n", "scan.json")


def test_agents_with_unicode_line_separators_are_stored_whole(tmp_path: Path) -> None:
    """U+2028, U+2029 and NEL are not line ends in JSON lines: a client whose agent or path holds
    one is stored as one client (str.splitlines would cut its JSON in two and fail the scan)."""
    agents = ["SepBot\u2028/1.0", "ParaBot\u2029/1.0", "NelBot\x85/1.0", "FormBot\x0c\x1c/1.0"]
    lines = [
        f'198.51.100.{n + 1} - - [04/Mar/2024:10:00:00 +0000] "GET /a\u2028b HTTP/1.1" 200 5 "-" "{agent}"\n'
        for n, agent in enumerate(agents)
    ]
    (tmp_path / "access.log").write_text("".join(lines), encoding="utf-8")
    result = run_cli("scan", str(tmp_path / "access.log"), "--state", str(tmp_path / "state.db"),
                     "--no-identity", "--format", "json")  # fmt: skip
    assert result.exit_code == 0, result.output
    with State(tmp_path / "state.db") as state:
        stored = latest_scan(state)
    assert stored is not None
    assert sorted(stored.clients.get_column("user_agent").to_list()) == sorted(agents)


def test_agents_with_unicode_line_separators_stay_one_client_each(tmp_path: Path) -> None:
    """JSON escapes a newline inside a string but not U+2028, U+2029 or NEL: a log's user agent
    holding one must not cut its client's JSON in two (the report would not parse)."""
    agents = ["Evil\u2028Bot/1.0", "Para\u2029Bot/2.0", "Nel\x85Bot/3.0", "Fs\x1cBot/4.0"]
    log = tmp_path / "access.log"
    log.write_text(
        "".join(
            f'203.0.113.{i} - - [04/Mar/2024:10:00:0{i} +0000] "GET / HTTP/1.1" 200 5 "-" "{agent}"\n'
            for i, agent in enumerate(agents, 1)
        ),
        encoding="utf-8",
    )
    r = run_cli("scan", str(log), "--no-dns", "--no-save", "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert sorted(c["user_agent"] for c in doc["clients"]) == sorted(agents)
    assert scan_from_json(r.stdout, "scan.json").clients.height == len(agents)


@pytest.mark.parametrize("name", ["example", "hostile"])
@pytest.mark.parametrize("chunk", [7, 20_000])
@pytest.mark.parametrize("clients", [None, 1, 0])
def test_a_report_file_holds_the_bytes_of_the_report_text(
    scans: dict[str, ScanResult],
    name: str,
    chunk: int,
    clients: int | None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Into a file (or stdout) polars writes the clients' lines to its bytes itself, never as
    one Python text per chunk; the file holds what the text writer writes, byte for byte,
    hostile agents (U+2028, NEL, quotes, control characters) and chunk edges included."""
    from botguard.judge import values
    from botguard.report import json as report_json

    result = scans[name]
    if clients is not None:
        result = replace(result, clients=result.clients.head(clients))
    monkeypatch.setattr(report_json, "CHUNK_ROWS", chunk)
    text = scan_json(result)
    monkeypatch.setattr(values, "client_json_text", _unused)
    monkeypatch.setattr(report_json, "client_json_text", _unused)
    with (tmp_path / "scan.json").open("w", encoding="utf-8") as out:
        report_json.write_json(result, out)
    assert (tmp_path / "scan.json").read_bytes() == text.encode("utf-8")


def _unused(clients: pl.DataFrame) -> str:
    raise AssertionError("the report's clients went through Python text")


def test_the_column_at_a_time_reorder_gives_the_same_document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A big scan's clients are put in report order one column at a time (to hold the frame
    once), a small one's whole: both give the golden document (each client's row whole: a
    column gathered in another order than the rest fails it)."""
    from botguard import judge

    monkeypatch.setattr(judge, "_WHOLE_GATHER_ROWS", 0)
    monkeypatch.chdir(ROOT)
    r = run_cli(
        "scan", "examples/access.log", "--robots", "examples/robots.txt", "--config", "examples/botguard.yaml",
        "--no-dns", "--state", str(tmp_path / "state.db"), "--format", "json", "--output", str(tmp_path / "scan.json"),
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert (tmp_path / "scan.json").read_text(encoding="utf-8") == GOLDEN.read_text(encoding="utf-8")
