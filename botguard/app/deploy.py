"""``botguard deploy-rules``: scan -> decisions (state) -> render -> deploy per target (-> Cloudflare).

:func:`run_deploy` holds the locks for the whole server deploy (the state database's and each
rules directory's, see :mod:`botguard.deploy.lock`), so two runs never interleave, and returns a
:class:`DeployReport` for the caller to print. The stage itself (files, locks, prechecks, the
dry-run impact) lives in :mod:`botguard.deploy`.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from botguard.app.env import Env
from botguard.config import HostTarget, Settings
from botguard.decide import build_decisions, catalog_lookup, judged_subjects, merge_decisions
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
from botguard.deploy.lock import deploy_lock, directory_locks, state_lock
from botguard.deploy.precheck import PRECHECKS
from botguard.deploy.records import Impact, RemoteTarget, Rendering, Target, TargetOutcome
from botguard.deploy.ssh import deploy_over_ssh
from botguard.deploy.upstream import serve_answers
from botguard.errors import BotguardError, InputError, Location, UsageError
from botguard.judge.records import ScanResult
from botguard.judge.store import latest_scan
from botguard.judge.values import scan_from_json
from botguard.keyring import Key, Keyring, keyring_text, load, load_or_create, secret_path
from botguard.model.store import (
    CandidateStore,
    with_model,
    without_stale_model,
)
from botguard.state import State

if TYPE_CHECKING:  # imported when a run syncs to Cloudflare: the SDK is slow to load
    from botguard.app.cloudflare import CloudflareReport

__all__ = ["ChallengeTier", "DeployReport", "DeployRequest", "current_decisions", "run_deploy"]


@dataclass(frozen=True, slots=True)
class DeployRequest:
    """Everything one run needs (built by the CLI from options and settings)."""

    settings: Settings
    scan_path: str | None = None
    nginx_dir: str | None = None
    apache_dir: str | None = None
    dry_run: bool = False
    reload: bool = True
    hook: StepHook | None = None
    cloudflare: bool = False  # also sync to Cloudflare, after the servers (then no server target is needed)


@dataclass(frozen=True, slots=True)
class DeployReport:
    """What happened: the decisions, each target's outcome, failures, the dry-run impact, the
    stored decisions dropped because no rule may carry them (the CLI warns about those), and the
    Cloudflare sync: its report, and the error that ended it (raised by the caller once the
    servers' outcome is shown)."""

    decisions: DecisionSet
    outcomes: tuple[TargetOutcome, ...] = ()
    errors: tuple[str, ...] = ()
    impact: Impact | None = None
    model_impact: Impact | None = None  # dry run: what the approved model rules alone would block
    dropped: tuple[DroppedDecision, ...] = ()  # stored decisions no rule may carry (deleted unless dry run)
    cloudflare: CloudflareReport | None = None
    cloudflare_failure: BotguardError | None = None
    challenge: ChallengeTier | None = None  # the challenge routing written beside the block rules

    @property
    def partial(self) -> bool:
        """Some targets took the new rules and some failed (each failed one keeps its old rules)."""
        return bool(self.errors) and bool(self.outcomes)


@dataclass(frozen=True, slots=True)
class ChallengeTier:
    """The challenge routing a run wrote (or would write) beside the block rules: how many challenge
    decisions, where serve listens and whether it answered, the pass secret's file and whether
    this run created it (a dry run never does: ``created`` then says it would), and the keyring
    the files carry (a placeholder in a dry run that would create it), which hosts with a
    ``secret`` of their own are sent."""

    decisions: int
    listen: str
    serve_up: bool
    secret_path: str
    created: bool
    keyring: Keyring | None = field(default=None, repr=False, compare=False)
    fail_open: bool = True  # serve.fail_open: what challenged clients get while serve is down


def _load_scan(request: DeployRequest, state: State) -> ScanResult:
    if request.scan_path:
        try:
            text = Path(request.scan_path).read_text(encoding="utf-8")
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read scan JSON: {exc}", Location(request.scan_path)) from None
        return scan_from_json(text, request.scan_path)
    scan = latest_scan(state)
    if scan is None:
        raise UsageError("no scan in the state database: run `botguard scan` first or pass --from SCAN.json")
    return scan


def _targets(request: DeployRequest, tier: ChallengeTier | None = None) -> list[Target | RemoteTarget]:
    deploy, decide, serve = request.settings.deploy, request.settings.decide, request.settings.serve
    rendering = Rendering(decide.throttle_rate, decide.throttle_burst, serve, tier.keyring if tier else None)
    backends = {name: rendering.renderer(name) for name in ("nginx", "apache")}
    targets: list[Target | RemoteTarget] = []
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
    # the fan-out: each host is one more target, deployed on its own, challenge routing included
    targets.extend(_host_target(host, rendering) for host in deploy.hosts)
    if not targets and not request.cloudflare:
        raise UsageError("nothing to deploy to: pass --nginx-dir, --apache-dir or --cloudflare "
                         "(or set deploy.nginx.dir or deploy.hosts)")  # fmt: skip
    return targets


def _host_target(host: HostTarget, rendering: Rendering) -> Target | RemoteTarget:
    """A host here renders its files with this machine's renderer; one over SSH is sent the
    decisions and ``rendering`` and renders them itself (:mod:`botguard.deploy.ssh` says why)."""
    if host.remote is None:
        renderer, secret = rendering.renderer(host.server), Path(host.secret) if host.secret else None
        return Target(host.name, Path(host.dir), renderer, host.validate, host.reload, PRECHECKS[host.server],
                      host.probe, secret)  # fmt: skip
    return RemoteTarget(
        host.name, host.dir, host.remote.destination, host.remote.port, host.remote.path, host.server,
        rendering, host.validate, host.reload, host.probe, host.ssh, host.botguard, host.secret,
    )  # fmt: skip


def _send(
    target: Target | RemoteTarget,
    active: DecisionSet,
    request: DeployRequest,
    tier: ChallengeTier | None,
) -> TargetOutcome:
    """One target's deploy: rendered and deployed here, or by botguard on its host over SSH; with
    the challenge routing, the keyring goes to the host's serve too (where
    ``deploy.hosts[].secret`` says)."""
    if isinstance(target, RemoteTarget):
        outcome = deploy_over_ssh(target, active, reload=request.reload)
        if target.secret is None and tier is not None and tier.decisions:
            note = (f"{target.name}: challenged clients there go to serve at {tier.listen} on that host, "
                    "which must sign with this machine's pass secret: set `secret` for the host so "
                    "deploy-rules copies it there")  # fmt: skip
            outcome = replace(outcome, warnings=(*outcome.warnings, note))
        return outcome
    keyring = keyring_text(tier.keyring) if tier and tier.keyring else None
    files = target.renderer.render(active)
    return deploy_files(target, files, reload=request.reload, hook=request.hook, keyring=keyring)


def _lock_path(request: DeployRequest, state: State) -> Path:
    if request.settings.deploy.lock:
        return Path(request.settings.deploy.lock)
    return state_lock(state.path) if str(state.path) != ":memory:" else Path("/tmp/botguard-deploy.lock")


def _challenge_tier(
    settings: Settings, env: Env, active: DecisionSet, *, create: bool
) -> ChallengeTier | None:
    """The challenge routing for nginx and Apache, rendered from ``active`` with serve's keyring:
    none while there is no keyring and nothing to challenge; a run with challenges and no keyring
    creates it (0600), as ``botguard serve`` would, so the files and serve share one secret."""
    decisions = sum(1 for d in active.decisions if d.action == "challenge")
    path = secret_path(settings.serve.secret_path, env.state_path)
    exists = path.exists()
    if not exists and not decisions:
        return None
    if exists:
        ring = load(path)
    elif create:
        ring = load_or_create(path, env.now().timestamp())
    else:  # a dry run writes nothing: the files it shows carry a placeholder key (never printed)
        ring = Keyring((Key("00000000", "0" * 64, 0.0),))
    up = bool(decisions) and serve_answers(settings.serve.listen)
    return ChallengeTier(
        decisions, settings.serve.listen, up, str(path), not exists, ring, settings.serve.fail_open
    )


def _preview(
    state: State, fresh: DecisionSet, request: DeployRequest, now: datetime, judged: Mapping[str, datetime]
) -> DecisionSet:
    """The active set a real run would produce, computed without writing the state."""
    merged = merge_decisions(load_decisions(state), fresh, now, request.settings.decide, judged)
    return active_of(merged.decisions.values(), now, request.settings.allowlist)


def run_deploy(request: DeployRequest, env: Env) -> DeployReport:
    """Build, render and deploy; per-target failures are collected (the others still deploy).

    With ``cloudflare`` the credentials are checked before any server is touched, and the same
    decisions are synced (a plan for a dry run) once the servers are done.
    """
    now = env.now()
    if request.cloudflare:
        from botguard.app.cloudflare import check_cloudflare

        check_cloudflare(request.settings, env.environ)
    report = _deploy(request, env, _targets(request), now)
    return _synced(report, request, env, now) if request.cloudflare else report


def _deploy(
    request: DeployRequest, env: Env, targets: list[Target | RemoteTarget], now: datetime
) -> DeployReport:
    settings = request.settings
    with env.open_state() as state, ExitStack() as held:
        if not request.dry_run:  # a dry run writes nothing: it takes no lock
            held.enter_context(deploy_lock(_lock_path(request, state)))
            held.enter_context(directory_locks(t.dir for t in targets if isinstance(t, Target)))
        scan = _load_scan(request, state)
        clients = scan.client_rows()
        fresh = build_decisions(clients, scan.crawlers, catalog_lookup(), settings.allowlist, settings.decide)
        model = CandidateStore(state).decisions(settings, now)  # the reviewed model rules
        fresh = with_model(fresh, model)
        dropped = dropped_decisions(state)
        judged = judged_subjects(clients)
        if request.dry_run:
            active = without_stale_model(_preview(state, fresh, request, now, judged), model)
            tier = _challenge_tier(settings, env, active, create=False) if targets else None
            targets = _targets(request, tier)
            return DeployReport(
                active,
                tuple(_dry(t, active) for t in targets),
                impact=impact(clients, active),
                model_impact=model_impact(clients, model, settings.allowlist) if model else None,
                dropped=dropped,
                challenge=tier,
            )
        recorded = record_decisions(state, fresh, now, settings.decide, settings.allowlist, judged)
        active = without_stale_model(recorded, model)
        tier = _challenge_tier(settings, env, active, create=True) if targets else None
        targets = _targets(request, tier)
        outcomes, errors = _send_all(targets, active, request, tier)
        return DeployReport(active, outcomes, errors, dropped=dropped, challenge=tier)


#: Hosts deployed at the same time (each waits mostly on its server or on ssh).
PARALLEL_HOSTS = 8


def _send_all(
    targets: list[Target | RemoteTarget],
    active: DecisionSet,
    request: DeployRequest,
    tier: ChallengeTier | None,
) -> tuple[tuple[TargetOutcome, ...], tuple[str, ...]]:
    """Every target's deploy, several at once (they share nothing: each has its own directory,
    lock and server); outcomes and errors in the targets' order."""

    def one(target: Target | RemoteTarget) -> TargetOutcome | str:
        try:
            return _send(target, active, request, tier)
        except DeployError as exc:
            return str(exc)

    if len(targets) > 1:
        with ThreadPoolExecutor(max_workers=min(PARALLEL_HOSTS, len(targets))) as pool:
            results = list(pool.map(one, targets))
    else:
        results = [one(target) for target in targets]
    outcomes = tuple(r for r in results if isinstance(r, TargetOutcome))
    return outcomes, tuple(r for r in results if isinstance(r, str))


def _dry(target: Target | RemoteTarget, active: DecisionSet) -> TargetOutcome:
    if isinstance(target, RemoteTarget):  # the host diffs against its own files
        return deploy_over_ssh(target, active, dry_run=True)
    changed, diff = diff_files(target.dir, target.renderer.render(active))
    return TargetOutcome(target.name, target.dir, changed, diff, validated=False, reloaded=False)


def _synced(report: DeployReport, request: DeployRequest, env: Env, now: datetime) -> DeployReport:
    """The decisions just made, planned (dry run) or applied on Cloudflare; a failure is kept in
    the report, so the caller shows what the servers got before it reports the failure."""
    from botguard.app.cloudflare import CloudflareRequest, SyncFailed, run_cloudflare

    verb = "plan" if request.dry_run else "apply"
    try:
        synced = run_cloudflare(
            CloudflareRequest(verb, request.settings, report.decisions), replace(env, now=lambda: now)
        )
    except SyncFailed as failed:
        return replace(report, cloudflare=failed.report, cloudflare_failure=failed)
    except BotguardError as exc:
        return replace(report, cloudflare_failure=exc)
    return replace(report, cloudflare=synced)


def current_decisions(state: State, settings: Settings, now: datetime) -> DecisionSet:
    """The active decisions in a state database (for other targets such as Cloudflare)."""
    # the same set deploy-rules enforces: model rules rejected or expired since are left out
    model = CandidateStore(state).decisions(settings, now)
    return without_stale_model(active_decisions(state, now, settings.allowlist), model)
