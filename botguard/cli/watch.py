"""`botguard watch PATH...`: follow access logs live and let the online model propose rules.

The loop, the proposer, auto-deploy and the snapshots are :mod:`botguard.app.watch`; candidates
stream to stdout and status lines to stderr as they come.
"""

from __future__ import annotations

import click

from botguard.app.watch import WatchRequest, run_watch
from botguard.cli._env import cli_env
from botguard.cli._options import common_options
from botguard.config import load_settings
from botguard.errors import ExitStatus, UsageError
from botguard.robots.sources import parse_robots_option


@click.command("watch")
@click.argument("paths", nargs=-1, metavar="PATH...")
@click.option(
    "--from",
    "bus",
    metavar="redis://HOST:PORT/STREAM",
    help="Read lines from a Redis stream (fed by `botguard ship`) instead of files.",
)
@click.option("--group", default="botguard", show_default=True, help="The stream's consumer group (--from).")
@click.option("--consumer", metavar="NAME", help="This worker's name in the group (default: HOST-PID).")
@click.option(
    "--deltas", metavar="DIR", help="Directory shared by the workers: publish model deltas, apply theirs."
)
@click.option("--claim-idle", type=click.FloatRange(min=0.01), default=30.0, show_default=True, metavar="S",
              help="Take over lines a silent worker holds after S seconds (--from).")  # fmt: skip
@click.option(
    "--robots", "robots", multiple=True, metavar="FILE|HOST=FILE", help="robots.txt to judge against."
)
@click.option(
    "--log-format", metavar="FMT", help="combined|common|vhost_combined|json or an nginx log_format."
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Candidates on stdout as readable lines or NDJSON.")  # fmt: skip
@common_options
@click.option(
    "--interval",
    type=click.FloatRange(min=0.01),
    default=1.0,
    show_default=True,
    help="Seconds between polls.",
)
@click.option("--once", is_flag=True, help="Process what the logs hold now, then exit (tests, cron).")
@click.option(
    "--from-end", is_flag=True, help="Skip the lines a log already holds the first time it is seen."
)
@click.option(
    "--snapshot-dir", metavar="DIR", help="Model snapshots (default: STATE.model beside the state DB)."
)
@click.option(
    "--snapshot-every",
    type=click.FloatRange(min=1),
    default=None,
    metavar="S",
    help="Seconds between model snapshots (also taken on exit; default: model.snapshot_every, 900).",
)
@click.option(
    "--no-dns", is_flag=True, help="Accepted for symmetry with scan: watch never does DNS in the stream."
)
def command(
    paths: tuple[str, ...], bus: str | None, group: str, consumer: str | None, deltas: str | None,
    claim_idle: float,
    robots: tuple[str, ...], log_format: str | None, fmt: str,
    config_path: str | None, state_path: str | None, interval: float, once: bool, from_end: bool,
    snapshot_dir: str | None, snapshot_every: float | None, no_dns: bool,
) -> int:  # fmt: skip
    """Follow access logs like tail -F (rotation-aware) and learn new crawler signatures.

    With --from, read a Redis stream as one worker of a consumer group instead.
    """
    if not paths and not bus:
        raise UsageError("watch needs log files to follow or --from redis://... or kafka://...")
    request = WatchRequest(
        paths=paths, settings=load_settings(config_path), robots=parse_robots_option(robots, False),
        log_format=log_format, interval=interval, once=once, from_end=from_end, snapshot_dir=snapshot_dir,
        snapshot_every=snapshot_every, json_output=fmt == "json", bus=bus, group=group, consumer=consumer,
        claim_idle=claim_idle, deltas=deltas,
    )  # fmt: skip
    run_watch(request, cli_env(state_path))
    return ExitStatus.OK
