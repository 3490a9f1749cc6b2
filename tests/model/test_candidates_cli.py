"""`botguard candidates list|approve|reject`: output formats, reviews, exit codes, hostile text."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from botguard.model.store import CandidateStore
from botguard.state import State
from tests.helpers import run_cli
from tests.model.test_candidates_store import candidate

HOSTILE_SIG = "ua_tok=[bold]x[/bold]\x1b[2J"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "state.db"
    with State(path) as state:
        CandidateStore(state).upsert([
            candidate(),
            candidate("asn=64500", "asn", "64500", score=0.91),
            candidate(HOSTILE_SIG, value="x]bot"),
            candidate("=HYPERLINK(\"http://evil\")", value="=evilbot"),
        ], now=datetime.now(UTC))  # fmt: skip
    return path


def _json(db: Path, *extra: str) -> dict[str, dict]:
    r = run_cli("candidates", "list", "--format", "json", "--state", str(db), *extra)
    assert r.exit_code == 0, r.output
    return {row["signature"]: row for row in json.loads(r.stdout)["candidates"]}


def test_list_json_shows_evidence_and_deployment(db: Path) -> None:
    rows = _json(db)
    assert len(rows) == 4
    row = rows["ua_tok=novascrape"]
    assert (row["status"], row["deployed"], row["why"]) == ("proposed", False, "awaiting review")
    assert (row["match_kind"], row["match_value"], row["action"]) == ("ua_pattern", "novascrape", "block")
    assert (row["support_requests"], row["support_ips"], row["requests_to_candidate"]) == (412, 37, 260)
    assert row["explanation"][1] == {"feature": "ua_tok=novascrape", "contribution": 2.1}
    assert row["label_counts"] == {"robots": 40, "honeypot": 3}
    assert row["reason"].startswith("model: ua_tok=novascrape +2.1")


def test_approve_then_reject_persist_with_status_filter(db: Path) -> None:
    r = run_cli("candidates", "approve", "ua_tok=novascrape", "asn=64500", "--state", str(db))
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == ["approved ua_tok=novascrape", "approved asn=64500"]
    assert set(_json(db, "--status", "approved")) == {"ua_tok=novascrape", "asn=64500"}
    assert _json(db)["asn=64500"]["deployed"] is True
    r = run_cli("candidates", "reject", "asn=64500", "--state", str(db))
    assert r.exit_code == 0 and r.stdout == "rejected asn=64500\n", r.output
    rows = _json(db, "--status", "rejected")
    assert list(rows) == ["asn=64500"] and rows["asn=64500"]["deployed"] is False
    assert set(_json(db, "--status", "proposed")) == {HOSTILE_SIG, '=HYPERLINK("http://evil")'}


def test_unknown_signature_exits_2_and_changes_nothing(db: Path) -> None:
    r = run_cli("candidates", "approve", "ua_tok=novascrape", "ua_tok=ghost", "--state", str(db))
    assert r.exit_code == 2, r.output
    assert (
        r.stderr
        == "botguard: error: no candidate with signature 'ua_tok=ghost' (see `botguard candidates list`)\n"
    )
    assert _json(db)["ua_tok=novascrape"]["status"] == "proposed"


def test_usage_errors_exit_2(db: Path, tmp_path: Path) -> None:
    assert run_cli("candidates", "approve", "--state", str(db)).exit_code == 2  # no signature
    assert run_cli("candidates", "list", "--status", "maybe", "--state", str(db)).exit_code == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("decide:\n  bantime: -1\n")
    r = run_cli("candidates", "reject", "asn=64500", "--config", str(bad), "--state", str(db))
    assert r.exit_code == 2, r.output
    assert _json(db)["asn=64500"]["status"] == "proposed"  # config checked before the state changes


def test_table_shows_hostile_text_literally(db: Path) -> None:
    r = run_cli("candidates", "list", "--state", str(db))
    assert r.exit_code == 0, r.output
    assert "\x1b" not in r.stdout  # no escape sequence from the log reaches the terminal
    flat = "".join(line.strip("│┃ ") for line in r.stdout.splitlines())
    assert "[bold]x[/bold]" in flat.replace(" ", "").replace("│", "")  # markup shown, not applied
    assert "novascrape" in r.stdout and "awaiting review" in flat.replace("│", "")


def test_csv_neutralises_formulas(db: Path) -> None:
    r = run_cli("candidates", "list", "--format", "csv", "--state", str(db))
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    evil = next(row for row in rows if "HYPERLINK" in row["signature"])
    assert evil["signature"] == '\'=HYPERLINK("http://evil")' and evil["match_value"] == "'=evilbot"
    assert {row["status"] for row in rows} == {"proposed"}


def test_console_script_maps_errors_to_exit_codes(db: Path) -> None:
    """The installed entry point, as cron or a shell runs it."""
    run = [sys.executable, "-m", "botguard", "candidates"]
    ok = subprocess.run(
        [*run, "reject", "asn=64500", "--state", str(db)], capture_output=True, text=True, check=False
    )
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(
        [*run, "approve", "nope", "--state", str(db)], capture_output=True, text=True, check=False
    )
    assert bad.returncode == 2 and "no candidate with signature 'nope'" in bad.stderr
