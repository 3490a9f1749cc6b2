"""`botguard report` and `scan --format html`: one self-contained page from the real CLI.

The verb reads the latest scan of the state database (with its traffic summary and the rules
preview), refuses a database without a scan in one line, and the page carries whatever
verdicts the records hold (a verdict a newer judge adds is shown, never dropped).
"""

from __future__ import annotations

import io
import re
import shutil
import sqlite3
from dataclasses import replace
from html import unescape
from pathlib import Path

import polars as pl
import pytest

from botguard.judge.records import ScanResult
from botguard.judge.store import latest_scan
from botguard.report import write_html
from botguard.report.table import write_table
from botguard.state import State
from tests.helpers import run_cli
from tests.report.pages import client_rows, data_block

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCAN = ("scan", str(EXAMPLES / "access.log"), "--robots", str(EXAMPLES / "robots.txt"), "--config",
        str(EXAMPLES / "botguard.yaml"), "--no-dns")  # fmt: skip
CHARTS = (
    "kind-shares",
    "time-kinds",
    "time-operators",
    "time-verdicts",
    "compliance",
    "identity",
    "asns",
    "verdicts",
)


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state database holding the example's scan; its HTML beside it."""
    tmp = tmp_path_factory.mktemp("scanned")
    result = run_cli(
        *SCAN, "--state", str(tmp / "state.db"), "--format", "html", "-o", str(tmp / "scan.html")
    )
    assert result.exit_code == 0, result.output
    return tmp / "state.db"


def _stored(state: Path) -> ScanResult:
    with State(state) as db:
        result = latest_scan(db)
    assert result is not None
    return result


def test_report_verb_writes_the_latest_scan(scanned: Path) -> None:
    out = scanned.with_name("report.html")
    result = run_cli(
        "report", "--state", str(scanned), "--config", str(EXAMPLES / "botguard.yaml"), "-o", str(out)
    )
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert all(f'data-chart="{name}"' in html for name in CHARTS)
    assert len(client_rows(html)) == 357 == len(client_rows(scanned.with_name("scan.html").read_text()))
    assert "Rules deploy-rules would write" in html and "Impact on the scanned traffic" in html
    # one file, nothing fetched: no URL-bearing attribute anywhere, a policy that forbids requests
    assert not re.search(r"\b(src|href)=\"(?!#)", html)
    found = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    policy = unescape(found.group(1)) if found else ""
    assert (
        "default-src 'none'" in policy and "connect-src 'none'" in policy and "script-src 'sha256-" in policy
    )
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    markup = re.sub(r"<script.*?</script>", "", html, flags=re.S)
    assert not re.search(r"<[^>]*\son[a-z]+\s*=", markup, re.I)  # no inline event handler


def test_report_to_stdout(scanned: Path) -> None:
    result = run_cli("report", "--state", str(scanned))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("<!doctype html>") and result.stdout.rstrip().endswith("</html>")


def test_report_without_a_scan_is_a_usage_error(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = run_cli("report", "--state", str(tmp_path / "state.db"), "-o", str(out))
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and "no scan in the state database" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()


def test_every_verdict_the_records_carry_is_shown(scanned: Path) -> None:
    """A verdict outside the three the page was written with (the challenge tier's) reaches the
    charts, the filter and the table; the terminal table shows it too."""
    stored = _stored(scanned)
    clients = stored.clients.with_columns(
        verdict=pl.when(pl.col("crawler") == "Bytespider")
        .then(pl.lit("challenge"))
        .otherwise(pl.col("verdict"))
    )
    challenged = int((clients.get_column("verdict") == "challenge").sum())
    assert challenged > 0
    # the traffic summary is of the old verdicts; a stored scan keeps no non-HTTP count (the
    # terminal table prints one)
    result = replace(
        stored, clients=clients, traffic=None, summary=replace(stored.summary, invalid_requests=0)
    )
    out = io.StringIO()
    write_html(result, out)
    html = out.getvalue()
    assert '<option value="challenge">' in html
    verdicts = data_block(html, "bg-clients")
    assert "challenge" in verdicts["dicts"]["verdict"]
    assert sum(1 for row in client_rows(html) if row["verdict"] == "challenge") == challenged
    chart = html.split('data-chart="verdicts"', 1)[1].split("</figure>", 1)[0]
    assert "challenge" in chart
    table = io.StringIO()
    write_table(result, table, top=400, width=200)
    assert "challenge" in table.getvalue()


def test_table_shows_sparklines_of_top_clients(scanned: Path) -> None:
    result = run_cli(*SCAN, "--state", str(scanned.with_name("other.db")), "--top", "5")
    assert result.exit_code == 0, result.output
    assert "over time" in result.stdout
    clients = result.stdout.split("Clients (IP + user agent)", 1)[1]
    rows = [line for line in clients.splitlines() if re.match(r"│ (block|monitor|allow) ", line)]
    assert len(rows) == 5 and all(re.search("[▁▂▃▄▅▆▇█]", row) for row in rows)


@pytest.mark.parametrize("table", ["scans SET summary", "scan_crawlers SET data", "scan_traffic SET data"])
def test_a_damaged_stored_scan_is_one_line(scanned: Path, tmp_path: Path, table: str) -> None:
    """A stored scan whose JSON is damaged (a disk error, an edit): one line naming the
    database, exit 1, no page and no traceback."""
    state = tmp_path / "state.db"
    shutil.copy(scanned, state)
    with sqlite3.connect(state) as conn:
        conn.execute(f"UPDATE {table} = 'not json'")
    out = tmp_path / "report.html"
    result = run_cli("report", "--state", str(state), "-o", str(out))
    assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.output
    assert "cannot read the stored scan" in result.stderr and str(state) in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()
