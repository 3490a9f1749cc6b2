"""Scan results in the state database, so deploy-rules and later cron runs build on them.

A scan is written in one transaction after it finished: an interrupted scan leaves the
previous results as they were. Each client is stored as its scan-JSON value (the contract),
with the columns later stages filter on (verdict, score) beside it.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import polars as pl

from botguard.judge.records import ScanResult
from botguard.judge.values import (
    client_json_lines,
    crawler_value,
    scan_from_values,
    summary_value,
    traffic_from_value,
    traffic_value,
)
from botguard.state import State

#: Older scans are pruned past this many, so a cron job's database stays small (a scan of a
#: 5M-line log stores ~150k clients, ~100 MB; decisions keep their own history in decide/).
KEEP_SCANS = 5

#: Clients serialised and inserted per round.
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
        for chunk in result.clients.iter_slices(CHUNK_ROWS):  # bounded memory on 100k+ clients
            # the key column is NOT NULL in every database; a log without agents stores "" there,
            # and ``data`` keeps the client as scan JSON has it (user_agent null), as it is read back
            keys = chunk.select("ip", pl.col("user_agent").fill_null(""), "verdict", "score").rows()
            conn.executemany(
                "INSERT INTO scan_clients (scan_id, ip, user_agent, verdict, score, data)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                ((scan_id, *key, data) for key, data in zip(keys, client_json_lines(chunk), strict=True)),
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
    clients = [d for (d,) in state.conn.execute(
        "SELECT data FROM scan_clients WHERE scan_id = ? ORDER BY rowid", (scan_id,))]  # fmt: skip
    crawlers = [json.loads(d) for (d,) in state.conn.execute(
        "SELECT data FROM scan_crawlers WHERE scan_id = ? ORDER BY rowid", (scan_id,))]  # fmt: skip
    source = f"{state.path} (scan {scan_id})"
    scan = scan_from_values(json.loads(summary), clients, crawlers, source)
    traffic = state.conn.execute("SELECT data FROM scan_traffic WHERE scan_id = ?", (scan_id,)).fetchone()
    return replace(scan, traffic=traffic_from_value(json.loads(traffic[0]), source)) if traffic else scan
