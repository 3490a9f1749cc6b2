"""`botguard receive-rules`: run by `deploy-rules` over SSH on a web host (JSON in, JSON out)."""

from __future__ import annotations

import sys

import click

from botguard.app.receive import ReceiveRequest, run_receive
from botguard.cli._env import cli_env
from botguard.deploy.ssh import outcome_json
from botguard.errors import ExitStatus


@click.command("receive-rules")
def command() -> int:
    """Deploy the rule files a deploy-rules run sends on standard input (over SSH)."""
    report = run_receive(ReceiveRequest(sys.stdin.read()), cli_env(None))
    click.echo(outcome_json(report.outcome))
    return ExitStatus.OK
