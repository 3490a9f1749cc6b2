"""Scan results as one JSON document (the contract other tools and deploy-rules read)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, TextIO

import polars as pl

from botguard.judge.records import ScanResult
from botguard.judge.values import client_json_lines, client_json_text, crawler_value, summary_value


def scan_document(result: ScanResult) -> dict[str, Any]:
    """The scan JSON contract as plain values: summary, clients, crawlers."""
    return {
        "summary": summary_value(result),
        "clients": [json.loads(line) for line in client_json_lines(result.clients)],
        "crawlers": [crawler_value(c) for c in result.crawlers],
    }


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


#: Clients serialised per round while writing (bounded memory on 100k+ clients).
CHUNK_ROWS = 20_000


def _write_array(out: TextIO, items: Iterable[str]) -> None:
    separator = "["
    for item in items:
        out.write(separator + "\n  " + item)
        separator = ","
    out.write("[]" if separator == "[" else "\n ]")


def _write_clients(out: TextIO, clients: pl.DataFrame) -> None:
    """The clients array as :func:`_write_array` lays it out, a chunk of clients per write
    (no Python step per client: a 5M-line log has ~150k)."""
    separator = "["
    for chunk in clients.iter_slices(CHUNK_ROWS):
        text = client_json_text(chunk)
        if text:
            out.write(separator + "\n  " + text[:-1].replace("\n", ",\n  "))
            separator = ","
    out.write("[]" if separator == "[" else "\n ]")


def write_json(result: ScanResult, out: TextIO) -> None:
    """Write the document with one client or crawler per line: greppable, fast, valid JSON."""
    out.write('{"summary": ' + _dump(summary_value(result)) + ',\n "clients": ')
    _write_clients(out, result.clients)
    out.write(',\n "crawlers": ')
    _write_array(out, (_dump(crawler_value(c)) for c in result.crawlers))
    out.write("\n}\n")
