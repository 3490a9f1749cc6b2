"""`botguard scan PATH...`: who crawls the site and how well each obeys robots.txt."""

from __future__ import annotations

import sys
from functools import partial
from typing import Any

import click

from botguard.app.scan import ScanRequest, run_scan
from botguard.cli._env import cli_env
from botguard.cli._options import common_options
from botguard.cli._output import emit
from botguard.cli._progress import estimate_lines, line_progress
from botguard.config import load_settings
from botguard.engines import ENGINES, engine_options
from botguard.errors import ExitStatus
from botguard.heap import release_freed
from botguard.report import FORMATS, writer
from botguard.robots.sources import parse_robots_option
from botguard.text import printable


@click.command("scan")
@click.argument("paths", nargs=-1, metavar="PATH...")
@click.option(
    "--robots", "robots", multiple=True, metavar="FILE|HOST=FILE", help="robots.txt to judge against."
)
@click.option("--fetch-robots", is_flag=True, help="Fetch each virtual host's robots.txt (RFC 9309 rules).")
@click.option(
    "--log-format", metavar="FMT", help="combined|common|vhost_combined|json or an nginx log_format."
)
@click.option("--format", "fmt", type=click.Choice(sorted(FORMATS)), default="table", show_default=True)
@click.option("--output", "-o", metavar="FILE", help="Write the report to FILE instead of stdout.")
@click.option(
    "--top", type=click.IntRange(min=1), default=20, show_default=True, help="Rows in table output."
)
@click.option(
    "--fail-on",
    type=click.Choice(["challenge", "block"]),
    help="Exit 3 when a client gets this verdict or a harsher one.",
)
@click.option(
    "--show-malformed", type=click.IntRange(min=0), default=0, metavar="N", help="Print N malformed lines."
)
@common_options
@click.option("--no-save", is_flag=True, help="Do not store results in the state database.")
@click.option(
    "--full", is_flag=True, help="Read every file whole, even what an earlier scan of it already read."
)
@click.option("--no-dns", is_flag=True, help="Skip reverse-DNS checks (published IP ranges still apply).")
@click.option(
    "--no-identity", is_flag=True, help="Skip identity checks and ASN lookups entirely (no spoof verdicts)."
)
@click.option(
    "--no-model", is_flag=True, help="Per-client rules only: no model scores, no signature-based raises."
)
@click.option(
    "--campaigns/--no-campaigns", default=None,
    help="Replay the log for scores, campaign raises (slow).",
)  # fmt: skip
@click.option("--engine", type=click.Choice(ENGINES), help="Parse and aggregate on Spark or Dask.")
@click.option("--scheduler", metavar="URL", help="Spark master URL or Dask scheduler address (--engine).")
@click.option("--piece-mib", type=int, metavar="N", help="MiB of log per engine task (default 64).")
def command(
    paths: tuple[str, ...], robots: tuple[str, ...], fetch_robots: bool, log_format: str | None, fmt: str,
    output: str | None, top: int, fail_on: str | None, show_malformed: int, config_path: str | None,
    state_path: str | None, no_save: bool, full: bool, no_dns: bool, no_identity: bool, no_model: bool,
    campaigns: bool | None, engine: str | None, scheduler: str | None, piece_mib: int | None,
) -> int:  # fmt: skip
    """Scan access logs (- for stdin; .gz/.bz2/.xz read as is)."""
    request = ScanRequest(
        paths=paths, settings=load_settings(config_path), robots=parse_robots_option(robots, fetch_robots),
        log_format=log_format, save=not no_save, dns=not no_dns, identity=not no_identity,
        model=not no_model, campaigns=campaigns, fail_on=fail_on, incremental=not full,
        preview=fmt == "html", engine=engine_options(engine, scheduler, piece_mib),
    )  # fmt: skip
    tty = sys.stderr.isatty()
    with line_progress(enabled=tty, total=estimate_lines(paths) if tty else None) as progress:
        report = run_scan(request, cli_env(state_path, progress=progress))
    result = report.result
    release_freed()  # what the scan freed, before the report is written (see botguard.heap)
    options: dict[str, dict[str, Any]] = {"table": {"top": top}, "html": {"preview": report.preview}}
    write = partial(writer(fmt), **options.get(fmt, {}))
    emit(lambda out: write(result, out), output)
    for source, line_no, text in result.malformed_examples[:show_malformed]:
        click.echo(f"malformed {source}:{line_no}: {text!r}", err=True)
    for warning in result.warnings:
        click.echo(f"botguard: warning: {printable(warning)}", err=True)
    return ExitStatus.FAIL_ON if report.fail_on_met else ExitStatus.OK
