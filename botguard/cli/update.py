"""`botguard update`: refresh the published crawler IP ranges (keeps the last good copy)."""

from __future__ import annotations

import click

from botguard.app.update import UpdateRequest, run_update
from botguard.cli._env import cli_env
from botguard.cli._options import config_option, state_option
from botguard.errors import ExitStatus


@click.command("update")
@config_option
@state_option("State database; lists go to ip-ranges/ beside it.")
def command(config_path: str | None, state_path: str | None) -> int:
    """Fetch operators' published IP ranges; implausible or failed fetches keep the old copy."""
    report = run_update(UpdateRequest(), cli_env(state_path))
    for r in report.results:
        click.echo(f"{r.name:32} {'updated' if r.updated else 'kept':8} {r.networks:6} networks  {r.detail}")
    return ExitStatus.OK if report.all_updated else ExitStatus.ERROR
