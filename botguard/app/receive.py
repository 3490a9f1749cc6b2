"""``botguard receive-rules``: botguard on a web host takes rendered rule files from a
``deploy-rules`` run elsewhere (over SSH) and deploys them here.

The same transaction as a local deploy (:func:`botguard.deploy.files.deploy_files`), under the
rules directory's lock; see :mod:`botguard.deploy.ssh` for why the deploy runs on the host.

What the sender may ask is bounded here, so a deploy key restricted to this verb (a forced
command in ``authorized_keys``) can do nothing else: only the server's own rule file names are
written, and with this host's configuration (``--config``) only into a rules directory it names
(``deploy.<server>.dir`` or a local ``deploy.hosts`` entry), checked and reloaded with *its*
validate/reload/probe, never commands the request carries.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from botguard.app.env import Env
from botguard.config import DecideSettings, Settings
from botguard.decide.records import DecisionSet
from botguard.deploy.files import deploy_files, diff_files
from botguard.deploy.lock import directory_locks
from botguard.deploy.precheck import PRECHECKS
from botguard.deploy.records import Target, TargetOutcome
from botguard.deploy.ssh import receive_request
from botguard.errors import InputError
from botguard.keyring import Key, Keyring
from botguard.render import renderers

__all__ = ["ReceiveReport", "ReceiveRequest", "run_receive"]


@dataclass(frozen=True, slots=True)
class ReceiveRequest:
    """The sender's JSON request, as read from standard input, and this host's settings
    (``--config``; None: the request's directory and commands are used as sent)."""

    text: str
    settings: Settings | None = None


@dataclass(frozen=True, slots=True)
class ReceiveReport:
    """What was done here: the same outcome a local target reports (printed back as JSON)."""

    outcome: TargetOutcome


def run_receive(request: ReceiveRequest, env: Env) -> ReceiveReport:
    """Deploy the files received (a dry run only diffs them)."""
    decide = DecideSettings()  # the files come rendered: the renderer is never called here
    got = receive_request(request.text, renderers(decide.throttle_rate, decide.throttle_burst), PRECHECKS)
    target = got.target
    if unknown := sorted({f.name for f in got.files} - _rule_file_names(target.renderer.name)):
        raise InputError(
            f"bad receive-rules request: {unknown[0]!r} is not a {target.renderer.name} rule file"
        )
    if request.settings is not None:
        target = _this_hosts(target, request.settings)
    if got.dry_run:
        changed, diff = diff_files(target.dir, got.files)
        return ReceiveReport(
            TargetOutcome(target.name, target.dir, changed, diff, validated=False, reloaded=False)
        )
    with directory_locks([target.dir]):
        return ReceiveReport(deploy_files(target, got.files, reload=got.reload, keyring=got.keyring))


def _this_hosts(sent: Target, settings: Settings) -> Target:
    """``sent`` with this host's directory entry's validate/reload/probe; an error when this
    host's configuration names no such rules directory for that server."""
    server = sent.renderer.name
    own = getattr(settings.deploy, server)
    entries = [(own.dir, own.validate, own.reload, own.probe)] + [
        (h.dir, h.validate, h.reload, h.probe)
        for h in settings.deploy.hosts
        if h.server == server and h.remote is None
    ]
    for directory, validate, reload, probe in entries:
        if directory and Path(directory).resolve() == sent.dir.resolve():
            return replace(sent, validate=validate, reload=reload, probe=probe)
    raise InputError(
        f"receive-rules: this host's configuration names no {server} rules directory {str(sent.dir)!r}"
        f" (deploy.{server}.dir or a local deploy.hosts entry)"
    )


def _rule_file_names(server: str) -> set[str]:
    """Every file a deploy of ``server`` may send: its block rules and its challenge routing (the
    names do not depend on the decisions, so an empty set and a throwaway key render them all)."""
    decide = DecideSettings()
    throwaway = Keyring((Key("00000000", "0" * 64, 0.0),))
    combined = renderers(decide.throttle_rate, decide.throttle_burst, keyring=throwaway)[server]
    return {f.name for f in combined.render(DecisionSet())}
