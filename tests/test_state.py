"""The state database when its file is damaged: one line naming it and the way out, never a traceback."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from botguard.deploy.lock import DIR_LOCK
from botguard.robots.history import RobotsHistory
from botguard.state import State
from tests.helpers import Result, run_cli

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = [
    "scan",
    str(ROOT / "examples/access.log"),
    "--robots",
    str(ROOT / "examples/robots.txt"),
    "--no-dns",
]


@pytest.fixture()
def state(tmp_path: Path) -> Path:
    """A real state database holding one scan of the bundled example log."""
    path = tmp_path / "state.db"
    r = run_cli(*EXAMPLE, "--state", str(path), "--format", "json", "-o", str(tmp_path / "scan.json"))
    assert r.exit_code == 0, r.output
    return path


def _garbage_over_page(path: Path, table: str) -> None:
    """Write garbage over the root page of ``table`` (a page in the middle of the file: page 1,
    the header, stays intact, so the file still opens and only reading that table fails)."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.close()
    assert 1 < root < pages
    with open(path, "r+b") as fh:
        fh.seek((root - 1) * page_size)
        fh.write(b"\xde\xad\xbe\xef" * (page_size // 4))


def _one_line_naming(r: Result, path: Path) -> str:
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.exit_code == 1 and len(lines) == 1, r.output
    assert "Traceback" not in r.stderr, r.output
    assert f"state database {path} is damaged" in lines[0] and "move it" in lines[0], r.output
    assert "--state" in lines[0], r.output
    return lines[0]


def test_damaged_state_scan_and_deploy_say_what_to_do(state: Path, tmp_path: Path) -> None:
    """Garbage over a middle page: scan and deploy-rules each exit 1 with one line naming the file
    and what to do; the damaged file is left as it was; scan --no-save still works."""
    _garbage_over_page(state, "scan_client_tables")
    damaged = state.read_bytes()
    rules = tmp_path / "rules"
    rules.mkdir()
    config = tmp_path / "botguard.yaml"
    config.write_text("deploy: {nginx: {validate: [], reload: []}}\n")
    scan = run_cli(*EXAMPLE, "--state", str(state))
    line = _one_line_naming(scan, state)
    assert "malformed" in line and "scan --no-save" in line, scan.output
    deploy = run_cli(
        "deploy-rules", "--nginx-dir", str(rules), "--state", str(state), "--config", str(config)
    )
    _one_line_naming(deploy, state)
    _one_line_naming(
        run_cli("deploy-rules", "--nginx-dir", str(rules), "--state", str(state), "--dry-run"), state
    )
    assert {p.name for p in rules.iterdir()} <= {DIR_LOCK}  # no rule file written
    assert state.read_bytes() == damaged  # nothing written over it: a recovery tool still sees what was there
    r = run_cli(*EXAMPLE, "--state", str(state), "--no-save", "--format", "json")
    assert r.exit_code == 0 and '"clients"' in r.stdout, r.output


def test_state_file_that_is_not_a_database(tmp_path: Path) -> None:
    """Garbage over the whole file (header included): the same one line, from opening it."""
    state = tmp_path / "state.db"
    state.write_bytes(b"not a database\n" * 400)
    r = run_cli("deploy-rules", "--nginx-dir", str(tmp_path), "--state", str(state), "--dry-run")
    assert "file is not a database" in _one_line_naming(r, state)
    r = run_cli(*EXAMPLE, "--state", str(state))
    assert "file is not a database" in _one_line_naming(r, state)


def test_damaged_robots_history_with_fetch_robots(state: Path, tmp_path: Path) -> None:
    """scan --fetch-robots keeps what it fetches in the state's robots.txt history, even with
    --no-save: garbage over that table is the same one line, never a traceback."""
    with State(state) as opened:  # a recorded copy: the fetcher reads it when the site does not answer
        body = b"User-agent: *\nDisallow: /x\n" + b"# a long comment line\n" * 400
        RobotsHistory(opened).record("127.0.0.1", body, datetime(2024, 3, 1, tzinfo=UTC))
    _garbage_over_page(state, "robots_versions")
    log = tmp_path / "vhost.log"  # the host is the loopback address: its fetch never leaves this machine
    log.write_text('127.0.0.1:443 203.0.113.9 - - [04/Mar/2024:10:00:00 +0100] "GET /x HTTP/1.1" 200 5 "-" '
                   '"Mozilla/5.0 (compatible; GPTBot/1.2; +https://openai.com/gptbot)"\n')  # fmt: skip
    r = run_cli("scan", str(log), "--fetch-robots", "--no-save", "--no-dns", "--log-format", "vhost_combined",
                "--state", str(state))  # fmt: skip
    _one_line_naming(r, state)


def test_a_stage_table_another_program_wrote_is_one_line_naming_the_file(state: Path, tmp_path: Path) -> None:
    """A table of botguard's name with other columns: scan exits 1 with the damaged-file line
    (naming the table), not "no such column" from deep in a stage."""
    with sqlite3.connect(state) as conn:
        conn.execute("DROP TABLE scan_traffic")
        conn.execute("CREATE TABLE scan_traffic (scan_id INTEGER, body BLOB)")
    conn.close()
    line = _one_line_naming(run_cli(*EXAMPLE, "--state", str(state)), state)
    assert "table scan_traffic has no column" in line


def test_a_column_added_since_a_table_shipped_is_added_not_reported(tmp_path: Path) -> None:
    """``added`` names columns a newer version added: an older table gets them, keeps its rows."""
    ddl = "CREATE TABLE IF NOT EXISTS t (a TEXT NOT NULL, b TEXT);"
    with State(tmp_path / "s.db") as st:
        st.conn.execute("CREATE TABLE t (a TEXT NOT NULL)")
        st.conn.execute("INSERT INTO t VALUES ('kept')")
        st.ensure_schema(ddl, added={"t.b": "TEXT"})
        assert st.conn.execute("SELECT a, b FROM t").fetchall() == [("kept", None)]
    with State(tmp_path / "old.db") as st, pytest.raises(Exception, match="table t has no column b"):
        st.conn.execute("CREATE TABLE t (a TEXT NOT NULL)")
        st.ensure_schema(ddl)


def _edit(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path)
    with conn:
        for sql in statements:
            conn.execute(sql)
    conn.close()


def test_a_column_spelled_in_another_case_is_the_same_column(state: Path) -> None:
    """SQLite's column names ignore case, so a table whose columns another tool spelled in
    capitals works as it is: scan exits 0, not the damaged-file line."""
    _edit(state, "ALTER TABLE scan_partials RENAME COLUMN byte_offset TO BYTE_OFFSET")
    r = run_cli(*EXAMPLE, "--state", str(state), "--format", "json")
    assert r.exit_code == 0, r.output


def test_an_added_column_spelled_in_another_case_is_not_added_twice(tmp_path: Path) -> None:
    """``added`` with the column there in other capitals: nothing to add (ALTER would fail:
    duplicate column name)."""
    with State(tmp_path / "s.db") as st:
        st.conn.execute("CREATE TABLE t (a TEXT NOT NULL, B TEXT)")
        st.ensure_schema("CREATE TABLE IF NOT EXISTS t (a TEXT NOT NULL, b TEXT);", added={"t.b": "TEXT"})
        assert [row[1] for row in st.conn.execute("PRAGMA table_info(t)")] == ["a", "B"]


@pytest.mark.parametrize(
    "edit",
    [
        ["ALTER TABLE scans RENAME TO scans_old", "CREATE VIEW scans AS SELECT * FROM scans_old"],
        ["DROP TABLE scans", "CREATE TABLE scans (id INTEGER PRIMARY KEY AUTOINCREMENT, finished_at TEXT NOT NULL,"
         " paths TEXT NOT NULL, summary TEXT NOT NULL, owner TEXT NOT NULL)"],
    ],
    ids=["a view of the table's name", "a column it cannot fill"],
)  # fmt: skip
def test_a_stage_table_botguard_cannot_write_is_one_line_naming_the_file(
    state: Path, edit: list[str]
) -> None:
    """A view where a stage's table should be, or a table with a NOT NULL column botguard does
    not know (no default): scan exits 1 with the damaged-file line, not a sqlite3 traceback
    from the first write."""
    _edit(state, *edit)
    line = _one_line_naming(run_cli(*EXAMPLE, "--state", str(state)), state)
    assert "scans" in line


def _full(conn: sqlite3.Connection) -> None:
    """The database may grow by no page: SQLite's own "database or disk is full", as on a full disk."""
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")


def _short_rows(conn: sqlite3.Connection) -> None:
    """No value of 50 kB or more (SQLite's length limit: 1 GB unless lowered)."""
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 50_000)


@pytest.mark.parametrize(("limit", "said"), [(_full, "disk is full"), (_short_rows, "too big to store")])
def test_a_state_database_that_cannot_take_a_scan_is_one_line_and_keeps_what_was_stored(
    state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: Any, said: str
) -> None:
    """A scan of another log exits 1 with one line naming the file, not a sqlite3 traceback;
    the rows stored before are all there, and once the limit is gone the scan stores and equals
    a full one."""
    log = tmp_path / "other.log"
    log.write_bytes((ROOT / "examples/access.log").read_bytes())
    scan = ["scan", str(log), "--robots", str(ROOT / "examples/robots.txt"), "--no-dns", "--format", "json"]
    with sqlite3.connect(state) as conn:
        before = conn.execute("SELECT count(*) FROM scans").fetchone()[0]
        stored = conn.execute("SELECT device, inode, byte_offset, partial FROM scan_partials").fetchall()
    conn.close()
    opened = State.__init__

    def full(self: State, path: str | Path | None = None) -> None:
        opened(self, path)
        limit(self.conn)

    with monkeypatch.context() as patched:
        patched.setattr(State, "__init__", full)
        r = run_cli(*scan, "--state", str(state))
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.exit_code == 1 and len(lines) == 1 and "Traceback" not in r.stderr, r.output
    assert f"cannot write state database {state}" in lines[0] and said in lines[0], r.output
    with sqlite3.connect(state) as conn:
        assert conn.execute("SELECT count(*) FROM scans").fetchone()[0] == before
        now = conn.execute("SELECT device, inode, byte_offset, partial FROM scan_partials").fetchall()
    conn.close()
    assert now == stored
    saved = run_cli(*scan, "--state", str(state))
    assert saved.exit_code == 0, saved.output
    again = run_cli(*scan, "--state", str(state))
    assert again.exit_code == 0 and again.stdout == saved.stdout
    assert again.stdout == run_cli(*scan, "--no-save").stdout
