"""The key of the incremental rows' seals (``state.db.key`` beside the state database).

What must hold whatever the key file is: a cron scan equals a full scan, with at most one clear
line; and the tables keep taking the rows the previous release writes (a rollback of botguard
must not turn every cron run into a traceback). Found by a hostile review of the seals.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import generated_day, run_cli
from tests.judge.scans import canonical


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[bytes], Path]:
    """A generated 3k-line day and its robots.txt."""
    out = tmp_path_factory.mktemp("hostile-seals")
    log, robots = out / "day.log", out / "robots.txt"
    generated_day(log, robots, lines=3000, seed=5)
    return log.read_bytes().splitlines(keepends=True), robots


def scan(log: Path, robots: Path, *extra: str) -> Any:
    return run_cli("scan", str(log), "--robots", str(robots), "--format", "json", "--no-model", *extra)


def stored_then_grown(tmp: Path, day: tuple[list[bytes], Path]) -> tuple[Path, Path]:
    """A log scanned with ``--state`` at 2000 lines (its partial and key stored), then grown."""
    lines, robots = day
    log, state = tmp / "access.log", tmp / "state.db"
    log.write_bytes(b"".join(lines[:2000]))
    assert scan(log, robots, "--state", str(state)).exit_code == 0
    with log.open("ab") as out:
        out.writelines(lines[2000:])
    return log, state


def damage_key(key: Path, how: str) -> None:
    if how == "not hex":
        key.write_text("not a key\n", encoding="ascii")
        key.chmod(0o600)
    elif how == "readable by others":
        key.write_text(os.urandom(32).hex() + "\n", encoding="ascii")
        key.chmod(0o644)
    else:  # "a directory"
        key.unlink(missing_ok=True)
        key.mkdir()


@pytest.mark.parametrize("how", ["not hex", "readable by others", "a directory"])
def test_a_bad_key_file_means_a_full_scan_not_a_failed_one(
    tmp_path: Path, day: tuple[list[bytes], Path], how: str
) -> None:
    log, state = stored_then_grown(tmp_path, day)
    damage_key(state.with_name(state.name + ".key"), how)
    done = scan(log, day[1], "--state", str(state))
    full = scan(log, day[1], "--full", "--no-save")
    assert done.exit_code == 0, done.stderr
    assert canonical(done.stdout) == canonical(full.stdout)
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1, done.stderr
    assert "state.db.key" in done.stderr, done.stderr
    again = scan(log, day[1], "--state", str(state))  # mended (a new key) or said again (a directory)
    assert again.exit_code == 0 and canonical(again.stdout) == canonical(full.stdout)
    assert len(again.stderr.splitlines()) == (1 if how == "a directory" else 0), again.stderr


#: The statements d03a57a's incremental.keep() stores rows with (positional: every column).
PREVIOUS_RELEASE_INSERTS = {
    "scan_partials": "INSERT OR REPLACE INTO scan_partials VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "scan_partial_judgements": "INSERT INTO scan_partial_judgements VALUES (?, ?, ?, ?, ?, ?, ?)",
}


@pytest.mark.parametrize("table", sorted(PREVIOUS_RELEASE_INSERTS))
def test_the_tables_still_take_the_rows_the_previous_release_writes(
    tmp_path: Path, day: tuple[list[bytes], Path], table: str
) -> None:
    _, state = stored_then_grown(tmp_path, day)
    statement = PREVIOUS_RELEASE_INSERTS[table]
    values = tuple(range(statement.count("?")))
    with sqlite3.connect(state) as conn:
        conn.execute(statement, values)
