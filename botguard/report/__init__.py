"""Report: scan results as a terminal table, JSON, CSV or HTML.

Public door: :data:`FORMATS` names every output format and :func:`writer` gives its writer
``(result, out) -> None``; :func:`write_html` is the HTML report (with the rules preview and,
served live, the live panel).
:func:`~botguard.report.json.scan_document` gives the JSON contract as plain values, and
:func:`~botguard.report.csv.neutralise` is the one guard every CSV cell passes (a spreadsheet
never runs a log's text as a formula).

Writers are imported when asked for: a cron job's JSON scan does not load the terminal table's
rich or the HTML report's panels (together ~0.1 s of every start).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from botguard.loading import lazy_attribute

if TYPE_CHECKING:
    from botguard.report.html import write_html
    from botguard.report.records import Writer

__all__ = ["FORMATS", "write_html", "writer"]

#: Every output format `--format` accepts -> (module, writer function).
FORMATS: dict[str, tuple[str, str]] = {
    "table": ("botguard.report.table", "write_table"),
    "json": ("botguard.report.json", "write_json"),
    "csv": ("botguard.report.csv", "write_csv"),
    "html": ("botguard.report.html", "write_html"),
}


def writer(fmt: str) -> Writer:
    """The writer of one of :data:`FORMATS` (``KeyError`` for another name)."""
    module, name = FORMATS[fmt]
    found: Writer = getattr(import_module(module), name)
    return found


def __getattr__(name: str) -> Any:
    """``write_html``, imported on first use."""
    return lazy_attribute(__name__, {"write_html": "html"}, name)
