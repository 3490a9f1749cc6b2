"""The model's rule candidates as a terminal table, JSON or CSV (``botguard candidates list``).

Signatures, tokens and explanations come from hostile logs, so every cell is shown through
``printable`` and rich ``Text`` (never markup), and CSV cells that a spreadsheet would run as
formulas are neutralised.
"""

from __future__ import annotations

import csv
import json
from typing import Any, TextIO

from rich.table import Table
from rich.text import Text

from botguard.report._console import report_console
from botguard.report.csv import neutralise
from botguard.report.records import Rows, RowsWriter
from botguard.text import printable

__all__ = ["CANDIDATE_WRITERS", "write_candidates_csv", "write_candidates_json", "write_candidates_table"]

#: Columns when stdout is a pipe or file (rich would assume 80 and fold every cell).
PIPE_WIDTH = 200

STATUS_STYLE = {"proposed": "yellow", "approved": "bold red", "rejected": "dim"}

_CSV_COLUMNS = [
    "signature", "status", "deployed", "why", "match_kind", "match_value", "action", "score", "bad_rate_lcb",
    "support_requests", "support_ips", "first_seen", "proposed_at", "first_proposed", "last_proposed",
    "expires_at", "reviewed_at", "reason",
]  # fmt: skip

_TABLE_COLUMNS = [
    ("status", "left"), ("signature", "left"), ("rule", "left"), ("score", "right"), ("requests", "right"),
    ("IPs", "right"), ("last proposed", "left"), ("deployed", "left"), ("why", "left"),
]  # fmt: skip


def write_candidates_json(rows: Rows, out: TextIO) -> None:
    """``{"candidates": [row, ...]}``, ASCII only."""
    json.dump({"candidates": list(rows)}, out, indent=2, ensure_ascii=True)
    out.write("\n")


def _neutral(value: Any) -> Any:
    """Text cells through the report's formula guard; numbers, booleans and None as they are."""
    return neutralise(value) if isinstance(value, str) else value


def write_candidates_csv(rows: Rows, out: TextIO) -> None:
    """One line per candidate (the plain-valued columns), formula-looking cells neutralised."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_CSV_COLUMNS)
    for row in rows:
        writer.writerow([_neutral(row[c]) for c in _CSV_COLUMNS])


def write_candidates_table(rows: Rows, out: TextIO) -> None:
    """A rich table: status, signature, the rule, evidence, and whether it is deployed and why."""
    table = Table(title="Rule candidates of the online model", title_justify="left")
    for header, justify in _TABLE_COLUMNS:
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


#: ``--format`` of ``botguard candidates list`` -> writer ``(rows, out)``.
CANDIDATE_WRITERS: dict[str, RowsWriter] = {
    "table": write_candidates_table,
    "json": write_candidates_json,
    "csv": write_candidates_csv,
}
