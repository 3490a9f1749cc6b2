"""Deploy rule files to one server without ever leaving it with an invalid configuration.

Order (one target, under the deploy lock):

1. ``recover``: a journal left by a killed run means files may be half-swapped (or swapped
   and reloaded); put the backups it lists back, then validate, reload and probe them, so the
   server runs what the files say before anything else happens. The journal goes only after
   that: a recovery killed or failing half-way leaves it, and the next run reloads again.
2. Compare rendered files with the files on disk: identical -> nothing written, no reload.
   Otherwise check them with the server binary in a scratch config (``precheck.py``).
3. Write each new file as ``.<name>.botguard-new`` and copy the current one to
   ``.<name>.botguard-old`` (fsynced), then write the journal naming them. A failed write
   (disk full) removes what was staged and names the space needed; the live files are as
   they were.
4. Swap: ``os.replace`` each new file over the live one (atomic per file).
5. Validate with the real server against the live configuration (which includes the new
   files). Failure: restore the backups, exit non-zero; the running server never saw them.
6. Reload, then probe the configured URL. Failure: restore the backups, reload again, exit
   non-zero (the journal stays if that second reload fails: the server may run the new rules).
7. Remove backups and journal.

Every step runs under the rules directory's lock (``lock.py``): another run's recovery would
otherwise take this run's backups for a killed run's.

Killed between 4 and 7: the files on disk passed the standalone check (and after 5, the live
one), and the next run's ``recover`` restores the previous files before it starts over.
"""

from __future__ import annotations

import difflib
import errno
import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from botguard.deploy._command import run
from botguard.deploy.modules import routing_warnings
from botguard.deploy.placement import placement_warnings
from botguard.deploy.records import Target, TargetOutcome
from botguard.errors import BotguardError
from botguard.keyring import KeyringError, place
from botguard.render.records import RuleFile
from botguard.text import printable

__all__ = ["JOURNAL", "DeployError", "deploy_files", "diff_files", "recover", "server_errors"]

JOURNAL = ".botguard-deploy.journal"
#: Seconds a validate or reload command may take.
COMMAND_TIMEOUT = 120
#: Seconds the server has to answer the health probe after a reload.
PROBE_SECONDS = 5.0
#: The probe asks the server itself, never an http_proxy from the environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
#: An nginx log line: optional time and "nginx: ", the level, optional "pid#tid: ", the text.
_NGINX_LINE = re.compile(r"^(?:\d{4}/\d\d/\d\d \d\d:\d\d:\d\d )?(?:nginx: )?\[(\w+)\] (?:\d+#\d+: )?(.*)$")
#: nginx levels that report progress, not the failure ("[notice] signal process started").
_CHATTER = frozenset({"debug", "info", "notice", "warn"})
#: How much of a server's output one error line carries.
_ERROR_LIMIT = 600


class DeployError(BotguardError):
    """A deploy step failed; the previous rule files are back in place."""


#: Test hook: called with the step name ("swapped", "validated", "reloaded") to simulate a crash there.
StepHook = Callable[[str], None]


def _new(path: Path) -> Path:
    return path.with_name(f".{path.name}.botguard-new")


def _old(path: Path) -> Path:
    return path.with_name(f".{path.name}.botguard-old")


def _write(path: Path, data: bytes, secret: bool = False) -> None:
    """Write and fsync; a secret file is created 0600 (and made so if it was left over)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if secret else 0o666)
    with os.fdopen(fd, "wb") as fh:
        if secret:
            os.fchmod(fh.fileno(), 0o600)
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        return ""  # unreadable or foreign content: treat as different, so it gets replaced


def diff_files(directory: Path, files: tuple[RuleFile, ...]) -> tuple[tuple[str, ...], str]:
    """Names of files whose content would change, and a unified diff of them (a secret file's
    diff is one line saying it changed: its text holds keys)."""
    changed: list[str] = []
    chunks: list[str] = []
    for f in files:
        current = _read(directory / f.name)
        if current == f.text:
            continue
        changed.append(f.name)
        live = str(directory / f.name)
        if f.secret:
            chunks.append(f"{live}: would change (holds secrets: not shown)\n")
            continue
        chunks += difflib.unified_diff(
            (current or "").splitlines(keepends=True), f.text.splitlines(keepends=True),
            fromfile=live if current is not None else "/dev/null", tofile=live,
        )  # fmt: skip
    return tuple(changed), "".join(chunks)


def recover(directory: Path) -> bool:
    """Undo a deploy a killed run left half-done (restore its backups); True if there was one.

    The journal stays: only the caller knows when the server runs the restored files (after a
    reload, or because it never saw the others) and then calls :func:`_forget`. Until then a
    killed or failed recovery leaves the journal for the next run, which finds the files put
    back already (a backup, once restored, is gone) and reloads them again.
    """
    journal = directory / JOURNAL
    if not journal.exists():
        return False
    entries = json.loads(journal.read_text(encoding="utf-8"))
    for entry in entries:
        live = directory / entry["name"]
        if entry["existed"]:
            if _old(live).exists():
                os.replace(_old(live), live)
        else:
            live.unlink(missing_ok=True)
        _new(live).unlink(missing_ok=True)
    _fsync_dir(directory)
    return True


def _forget(directory: Path) -> None:
    """The server runs what the files say: no run needs the journal any more."""
    (directory / JOURNAL).unlink(missing_ok=True)
    _fsync_dir(directory)


def _roll_back(directory: Path) -> None:
    """Put the backups back after a failure the server never saw (no reload happened)."""
    recover(directory)
    _forget(directory)


def _error_line(line: str) -> str | None:
    """``line`` as an error shows it; None for nginx's progress chatter."""
    nginx = _NGINX_LINE.match(line)
    if nginx is None:
        return line
    return None if nginx[1] in _CHATTER else f"[{nginx[1]}] {nginx[2]}"


def server_errors(output: str) -> str:
    """The lines of a failed server command that say what went wrong, as one line.

    nginx prints progress before the error (``[notice] signal process started``, then
    ``[error] open() ".../nginx.pid" failed``) and Apache splits one error over two lines
    (``AH00526: Syntax error on line 9 of ...:`` then the reason): the first line alone hides
    the cause. nginx's notice/info/warn lines are dropped, unless nothing else is left.
    """
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [shown for shown in map(_error_line, lines) if shown] or lines
    text = errors[0] if errors else ""
    for line in errors[1:]:
        text += (" " if text.endswith(":") else "; ") + line
    return printable(text, _ERROR_LIMIT)


def _run(argv: tuple[str, ...], step: str, target: str) -> None:
    if not argv:
        return
    try:
        done = run(argv, COMMAND_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DeployError(f"{target}: {step} command {argv[0]!r} failed: {exc}") from None
    if done.returncode != 0:
        reason = server_errors(done.stderr + done.stdout) or f"{printable(argv[0], 80)!r} printed nothing"
        raise DeployError(f"{target}: {step} failed (exit {done.returncode}): {reason}")


def _roll_back_and_reload(target: Target, error: DeployError) -> DeployError:
    """Put the backups back and reload them; ``error`` (the first failure) as it is to be reported.

    The server may have loaded the new files: the journal goes only once the old ones are
    reloaded, else the next run restores and reloads again, and the error says so.
    """
    recover(target.dir)
    try:
        _run(target.reload, "reload", target.name)
    except DeployError as again:
        return DeployError(
            f"{error}; the previous files are back, but reloading them failed too ({again}): the server "
            "may still run the new rules; the next run reloads again"
        )
    _forget(target.dir)
    return error


def _probe(url: str, target: str) -> None:
    """The server answers ``url`` (any HTTP status < 500) within PROBE_SECONDS."""
    deadline, last = time.monotonic() + PROBE_SECONDS, "no answer"
    while time.monotonic() < deadline:
        try:
            with _DIRECT.open(url, timeout=2) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except (OSError, ValueError) as exc:
            status, last = 0, str(getattr(exc, "reason", exc))
        if 0 < status < 500:
            return
        if status:
            last = f"HTTP {status}"
        time.sleep(0.1)
    raise DeployError(f"{target}: health probe {url} failed after reload: {last}")


def _space_needed(directory: Path, files: tuple[RuleFile, ...], changed: tuple[str, ...]) -> int:
    """Bytes staging takes: each changed file, a backup of its live version and the journal,
    each rounded up to the filesystem's blocks."""
    block = os.statvfs(directory).f_frsize or 4096
    sizes = [len(f.text.encode("ascii")) for f in files if f.name in changed]
    sizes += [(directory / name).stat().st_size for name in changed if (directory / name).exists()]
    sizes.append(block)  # the journal: a few names
    return sum(-(-max(size, 1) // block) * block for size in sizes)


def _staging_error(name: str, directory: Path, exc: OSError, needed: int) -> DeployError:
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        free = shutil.disk_usage(directory).free
        return DeployError(
            f"{name}: {reason} in {directory}: staging the new rules needs {-(-needed // 1024)} KiB free "
            f"there, {free // 1024} KiB available; nothing was changed"
        )
    return DeployError(f"{name}: cannot write the new rules in {directory}: {reason}; nothing was changed")


def _stage(name: str, directory: Path, files: tuple[RuleFile, ...], changed: tuple[str, ...]) -> None:
    """Write each new file and a backup of its live version beside it, then the journal.

    A failed write (disk full, quota, permissions) removes everything staged so far: the live
    files were never touched, and no half-written file is left for anyone to mistake for a rule.
    """
    staged: list[Path] = []
    try:
        entries = []
        for f in files:
            if f.name not in changed:
                continue
            live = directory / f.name
            existed = live.exists()
            if existed:
                staged.append(_old(live))
                _write(_old(live), live.read_bytes(), f.secret)
            staged.append(_new(live))
            _write(_new(live), f.text.encode("ascii"), f.secret)
            entries.append({"name": f.name, "existed": existed})
        staged.append(directory / (JOURNAL + ".tmp"))
        _write(staged[-1], json.dumps(entries).encode())
        os.replace(staged[-1], directory / JOURNAL)
    except OSError as exc:
        for path in staged:
            path.unlink(missing_ok=True)
        raise _staging_error(name, directory, exc, _space_needed(directory, files, changed)) from None
    _fsync_dir(directory)


def _swap(directory: Path, changed: tuple[str, ...]) -> None:
    for name in changed:
        os.replace(_new(directory / name), directory / name)
    _fsync_dir(directory)


def _finish(directory: Path, changed: tuple[str, ...]) -> None:
    for name in changed:
        _old(directory / name).unlink(missing_ok=True)
    _forget(directory)


def _reload(target: Target) -> None:
    """Reload the server and, if the target has a probe, see that it answers."""
    _run(target.reload, "reload", target.name)
    if target.probe:
        _probe(target.probe, target.name)


def _settle(target: Target, reload: bool) -> None:
    """Validate, reload and probe the files ``recover`` put back.

    A run killed after its reload left the server running rules no file holds any more: the
    files are back, the server must follow them, also when this run has nothing to change. The
    journal goes once it does; a failure keeps it, so the next run reloads again.
    """
    try:
        _run(target.validate, "validation", target.name)
        if reload:
            _reload(target)
    except DeployError as exc:
        raise DeployError(
            f"{exc} (on the files restored from an interrupted deploy: the server may still run the rules "
            "that deploy had put in place; the next run reloads again)"
        ) from None
    _forget(target.dir)


def _go_live(target: Target, reload: bool, hook: StepHook | None) -> None:
    """Validate the swapped-in files against the live configuration, reload and probe; any
    failure puts the backups back (and reloads them if the server may have seen the new files)."""
    try:
        _run(target.validate, "validation", target.name)
    except DeployError:
        _roll_back(target.dir)
        raise
    if hook:
        hook("validated")
    if reload:
        try:
            _reload(target)
        except DeployError as exc:
            raise _roll_back_and_reload(target, exc) from None
    if hook:
        hook("reloaded")


def deploy_files(
    target: Target,
    files: tuple[RuleFile, ...],
    *,
    reload: bool = True,
    hook: StepHook | None = None,
    keyring: str | None = None,
) -> TargetOutcome:
    """Swap in ``files`` for ``target`` if they differ; validate, reload, roll back on failure.

    With ``keyring`` (the text of the keyring the files were rendered with) and a ``target.secret``,
    the keyring goes there once the files are live, for the host's own serve: a failed deploy
    leaves the host's serve with the keys its previous files check.
    The caller holds the directory's lock (``lock.directory_locks``; ``run_deploy`` does).
    """
    directory = target.dir
    if not directory.is_dir():
        raise DeployError(f"{target.name}: rule directory does not exist: {directory}")
    recovered = recover(directory)
    if recovered:
        _settle(target, reload)
    changed, diff = diff_files(directory, files)
    if changed:
        if target.precheck is not None:
            target.precheck(files)  # nothing is written if the files do not parse on their own
        _stage(target.name, directory, files, changed)
        try:
            _swap(directory, changed)
        except OSError as exc:
            _roll_back(directory)
            raise DeployError(f"{target.name}: cannot swap the new rules into {directory}: {exc}") from None
        if hook:
            hook("swapped")
        _go_live(target, reload, hook)
        _finish(directory, changed)
    acted = bool(changed) or recovered
    copied = False
    if keyring is not None and target.secret is not None:
        try:
            copied = place(target.secret, keyring)
        except KeyringError as exc:
            raise DeployError(
                f"{target.name}: the rules are live, but the pass secret was not copied: {exc}"
            ) from None
    return TargetOutcome(
        target.name,
        directory,
        changed,
        diff,
        validated=acted and bool(target.validate),
        reloaded=acted and reload and bool(target.reload),
        recovered=recovered,
        warnings=routing_warnings(target, files) + placement_warnings(target, files),
        secret_copied=copied,
    )
