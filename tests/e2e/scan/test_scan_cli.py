"""The scan verb's contract: exit codes, JSON keys, inputs, output files, state."""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import lzma
import re
from pathlib import Path

import pytest

from botguard.judge.store import latest_scan
from botguard.state import State
from tests.e2e.scan.conftest import CHROME, line
from tests.helpers import run_cli
from tests.judge.scans import scan_json
from tests.report.pages import client_rows

CLIENT_KEYS = {
    "ip", "user_agent", "crawler", "operator", "category", "requests", "robots_fetched",
    "robots_fetched_first", "disallowed_requests", "honeypot_requests", "compliance", "verified",
    "identity", "asn", "as_org", "country", "score", "verdict", "reasons", "first_seen", "last_seen",
    "evidence", "model_score",
}  # fmt: skip
CRAWLER_KEYS = {"name", "operator", "category", "clients", "ips", "requests", "disallowed_requests", "compliance",
                "verdict", "asns"}  # fmt: skip
SUMMARY_KEYS = {
    "lines",
    "parsed",
    "malformed",
    "clients",
    "verdicts",
    "first_seen",
    "last_seen",
    "robots",
    "model",
}


def base_args(site: dict[str, Path]) -> list[str]:
    return ["scan", str(site["log"]), "--robots", str(site["robots"]), "--state", str(site["state"])]


def test_json_contract_keys(site: dict[str, Path]) -> None:
    """Top level summary/clients/crawlers with exactly DESIGN.md's keys; identity fields typed."""
    r = run_cli(*base_args(site), "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert set(doc) == {"summary", "clients", "crawlers"}
    assert set(doc["summary"]) == SUMMARY_KEYS
    assert doc["clients"] and all(set(c) == CLIENT_KEYS for c in doc["clients"])
    assert doc["crawlers"] and all(set(c) == CRAWLER_KEYS for c in doc["crawlers"])
    counts = {
        v: sum(c["verdict"] == v for c in doc["clients"]) for v in ("allow", "monitor", "challenge", "block")
    }
    assert doc["summary"]["verdicts"] == counts
    assert set(doc["summary"]["model"]["raised_to"]) == {"monitor", "challenge", "block"}
    for c in doc["clients"]:
        assert c["verdict"] in {"allow", "monitor", "challenge", "block"}
        assert 0 <= c["score"] <= 100
        assert isinstance(c["reasons"], list) and c["reasons"]
        assert c["identity"] in {"verified", "spoofed", "unverifiable", "unknown"}
        assert c["verified"] in {True, False, None} and (c["verified"] is None) == (
            c["identity"] not in {"verified", "spoofed"}
        )
        assert c["asn"] is None or isinstance(c["asn"], int)
        assert c["as_org"] is None or isinstance(c["as_org"], str)
        assert c["country"] is None  # no country database configured


def test_fail_on_block_exits_3(site: dict[str, Path]) -> None:
    """--fail-on block: exit 3 when a client is blocked (for cron alerting), output still written."""
    r = run_cli(*base_args(site), "--fail-on", "block", "--format", "json")
    assert r.exit_code == 3, r.output
    assert json.loads(r.stdout)["clients"]


def test_fail_on_challenge_exits_3_also_for_a_block_only(site: dict[str, Path], tmp_path: Path) -> None:
    """--fail-on challenge: exit 3 when a client is challenged, or blocked (a harsher verdict);
    exit 0 when no client is challenged or blocked."""
    with site["log"].open("a") as log:  # a browser agent walking a list: 3 pages, no referer, no asset
        log.writelines(line("198.51.100.77", 120 + 30 * i, f"GET /products/{i} HTTP/1.1", 200, CHROME)
                       for i in range(3))  # fmt: skip
    r = run_cli(*base_args(site), "--fail-on", "challenge", "--format", "json")
    assert r.exit_code == 3, r.output
    assert json.loads(r.stdout)["summary"]["verdicts"]["challenge"] > 0
    blocks_only = tmp_path / "blocks-only.yaml"  # nothing challenged: blocks still fail it
    blocks_only.write_text(
        "policy: {challenge: [], challenge_before_block: false}\nmodel: {enabled: false}\n"
    )
    r = run_cli(*base_args(site), "--config", str(blocks_only), "--fail-on", "challenge", "--format", "json")
    doc = json.loads(r.stdout)
    assert doc["summary"]["verdicts"]["challenge"] == 0 and doc["summary"]["verdicts"]["block"] > 0
    assert r.exit_code == 3, r.output
    site["config"].write_text("allowlist:\n  ips: [0.0.0.0/0, '::/0']\n")
    r = run_cli(
        *base_args(site), "--config", str(site["config"]), "--fail-on", "challenge", "--format", "json"
    )
    assert r.exit_code == 0, r.output


def test_fail_on_without_block_exits_0(site: dict[str, Path]) -> None:
    """Nothing blocked (everyone allowlisted) -> exit 0 even with --fail-on block."""
    site["config"].write_text("allowlist:\n  ips: [0.0.0.0/0, '::/0']\n")
    r = run_cli(*base_args(site), "--config", str(site["config"]), "--fail-on", "block", "--format", "json")
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["scan"], "no log file given"),
        (["scan", "x.log", "--format", "yaml"], "Invalid value for '--format'"),
        (
            ["scan", "x.log", "--robots", "a.txt", "--fetch-robots"],
            "--fetch-robots and --robots exclude each other",
        ),
        (["scan", "x.log", "--log-format", "nosuchformat"], "nosuchformat"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    """Bad usage: exit 2 and a reason on stderr, nothing on stdout."""
    r = run_cli(*args, "--state", str(tmp_path / "s.db"))
    assert r.exit_code == 2, r.output
    assert message in r.stderr
    assert r.stdout == ""


def test_bad_config_exits_2_naming_file_and_line(site: dict[str, Path]) -> None:
    """A config typo is rejected before any work, with file:line."""
    site["config"].write_text("policy:\n  block_min_disalowed: 2\n")
    r = run_cli(*base_args(site), "--config", str(site["config"]))
    assert r.exit_code == 2, r.output
    assert "unknown key 'policy.block_min_disalowed'" in r.stderr
    assert f"{site['config']}:2" in r.stderr


def test_missing_log_exits_1(tmp_path: Path) -> None:
    """A log that cannot be read is a runtime failure (exit 1) naming the file."""
    r = run_cli("scan", str(tmp_path / "missing.log"), "--state", str(tmp_path / "s.db"))
    assert r.exit_code == 1, r.output
    assert "missing.log" in r.stderr


def test_missing_robots_exits_1(site: dict[str, Path]) -> None:
    """A robots.txt that cannot be read is reported with its path."""
    r = run_cli(
        "scan", str(site["log"]), "--robots", str(site["dir"] / "nope.txt"), "--state", str(site["state"])
    )
    assert r.exit_code == 1, r.output
    assert "nope.txt" in r.stderr


def test_robots_over_500_kib_is_judged_as_google_reads_it(site: dict[str, Path]) -> None:
    """Only the first 500 KiB of a local robots.txt count: a group past the limit judges nobody,
    stderr says so once, and the summary names the cut file."""
    head = site["robots"].read_bytes()
    filler = b"# " + b"x" * 97 + b"\n"
    body = head + filler * ((500 * 1024 - len(head)) // len(filler) + 1)
    site["robots"].write_bytes(body + b"User-agent: Googlebot\nDisallow: /\n")
    r = run_cli(*base_args(site), "--format", "json", "--no-save")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    googlebot = next(c for c in doc["clients"] if c["ip"] == "66.249.66.1")
    assert googlebot["disallowed_requests"] == 0  # the Googlebot group starts after the limit
    bytespider = next(c for c in doc["clients"] if c["ip"] == "110.249.201.9")
    assert bytespider["disallowed_requests"] == 3  # its group is well within it
    assert doc["summary"]["robots"] == {"*": f"{site['robots']} (first 500 KiB)"}
    assert r.stderr.count("botguard: warning:") == 1
    assert f"botguard: warning: {site['robots']}: only the first 500 KiB of 500.1 KiB is read" in r.stderr


@pytest.mark.parametrize("opener", [gzip.open, bz2.open, lzma.open], ids=["gz", "bz2", "xz"])
def test_compressed_logs_give_same_result(site: dict[str, Path], opener: object) -> None:
    """A compressed copy scans to the same summary as the plain log."""
    plain = json.loads(run_cli(*base_args(site), "--format", "json").stdout)
    packed = site["dir"] / "access.log.1.z"
    with opener(packed, "wb") as handle:  # type: ignore[operator]
        handle.write(site["log"].read_bytes())
    r = run_cli(
        "scan",
        str(packed),
        "--robots",
        str(site["robots"]),
        "--state",
        str(site["state"]),
        "--format",
        "json",
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["summary"] == {**plain["summary"]}


def test_stdin(site: dict[str, Path]) -> None:
    """`-` reads the log from standard input."""
    r = run_cli("scan", "-", "--robots", str(site["robots"]), "--state", str(site["state"]), "--format", "json",
                stdin=site["log"].read_bytes())  # fmt: skip
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["summary"]["parsed"] == 25


def test_output_file_and_show_malformed(site: dict[str, Path]) -> None:
    """--output writes the report to a file; --show-malformed prints examples on stderr."""
    out = site["dir"] / "scan.json"
    r = run_cli(*base_args(site), "--format", "json", "--output", str(out), "--show-malformed", "5")
    assert r.exit_code == 0, r.output
    assert r.stdout == ""
    assert json.loads(out.read_text())["summary"]["malformed"] == 2
    assert r.stderr.count("malformed ") == 2
    assert "GET /trunc" in r.stderr


def test_results_are_stored_in_state(site: dict[str, Path]) -> None:
    """The scan lands in the state database as the same JSON document deploy-rules will read."""
    report = run_cli(*base_args(site), "--format", "json").stdout
    with State(site["state"]) as state:
        stored = latest_scan(state)
    assert stored is not None
    assert scan_json(stored) == report


def test_no_save_leaves_state_untouched(site: dict[str, Path]) -> None:
    """--no-save writes nothing to the state database."""
    r = run_cli(*base_args(site), "--no-save", "--format", "json")
    assert r.exit_code == 0, r.output
    with State(site["state"]) as state:
        assert latest_scan(state) is None


def test_failed_scan_keeps_previous_state(site: dict[str, Path]) -> None:
    """A scan that fails midway (bad robots file) leaves the previously stored scan as it was."""
    first = json.loads(run_cli(*base_args(site), "--format", "json").stdout)
    bad = run_cli(
        "scan", str(site["log"]), "--robots", str(site["dir"] / "gone.txt"), "--state", str(site["state"])
    )
    assert bad.exit_code == 1
    with State(site["state"]) as state:
        stored = latest_scan(state)
    assert stored is not None and json.loads(scan_json(stored))["clients"] == first["clients"]


HOSTILE_UA = 'Evil\x1b[2J\x1b[31mBot =cmd|"/c calc"!A1 <script>alert(1)</script> [bold]x[/bold]'
TERMINAL_UA = "Evil\x1b[2J\x1b[31mthing [bold]x[/bold]"


def _append(site: dict[str, Path], ip: str, ua: str) -> None:
    with site["log"].open("a") as log:
        escaped = ua.replace('"', '\\"')
        log.write(f'{ip} - - [04/Mar/2024:10:02:00 +0100] "GET /cart HTTP/1.1" 200 1 "-" "{escaped}"\n')


def test_terminal_escapes_and_markup_are_shown_not_obeyed(site: dict[str, Path]) -> None:
    """A user agent with ANSI escapes and rich markup prints as visible text in the table."""
    _append(site, "192.0.2.65", TERMINAL_UA)
    table = run_cli(*base_args(site), "--format", "table", "--top", "50").stdout
    assert "\x1b" not in table
    assert "Evil\\x1b[2J\\x1b[31mthing [bold]x[/bold]" in table


def test_hostile_user_agent_is_inert_in_html_and_csv(site: dict[str, Path]) -> None:
    """HTML and spreadsheet formulas from a log stay text; JSON keeps the value intact."""
    _append(site, "192.0.2.66", HOSTILE_UA)
    html = run_cli(*base_args(site), "--format", "html").stdout
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # a panel's text
    (shown,) = [row for row in client_rows(html) if row["ip"] == "192.0.2.66"]
    logged = HOSTILE_UA.replace('"', '\\"').replace("\x1b", "\\x1b")  # as logged; control characters shown
    assert shown["agent"] == logged  # the page script draws it as text
    rows = list(csv.DictReader(io.StringIO(run_cli(*base_args(site), "--format", "csv").stdout)))
    (hostile,) = [row for row in rows if row["ip"] == "192.0.2.66"]
    assert hostile["user_agent"].startswith("Evil\x1b[2J")
    doc = json.loads(run_cli(*base_args(site), "--format", "json").stdout)
    (client,) = [c for c in doc["clients"] if c["ip"] == "192.0.2.66"]
    assert client["user_agent"].startswith("Evil\x1b[2J\x1b[31mBot =cmd|")
    assert "<script>alert(1)</script>" in client["user_agent"]


def test_csv_cells_starting_a_formula_are_neutralised(site: dict[str, Path]) -> None:
    """A user agent beginning with '=' reaches the CSV as text, not as a formula."""
    with site["log"].open("a") as log:
        log.write('192.0.2.67 - - [04/Mar/2024:10:02:00 +0100] "GET / HTTP/1.1" 200 1 "-" "=HYPERLINK(1)"\n')
    rows = list(csv.DictReader(io.StringIO(run_cli(*base_args(site), "--format", "csv").stdout)))
    (row,) = [row for row in rows if row["ip"] == "192.0.2.67"]
    assert row["user_agent"] == "'=HYPERLINK(1)"


def test_per_host_robots(tmp_path: Path) -> None:
    """--robots HOST=FILE judges each virtual host by its own robots.txt."""
    log = tmp_path / "vhost.log"
    ua = "Mozilla/5.0 (compatible; GPTBot/1.2; +https://openai.com/gptbot)"
    log.write_text(
        f'shop.example:443 203.0.113.9 - - [04/Mar/2024:10:00:00 +0100] "GET /p/1 HTTP/1.1" 200 5 "-" "{ua}"\n'
        f'blog.example:443 203.0.113.9 - - [04/Mar/2024:10:00:01 +0100] "GET /p/1 HTTP/1.1" 200 5 "-" "{ua}"\n'
    )
    (tmp_path / "shop.txt").write_text("User-agent: GPTBot\nDisallow: /p/\n")
    (tmp_path / "blog.txt").write_text("User-agent: *\nDisallow:\n")
    r = run_cli("scan", str(log), "--log-format", "vhost_combined",
                "--robots", f"shop.example={tmp_path / 'shop.txt'}", "--robots", f"blog.example={tmp_path / 'blog.txt'}",
                "--state", str(tmp_path / "s.db"), "--format", "json")  # fmt: skip
    assert r.exit_code == 0, r.output
    (gpt,) = json.loads(r.stdout)["clients"]
    assert gpt["requests"] == 2
    assert gpt["disallowed_requests"] == 1
    assert gpt["compliance"] == 0.5


def test_state_keeps_only_the_newest_scans(site: dict[str, Path]) -> None:
    """Repeated cron runs do not grow the database without bound: old scans and their clients go."""
    from botguard.judge.store import KEEP_SCANS

    for _ in range(KEEP_SCANS + 2):
        assert run_cli(*base_args(site), "--format", "json", "--no-dns").exit_code == 0
    with State(site["state"]) as state:
        scans = state.conn.execute("SELECT COUNT(*) FROM scans").fetchone()[0]
        orphans = state.conn.execute(
            "SELECT COUNT(*) FROM scan_client_tables WHERE scan_id NOT IN (SELECT id FROM scans)"
        ).fetchone()[0]
    assert scans == KEEP_SCANS
    assert orphans == 0


def test_no_identity_leaves_identity_fields_null(site: dict[str, Path]) -> None:
    """--no-identity skips ranges, DNS and ASN lookups: those fields stay null, verdicts still come."""
    r = run_cli(*base_args(site), "--format", "json", "--no-identity")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert all(c["asn"] is None and c["identity"] is None for c in doc["clients"])
    assert {c["verdict"] for c in doc["clients"]} >= {"block", "allow"}


def test_scan_document_equals_the_written_json(site: dict[str, Path]) -> None:
    """report.scan_document (for programs using botguard as a library) is exactly the --format json output."""
    import io as _io

    from botguard.app import Env, ScanRequest, run_scan
    from botguard.config import load_settings
    from botguard.report.json import scan_document, write_json
    from botguard.robots.sources import RobotsOption

    request = ScanRequest(paths=(str(site["log"]),), settings=load_settings(), save=False, dns=False,
                          robots=RobotsOption(default=str(site["robots"])))  # fmt: skip
    result = run_scan(request, Env()).result
    out = _io.StringIO()
    write_json(result, out)
    assert scan_document(result) == json.loads(out.getvalue())
    assert scan_document(result)["clients"]


def test_nul_byte_in_the_address_is_a_malformed_line(tmp_path: Path) -> None:
    """A NUL byte in the address of a claimed Googlebot is a malformed line (no traceback); other
    non-addresses too; two spellings of one IPv6 address are one client. The summary names the reason."""
    googlebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    lines = [f'{ip} - - [04/Mar/2024:10:00:0{n} +0000] "GET / HTTP/1.1" 200 5 "-" "{googlebot}"\n'
             for n, ip in enumerate(["1.2.3.4\x00", "\x00", "999.1.1.1", "1.2.3.4x", "not-an-ip", "2001:DB8::1",
                                     "2001:db8:0:0:0:0:0:1"])]  # fmt: skip
    log = tmp_path / "access.log"
    log.write_bytes("".join(lines).encode())
    args = ["scan", str(log), "--no-save", "--state", str(tmp_path / "s.db"), "--no-dns"]
    r = run_cli(*args)
    assert r.exit_code == 0 and "Traceback" not in r.stderr, r.output
    # the only stderr line: most lines are malformed, and no other format reads them better
    assert r.stderr.splitlines() == [
        f"botguard: warning: {log}: 5 of 7 lines (71%) are malformed when read as combined; no other known "
        "format reads them better (--show-malformed N prints some)"
    ], r.output
    assert "7 lines  2 parsed  5 malformed (bad client address 5)" in r.stdout, r.output
    doc = json.loads(run_cli(*args, "--format", "json").stdout)
    assert (doc["summary"]["malformed"], [c["ip"] for c in doc["clients"]]) == (5, ["2001:db8::1"])


def test_table_csv_and_html_carry_the_challenge_verdict(site: dict[str, Path]) -> None:
    """A challenged client shows as `challenge` in every output, with the summary count."""
    with site["log"].open("a") as log:  # a browser agent walking a list: 3 pages, no referer, no asset
        log.writelines(line("198.51.100.77", 120 + 30 * i, f"GET /products/{i} HTTP/1.1", 200, CHROME)
                       for i in range(3))  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(run_cli(*base_args(site), "--format", "csv").stdout)))
    assert {r["verdict"] for r in rows if r["ip"] == "198.51.100.77"} == {"challenge"}
    table = run_cli(*base_args(site), "--format", "table").stdout
    assert re.search(r"\bchallenge [1-9]", table) and "198.51.100.77" in table, table
    html = run_cli(*base_args(site), "--format", "html").stdout
    assert {r["verdict"] for r in client_rows(html) if r["ip"] == "198.51.100.77"} == {"challenge"}
