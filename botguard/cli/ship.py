"""`botguard ship PATH... --to redis://HOST:PORT/STREAM|kafka://HOST:PORT/TOPIC`: feed `watch --from`."""

from __future__ import annotations

import click

from botguard.app.ship import ShipRequest, run_ship
from botguard.cli._env import cli_env
from botguard.cli._options import state_option
from botguard.errors import ExitStatus


@click.command("ship")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option(
    "--to",
    "to",
    required=True,
    metavar="URL",
    help="The bus to feed: redis://HOST:PORT/STREAM or kafka://HOST:PORT/TOPIC.",
)
@click.option(
    "--log-format", metavar="FMT", help="To key Kafka messages by client address (default: detected)."
)
@state_option("Where ship keeps its read offsets (give it its own; default: user state dir).")
@click.option("--interval", type=click.FloatRange(min=0.01), default=1.0, show_default=True,
              help="Seconds between polls.")  # fmt: skip
@click.option("--once", is_flag=True, help="Ship what the logs hold now, then exit.")
@click.option(
    "--from-end", is_flag=True, help="Skip the lines a log already holds the first time it is seen."
)
def command(
    paths: tuple[str, ...], to: str, log_format: str | None, state_path: str | None, interval: float,
    once: bool, from_end: bool,
) -> int:  # fmt: skip
    """Follow log files like tail -F and put each line on a Redis stream or a Kafka topic."""
    request = ShipRequest(
        paths=paths, to=to, interval=interval, once=once, from_end=from_end, log_format=log_format
    )
    run_ship(request, cli_env(state_path))
    return ExitStatus.OK
