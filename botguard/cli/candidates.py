"""`botguard candidates list|approve|reject`: review the rules the online model proposes.

Rows and reviews are :mod:`botguard.app.candidates`; the writers are
:mod:`botguard.report.candidates` (hostile text made printable, CSV formulas neutralised).
"""

from __future__ import annotations

import click

from botguard.app.candidates import (
    CandidatesListRequest,
    CandidatesReviewRequest,
    run_candidates_list,
    run_candidates_review,
)
from botguard.cli._env import cli_env
from botguard.cli._options import common_options
from botguard.cli._output import emit
from botguard.config import load_settings
from botguard.model.store import STATUSES
from botguard.report.candidates import CANDIDATE_WRITERS
from botguard.text import printable


@click.group("candidates")
def command() -> None:
    """Rule candidates the online model proposes: list them, approve or reject them."""


@command.command("list")
@click.option("--status", type=click.Choice(STATUSES), help="Only candidates with this status.")
@click.option(
    "--format", "fmt", type=click.Choice(list(CANDIDATE_WRITERS)), default="table", show_default=True
)
@common_options
def list_command(status: str | None, fmt: str, config_path: str | None, state_path: str | None) -> None:
    """Show candidates, their evidence, and whether deploy-rules enforces them now."""
    request = CandidatesListRequest(load_settings(config_path), status)
    rows = run_candidates_list(request, cli_env(state_path)).rows
    emit(lambda out: CANDIDATE_WRITERS[fmt](rows, out), None)


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


def _review(
    review: str, signatures: tuple[str, ...], config_path: str | None, state_path: str | None
) -> None:
    load_settings(config_path)  # a broken config is reported before the state changes
    report = run_candidates_review(CandidatesReviewRequest(review, signatures), cli_env(state_path))
    for stored in report.changed:
        click.echo(f"{stored.status} {printable(stored.candidate.signature, 120)}")
