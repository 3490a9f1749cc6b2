"""``botguard cloudflare plan|apply|status``: decisions in the state DB -> Cloudflare, recorded back.

The CLI builds a :class:`CloudflareRequest` and calls one function; everything that touches the
network goes through a client made by :func:`make_client` (token checked before any request).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from botguard.config import Settings
from botguard.decide.records import DecisionSet
from botguard.deploy.cloudflare.client import make_client, target_of
from botguard.deploy.cloudflare.records import ApplyReport, CloudflareTarget, Live, Plan
from botguard.deploy.cloudflare.sync import (
    apply_plan,
    check_quota,
    make_plan,
    read_live,
)
from botguard.render.cloudflare import CloudflareDesired, render_cloudflare
from botguard.state import State

__all__ = ["CloudflareOutcome", "CloudflareRequest", "check_cloudflare", "last_applied", "run_cloudflare",
           "sync_cloudflare"]  # fmt: skip

_DDL = """
CREATE TABLE IF NOT EXISTS cloudflare_applied (
    applied_at TEXT NOT NULL,
    zone_id TEXT NOT NULL,
    list_name TEXT NOT NULL,
    items INTEGER NOT NULL,
    rules TEXT NOT NULL,      -- JSON list of the refs botguard owns after the run
    writes INTEGER NOT NULL,
    changes TEXT NOT NULL     -- JSON list of the plan's lines
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


def _decisions(request: CloudflareRequest) -> DecisionSet:
    if request.decisions is not None:
        return request.decisions
    from botguard.deploy.app import current_decisions

    return current_decisions(request.state_path, request.settings, request.now)


def _record(request: CloudflareRequest, target: CloudflareTarget, desired: CloudflareDesired, report: ApplyReport) -> None:
    with State(request.state_path) as state:
        state.ensure_schema(_DDL)
        with state.transaction() as conn:
            conn.execute(
                "INSERT INTO cloudflare_applied VALUES (?, ?, ?, ?, ?, ?, ?)",
                (request.now.isoformat(), target.zone_id, target.list_name, len(desired.items),
                 json.dumps([r.ref for r in desired.rules]), report.writes, json.dumps(report.plan.lines(target.list_name))),
            )  # fmt: skip


def last_applied(state_path: str | None) -> dict[str, object] | None:
    """The newest recorded apply (``status``), or None."""
    with State(state_path) as state:
        state.ensure_schema(_DDL)
        row = state.conn.execute("SELECT applied_at, zone_id, items, rules, writes FROM cloudflare_applied "
                                 "ORDER BY rowid DESC LIMIT 1").fetchone()  # fmt: skip
    if row is None:
        return None
    return {"applied_at": row[0], "zone_id": row[1], "items": row[2], "rules": json.loads(row[3]), "writes": row[4]}


def run_cloudflare(request: CloudflareRequest) -> CloudflareOutcome:
    """Credentials first, then read live state, diff, and (for ``apply``) write only the diff."""
    conf = request.settings.cloudflare
    target = target_of(conf)
    client = make_client(conf, request.env)
    desired = render_cloudflare(_decisions(request), conf.list_name, conf.guard_bots)
    live = read_live(client, target, request.sleep)
    plan = make_plan(desired, live)
    check_quota(desired, live, conf.max_rules)
    if request.verb != "apply":
        return CloudflareOutcome(target, desired, live, plan)
    report = apply_plan(client, target, plan, live, request.sleep)
    _record(request, target, desired, report)
    return CloudflareOutcome(target, desired, live, plan, report)


def check_cloudflare(settings: Settings, env: Mapping[str, str]) -> None:
    """Raise the one-line credentials error now (``deploy-rules --cloudflare`` checks before deploying)."""
    target_of(settings.cloudflare)
    make_client(settings.cloudflare, env)


def sync_cloudflare(settings: Settings, decisions: DecisionSet, env: Mapping[str, str], state_path: str | None,
                    now: datetime, dry_run: bool) -> CloudflareOutcome:  # fmt: skip
    """``deploy-rules --cloudflare``: plan (dry run) or apply the decisions deploy-rules just made."""
    verb = "plan" if dry_run else "apply"
    return run_cloudflare(CloudflareRequest(verb, settings, now, env, state_path, decisions))
