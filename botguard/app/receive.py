"""``botguard receive-rules``: botguard on a web host takes a ``deploy-rules`` run's decisions
(over SSH), renders this server's files itself and deploys them here.

The same transaction as a local deploy (:func:`botguard.deploy.files.deploy_files`), under the
rules directory's lock; see :mod:`botguard.deploy.ssh` for why the deploy runs on the host and
why the host, not the sender, renders: only botguard's renderers make files that can only take
access away, whatever the decisions' agents and addresses hold.

What the sender may ask is bounded here, so a deploy key restricted to this verb (a forced
command in ``authorized_keys``) can do nothing else: only decisions arrive, and with this host's
configuration (``--config``) the files go only into a rules directory it names
(``deploy.<server>.dir`` or a local ``deploy.hosts`` entry), checked and reloaded with *its*
validate/reload/probe, route challenged clients to *its* serve (``serve.listen``, ``timeout``,
``bind``), and the keyring goes only to the file its serve reads.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from botguard.app.env import Env
from botguard.config import Settings
from botguard.deploy.files import deploy_files, diff_files
from botguard.deploy.lock import directory_locks
from botguard.deploy.precheck import PRECHECKS
from botguard.deploy.records import Target, TargetOutcome
from botguard.deploy.ssh import Received, receive_request
from botguard.errors import BotguardError, InputError
from botguard.keyring import secret_path
from botguard.render.records import RuleFile
from botguard.text import printable

__all__ = ["ReceiveReport", "ReceiveRequest", "run_receive"]


@dataclass(frozen=True, slots=True)
class ReceiveRequest:
    """The sender's JSON request, as read from standard input, and this host's settings
    (``--config``; None: the request's directory, commands and serve settings are used as sent)."""

    text: str
    settings: Settings | None = None


@dataclass(frozen=True, slots=True)
class ReceiveReport:
    """What was done here: the same outcome a local target reports (printed back as JSON)."""

    outcome: TargetOutcome


def run_receive(request: ReceiveRequest, env: Env) -> ReceiveReport:
    """Render the decisions received and deploy the files (a dry run only diffs them)."""
    sent = receive_request(request.text, PRECHECKS)
    got = sent if request.settings is None else _this_hosts(sent, request.settings, env)
    target = got.target
    files = _render(got)
    if got.dry_run:
        changed, diff = diff_files(target.dir, files)
        outcome = TargetOutcome(target.name, target.dir, changed, diff, validated=False, reloaded=False)
    else:
        with directory_locks([target.dir]):
            outcome = deploy_files(target, files, reload=got.reload, keyring=got.keyring)
    return ReceiveReport(replace(outcome, warnings=(*outcome.warnings, *_serve_differs(sent, got))))


def _serve_differs(sent: Received, used: Received) -> tuple[str, ...]:
    """A warning when this host's configuration routes challenged clients to another serve than
    the sender's settings say (a setting kept in two places drifts)."""
    ours, theirs = used.rendering.serve, sent.rendering.serve
    mine, asked = (ours.listen, ours.timeout, ours.bind), (theirs.listen, theirs.timeout, theirs.bind)
    if used.rendering.keyring is None or mine == asked:
        return ()
    return (
        f"{used.target.name}: challenged clients here go to this host's serve at {ours.listen}"
        f" (timeout {ours.timeout:g} s, bind {ours.bind}: its own configuration), not {theirs.listen}"
        f" (timeout {theirs.timeout:g} s, bind {theirs.bind}) as sent",
    )


def _render(got: Received) -> tuple[RuleFile, ...]:
    """This server's files for the decisions received: what the sender's renderer would make."""
    try:
        return got.target.renderer.render(got.decisions)
    except BotguardError as exc:  # a decision the renderer refuses (checked already: a safety net)
        raise InputError(f"bad receive-rules request: {printable(exc.message, 300)}") from None


def _this_hosts(got: Received, settings: Settings, env: Env) -> Received:
    """``got`` with this host's directory entry's validate/reload/probe, its serve's routing settings
    and keyring file; an error when its serve reads the keyring from another file than the one the
    sender would copy it to."""
    sent = got.target
    server = sent.renderer.name
    validate, reload, probe = _entry(sent, settings)
    if sent.secret is not None:
        keyring = secret_path(settings.serve.secret_path, env.state_path)
        if keyring.resolve() != sent.secret.resolve():
            raise InputError(
                f"receive-rules: this host's serve reads its keyring from {str(keyring)!r}, not"
                f" {str(sent.secret)!r} (serve.secret_path in its configuration)"
            )
    rendering = replace(got.rendering, serve=settings.serve)
    target = replace(sent, renderer=rendering.renderer(server), validate=validate, reload=reload, probe=probe)
    return replace(got, target=target, rendering=rendering)


def _entry(sent: Target, settings: Settings) -> tuple[tuple[str, ...], tuple[str, ...], str | None]:
    """The validate, reload and probe of this host's entry for the directory sent; an error when
    this host's configuration names no such rules directory for that server."""
    server = sent.renderer.name
    own = getattr(settings.deploy, server)
    entries = [(own.dir, own.validate, own.reload, own.probe)] + [
        (h.dir, h.validate, h.reload, h.probe)
        for h in settings.deploy.hosts
        if h.server == server and h.remote is None
    ]
    for directory, *commands in entries:
        if directory and Path(directory).resolve() == sent.dir.resolve():
            return commands[0], commands[1], commands[2]
    raise InputError(
        f"receive-rules: this host's configuration names no {server} rules directory {str(sent.dir)!r}"
        f" (deploy.{server}.dir or a local deploy.hosts entry)"
    )
