"""`botguard verify IP [--ua UA] [--no-dns]`: is this client who its user agent says?"""

from __future__ import annotations

import click

from botguard.app.verify import VerifyRequest, run_verify
from botguard.cli._env import cli_env
from botguard.cli._options import config_option, state_option
from botguard.config import load_settings
from botguard.errors import ExitStatus
from botguard.identity.verify import evidence_lines


@click.command("verify")
@click.argument("ip")
@click.option("--ua", "user_agent", metavar="UA", help="User agent the client sent (the claim to check).")
@click.option("--no-dns", is_flag=True, help="Skip reverse DNS (published IP ranges still apply).")
@config_option
@state_option("State database (DNS cache; default: user state dir).")
def command(
    ip: str, user_agent: str | None, no_dns: bool, config_path: str | None, state_path: str | None
) -> int:
    """Print the evidence: published range matched, PTR and forward DNS, network (ASN)."""
    request = VerifyRequest(ip, load_settings(config_path), user_agent, dns=not no_dns)
    report = run_verify(request, cli_env(state_path))
    for line in evidence_lines(report.evidence, user_agent):
        click.echo(line)
    return ExitStatus.OK
