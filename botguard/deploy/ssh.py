"""Deploy to a server on another machine: the rendered files go over SSH to botguard on that
host (``botguard receive-rules``), which runs the same per-target transaction there.

Why not copy files and run commands remotely from here: the crash-safety of a deploy (the
journal, the directory lock, the backups put back and reloaded) lives beside the files, and a
connection that drops mid-way must not leave the host half-swapped. On the host, a killed
``receive-rules`` is just a killed deploy: its next run recovers, as on a local directory. The
one transaction (:func:`botguard.deploy.files.deploy_files`) serves both.

The request and the outcome are JSON: the files with their text, the host's validate and reload
commands, the probe URL; back come the changed names, the diff and what was done.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botguard.deploy.files import COMMAND_TIMEOUT, DeployError
from botguard.deploy.records import RemoteTarget, Target, TargetOutcome
from botguard.errors import InputError
from botguard.render.records import RuleFile
from botguard.text import printable

__all__ = ["RECEIVE_VERB", "Received", "deploy_over_ssh", "outcome_json", "receive_request"]

#: The verb botguard on the host runs.
RECEIVE_VERB = "receive-rules"
#: What a whole remote deploy may take: connecting, the precheck, validate, reload and probe.
SSH_TIMEOUT = 3 * COMMAND_TIMEOUT + 60


def deploy_over_ssh(
    target: RemoteTarget,
    files: tuple[RuleFile, ...],
    *,
    reload: bool = True,
    dry_run: bool = False,
    keyring: str | None = None,
) -> TargetOutcome:
    """Send ``files`` to ``target``'s host and deploy them there; a failure there (or of ssh)
    raises :class:`DeployError` naming the host, and the host keeps its previous rules.

    Secrets (the challenge routing's keys, the ``keyring`` for the host's serve) travel only in
    the request on ssh's standard input, and the host writes them 0600."""
    secret = {"path": target.secret, "keyring": keyring} if target.secret and keyring else None
    payload = {
        "name": target.name, "server": target.server, "dir": target.dir,
        "files": [{"name": f.name, "text": f.text, "secret": f.secret} for f in files],
        "validate": list(target.validate), "reload": list(target.reload), "probe": target.probe,
        "reload_enabled": reload, "dry_run": dry_run, "secret": secret,
    }  # fmt: skip
    remote = shlex.join([*target.botguard, RECEIVE_VERB])
    argv = [*target.ssh, "-p", str(target.port), "--", target.destination, remote]
    try:
        done = subprocess.run(
            argv, input=json.dumps(payload), capture_output=True, text=True, timeout=SSH_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DeployError(f"{target.name}: ssh to {target.url} failed: {printable(str(exc), 300)}") from None
    if done.returncode != 0:
        raise DeployError(_failure(target, done.returncode, done.stderr))
    try:
        return _outcome(target, json.loads(done.stdout))
    except (ValueError, KeyError, TypeError):
        shown = printable(done.stdout.strip()[:200])
        raise DeployError(f"{target.name}: botguard on the host answered {shown!r}, not an outcome") from None


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
    return TargetOutcome(
        target.name, target.url, tuple(str(n) for n in data["changed"]), str(data["diff"]),
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
    """A receive-rules request, checked: the target here, its files, the flags, and the keyring
    for this host's serve (with ``target.secret`` its path), if the sender sent one."""

    target: Target
    files: tuple[RuleFile, ...]
    reload: bool
    dry_run: bool
    keyring: str | None = None


def receive_request(text: str, renderers: Any, prechecks: Any) -> Received:
    """The request on receive-rules' standard input (strictly checked: bad input is one clear
    error, nothing is written)."""
    try:
        data = json.loads(text)
        server = data["server"]
        if server not in ("nginx", "apache"):
            raise ValueError(f"unknown server {server!r}")
        files = tuple(
            RuleFile(_str(f["name"]), _str(f["text"]), _bool(f.get("secret", False))) for f in data["files"]
        )
        if any("/" in f.name or f.name.startswith(".") or not f.name for f in files):
            raise ValueError("a file name is not a plain name")
        if not all(f.text.isascii() for f in files):  # rendered files are ASCII
            raise ValueError("a file is not ASCII text")
        probe = None if data["probe"] is None else _str(data["probe"])
        if probe is not None and not probe.startswith(("http://", "https://")):
            raise ValueError("the probe is not an http(s) URL")
        directory = _str(data["dir"])
        if not directory.startswith("/"):
            raise ValueError("the rules directory is not an absolute path")
        secret = data.get("secret")
        path = None if secret is None else _str(secret["path"])
        if path is not None and not path.startswith("/"):
            raise ValueError("the secret's path is not absolute")
        target = Target(
            _str(data["name"]), Path(directory), renderers[server], _argv(data["validate"]),
            _argv(data["reload"]), prechecks[server], probe, Path(path) if path else None,
        )  # fmt: skip
        keyring = None if secret is None else _str(secret["keyring"])
        return Received(target, files, _bool(data["reload_enabled"]), _bool(data["dry_run"]), keyring)
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"bad receive-rules request on standard input: {printable(str(exc), 200)}") from None


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
