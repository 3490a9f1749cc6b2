"""Scan results in the state database, so deploy-rules and later cron runs build on them.

A scan is written in one transaction after it finished: an interrupted scan leaves the
previous results as they were. Its clients are stored as their scan-JSON values (the contract),
column-wise in Arrow IPC blobs of 20k clients (``scan_client_tables``): a row of JSON text per client cost a
third of a cron run over a big log. Scans stored before that, one row per client in
``scan_clients``, are read back as they are.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

from botguard.errors import InputError, Location
from botguard.judge.records import ScanResult
from botguard.judge.values import (
    client_json_table,
    crawler_value,
    scan_from_table,
    scan_from_values,
    summary_value,
    traffic_from_value,
    traffic_value,
)
from botguard.state import State

#: Older scans are pruned past this many, so a cron job's database stays small (a scan of a
#: 5M-line log stores ~150k clients, ~100 MB; decisions keep their own history in decide/).
KEEP_SCANS = 5

#: Clients per stored part (a part is serialised at a time: bounded memory on 100k+ clients).
CHUNK_ROWS = 20_000

DDL = """
CREATE TABLE IF NOT EXISTS scans (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    finished_at TEXT NOT NULL,
    paths TEXT NOT NULL,
    summary TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS scan_clients (
    scan_id INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
    ip TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    verdict TEXT NOT NULL,
    score INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS scan_clients_by_verdict ON scan_clients (scan_id, verdict);
CREATE TABLE IF NOT EXISTS scan_client_tables (
    scan_id INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
    part INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (scan_id, part)
);
CREATE TABLE IF NOT EXISTS scan_crawlers (
    scan_id INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    verdict TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (scan_id, name)
);
CREATE TABLE IF NOT EXISTS scan_traffic (
    scan_id INTEGER PRIMARY KEY REFERENCES scans(id) ON DELETE CASCADE,
    data TEXT NOT NULL
);
"""


def save_scan(state: State, result: ScanResult, paths: list[str]) -> int:
    """Store a finished scan atomically; returns its id."""
    state.ensure_schema(DDL)
    with state.transaction() as conn:
        cursor = conn.execute(
            "INSERT INTO scans (finished_at, paths, summary) VALUES (?, ?, ?)",
            (datetime.now(UTC).isoformat(), json.dumps(paths), json.dumps(summary_value(result))),
        )
        scan_id = int(cursor.lastrowid or 0)
        clients = result.clients
        parts = clients.iter_slices(CHUNK_ROWS) if clients.height else [clients]  # bounded memory
        for part, chunk in enumerate(parts):
            conn.execute(
                "INSERT INTO scan_client_tables (scan_id, part, data) VALUES (?, ?, ?)",
                (scan_id, part, client_json_table(chunk)),
            )
        conn.executemany(
            "INSERT INTO scan_crawlers (scan_id, name, verdict, data) VALUES (?, ?, ?, ?)",
            ((scan_id, r.name, r.verdict, json.dumps(crawler_value(r))) for r in result.crawlers),
        )
        if result.traffic is not None:
            conn.execute(
                "INSERT INTO scan_traffic (scan_id, data) VALUES (?, ?)",
                (scan_id, json.dumps(traffic_value(result.traffic), ensure_ascii=False)),
            )
        conn.execute(
            "DELETE FROM scans WHERE id NOT IN (SELECT id FROM scans ORDER BY id DESC LIMIT ?)", (KEEP_SCANS,)
        )
    return scan_id


def latest_scan_id(state: State) -> int | None:
    """The id of the newest stored scan (None when there is none): a cheap check for a new scan."""
    state.ensure_schema(DDL)
    row = state.conn.execute("SELECT MAX(id) FROM scans").fetchone()
    return None if row is None else row[0]


def latest_scan(state: State) -> ScanResult | None:
    """The newest stored scan, read back as records (what the scan JSON carries), or None."""
    state.ensure_schema(DDL)
    row = state.conn.execute("SELECT id, summary FROM scans ORDER BY id DESC LIMIT 1").fetchone()
    if row is None:
        return None
    scan_id, summary = row
    source = f"{state.path} (scan {scan_id})"
    traffic = state.conn.execute("SELECT data FROM scan_traffic WHERE scan_id = ?", (scan_id,)).fetchone()
    try:  # a damaged database is named, as a damaged report file is
        crawlers = [json.loads(d) for (d,) in state.conn.execute(
            "SELECT data FROM scan_crawlers WHERE scan_id = ? ORDER BY rowid", (scan_id,))]  # fmt: skip
        summary, traffic = json.loads(summary), traffic and json.loads(traffic[0])
    except ValueError as exc:
        raise InputError(f"cannot read the stored scan: {exc}", Location(source)) from None
    tables = [d for (d,) in state.conn.execute(
        "SELECT data FROM scan_client_tables WHERE scan_id = ? ORDER BY part", (scan_id,))]  # fmt: skip
    if tables:
        scan = scan_from_table(summary, tables, crawlers, source)
    else:  # stored by an earlier version: a row per client
        clients = [d for (d,) in state.conn.execute(
            "SELECT data FROM scan_clients WHERE scan_id = ? ORDER BY rowid", (scan_id,))]  # fmt: skip
        scan = scan_from_values(summary, clients, crawlers, source)
    return replace(scan, traffic=traffic_from_value(traffic, source)) if traffic else scan
