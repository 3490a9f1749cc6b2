"""`botguard serve`: the challenge tier's HTTP service (challenge page, verification, health)."""

from __future__ import annotations

import click

from botguard.cli._options import common_options
from botguard.config import load_settings, validate_listen
from botguard.errors import ExitStatus
from botguard.serve import ServeRequest, run_serve


@click.command("serve")
@click.option(
    "--listen", metavar="HOST:PORT|unix:PATH", help="Where to listen (default: serve.listen, 127.0.0.1:8787)."
)
@click.option("--access-log", metavar="FILE", help="Append JSON access-log lines here (default: stderr).")
@click.option("--rotate-secret", is_flag=True,
              help="Start a new pass secret (the old one still verifies) and exit.")  # fmt: skip
@click.option("--live-log", "live_logs", multiple=True, metavar="FILE",
              help="Access log whose new lines feed the live report (repeatable).")  # fmt: skip
@click.option("--log-format", metavar="FMT", help="Format of the --live-log files (default: detected).")
@common_options
def command(listen: str | None, access_log: str | None, rotate_secret: bool, live_logs: tuple[str, ...],
            log_format: str | None, config_path: str | None, state_path: str | None) -> int:  # fmt: skip
    """Serve the challenge page at /.botguard/ and set the pass cookies nginx and Apache check.

    Stops cleanly on SIGINT or SIGTERM. The secret lives in serve-secret.json beside the state
    database (mode 0600); after --rotate-secret, re-render and reload the server files within
    5 minutes (the new secret starts signing then). The report of the latest scan, live, is at
    /.botguard/report (admin token: serve-admin.token beside the state database).
    """
    settings = load_settings(config_path)
    if listen is not None:
        validate_listen(listen, "--listen")
    request = ServeRequest(settings, state_path, listen, access_log, rotate_secret, live_logs, log_format)
    report = run_serve(request)
    if report.rotated:
        click.echo(f"new key {report.key_id} in {report.secret_path}: re-render and reload the server files")
    return ExitStatus.OK
