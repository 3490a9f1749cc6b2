"""Scan results as CSV, one row per client, for spreadsheets and shell pipelines."""

from __future__ import annotations

from typing import TextIO

import polars as pl

from botguard.judge.records import ScanResult
from botguard.judge.values import client_json_frame

#: Cells starting with these are formulas to a spreadsheet; a log writer controls user agents
#: and paths, so such cells get a leading apostrophe (OWASP's CSV-injection advice).
_FORMULA_START = r"^[=+\-@\t\r]"


def _neutralise(column: str) -> pl.Expr:
    value = pl.col(column)
    neutral = pl.when(value.str.contains(_FORMULA_START) & (value != "-")).then("'" + value).otherwise(value)
    return neutral.alias(column)


def write_csv(result: ScanResult, out: TextIO) -> None:
    """Header of the client JSON keys, then one row per client (reasons joined by '; ',
    evidence as a JSON array)."""
    frame = client_json_frame(result.clients)
    evidence_json = pl.col("evidence").list.eval(pl.element().struct.json_encode()).list.join(",")
    frame = frame.with_columns(
        pl.col("reasons").list.join("; "),
        pl.format("[{}]", evidence_json).alias("evidence"),
    )
    text_columns = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    frame = frame.with_columns([_neutralise(name) for name in text_columns])
    out.write(frame.write_csv(null_value=""))
