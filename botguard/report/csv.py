"""Scan results as CSV, one row per client, for spreadsheets and shell pipelines."""

from __future__ import annotations

import csv
import json
from typing import Any, TextIO

from botguard.judge.records import ScanResult
from botguard.judge.values import CLIENT_KEYS, client_value

#: Cells starting with these are formulas to a spreadsheet; a log writer controls user agents
#: and paths, so such cells get a leading apostrophe (OWASP's CSV-injection advice).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        value = json.dumps(value, ensure_ascii=False) if not _is_reason_list(value) else "; ".join(value)
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and value != "-":
        return "'" + value
    return value


def _is_reason_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def write_csv(result: ScanResult, out: TextIO) -> None:
    """Header of the client JSON keys, then one row per client (reasons joined by '; ')."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CLIENT_KEYS)
    for client in result.clients:
        value = client_value(client)
        writer.writerow([_cell(value[key]) for key in CLIENT_KEYS])
