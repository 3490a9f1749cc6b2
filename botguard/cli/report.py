"""`botguard report`: the HTML report of the latest scan in the state database."""

from __future__ import annotations

from functools import partial

import click

from botguard.app.report import ReportRequest, run_report
from botguard.cli._env import cli_env
from botguard.cli._options import common_options
from botguard.cli._output import emit
from botguard.config import load_settings
from botguard.errors import ExitStatus
from botguard.report import write_html


@click.command("report")
@click.option("--output", "-o", metavar="FILE", help="Write the report to FILE instead of stdout.")
@common_options
def command(output: str | None, config_path: str | None, state_path: str | None) -> int:
    """Write the latest scan as one self-contained HTML page (charts, evidence, every client)."""
    report = run_report(ReportRequest(load_settings(config_path)), cli_env(state_path))
    emit(partial(write_html, report.result, preview=report.preview), output)
    return ExitStatus.OK
