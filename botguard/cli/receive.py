"""`botguard receive-rules`: run by `deploy-rules` over SSH on a web host (JSON in, JSON out)."""

from __future__ import annotations

import sys

import click

from botguard.app.receive import ReceiveRequest, run_receive
from botguard.cli._env import cli_env
from botguard.cli._options import config_option
from botguard.config import load_settings
from botguard.deploy.ssh import outcome_json
from botguard.errors import ExitStatus


@click.command("receive-rules")
@config_option
def command(config_path: str | None) -> int:
    """Deploy the rule files a deploy-rules run sends on standard input (over SSH).

    With --config (this host's configuration) the files go only into a rules directory it
    names, checked and reloaded with its own commands.
    """
    settings = load_settings(config_path) if config_path else None
    report = run_receive(ReceiveRequest(sys.stdin.read(), settings), cli_env(None))
    click.echo(outcome_json(report.outcome))
    return ExitStatus.OK
