"""`botguard deploy-rules`: block the offenders of the latest scan on nginx and Apache (and Cloudflare)."""

from __future__ import annotations

import click

from botguard.app.deploy import ChallengeTier, DeployReport, DeployRequest, run_deploy
from botguard.cli._env import cli_env
from botguard.cli._options import common_options
from botguard.cli.cloudflare import print_plan
from botguard.config import load_settings
from botguard.decide.records import DroppedDecision
from botguard.deploy import Impact
from botguard.errors import ExitStatus
from botguard.text import printable


@click.command("deploy-rules")
@click.option(
    "--from", "scan_path", metavar="SCAN.json", help="Scan JSON to act on (default: latest scan in state)."
)
@click.option("--nginx-dir", metavar="DIR", help="Write botguard_http.conf / botguard_server.conf here.")
@click.option("--apache-dir", metavar="DIR", help="Write botguard.conf here.")
@click.option(
    "--dry-run", is_flag=True, help="Print the diff and the impact on scanned traffic; change nothing."
)
@click.option("--no-reload", is_flag=True, help="Validate and swap files but do not reload the servers.")
@click.option(
    "--cloudflare",
    is_flag=True,
    help="Also (or only) sync the decisions to Cloudflare (see `botguard cloudflare`).",
)
@common_options
def command(
    scan_path: str | None, nginx_dir: str | None, apache_dir: str | None, dry_run: bool, no_reload: bool,
    cloudflare: bool, config_path: str | None, state_path: str | None,
) -> int:  # fmt: skip
    """Render decisions to rule files, validate, swap atomically, reload; roll back on failure.

    With --cloudflare the same decisions are synced to Cloudflare after the servers (or alone:
    no server target is needed); with --dry-run Cloudflare gets a plan and nothing is written.
    """
    request = DeployRequest(
        settings=load_settings(config_path), scan_path=scan_path, nginx_dir=nginx_dir, apache_dir=apache_dir,
        dry_run=dry_run, reload=not no_reload, cloudflare=cloudflare,
    )  # fmt: skip
    report = run_deploy(request, cli_env(state_path))
    _print(report, dry_run)
    if report.challenge is not None:
        _print_challenge(report.challenge, dry_run)
    for warning in (w for out in report.outcomes for w in out.warnings):
        click.echo(f"botguard: warning: {warning}", err=True)
    if report.dropped:
        click.echo(f"botguard: warning: {_dropped_line(report.dropped)}", err=True)
    for error in report.errors:
        click.echo(f"botguard: error: {error}", err=True)
    if report.partial:
        done, failed = len(report.outcomes), len(report.errors)
        click.echo(f"botguard: partial: {done} of {done + failed} targets deployed; "
                   "each failed one keeps its previous rules", err=True)  # fmt: skip
    if report.cloudflare is not None:
        print_plan(report.cloudflare)
    if report.cloudflare_failure is not None:
        raise report.cloudflare_failure
    return ExitStatus.ERROR if report.errors else ExitStatus.OK


def _dropped_line(dropped: tuple[DroppedDecision, ...], shown: int = 5) -> str:
    """One line for every stored decision no rule can carry (values come from logs: made printable)."""
    items = ", ".join(
        f"{d.decision.action} {printable(d.decision.match.ip or d.decision.match.value, 60)} ({d.reason})"
        for d in dropped[:shown]
    )
    more = f" and {len(dropped) - shown} more" if len(dropped) > shown else ""
    plural = "s" if len(dropped) != 1 else ""
    return f"dropped {len(dropped)} stored decision{plural} no rule can carry: {items}{more}"


def _print_rows(impact: Impact) -> None:
    """One line per traffic group: how many of its clients and requests the rules would block."""
    for row in impact.rows:
        click.echo(f"  {row.group:<19} clients {row.blocked_clients}/{row.clients}, "
                   f"requests {row.blocked_requests}/{row.requests}")  # fmt: skip


def _print_challenge(tier: ChallengeTier, dry_run: bool) -> None:
    """Where challenged clients go, the secret a run created, and a warning when serve is down."""
    if tier.created:
        done = "would create" if dry_run else "created"
        click.echo(
            f"challenge: {done} the pass secret {tier.secret_path} (mode 0600); run `botguard serve` with "
            "the same --state and --config, so it signs the passes these files check"
        )
    if tier.decisions and not tier.serve_up:
        meanwhile = "the content" if tier.fail_open else "a 503 (serve.fail_open: false)"
        click.echo(
            f"botguard: warning: botguard serve does not answer at {tier.listen}: challenged clients get "
            f"{meanwhile} until it runs (`botguard serve`, examples/botguard-serve.service)",
            err=True,
        )


def _print(report: DeployReport, dry_run: bool) -> None:
    actions = [d.action for d in report.decisions.decisions]
    click.echo(f"decisions: {actions.count('block')} block, {actions.count('challenge')} challenge, "
               f"{actions.count('throttle')} throttle, {actions.count('allow')} allow")  # fmt: skip
    for out in report.outcomes:
        if dry_run:
            click.echo(out.diff, nl=False)
            state = f"would change {', '.join(out.changed)}" if out.changed else "unchanged"
        else:
            state = out.summary
        click.echo(f"{out.target}: {state} ({out.dir})")
    if report.impact is not None:
        click.echo("impact on the scanned traffic (blocked / total):")
        _print_rows(report.impact)
        challenged, people = report.impact.challenged, report.impact.challenged_people
        click.echo(f"challenge: {challenged} client{'s' if challenged != 1 else ''} would be challenged; "
                   f"{people} of them look like people (load assets or follow links)")  # fmt: skip
        if report.impact.dangerous:
            click.echo("WARNING: these rules would block humans or verified good bots:", err=True)
            for example in report.impact.examples:
                click.echo(f"  WARNING: {example}", err=True)
    if report.model_impact is not None:  # which clients an approved model rule hits (botguard candidates)
        click.echo("of these, the model's rules alone (botguard candidates) would block:")
        _print_rows(report.model_impact)
        for example in report.model_impact.examples:
            click.echo(f"  e.g. {example}")
