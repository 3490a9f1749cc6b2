"""`botguard daemon`: the resident server that runs `botguard scan` without paying its start-up."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

import click

from botguard.errors import ExitStatus
from botguard.loading import child_environment
from botguard.resident import (
    ResidentError,
    ServerStatus,
    Start,
    mismatch,
    run_daemon,
    server_status,
    socket_path,
    stop_server,
)  # fmt: skip

#: What each refusal means to the user who asks why a command is not served.
WHY_NOT = {
    "code": "botguard, polars or numpy changed on disk since it started: restart it",
    "namespaces": "this process sees the files (or network) through other namespaces or another root",
    "privileges": "this process has other capabilities, seccomp filters or security label",
    "environment": "the variables read at start-up differ",
    "groups": "this process has other groups",
    "cpus": "this process may use other cores",
    "priority": "this process runs at a higher priority (nice) than the server",
    "limits": "this process's resource limits are above the server's",
}


@click.command("daemon")
@click.option("--stop", is_flag=True, help="Stop the running server (after the commands it runs end).")
@click.option("--status", is_flag=True, help="Say whether a server runs and whether it serves this shell.")
def command(stop: bool, status: bool) -> int:
    """Run the resident server: `botguard scan` is then served by it, without start-up cost.

    Runs in the foreground until SIGTERM, Ctrl-C or `botguard daemon --stop`. Its socket is
    $BOTGUARD_DAEMON_SOCKET, else $XDG_RUNTIME_DIR/botguard/daemon.sock, else
    ~/.cache/botguard/daemon/daemon.sock; only this user can reach it. A scan prints exactly what
    it prints without the server; BOTGUARD_NO_DAEMON=1 runs a command in its own process.
    """
    path = socket_path(os.environ)
    if stop:
        running = stop_server(path)
        if running is None:
            raise ResidentError(f"no resident server answers at {path}")
        click.echo(f"botguard daemon: stopped ({running} commands were running and have ended)")
    elif status:
        said = server_status(path)
        if said is None:
            raise ResidentError(f"no resident server answers at {path}")
        click.echo(describe(said, path))
    else:
        run_daemon(path, _fresh_main, child_environment(), lambda line: click.echo(line, err=True))
    return ExitStatus.OK


def describe(said: ServerStatus, path: str) -> str:
    """The status lines: who serves where, since when, and whether it serves this process."""
    since = datetime.fromtimestamp(said.started, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    here = Start.of_this_process(child_environment())
    why = mismatch(here, said.start)
    if why is None:
        serves = "yes"
    else:
        serves = f"no: {WHY_NOT.get(why, why)}"
        if why == "environment":
            names = sorted(set(here.environment.items()) ^ set(said.start.environment.items()))
            serves += f" ({', '.join(sorted({name for name, _ in names}))})"
    return (
        f"botguard daemon: running, pid {said.pid}, since {since} ({time.time() - said.started:.0f} s); "
        f"{said.served} commands served, {said.running} running\n"
        f"socket: {path}\nserves this shell's commands: {serves}"
    )


def _fresh_main(args: list[str]) -> int:
    """The command line, run in the server's child as in a process of its own: the click
    contexts of `botguard daemon` (the fork happened inside it) are taken off click's stack."""
    import click.globals

    from botguard.cli import main

    while click.get_current_context(silent=True) is not None:
        click.globals.pop_context()
    return main(args)
