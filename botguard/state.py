"""The SQLite state database every verb shares (scan results, robots history, decisions ...).

One file, default in the user's state directory, overridable with ``--state PATH``. Each
stage owns its tables and creates them with ``CREATE TABLE IF NOT EXISTS`` through
:meth:`State.ensure_schema`; writes go through :meth:`State.transaction` so an interrupted
command leaves the previous state intact.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import platformdirs

from botguard.errors import BotguardError, Location


def default_state_path() -> Path:
    """Where state lives when no ``--state`` is given (e.g. ~/.local/state/botguard/state.db)."""
    return Path(platformdirs.user_state_dir("botguard")) / "state.db"


class State:
    """An open state database. Use as a context manager or call :meth:`close`."""

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
            raise BotguardError(f"cannot open state database: {exc}", Location(str(self.path))) from exc

    def ensure_schema(self, ddl: str) -> None:
        """Create a stage's tables if they do not exist (idempotent DDL script)."""
        self.conn.executescript(ddl)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All-or-nothing writes: commit on success, roll back on any error or interrupt."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> State:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
