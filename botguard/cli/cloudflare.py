"""`botguard cloudflare plan|apply|status`: sync the active decisions to one or more Cloudflare zones."""

from __future__ import annotations

from collections.abc import Callable

import click

from botguard.app.cloudflare import CloudflareReport, CloudflareRequest, SyncFailed, run_cloudflare
from botguard.cli._env import cli_env
from botguard.cli._options import common_options
from botguard.config import load_settings
from botguard.render.cloudflare import MAX_ITEMS
from botguard.text import printable


def _run(verb: str, show: Callable[[CloudflareReport], None], config_path: str | None,
         state_path: str | None) -> None:  # fmt: skip
    """Run, and show what was seen and done even when a zone failed (then re-raise: exit 1)."""
    request = CloudflareRequest(verb, load_settings(config_path))
    try:
        report = run_cloudflare(request, cli_env(state_path))
    except SyncFailed as failed:
        show(failed.report)
        raise
    show(report)


def print_plan(out: CloudflareReport) -> None:
    """The diff (list, then each zone), the totals, and what could not be carried (stderr).

    Shared with ``deploy-rules --cloudflare``. After an apply, one line per scope says what was
    done, or which step failed.
    """
    lines = out.plan.list_lines(out.target.list_name)
    for line in lines:
        click.echo(line)
    changes = len(lines)
    for zone_live, zone_plan in zip(out.live.zones, out.plan.zones, strict=True):
        zone_lines = zone_plan.lines()
        changes += len(zone_lines)
        for line in zone_lines:
            click.echo(f"zone {zone_plan.zone_id}: {line}")
        if zone_live.error is not None:
            click.echo(f"zone {zone_plan.zone_id}: cannot read: {zone_live.error}")
        else:
            click.echo(
                f"zone {zone_plan.zone_id}: {zone_live.foreign_rules} rules not botguard's (left alone)"
            )
    other = out.live.other_items
    cap = f" (of {MAX_ITEMS - other}: other lists hold {other})" if other else ""
    items, rules, zones = len(out.desired.items), len(out.desired.rules), len(out.target.zone_ids)
    click.echo(
        f"{changes} changes; desired: {items} list items{cap}, {rules} rules in each of {zones} zone(s)"
    )
    for left in out.desired.left_out:
        click.echo(f"left out: {printable(left.value)} ({left.reason})", err=True)
    if out.applied is not None:
        for result in out.applied.results:
            scope = f"list {out.target.list_name}" if result.scope == "list" else f"zone {result.scope}"
            state = f"failed: {result.error.message}" if result.error else "ok"
            click.echo(f"applied {scope}: {result.writes} write requests, {state}")
        click.echo(f"applied: {out.applied.writes} write requests")


def print_status(out: CloudflareReport) -> None:
    """What botguard owns on Cloudflare now (list, rules per zone) and the last recorded apply."""
    count = "missing" if out.live.list_id is None else f"{len(out.live.items)} items"
    click.echo(f"list {out.target.list_name}: {count}")
    for zone, plan in zip(out.live.zones, out.plan.zones, strict=True):
        if zone.error is not None:
            click.echo(f"zone {zone.zone_id}: cannot read: {zone.error}")
            continue
        for rule in zone.rules:
            click.echo(f"zone {zone.zone_id}: rule {rule.ref} {rule.action} ({len(rule.expression)} chars)")
        click.echo(f"zone {zone.zone_id}: {zone.foreign_rules} rules not botguard's; "
                   f"in sync: {'yes' if plan.empty else 'no'}")  # fmt: skip
    click.echo(f"list in sync: {'yes' if out.plan.list_empty else 'no'}")
    last = out.last_applied
    if last is None:
        click.echo("last apply: never")
        return
    click.echo(f"last apply: {last['applied_at']}, {last['writes']} write requests")
    if last["list"] is not None and last["list"]["error"]:
        click.echo(f"last apply: list failed: {last['list']['error']}")
    for zone, entry in last["zones"].items():
        click.echo(f"last apply: zone {zone}: " + (f"failed: {entry['error']}" if entry["error"] else "ok"))


@click.group("cloudflare")
def command() -> None:
    """Block offenders at Cloudflare: an account IP list plus WAF custom rules tagged botguard:."""


@command.command("plan")
@common_options
def plan(config_path: str | None, state_path: str | None) -> None:
    """Show the diff between the active decisions and Cloudflare; write nothing."""
    _run("plan", print_plan, config_path, state_path)


@command.command("apply")
@common_options
def apply(config_path: str | None, state_path: str | None) -> None:
    """Write only the diff (a second apply makes no write request); record it in the state DB."""
    _run("apply", print_plan, config_path, state_path)


@command.command("status")
@common_options
def status(config_path: str | None, state_path: str | None) -> None:
    """What botguard owns on Cloudflare now, and the last recorded apply."""
    _run("status", print_status, config_path, state_path)
