"""Logs that record no user agent (NCSA common format, JSON lines without the key).

A client of such a log has its agent absent: ``null`` in scan JSON (as DESIGN.md has fields a
stage does not provide), read back the same from the state database, an empty CSV cell, and
"(user agent not logged)" in the table. It is judged by its behaviour, like a browser agent, not
as a client that sent an empty agent ("" is what a logged ``-`` becomes): a person whose agent
the log dropped is not blocked for a robots.txt rule.

The common log is the bundled example with its referer and agent fields cut off.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from botguard.judge.store import latest_scan
from botguard.report.json import scan_document
from botguard.state import State
from tests.helpers import run_cli
from tests.report.pages import client_rows

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples"
#: The fields combined adds to common: ` "referer" "user agent"` at the end of a line.
_COMBINED_TAIL = re.compile(r' "[^"]*" "[^"]*"$')


def _scan(log: Path, *extra: str) -> list[str]:
    return ["scan", str(log), "--robots", str(EXAMPLE / "robots.txt"), "--config", str(EXAMPLE / "botguard.yaml"),
            "--no-dns", *extra]  # fmt: skip


@pytest.fixture(scope="module")
def common(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example log in common format (``sed -E 's/ "[^"]*" "[^"]*"$//'``)."""
    log = tmp_path_factory.mktemp("common") / "common.log"
    lines = (EXAMPLE / "access.log").read_text(encoding="utf-8").splitlines()
    log.write_text("".join(_COMBINED_TAIL.sub("", line) + "\n" for line in lines), encoding="utf-8")
    return log


@pytest.fixture(scope="module")
def saved(common: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A JSON scan of the common log, also saved to a state database: (state, document)."""
    state = tmp_path_factory.mktemp("state") / "state.db"
    r = run_cli(*_scan(common, "--state", str(state), "--format", "json"))
    assert r.exit_code == 0 and "Traceback" not in r.stderr, r.output
    return state, json.loads(r.stdout)


@pytest.fixture(scope="module")
def combined() -> dict:
    """The same traffic with its agents (the example log as it is)."""
    r = run_cli(*_scan(EXAMPLE / "access.log", "--no-save", "--format", "json"))
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_json_has_null_agents_and_the_state_reads_them_back(saved: tuple[Path, dict]) -> None:
    """Every client's agent is null; robots.txt evidence is kept; the stored scan is the same."""
    state, doc = saved
    clients = doc["clients"]
    assert len(clients) > 300 and {c["user_agent"] for c in clients} == {None}
    blocked = [c for c in clients if c["verdict"] == "block"]
    assert blocked and all(
        c["evidence"] and c["disallowed_requests"] for c in blocked if c["honeypot_requests"]
    )
    assert any(reason.startswith("violated Disallow: ") for c in blocked for reason in c["reasons"])
    with State(state) as db:
        stored = latest_scan(db)
    assert stored is not None and scan_document(stored)["clients"] == clients


def test_clients_without_agents_are_judged_by_behaviour(saved: tuple[Path, dict], combined: dict) -> None:
    """No address the full log shows to be a person's is blocked for the missing agent, and the
    reasons say the agent was not logged (never "sent no user agent" or "browser user agent")."""
    people = {c["ip"] for c in combined["clients"] if c["category"] == "human"}
    clients = saved[1]["clients"]
    assert people and not [c["ip"] for c in clients if c["verdict"] == "block" and c["ip"] in people]
    reasons = [reason for c in clients for reason in c["reasons"]]
    assert any(reason.startswith("user agent not logged") for reason in reasons)
    assert not [r for r in reasons if "sent no user agent" in r or "browser user agent" in r]


@pytest.mark.parametrize("fmt", ["table", "csv", "html"])
def test_every_output_format(common: Path, tmp_path: Path, fmt: str) -> None:
    """table, csv and html of a saved scan of the common log: each shows the agent as absent."""
    out = tmp_path / f"scan.{fmt}"
    r = run_cli(*_scan(common, "--state", str(tmp_path / "s.db"), "--format", fmt, "-o", str(out)))
    assert r.exit_code == 0 and "Traceback" not in r.stderr, r.output
    text = out.read_text(encoding="utf-8")
    if fmt == "table":
        assert "(user agent not logged)" in text
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        assert len(rows) > 300 and {row["user_agent"] for row in rows} == {""}
    else:
        rows = client_rows(text)
        assert len(rows) > 300 and {row["agent"] for row in rows} == {"(user agent not logged)"}


def test_deploy_dry_run_from_the_saved_scan(saved: tuple[Path, dict], tmp_path: Path) -> None:
    """deploy-rules --dry-run from that state: address rules only (no agent to name), no person hit."""
    state, doc = saved
    r = run_cli("deploy-rules", "--state", str(state), "--nginx-dir", str(tmp_path), "--dry-run",
                "--config", str(EXAMPLE / "botguard.yaml"))  # fmt: skip
    assert r.exit_code == 0 and "Traceback" not in r.stderr, r.output
    blocked = sum(c["verdict"] == "block" for c in doc["clients"])
    assert re.search(r"^decisions: (\d+) block", r.stdout, re.M)[1] == str(blocked)  # type: ignore[index]
    assert re.search(r"humans +clients 0/\d+", r.stdout), r.output
    assert "map $http_user_agent $botguard_ua {\n+    default 0;\n+}" in r.stdout, r.output


def test_watch_once_on_the_common_log(common: Path, tmp_path: Path) -> None:
    """watch --once reads the whole common log and exits 0."""
    r = run_cli("watch", str(common), "--robots", str(EXAMPLE / "robots.txt"), "--state", str(tmp_path / "w.db"),
                "--once", "--config", str(EXAMPLE / "botguard.yaml"))  # fmt: skip
    assert r.exit_code == 0 and "Traceback" not in r.stderr, r.output
    assert "watch: 3600 lines (" in r.stderr, r.output


def test_json_lines_without_the_agent_key(tmp_path: Path) -> None:
    """A JSON log line without ``http_user_agent`` is an agent not logged (null), ``"-"`` an agent
    the client did not send (""): the first is judged by behaviour, the second is no person."""
    log = tmp_path / "access.json"
    base = {"time_iso8601": "2024-03-04T10:00:00+00:00", "request": "GET /cart HTTP/1.1", "status": "200",
            "body_bytes_sent": "5"}  # fmt: skip
    log.write_text(
        json.dumps({"remote_addr": "203.0.113.5", **base}) + "\n"
        + json.dumps({"remote_addr": "203.0.113.6", "http_user_agent": "-", **base}) + "\n"
    )  # fmt: skip
    r = run_cli(*_scan(log, "--log-format", "json", "--no-save", "--format", "json"))
    assert r.exit_code == 0 and "Traceback" not in r.stderr, r.output
    got = {c["ip"]: (c["user_agent"], c["verdict"]) for c in json.loads(r.stdout)["clients"]}
    assert got == {"203.0.113.5": (None, "monitor"), "203.0.113.6": ("", "block")}
