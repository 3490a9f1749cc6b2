"""Scan results as CSV, one row per client, for spreadsheets and shell pipelines.

Every CSV botguard writes (this report, ``botguard candidates list --format csv``) passes its
text cells through the one formula guard here: :func:`neutralise` for a value,
:func:`neutralise_column` for a polars column, both reading :data:`FORMULA_START`.
"""

from __future__ import annotations

import re
from typing import TextIO

import polars as pl

from botguard.judge.records import ScanResult
from botguard.judge.values import client_json_frame

__all__ = ["FORMULA_START", "neutralise", "neutralise_column", "write_csv"]

#: Unicode White_Space (and the BOM), spelled out: Python's ``\s`` and polars' differ.
_SPACE = r"\t\n\x0b\x0c\r \x85\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
#: A cell a spreadsheet would run as a formula (OWASP CSV injection, ASVS 5 1.2.10): one starting
#: with = + - @, tab, CR or NUL, or with = + - @ after leading whitespace (LibreOffice's import
#: can trim spaces first). A log writer controls user agents and paths, so such a cell gets a
#: leading apostrophe. Python's re and polars' regex read this pattern alike.
FORMULA_START = rf"^(?:[=+\-@\t\r\x00]|[{_SPACE}]+[=+\-@])"
_FORMULA = re.compile(FORMULA_START)
#: How logs write "no value": a lone minus is no formula, so it stays as it is.
_NO_VALUE = "-"


def neutralise(value: str) -> str:
    """``value`` as spreadsheet text: an apostrophe before a cell that would start a formula.

    Examples:
        >>> [neutralise(v) for v in ("=1+1", " @SUM(A1)", "-2+3", "-", "Googlebot/2.1")]
        ["'=1+1", "' @SUM(A1)", "'-2+3", '-', 'Googlebot/2.1']
    """
    return "'" + value if value != _NO_VALUE and _FORMULA.match(value) else value


def neutralise_column(column: str) -> pl.Expr:
    """:func:`neutralise` for every value of a String column (nulls stay null)."""
    value = pl.col(column)
    formula = value.str.contains(FORMULA_START) & (value != _NO_VALUE)
    return pl.when(formula).then("'" + value).otherwise(value).alias(column)


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
    frame = frame.with_columns([neutralise_column(name) for name in text_columns])
    out.write(frame.write_csv(null_value=""))
