"""`botguard cloudflare plan|apply|status`: sync the active decisions to a Cloudflare zone."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import click

from botguard.config import load_settings
from botguard.deploy.cloudflare import (
    CloudflareOutcome,
    CloudflareRequest,
    last_applied,
    run_cloudflare,
)

_OPTIONS = [
    click.option("--config", "config_path", type=click.Path(dir_okay=False), help="YAML configuration file."),
    click.option("--state", "state_path", metavar="PATH", help="State database (default: user state dir)."),
]


def _options(fn):  # type: ignore[no-untyped-def]
    for option in reversed(_OPTIONS):
        fn = option(fn)
    return fn


def _run(verb: str, config_path: str | None, state_path: str | None) -> CloudflareOutcome:
    request = CloudflareRequest(verb, load_settings(config_path), datetime.now(UTC), dict(os.environ), state_path)
    return run_cloudflare(request)


def print_plan(out: CloudflareOutcome) -> None:
    """The diff, the totals, and what could not be carried (stderr); shared with deploy-rules."""
    lines = out.plan.lines(out.target.list_name)
    for line in lines:
        click.echo(line)
    click.echo(f"{len(lines)} changes; desired: {len(out.desired.items)} list items, {len(out.desired.rules)} rules; "
               f"{out.live.foreign_rules} rules not botguard's (left alone)")  # fmt: skip
    for left in out.desired.left_out:
        click.echo(f"left out: {left.value} ({left.reason})", err=True)
    if out.applied is not None:
        click.echo(f"applied: {out.applied.writes} write requests")


@click.group("cloudflare")
def command() -> None:
    """Block offenders at Cloudflare: an account IP list plus WAF custom rules tagged botguard:."""


@command.command("plan")
@_options
def plan(config_path: str | None, state_path: str | None) -> None:
    """Show the diff between the active decisions and Cloudflare; write nothing."""
    print_plan(_run("plan", config_path, state_path))


@command.command("apply")
@_options
def apply(config_path: str | None, state_path: str | None) -> None:
    """Write only the diff (a second apply makes no write request); record it in the state DB."""
    out = _run("apply", config_path, state_path)
    print_plan(out)


@command.command("status")
@_options
def status(config_path: str | None, state_path: str | None) -> None:
    """What botguard owns on Cloudflare now, and the last recorded apply."""
    out = _run("status", config_path, state_path)
    click.echo(f"list {out.target.list_name}: {'missing' if out.live.list_id is None else len(out.live.items)} items")
    for rule in out.live.rules:
        click.echo(f"rule {rule.ref} {rule.action} ({len(rule.expression)} chars)")
    click.echo(f"{out.live.foreign_rules} rules not botguard's; in sync: {'yes' if out.plan.empty else 'no'}")
    click.echo(f"last apply: {last_applied(state_path) or 'never'}")
