"""``botguard cloudflare plan|apply|status``: decisions in the state DB -> Cloudflare, recorded back.

The CLI builds a :class:`CloudflareRequest` and calls one function; everything that touches the
network goes through a client made by :func:`make_client` (token checked before any request).
One run: verify the token, read the list and every zone, render (the item cap is what the
account's other lists leave), diff, and for ``apply`` check the write permissions, write the
diff and record what was done per scope (the list, each zone) in the state database.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botguard.config import Settings
from botguard.decide.records import DecisionSet
from botguard.deploy.cloudflare.access import check_write_access, verify_token
from botguard.deploy.cloudflare.client import make_client, target_of
from botguard.deploy.cloudflare.records import (
    ApplyReport,
    CloudflareError,
    CloudflareTarget,
    Live,
    MissingPermission,
    NotAttempted,
    Plan,
)
from botguard.deploy.cloudflare.sync import (
    apply_plan,
    check_quota,
    make_plan,
    read_live,
)
from botguard.render.cloudflare import MAX_ITEMS, CloudflareDesired, render_cloudflare
from botguard.state import State

__all__ = ["CloudflareOutcome", "CloudflareRequest", "SyncFailed", "check_cloudflare", "last_applied",
           "run_cloudflare", "sync_cloudflare"]  # fmt: skip

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


@dataclass(frozen=True, slots=True)
class CloudflareRequest:
    """One run: which verb, the settings, the environment (token, base URL) and the clock."""

    verb: str  # plan | apply | status
    settings: Settings
    now: datetime
    env: Mapping[str, str] = field(default_factory=dict)
    state_path: str | None = None
    decisions: DecisionSet | None = None  # None: the active decisions in the state DB
    sleep: Callable[[float], None] = time.sleep


@dataclass(frozen=True, slots=True)
class CloudflareOutcome:
    """What the run saw and did, for the CLI to print."""

    target: CloudflareTarget
    desired: CloudflareDesired
    live: Live
    plan: Plan
    applied: ApplyReport | None = None
    probes: int = 0  # dry-run requests made to check write permissions


class SyncFailed(CloudflareError):
    """Some scope failed (a zone could not be read, or a write failed); ``outcome`` says what was done."""

    def __init__(self, message: str, outcome: CloudflareOutcome) -> None:
        super().__init__(message)
        self.outcome = outcome


def _decisions(request: CloudflareRequest) -> DecisionSet:
    if request.decisions is not None:
        return request.decisions
    from botguard.deploy.app import current_decisions

    return current_decisions(request.state_path, request.settings, request.now)


def _schema(state: State) -> None:
    state.ensure_schema(_DDL)
    columns = {row[1] for row in state.conn.execute("PRAGMA table_info(cloudflare_applied)")}
    if "error" not in columns:  # a table from before per-zone results
        state.conn.execute("ALTER TABLE cloudflare_applied ADD COLUMN error TEXT")


def _record(request: CloudflareRequest, target: CloudflareTarget, desired: CloudflareDesired,
            report: ApplyReport) -> None:  # fmt: skip
    refs = json.dumps([r.ref for r in desired.rules])
    rows = []
    for result in report.results:
        zone = "" if result.scope == "list" else result.scope
        error = result.error.message if result.error else None
        rows.append((request.now.isoformat(), zone, target.list_name, len(desired.items), refs if zone else "[]",
                     result.writes, json.dumps(list(result.done)), error))  # fmt: skip
    with State(request.state_path) as state:
        _schema(state)
        with state.transaction() as conn:
            conn.executemany("INSERT INTO cloudflare_applied VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)


def last_applied(state_path: str | None) -> dict[str, Any] | None:
    """The newest recorded apply: totals, the list row and one entry per zone (``status``), or None."""
    with State(state_path) as state:
        _schema(state)
        start = state.conn.execute("SELECT max(rowid) FROM cloudflare_applied WHERE zone_id = ''").fetchone()[
            0
        ]
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


def _failed(report: ApplyReport) -> str:
    """One line: each real failure (naming its zone or step), then how many zones were skipped."""
    real = [
        r.error.message
        for r in report.failures
        if r.error is not None and not isinstance(r.error, NotAttempted)
    ]
    skipped = sum(isinstance(r.error, NotAttempted) for r in report.failures)
    return "; ".join(real + ([f"{skipped} zone(s) not attempted"] if skipped else []))


def run_cloudflare(request: CloudflareRequest) -> CloudflareOutcome:
    """Credentials first, then read live state, diff, and (for ``apply``) write only the diff.

    Raises before any write for a missing token or permission (exit 2), a rate limit or a quota
    problem; raises :class:`SyncFailed` (with the outcome) when a zone could not be read or a
    write failed, after recording what was done.
    """
    conf = request.settings.cloudflare
    target = target_of(conf)
    client = make_client(conf, request.env)
    decisions = _decisions(request)
    token = verify_token(client, target, request.sleep)
    live = read_live(client, target, request.sleep)
    desired = render_cloudflare(
        decisions, conf.list_name, conf.guard_bots, max(0, MAX_ITEMS - live.other_items)
    )
    plan = make_plan(desired, live)
    check_quota(desired, live, conf.max_rules)
    unread = [z.error for z in live.zones if z.error is not None]
    if request.verb != "apply":
        outcome = CloudflareOutcome(target, desired, live, plan)
        if unread:
            raise SyncFailed("; ".join(unread), outcome)
        return outcome
    probes = check_write_access(client, target, token, plan, live, request.sleep)
    report = apply_plan(client, target, plan, live, request.sleep)
    _record(request, target, desired, report)
    outcome = CloudflareOutcome(target, desired, live, plan, report, probes)
    list_error = report.results[0].error
    if isinstance(list_error, MissingPermission):
        raise list_error
    if report.failures:
        raise SyncFailed(_failed(report), outcome)
    return outcome


def check_cloudflare(settings: Settings, env: Mapping[str, str]) -> None:
    """Raise the one-line credentials error now (``deploy-rules --cloudflare`` checks before deploying)."""
    target_of(settings.cloudflare)
    make_client(settings.cloudflare, env)


def sync_cloudflare(settings: Settings, decisions: DecisionSet, env: Mapping[str, str], state_path: str | None,
                    now: datetime, dry_run: bool) -> CloudflareOutcome:  # fmt: skip
    """``deploy-rules --cloudflare``: plan (dry run) or apply the decisions deploy-rules just made."""
    verb = "plan" if dry_run else "apply"
    return run_cloudflare(CloudflareRequest(verb, settings, now, env, state_path, decisions))
