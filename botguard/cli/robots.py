"""`botguard robots check|lint|generate`: ask, audit and write robots.txt files."""

from __future__ import annotations

import click

from botguard.app.robots import (
    RobotsCheckRequest,
    RobotsGenerateRequest,
    RobotsLintRequest,
    run_robots_check,
    run_robots_generate,
    run_robots_lint,
)
from botguard.cli._env import cli_env
from botguard.cli._options import common_options
from botguard.cli._output import emit
from botguard.errors import ExitStatus
from botguard.robots import tasks
from botguard.robots.records import Truncation

_format = click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)


def _warn_cut(path: str, truncation: Truncation | None) -> None:
    """Say on stderr when only the start of a robots.txt counts (it is over 500 KiB)."""
    if truncation is not None:
        click.echo(f"botguard: warning: {path}: {truncation}", err=True)


@click.group("robots")
def command() -> None:
    """Check URLs against a robots.txt, lint one, or generate blocking groups."""


@command.command("check")
@click.option(
    "--robots", "robots_path", required=True, metavar="FILE", help="robots.txt to read (- for stdin)."
)
@click.option("--agent", required=True, metavar="TOKEN", help="Product token, e.g. Googlebot.")
@click.argument("urls", nargs=-1, required=True, metavar="URL...")
@_format
@common_options
def check(robots_path: str, agent: str, urls: tuple[str, ...], fmt: str, config_path: str | None,
          state_path: str | None) -> int:  # fmt: skip
    """Print allowed/disallowed and the deciding line for each URL (Google's exact rules)."""
    report = run_robots_check(RobotsCheckRequest(robots_path, agent, urls), cli_env(state_path))
    _warn_cut(robots_path, report.truncation)
    click.echo(tasks.format_check(agent, urls, report.permissions, fmt))
    if report.note:
        click.echo(f"note: {report.note}", err=True)
    return ExitStatus.OK


@command.command("lint")
@click.argument("path", metavar="FILE")
@click.option("--strict", is_flag=True, help="Exit 3 when there is any warning.")
@_format
@common_options
def lint(path: str, strict: bool, fmt: str, config_path: str | None, state_path: str | None) -> int:
    """Report lines Google ignores, reads differently from other parsers, or that never apply."""
    report = run_robots_lint(RobotsLintRequest(path, strict), cli_env(state_path))
    _warn_cut(path, report.truncation)
    if report.findings or fmt == "json":
        click.echo(tasks.format_lint(path, report.findings, fmt))
    return ExitStatus.FAIL_ON if report.failed else ExitStatus.OK


@command.command("generate")
@click.option(
    "--agent", "agents", multiple=True, metavar="TOKEN", help="Crawler token to block (repeatable)."
)
@click.option("--from", "scan_json", metavar="SCAN.json", help="Block the crawlers a scan report blocks.")
@click.option("--category", "categories", multiple=True, metavar="CAT", help="Block a catalogue category.")
@click.option(
    "--merge", metavar="FILE", help="Existing robots.txt to merge into (its other groups are kept)."
)
@click.option("--content-signal", metavar="SIGNALS", help="e.g. 'search=yes, ai-train=no'.")
@click.option("--output", "-o", metavar="FILE", help="Write to FILE (atomically) instead of stdout.")
@common_options
def generate(agents: tuple[str, ...], scan_json: str | None, categories: tuple[str, ...], merge: str | None,
             content_signal: str | None, output: str | None, config_path: str | None,
             state_path: str | None) -> int:  # fmt: skip
    """Write robots.txt groups disallowing every blocked crawler token."""
    request = RobotsGenerateRequest(agents, scan_json, categories, merge, content_signal)
    report = run_robots_generate(request, cli_env(state_path))
    emit(lambda out: out.write(report.text), output)
    for note in report.notes:
        click.echo(f"note: {note}", err=True)
    return ExitStatus.OK
