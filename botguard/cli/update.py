"""`botguard update`: refresh the published crawler IP ranges (keeps the last good copy)."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from botguard.cli._options import config_option, state_option
from botguard.errors import ExitStatus
from botguard.identity.setup import updated_ranges_dir
from botguard.identity.update import default_fetch, update_ranges


@click.command("update")
@config_option
@state_option("State database; lists go to ip-ranges/ beside it.")
def command(config_path: str | None, state_path: str | None) -> int:
    """Fetch operators' published IP ranges; implausible or failed fetches keep the old copy."""
    dest = updated_ranges_dir(state_path)
    results = update_ranges(dest, default_fetch(), datetime.now(UTC).date())
    for r in results:
        click.echo(f"{r.name:32} {'updated' if r.updated else 'kept':8} {r.networks:6} networks  {r.detail}")
    return ExitStatus.OK if all(r.updated for r in results) else ExitStatus.ERROR
