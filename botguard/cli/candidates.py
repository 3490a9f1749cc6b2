"""`botguard candidates list|approve|reject`: review the rules the online model proposes.

Wiring only: the store (:mod:`botguard.model.store`) decides; this prints. Signatures, tokens
and explanations come from hostile logs, so every cell is shown through ``printable`` and rich
``Text`` (never markup), and CSV cells that a spreadsheet would run as formulas are neutralised.
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from typing import Any, TextIO

import click
from rich.table import Table
from rich.text import Text

from botguard.cli._options import common_options
from botguard.cli._output import emit
from botguard.config import load_settings
from botguard.model.store import (
    STATUSES,
    CandidatePolicy,
    CandidateStore,
    StoredCandidate,
    candidate_policy,
    deployment,
    reason_of,
)
from botguard.report._console import report_console
from botguard.report._safe import printable
from botguard.report.csv import neutralise
from botguard.state import State

#: Columns when stdout is a pipe or file (rich would assume 80 and fold every cell).
PIPE_WIDTH = 200

STATUS_STYLE = {"proposed": "yellow", "approved": "bold red", "rejected": "dim"}


@click.group("candidates")
def command() -> None:
    """Rule candidates the online model proposes: list them, approve or reject them."""


@command.command("list")
@click.option("--status", type=click.Choice(STATUSES), help="Only candidates with this status.")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True
)
@common_options
def list_command(status: str | None, fmt: str, config_path: str | None, state_path: str | None) -> None:
    """Show candidates, their evidence, and whether deploy-rules enforces them now."""
    settings = load_settings(config_path)
    conf, now = candidate_policy(settings), datetime.now(UTC)
    with State(state_path) as state:
        rows = [_row(stored, conf, now) for stored in CandidateStore(state).list(status)]
    writer = {"table": _table, "json": _json, "csv": _csv}[fmt]
    emit(lambda out: writer(rows, out), None)


@command.command("approve")
@click.argument("signatures", nargs=-1, required=True)
@common_options
def approve(signatures: tuple[str, ...], config_path: str | None, state_path: str | None) -> None:
    """Deploy these signatures with the next deploy-rules run (all or none)."""
    _review("approve", signatures, config_path, state_path)


@command.command("reject")
@click.argument("signatures", nargs=-1, required=True)
@common_options
def reject(signatures: tuple[str, ...], config_path: str | None, state_path: str | None) -> None:
    """Never deploy these signatures, even when the model proposes them again (all or none)."""
    _review("reject", signatures, config_path, state_path)


def _review(verb: str, signatures: tuple[str, ...], config_path: str | None, state_path: str | None) -> None:
    load_settings(config_path)  # a broken config is reported before the state changes
    with State(state_path) as state:
        store = CandidateStore(state)
        changed = store.approve(*signatures) if verb == "approve" else store.reject(*signatures)
    for stored in changed:
        click.echo(f"{stored.status} {printable(stored.candidate.signature, 120)}")


def _row(stored: StoredCandidate, conf: CandidatePolicy, now: datetime) -> dict[str, Any]:
    """One candidate as plain values (the JSON contract; the table and CSV show a subset)."""
    c = stored.candidate
    deployed, why = deployment(stored, conf, now)
    return {
        "signature": c.signature, "status": stored.status, "deployed": deployed, "why": why,
        "match_kind": c.match_kind, "match_value": c.match_value, "action": c.action,
        "score": round(c.score, 4), "bad_rate_lcb": round(c.bad_rate_lcb, 4),
        "support_requests": c.support_requests, "support_ips": c.support_ips,
        "first_seen": datetime.fromtimestamp(c.first_seen, UTC).isoformat(),
        "proposed_at": datetime.fromtimestamp(c.proposed_at, UTC).isoformat(),
        "requests_to_candidate": c.requests_to_candidate,
        "first_proposed": stored.first_proposed.isoformat(), "last_proposed": stored.last_proposed.isoformat(),
        "expires_at": stored.expires_at(conf.candidate_ttl).isoformat(),
        "reviewed_at": stored.reviewed_at.isoformat() if stored.reviewed_at else None,
        "explanation": [{"feature": f, "contribution": round(w, 4)} for f, w in c.explanation],
        "label_counts": dict(c.label_counts), "reason": reason_of(c),
    }  # fmt: skip


def _json(rows: list[dict[str, Any]], out: TextIO) -> None:
    json.dump({"candidates": rows}, out, indent=2, ensure_ascii=True)
    out.write("\n")


def _neutral(value: Any) -> Any:
    """Text cells through the report's formula guard; numbers, booleans and None as they are."""
    return neutralise(value) if isinstance(value, str) else value


def _csv(rows: list[dict[str, Any]], out: TextIO) -> None:
    columns = ["signature", "status", "deployed", "why", "match_kind", "match_value", "action", "score",
               "bad_rate_lcb", "support_requests", "support_ips", "first_seen", "proposed_at", "first_proposed",
               "last_proposed", "expires_at", "reviewed_at", "reason"]  # fmt: skip
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_neutral(row[c]) for c in columns])


def _table(rows: list[dict[str, Any]], out: TextIO) -> None:
    table = Table(title="Rule candidates of the online model", title_justify="left")
    for header, justify in [
        ("status", "left"), ("signature", "left"), ("rule", "left"), ("score", "right"), ("requests", "right"),
        ("IPs", "right"), ("last proposed", "left"), ("deployed", "left"), ("why", "left"),
    ]:  # fmt: skip
        wrap = header in ("signature", "rule", "why")
        table.add_column(header, justify=justify, overflow="fold", no_wrap=not wrap)  # type: ignore[arg-type]
    for row in rows:
        table.add_row(
            Text(row["status"], style=STATUS_STYLE[row["status"]]),
            Text(printable(row["signature"], 60)),
            Text(printable(f"{row['action']} {row['match_kind']} {row['match_value']}", 60)),
            f"{row['score']:.3f}",
            f"{row['support_requests']:,}",
            f"{row['support_ips']:,}",
            row["last_proposed"][:19].replace("T", " "),
            Text("yes" if row["deployed"] else "no", style="bold" if row["deployed"] else ""),
            Text(printable(f"{row['why']}; {row['reason']}", 200)),
        )
    if not rows:
        table.caption = "no candidates: `botguard watch` (or scan) proposes them as the model learns"
    piped = not (hasattr(out, "isatty") and out.isatty())
    report_console(out, PIPE_WIDTH if piped else None).print(table)
