"""One CSV formula guard for every CSV botguard writes: the scan report and the model's rule
candidates neutralise the same cells the same way (OWASP CSV injection)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from botguard.model.store import CandidateStore
from botguard.report.csv import neutralise
from botguard.state import State
from tests.helpers import run_cli
from tests.model.test_candidates_store import candidate

#: A log's text -> the cell a spreadsheet must see (an apostrophe makes it text).
SPEC = {
    "=HYPERLINK(1)": "'=HYPERLINK(1)",
    "+1": "'+1",
    "-2+3": "'-2+3",
    "@SUM(1)": "'@SUM(1)",
    "\t-1": "'\t-1",
    " =1+1": "' =1+1",  # a spreadsheet that trims spaces on import would see a formula
    "  @SUM(1)": "'  @SUM(1)",
    "NormalBot/1.0 (+https://example.com/bot)": "NormalBot/1.0 (+https://example.com/bot)",
}
#: Values no log line can carry as a user agent, checked through the candidates CSV only.
MORE = {
    "\x00x": "'\x00x",
    "\u00a0=1": "'\u00a0=1",
    "\ufeff@x": "'\ufeff@x",
    "-": "-",  # a lone minus (a log's "no value") is no formula
    " plain": " plain",
    "": "",
}


@pytest.mark.parametrize(("value", "cell"), [*SPEC.items(), *MORE.items(), ("\r=1", "'\r=1")])
def test_neutralise_spec(value: str, cell: str) -> None:
    """Each value becomes exactly its spreadsheet-safe cell."""
    assert neutralise(value) == cell


def _scan_csv(tmp_path: Path) -> dict[str, str]:
    """The scan report's user_agent cell of each client, by its address."""
    log = tmp_path / "access.log"
    lines = [
        f'192.0.2.{10 + i} - - [04/Mar/2024:10:02:00 +0100] "GET / HTTP/1.1" 200 1 "-" "{ua}"\n'
        for i, ua in enumerate(SPEC)
    ]
    log.write_text("".join(lines), encoding="utf-8")
    r = run_cli("scan", str(log), "--state", str(tmp_path / "scan.db"), "--format", "csv")
    assert r.exit_code == 0, r.output
    return {row["ip"]: row["user_agent"] for row in csv.DictReader(io.StringIO(r.stdout))}


def _candidates_csv(tmp_path: Path, values: list[str]) -> dict[str, str]:
    """The candidates CSV's match_value cell of each candidate, by its (plain) signature."""
    db = tmp_path / "candidates.db"
    with State(db) as state:
        CandidateStore(state).upsert(
            [candidate(f"ua_tok=v{i}", value=value) for i, value in enumerate(values)], now=datetime.now(UTC)
        )
    r = run_cli("candidates", "list", "--format", "csv", "--state", str(db))
    assert r.exit_code == 0, r.output
    return {row["signature"]: row["match_value"] for row in csv.DictReader(io.StringIO(r.stdout, newline=""))}


def test_scan_and_candidates_csv_neutralise_alike(tmp_path: Path) -> None:
    """The same hostile text becomes the same cell in the scan report and the candidates list."""
    scan = _scan_csv(tmp_path)
    values = [*SPEC, *MORE]
    candidates = _candidates_csv(tmp_path, values)
    for i, (value, cell) in enumerate(SPEC.items()):
        assert scan[f"192.0.2.{10 + i}"] == cell, repr(value)
    for i, value in enumerate(values):
        assert candidates[f"ua_tok=v{i}"] == {**SPEC, **MORE}[value], repr(value)
