"""``deploy-rules`` orchestration: scan -> decisions (state) -> render -> deploy per target.

The CLI and any service call :func:`run_deploy`; it holds the locks for the whole run (the
state database's and each rules directory's, see ``lock.py``), so two runs never interleave,
and returns a :class:`DeployReport` for the caller to print.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from botguard.config import Settings
from botguard.decide import build_decisions, catalog_lookup
from botguard.decide.records import DecisionSet, DroppedDecision
from botguard.decide.store import (
    active_decisions,
    active_of,
    dropped_decisions,
    load_decisions,
    record_decisions,
)
from botguard.deploy.files import DeployError, StepHook, deploy_files, diff_files
from botguard.deploy.impact import impact, model_impact
from botguard.deploy.lock import deploy_lock, directory_locks
from botguard.deploy.precheck import PRECHECKS
from botguard.deploy.records import Impact, Target, TargetOutcome
from botguard.errors import InputError, Location, UsageError
from botguard.judge.store import latest_scan
from botguard.model.store import (
    CandidateStore,
    with_model,
    without_stale_model,
)
from botguard.render import renderers
from botguard.state import State

__all__ = ["DeployReport", "DeployRequest", "run_deploy"]


@dataclass(frozen=True, slots=True)
class DeployRequest:
    """Everything one run needs (built by the CLI from options and settings)."""

    settings: Settings
    now: datetime
    state_path: str | None = None
    scan_path: str | None = None
    nginx_dir: str | None = None
    apache_dir: str | None = None
    dry_run: bool = False
    reload: bool = True
    hook: StepHook | None = None
    cloudflare: bool = False  # the caller also syncs to Cloudflare: no server target is needed


@dataclass(frozen=True, slots=True)
class DeployReport:
    """What happened: the decisions, each target's outcome, failures, the dry-run impact, and the
    stored decisions dropped because no rule may carry them (the CLI warns about those)."""

    decisions: DecisionSet
    outcomes: tuple[TargetOutcome, ...] = ()
    errors: tuple[str, ...] = ()
    impact: Impact | None = None
    model_impact: Impact | None = None  # dry run: what the approved model rules alone would block
    dropped: tuple[DroppedDecision, ...] = ()  # stored decisions no rule may carry (deleted unless dry run)


def _load_scan(request: DeployRequest, state: State) -> dict[str, Any]:
    if request.scan_path:
        try:
            return json.loads(Path(request.scan_path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read scan JSON: {exc}", Location(request.scan_path)) from None
    scan = latest_scan(state)
    if scan is None:
        raise UsageError("no scan in the state database: run `botguard scan` first or pass --from SCAN.json")
    return scan


def _targets(request: DeployRequest) -> list[Target]:
    deploy, decide = request.settings.deploy, request.settings.decide
    backends = renderers(decide.throttle_rate, decide.throttle_burst)
    targets = []
    for name, option, conf in (
        ("nginx", request.nginx_dir, deploy.nginx),
        ("apache", request.apache_dir, deploy.apache),
    ):
        directory = option or conf.dir
        if directory:
            renderer, precheck = backends[name], PRECHECKS[name]
            targets.append(
                Target(name, Path(directory), renderer, conf.validate, conf.reload, precheck, conf.probe)
            )
    if not targets and not request.cloudflare:
        raise UsageError("nothing to deploy to: pass --nginx-dir, --apache-dir or --cloudflare "
                         "(or set deploy.nginx.dir)")  # fmt: skip
    return targets


def _lock_path(request: DeployRequest, state: State) -> Path:
    if request.settings.deploy.lock:
        return Path(request.settings.deploy.lock)
    return (
        state.path.with_name("deploy.lock")
        if str(state.path) != ":memory:"
        else Path("/tmp/botguard-deploy.lock")
    )


def _preview(state: State, fresh: DecisionSet, request: DeployRequest) -> DecisionSet:
    """The active set a real run would produce, computed without writing the state."""
    from botguard.decide.expiry import escalate

    stored = load_decisions(state)
    for d in fresh.decisions:
        if d.action != "allow":
            stored[(d.action, d.match.key)] = escalate(stored.get((d.action, d.match.key)), d, request.now,
                                                       request.settings.decide)  # fmt: skip
    return active_of(stored.values(), request.now, request.settings.allowlist)


def run_deploy(request: DeployRequest) -> DeployReport:
    """Build, render and deploy; per-target failures are collected (the others still deploy)."""
    settings = request.settings
    targets = _targets(request)
    with State(request.state_path) as state, deploy_lock(_lock_path(request, state)), ExitStack() as held:
        if not request.dry_run:  # a dry run writes nothing, so it needs no write access to the rules
            held.enter_context(directory_locks(t.dir for t in targets))
        scan = _load_scan(request, state)
        fresh = build_decisions(scan, catalog_lookup(), settings.allowlist, settings.decide)
        model = CandidateStore(state).decisions(settings, request.now)  # reviewed model rules (issue 6)
        fresh = with_model(fresh, model)
        dropped = dropped_decisions(state)
        if request.dry_run:
            active = without_stale_model(_preview(state, fresh, request), model)
            clients = scan.get("clients") or []
            return DeployReport(
                active,
                tuple(_dry(t, active) for t in targets),
                impact=impact(clients, active),
                model_impact=model_impact(clients, model, settings.allowlist) if model else None,
                dropped=dropped,
            )
        recorded = record_decisions(state, fresh, request.now, settings.decide, settings.allowlist)
        active = without_stale_model(recorded, model)
        outcomes: list[TargetOutcome] = []
        errors: list[str] = []
        for target in targets:
            try:
                files = target.renderer.render(active)
                outcomes.append(deploy_files(target, files, reload=request.reload, hook=request.hook))
            except DeployError as exc:
                errors.append(str(exc))
        return DeployReport(active, tuple(outcomes), tuple(errors), dropped=dropped)


def _dry(target: Target, active: DecisionSet) -> TargetOutcome:
    changed, diff = diff_files(target.dir, target.renderer.render(active))
    return TargetOutcome(target.name, target.dir, changed, diff, validated=False, reloaded=False)


def current_decisions(state_path: str | None, settings: Settings, now: datetime) -> DecisionSet:
    """The active decisions in a state database (for other targets such as Cloudflare)."""
    with State(state_path) as state:
        # the same set deploy-rules enforces: model rules rejected or expired since are left out
        model = CandidateStore(state).decisions(settings, now)
        return without_stale_model(active_decisions(state, now, settings.allowlist), model)
