"""``botguard receive-rules``: botguard on a web host takes rendered rule files from a
``deploy-rules`` run elsewhere (over SSH) and deploys them here.

The same transaction as a local deploy (:func:`botguard.deploy.files.deploy_files`), under the
rules directory's lock, with this host's validate and reload commands; see
:mod:`botguard.deploy.ssh` for why the deploy runs on the host.
"""

from __future__ import annotations

from dataclasses import dataclass

from botguard.app.env import Env
from botguard.config import DecideSettings
from botguard.deploy.files import deploy_files, diff_files
from botguard.deploy.lock import directory_locks
from botguard.deploy.precheck import PRECHECKS
from botguard.deploy.records import TargetOutcome
from botguard.deploy.ssh import receive_request
from botguard.render import renderers

__all__ = ["ReceiveReport", "ReceiveRequest", "run_receive"]


@dataclass(frozen=True, slots=True)
class ReceiveRequest:
    """The sender's JSON request, as read from standard input."""

    text: str


@dataclass(frozen=True, slots=True)
class ReceiveReport:
    """What was done here: the same outcome a local target reports (printed back as JSON)."""

    outcome: TargetOutcome


def run_receive(request: ReceiveRequest, env: Env) -> ReceiveReport:
    """Deploy the files received (a dry run only diffs them)."""
    decide = DecideSettings()  # the files come rendered: the renderer is never called here
    got = receive_request(request.text, renderers(decide.throttle_rate, decide.throttle_burst), PRECHECKS)
    target = got.target
    if got.dry_run:
        changed, diff = diff_files(target.dir, got.files)
        return ReceiveReport(
            TargetOutcome(target.name, target.dir, changed, diff, validated=False, reloaded=False)
        )
    with directory_locks([target.dir]):
        return ReceiveReport(deploy_files(target, got.files, reload=got.reload, keyring=got.keyring))
