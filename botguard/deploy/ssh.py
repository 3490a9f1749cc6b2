"""Deploy to a server on another machine: the decisions go over SSH to botguard on that host
(``botguard receive-rules``), which renders the files itself and runs the same per-target
transaction there.

Why not copy files and run commands remotely from here: the crash-safety of a deploy (the
journal, the directory lock, the backups put back and reloaded) lives beside the files, and a
connection that drops mid-way must not leave the host half-swapped. On the host, a killed
``receive-rules`` is just a killed deploy: its next run recovers, as on a local directory. The
one transaction (:func:`botguard.deploy.files.deploy_files`) serves both.

Why decisions and not rendered files: a generated include may only take access away, and only
botguard's renderers guarantee that (escaped values, no directive that grants). Text a sender
rendered could say anything that passes ``nginx -t`` (``allow all;``, ``satisfy any;``, a
``location`` proxying elsewhere, Apache ``Require all granted``), so the host takes no text: it
checks the decisions as strictly as its own store does (:func:`botguard.decide.decisions_from_values`)
and the settings as strictly as a config file (:func:`botguard.config.parse_settings`), then
renders. Both ends run the same botguard, so the files are the bytes the sender would render.

The request and the outcome are JSON: the format number (:data:`REQUEST_FORMAT`), the decisions,
the rendering settings and keyring, the host's validate and reload commands, the probe URL; back
come the changed names, the diff and what was done.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botguard import __version__
from botguard.config import HOST_NAME, parse_settings
from botguard.decide import decisions_from_values, decisions_values
from botguard.decide.records import DecisionSet
from botguard.deploy._command import run
from botguard.deploy.files import COMMAND_TIMEOUT, DeployError
from botguard.deploy.records import RemoteTarget, Rendering, Target, TargetOutcome
from botguard.errors import BotguardError, InputError
from botguard.keyring import keyring_text, parse
from botguard.text import printable

__all__ = [
    "RECEIVE_VERB", "REQUEST_FORMAT", "Received", "deploy_over_ssh", "outcome_json", "receive_request",
    "request_text",
]  # fmt: skip

#: The verb botguard on the host runs.
RECEIVE_VERB = "receive-rules"
#: The request's format: 2 carries decisions (1, rendered files, is refused).
REQUEST_FORMAT = 2
#: What a whole remote deploy may take: connecting, the precheck, validate, reload and probe.
SSH_TIMEOUT = 3 * COMMAND_TIMEOUT + 60
#: Where errors say a bad request came from.
_REQUEST = "receive-rules request"
_BAD = "bad receive-rules request on standard input:"
#: The keys of a request (:func:`request_text`): anything else is refused, not ignored.
_KEYS = frozenset((
    "format", "botguard", "name", "server", "dir", "validate", "reload", "probe", "reload_enabled", "dry_run",
    "decisions", "settings", "keyring", "secret",
))  # fmt: skip


def deploy_over_ssh(
    target: RemoteTarget,
    decisions: DecisionSet,
    *,
    reload: bool = True,
    dry_run: bool = False,
) -> TargetOutcome:
    """Send ``decisions`` to ``target``'s host, which renders and deploys them; a failure there (or
    of ssh) raises :class:`DeployError` naming the host, and the host keeps its previous rules.

    Secrets (the keyring the challenge routing carries, which a real run also copies to the
    host's serve where ``target.secret`` says) travel only in the request on ssh's standard
    input, and the host writes them 0600."""
    remote = shlex.join([*target.botguard, RECEIVE_VERB])
    argv = [*target.ssh, "-p", str(target.port), "--", target.destination, remote]
    sent = request_text(target, decisions, reload=reload, dry_run=dry_run)
    try:
        done = run(argv, SSH_TIMEOUT, sent)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DeployError(f"{target.name}: ssh to {target.url} failed: {printable(str(exc), 300)}") from None
    if done.returncode != 0:
        raise DeployError(_failure(target, done.returncode, done.stderr))
    try:
        return _outcome(target, json.loads(done.stdout))
    except (ValueError, KeyError, TypeError):
        shown = printable(done.stdout.strip()[:200])
        raise DeployError(f"{target.name}: botguard on the host answered {shown!r}, not an outcome") from None


def request_text(target: RemoteTarget, decisions: DecisionSet, *, reload: bool, dry_run: bool) -> str:
    """The request ``receive-rules`` reads on the host (format :data:`REQUEST_FORMAT`)."""
    ring, serve = target.rendering.keyring, target.rendering.serve
    return json.dumps({
        "format": REQUEST_FORMAT, "botguard": __version__,
        "name": target.name, "server": target.server, "dir": target.dir,
        "validate": list(target.validate), "reload": list(target.reload), "probe": target.probe,
        "reload_enabled": reload, "dry_run": dry_run,
        "decisions": decisions_values(decisions),
        "settings": {
            "decide": {"throttle_rate": target.rendering.rate, "throttle_burst": target.rendering.burst},
            "serve": {"listen": serve.listen, "timeout": serve.timeout, "bind": serve.bind,
                      "fail_open": serve.fail_open},
        },
        "keyring": keyring_text(ring) if ring else None,
        "secret": target.secret if ring and not dry_run else None,
    })  # fmt: skip


def _failure(target: RemoteTarget, code: int, stderr: str) -> str:
    """One line: botguard's own error from the host, else what ssh said."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("botguard: error: "):
            return printable(line.removeprefix("botguard: error: "), 800)
    said = printable(lines[-1], 300) if lines else "no message"
    what = "ssh" if code == 255 else f"{shlex.join(target.botguard)} {RECEIVE_VERB} on the host"
    return f"{target.name}: {what} failed (exit {code}) for {target.url}: {said}"


def _outcome(target: RemoteTarget, data: dict[str, Any]) -> TargetOutcome:
    """The host's answer, shown on this machine's terminal: its text made printable (a host that
    is not what it should be could otherwise write escape sequences to the operator's terminal)."""
    diff = "\n".join(printable(line) for line in str(data["diff"]).split("\n"))
    return TargetOutcome(
        target.name, target.url, tuple(printable(str(n), 100) for n in data["changed"]), diff,
        validated=bool(data["validated"]), reloaded=bool(data["reloaded"]), recovered=bool(data["recovered"]),
        warnings=tuple(printable(str(w), 600) for w in data.get("warnings", ())),
        secret_copied=bool(data.get("secret_copied", False)),
    )  # fmt: skip


def outcome_json(outcome: TargetOutcome) -> str:
    """What ``receive-rules`` prints for the sender."""
    return json.dumps({
        "changed": list(outcome.changed), "diff": outcome.diff, "validated": outcome.validated,
        "reloaded": outcome.reloaded, "recovered": outcome.recovered, "warnings": list(outcome.warnings),
        "secret_copied": outcome.secret_copied,
    })  # fmt: skip


@dataclass(frozen=True, slots=True)
class Received:
    """A receive-rules request, checked: the target here (its renderer from the request's
    ``rendering``), the decisions to render, the flags, and the keyring text for this host's serve
    (with ``target.secret`` its path), if the sender asks for it to be copied."""

    target: Target
    rendering: Rendering
    decisions: DecisionSet
    reload: bool
    dry_run: bool
    keyring: str | None = None


def receive_request(text: str, prechecks: Any) -> Received:
    """The request on receive-rules' standard input (strictly checked: bad input is one clear
    error, nothing is written)."""
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise TypeError(f"expected an object, got {type(data).__name__}")
        _check_format(data)
        if unknown := sorted(set(data) - _KEYS):
            raise ValueError(f"unknown key {printable(unknown[0], 40)!r}")
        server = data["server"]
        if server not in ("nginx", "apache"):
            raise ValueError(f"unknown server {printable(str(server), 40)!r}")
        probe = None if data["probe"] is None else _str(data["probe"])
        if probe is not None and not probe.startswith(("http://", "https://")):
            raise ValueError("the probe is not an http(s) URL")
        directory = _str(data["dir"])
        if not directory.startswith("/"):
            raise ValueError("the rules directory is not an absolute path")
        secret = None if data["secret"] is None else _str(data["secret"])
        if secret is not None and not secret.startswith("/"):
            raise ValueError("the secret's path is not absolute")
        rendering = _rendering(data["settings"], data["keyring"])
        if secret is not None and rendering.keyring is None:
            raise ValueError("a secret's path and no keyring to copy there")
        name = _str(data["name"])
        if not re.fullmatch(HOST_NAME, name):
            raise ValueError(f"the host name {printable(name, 60)!r} is not one a configuration may give")
        target = Target(
            name, Path(directory), rendering.renderer(server), _argv(data["validate"]),
            _argv(data["reload"]), prechecks[server], probe, Path(secret) if secret else None,
        )  # fmt: skip
        decisions = decisions_from_values(data["decisions"], _REQUEST)
        keyring = keyring_text(rendering.keyring) if secret and rendering.keyring else None
        return Received(
            target, rendering, decisions, _bool(data["reload_enabled"]), _bool(data["dry_run"]), keyring
        )
    except BotguardError as exc:  # a decision, a setting or the keyring: its own message
        raise InputError(f"{_BAD} {printable(exc.message, 300)}") from None
    except KeyError as exc:
        raise InputError(f"{_BAD} no {printable(str(exc.args[0]), 40)!r}") from None
    except (ValueError, TypeError, AttributeError) as exc:
        raise InputError(f"{_BAD} {printable(str(exc), 200)}") from None


def _check_format(data: dict[str, Any]) -> None:
    """Both ends must be the same botguard: a request of another format is refused, naming both."""
    sent = data.get("format")
    if sent == REQUEST_FORMAT and not isinstance(sent, bool):
        return
    if sent is None and "files" in data:
        what = "format 1 (rendered files, from an older botguard)"
    else:
        what = f"format {printable(str(sent), 20)!r}"
    by = data.get("botguard")
    by = f" sent by botguard {printable(by, 40)}" if isinstance(by, str) else ""
    raise ValueError(
        f"{what}{by}; this botguard {__version__} takes format {REQUEST_FORMAT} (decisions it renders "
        "itself): install the same botguard on both ends"
    )


def _rendering(settings: Any, keyring: Any) -> Rendering:
    """What the files are rendered from besides the decisions, checked as a config file's
    ``decide.throttle_*`` and ``serve.listen/timeout/bind/fail_open`` keys are (an older sender
    sends no fail_open: the default); the keyring as serve's."""
    parts = ("decide", "serve")
    if not isinstance(settings, dict) or not all(isinstance(settings.get(k), dict) for k in parts):
        raise TypeError("settings: expected an object holding a 'decide' and a 'serve' object")
    decide, serve = settings["decide"], settings["serve"]
    document = {
        "decide": {key: decide[key] for key in ("throttle_rate", "throttle_burst")},
        "serve": {key: serve[key] for key in ("listen", "timeout", "bind")}
        | ({"fail_open": serve["fail_open"]} if "fail_open" in serve else {}),
    }
    parsed = parse_settings(json.dumps(document), _REQUEST)
    ring = None if keyring is None else parse(_str(keyring), _REQUEST)
    return Rendering(parsed.decide.throttle_rate, parsed.decide.throttle_burst, parsed.serve, ring)


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    if "\x00" in value:  # no file name, path or argument holds one
        raise ValueError("a string holds a NUL character")
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {type(value).__name__}")
    return value


def _argv(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise TypeError("expected a command as a list of words")
    return tuple(_str(word) for word in value)
