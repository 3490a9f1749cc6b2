"""What each ``cloudflare apply`` did, per scope, in the state database (``status`` reads it back).

One row per scope of a run: the account list first (``zone_id`` ''), then each zone, with the
write requests made, the steps done and the error that stopped the scope, if any.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from botguard.deploy.cloudflare.records import ApplyReport, CloudflareTarget
from botguard.render.cloudflare import CloudflareDesired
from botguard.state import State

__all__ = ["last_applied", "record_apply"]

_DDL = """
CREATE TABLE IF NOT EXISTS cloudflare_applied (
    applied_at TEXT NOT NULL,
    zone_id TEXT NOT NULL,    -- the zone; '' for the run's account-list row (written first)
    list_name TEXT NOT NULL,
    items INTEGER NOT NULL,   -- list items wanted
    rules TEXT NOT NULL,      -- JSON list of the refs botguard wants in the zone ([] on the list row)
    writes INTEGER NOT NULL,
    changes TEXT NOT NULL,    -- JSON list of the steps done
    error TEXT                -- NULL: every change of this scope was applied
);
"""


def _schema(state: State) -> None:
    state.ensure_schema(_DDL, added={"cloudflare_applied.error": "TEXT"})  # since per-zone results


def record_apply(
    state: State,
    applied_at: datetime,
    target: CloudflareTarget,
    desired: CloudflareDesired,
    report: ApplyReport,
) -> None:
    """Record one apply, all scopes in one transaction."""
    refs = json.dumps([r.ref for r in desired.rules])
    rows = []
    for result in report.results:
        zone = "" if result.scope == "list" else result.scope
        error = result.error.message if result.error else None
        wanted = refs if zone else "[]"
        rows.append((applied_at.isoformat(), zone, target.list_name, len(desired.items), wanted,
                     result.writes, json.dumps(list(result.done)), error))  # fmt: skip
    _schema(state)
    with state.transaction() as conn:
        conn.executemany("INSERT INTO cloudflare_applied VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)


def last_applied(state: State) -> dict[str, Any] | None:
    """The newest recorded apply: totals, the list row and one entry per zone (``status``), or None."""
    _schema(state)
    start = state.conn.execute("SELECT max(rowid) FROM cloudflare_applied WHERE zone_id = ''").fetchone()[0]
    if start is None:
        start = state.conn.execute("SELECT max(rowid) FROM cloudflare_applied").fetchone()[0]
    query = ("SELECT applied_at, zone_id, items, rules, writes, changes, error FROM cloudflare_applied "
             "WHERE rowid >= ? ORDER BY rowid")  # fmt: skip
    rows = state.conn.execute(query, (start or 0,)).fetchall()
    if not rows:
        return None
    out: dict[str, Any] = {"applied_at": rows[0][0], "items": rows[0][2], "writes": sum(r[4] for r in rows),
                           "list": None, "zones": {}}  # fmt: skip
    for _, zone, _, rules, writes, changes, error in rows:
        entry = {"writes": writes, "changes": json.loads(changes), "error": error}
        if zone:
            out["zones"][zone] = {**entry, "rules": json.loads(rules)}
        else:
            out["list"] = entry
    return out
