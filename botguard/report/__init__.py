"""Report: scan results as a terminal table, JSON, CSV or HTML.

Public door: :data:`WRITERS` maps a format name to a writer ``(result, out) -> None``;
:func:`write_table` is the terminal table, :func:`write_html` the HTML report (with the rules preview
and, served live, the live panel). :func:`~botguard.report.json.scan_document` gives the
JSON contract as plain values, and :func:`~botguard.report.csv.neutralise` is the one guard every
CSV cell passes (a spreadsheet never runs a log's text as a formula).
"""

from __future__ import annotations

from botguard.report.csv import write_csv
from botguard.report.html import write_html
from botguard.report.json import write_json
from botguard.report.records import Writer
from botguard.report.table import write_table

__all__ = ["WRITERS", "write_html", "write_table"]

#: Every output format `--format` accepts.
WRITERS: dict[str, Writer] = {
    "table": write_table,
    "json": write_json,
    "csv": write_csv,
    "html": write_html,
}
