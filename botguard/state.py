"""The SQLite state database every verb shares (scan results, robots history, decisions ...).

One file, default in the user's state directory, overridable with ``--state PATH``. Each
stage owns its tables and creates them with ``CREATE TABLE IF NOT EXISTS`` through
:meth:`State.ensure_schema`; writes go through :meth:`State.transaction` so an interrupted
command leaves the previous state intact.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import Any

import platformdirs

from botguard.errors import BotguardError, InputError, Location

#: SQLite result codes that mean the file itself is damaged (not busy, not a bad statement).
_DAMAGED = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
#: SQLite result codes that mean the file cannot be written now, each with the way out: it is
#: as its last commit left it.
_UNWRITABLE = {
    sqlite3.SQLITE_FULL: "free room on its disk or pass --state with another file",
    sqlite3.SQLITE_IOERR: "free room on its disk or pass --state with another file",
    sqlite3.SQLITE_READONLY: "make it writable or pass --state with another file",
    sqlite3.SQLITE_BUSY: "another botguard is writing it: run again once it is done",
    # a row past SQLite's length limit (1 GB: a stored partial of ~7M clients)
    sqlite3.SQLITE_TOOBIG: "this scan is too big to store: split its logs",
}


def default_state_path() -> Path:
    """Where state lives when no ``--state`` is given (e.g. ~/.local/state/botguard/state.db)."""
    return Path(platformdirs.user_state_dir("botguard")) / "state.db"


class StateDamaged(InputError):
    """The state database file is damaged: botguard cannot repair it, so it names the file and
    the way out (move it aside or use another) instead of a traceback from deep in a stage."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(
            f"state database {path} is damaged ({reason}): move it and its -wal/-shm files aside "
            "(botguard then starts a new, empty one) or pass --state with another file; "
            "scan --no-save does not use it"
        )


class StateUnwritable(BotguardError):
    """The state database cannot be written now (a full disk, most often): one line naming the
    file, not a traceback from the stage whose write failed. Its transaction rolled back, so
    what the file held before is what the next command reads."""

    def __init__(self, path: Path, reason: str, way_out: str) -> None:
        super().__init__(
            f"cannot write state database {path} ({reason}): what it held before is kept; {way_out};"
            " scan --no-save does not use it"
        )


def _damage(path: Path, exc: BaseException | None) -> StateDamaged | None:
    """The error to report when ``exc`` says the file at ``path`` is damaged, else None."""
    if isinstance(exc, sqlite3.DatabaseError) and (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in _DAMAGED:
        return StateDamaged(path, str(exc))
    return None


def _failure(path: Path, exc: BaseException | None) -> BotguardError | None:
    """The error to report when ``exc`` says the file at ``path`` is damaged or cannot be
    written now, else None."""
    damaged = _damage(path, exc)
    if damaged is not None or not isinstance(exc, sqlite3.DatabaseError):
        return damaged
    way_out = _UNWRITABLE.get(getattr(exc, "sqlite_errorcode", 0) & 0xFF)
    return None if way_out is None else StateUnwritable(path, str(exc), way_out)


@cache
def _columns(ddl: str) -> dict[str, frozenset[str]]:
    """The columns of each table a DDL script creates (read from SQLite itself, not parsed here)."""
    scratch = sqlite3.connect(":memory:")
    try:
        scratch.executescript(ddl)
        tables = [row[0] for row in scratch.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: frozenset(row[1] for row in scratch.execute(f"PRAGMA table_info({t})")) for t in tables}
    finally:
        scratch.close()


def _unwritable(
    table: str, wanted: frozenset[str], kind: str | None, info: list[tuple[Any, ...]]
) -> str | None:
    """What makes ``table`` (a schema object of ``kind`` with the ``PRAGMA table_info`` rows
    ``info``) unwritable for a stage that writes the ``wanted`` columns, beyond missing ones."""
    if kind is not None and kind != "table":
        return f"{table} is a {kind}, not a table"
    known = {column.lower() for column in wanted}
    for _, name, _, notnull, default, key in info:
        if notnull and default is None and not key and name.lower() not in known:
            return f"table {table} has a column {name} botguard cannot fill (NOT NULL, no default)"
    return None


class State:
    """An open state database. Use as a context manager or call :meth:`close`.

    Leaving the ``with`` block through an SQLite error that says the file is damaged raises
    :class:`StateDamaged` instead (one that says it cannot be written now, a full disk:
    :class:`StateUnwritable`): every stage reads and writes through ``conn`` directly, and
    this is the one place all of them pass on the way out.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_state_path()
        try:
            if str(self.path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL never corrupts and keeps every committed transaction across a crash
            # of botguard; only a power cut may lose the newest one (halves a scan's save time).
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute("PRAGMA foreign_keys=ON")
        except (OSError, sqlite3.Error) as exc:
            damaged = _damage(self.path, exc)
            if damaged is not None:
                raise damaged from exc
            raise BotguardError(f"cannot open state database: {exc}", Location(str(self.path))) from exc

    def ensure_schema(self, ddl: str, added: Mapping[str, str] | None = None) -> None:
        """Create a stage's tables if they do not exist (idempotent DDL script) and add the
        ``added`` columns (``table.column`` -> definition: columns added after a table first
        shipped) to a table without them, once the tables already there pass
        :meth:`check_schema` (the script itself would fail on a view of a table's name)."""
        missing = self._checked(ddl, added or {})
        self.conn.executescript(ddl)  # creates absent tables only: the missing columns stay so
        for table, column in missing:
            self.conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {(added or {})[f'{table}.{column}']}")

    def check_schema(self, ddl: str, added: Mapping[str, str] | None = None) -> None:
        """Raise :class:`StateDamaged` when a table of the DDL's that is already there cannot
        hold a stage's rows: it lacks one of its columns (other than the ``added`` ones), has a
        NOT NULL column without a default that the DDL does not name, or is not a table (a
        view). Only reads.

        Such a table (another program's, a hand edit) would otherwise fail deep in a stage with
        "no such column" or at its first write: it is reported like a damaged file.
        """
        self._checked(ddl, added or {})

    def _checked(self, ddl: str, added: Mapping[str, str]) -> list[tuple[str, str]]:
        """(table, column) of each ``added`` column a table already there lacks, after
        :meth:`check_schema`'s checks (column names compared as SQLite does: without regard to
        case); each table's columns are read once."""
        found = [(table, wanted, *self._table_info(table)) for table, wanted in _columns(ddl).items()]
        problem = next(filter(None, (_unwritable(*item) for item in found)), None)
        have = {table: {row[1].lower() for row in info} for table, _, _, info in found}
        missing = [
            (table, column)
            for table, wanted, _, info in found
            for column in sorted(wanted)
            if info and column.lower() not in have[table]
        ]
        problem = problem or next(
            (f"table {t} has no column {c}" for t, c in missing if f"{t}.{c}" not in added), None
        )
        if problem is not None:
            raise StateDamaged(self.path, f"{problem}: another program or version wrote it")
        return missing

    def _table_info(self, table: str) -> tuple[str | None, list[tuple[Any, ...]]]:
        """What kind of schema object ``table`` names (None: nothing) and its ``PRAGMA
        table_info`` rows ([] when absent)."""
        kind = self.conn.execute(
            "SELECT type FROM sqlite_master WHERE name = ? COLLATE NOCASE", (table,)
        ).fetchone()
        return (kind[0] if kind else None), self.conn.execute(f"PRAGMA table_info({table})").fetchall()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All-or-nothing writes: commit on success, roll back on any error or interrupt."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            if self.conn.in_transaction:  # SQLite rolls back by itself on some errors (a full disk)
                self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> State:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
        failure = _failure(self.path, exc)
        if failure is not None:
            raise failure from exc
