"""``botguard cloudflare plan|apply|status``: decisions in the state DB -> Cloudflare, recorded back.

Everything that touches the network goes through a client made by
:func:`~botguard.deploy.cloudflare.make_client` (token checked before any request). One run:
verify the token, read the list and every zone, render (the item cap is what the account's
other lists leave), diff, and for ``apply`` check the write permissions, write the diff and
record what was done per scope (the list, each zone) in the state database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botguard.app.env import Env
from botguard.config import Settings
from botguard.decide.records import DecisionSet
from botguard.deploy.cloudflare.access import check_write_access, verify_token
from botguard.deploy.cloudflare.client import make_client, target_of
from botguard.deploy.cloudflare.journal import last_applied, record_apply
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

__all__ = ["CloudflareReport", "CloudflareRequest", "SyncFailed", "check_cloudflare", "run_cloudflare"]


@dataclass(frozen=True, slots=True)
class CloudflareRequest:
    """One run: which verb and the settings (the token comes from ``Env.environ``)."""

    verb: str  # plan | apply | status
    settings: Settings
    decisions: DecisionSet | None = None  # None: the active decisions in the state DB


@dataclass(frozen=True, slots=True)
class CloudflareReport:
    """What the run saw and did, for the CLI to print."""

    target: CloudflareTarget
    desired: CloudflareDesired
    live: Live
    plan: Plan
    applied: ApplyReport | None = None
    probes: int = 0  # dry-run requests made to check write permissions
    last_applied: dict[str, Any] | None = None  # status: the newest recorded apply (None: never)


class SyncFailed(CloudflareError):
    """Some scope failed (a zone could not be read, or a write failed); ``report`` says what was done."""

    def __init__(self, message: str, report: CloudflareReport) -> None:
        super().__init__(message)
        self.report = report


def _decisions(request: CloudflareRequest, env: Env, now: datetime) -> DecisionSet:
    if request.decisions is not None:
        return request.decisions
    from botguard.app.deploy import current_decisions

    with env.open_state() as state:
        return current_decisions(state, request.settings, now)


def _failed(report: ApplyReport) -> str:
    """One line: each real failure (naming its zone or step), then how many zones were skipped."""
    real = [
        r.error.message
        for r in report.failures
        if r.error is not None and not isinstance(r.error, NotAttempted)
    ]
    skipped = sum(isinstance(r.error, NotAttempted) for r in report.failures)
    return "; ".join(real + ([f"{skipped} zone(s) not attempted"] if skipped else []))


def run_cloudflare(request: CloudflareRequest, env: Env) -> CloudflareReport:
    """Credentials first, then read live state, diff, and (for ``apply``) write only the diff.

    Raises before any write for a missing token or permission (exit 2), a rate limit or a quota
    problem; raises :class:`SyncFailed` (with the report) when a zone could not be read or a
    write failed, after recording what was done.
    """
    conf, now = request.settings.cloudflare, env.now()
    target = target_of(conf)
    client = make_client(conf, env.environ)
    decisions = _decisions(request, env, now)
    token = verify_token(client, target, env.sleep)
    live = read_live(client, target, env.sleep)
    desired = render_cloudflare(
        decisions, conf.list_name, conf.guard_bots, max(0, MAX_ITEMS - live.other_items)
    )
    plan = make_plan(desired, live)
    check_quota(desired, live, conf.max_rules)
    unread = [z.error for z in live.zones if z.error is not None]
    if request.verb != "apply":
        last = None
        if request.verb == "status":
            with env.open_state() as state:
                last = last_applied(state)
        report = CloudflareReport(target, desired, live, plan, last_applied=last)
        if unread:
            raise SyncFailed("; ".join(unread), report)
        return report
    probes = check_write_access(client, target, token, plan, live, env.sleep)
    applied = apply_plan(client, target, plan, live, env.sleep)
    with env.open_state() as state:
        record_apply(state, now, target, desired, applied)
    report = CloudflareReport(target, desired, live, plan, applied, probes)
    list_error = applied.results[0].error
    if isinstance(list_error, MissingPermission):
        raise list_error
    if applied.failures:
        raise SyncFailed(_failed(applied), report)
    return report


def check_cloudflare(settings: Settings, environ: Mapping[str, str]) -> None:
    """Raise the one-line credentials error now (``deploy-rules --cloudflare`` checks before deploying)."""
    target_of(settings.cloudflare)
    make_client(settings.cloudflare, environ)
