"""Scan results as one JSON document (the contract other tools and deploy-rules read)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from typing import Any, TextIO

import polars as pl

from botguard.judge.records import ScanResult
from botguard.judge.values import (
    client_json_lines,
    client_json_strings,
    client_json_text,
    crawler_value,
    summary_value,
)


def scan_document(result: ScanResult) -> dict[str, Any]:
    """The scan JSON contract as plain values: summary, clients, crawlers."""
    return {
        "summary": summary_value(result),
        "clients": [json.loads(line) for line in client_json_lines(result.clients)],
        "crawlers": [crawler_value(c) for c in result.crawlers],
    }


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


#: Clients serialised per round while writing (bounded memory on 100k+ clients). Each round
#: held ~6 KB a client for a moment (the contract frame, its JSON strings, polars' CSV text and
#: the allocator's share): writing a 5M-line log's 155k clients peaked +121 MiB over the frame
#: in rounds of 20k, +52 in rounds of 5k, at the same CPU (0.6-1.2 s either way, load ~9).
CHUNK_ROWS = 5_000


def _write_array(out: TextIO, items: Iterable[str]) -> None:
    separator = "["
    for item in items:
        out.write(separator + "\n  " + item)
        separator = ","
    out.write("[]" if separator == "[" else "\n ]")


def _write_clients(out: TextIO, clients: pl.DataFrame) -> None:
    """The clients array as :func:`_write_array` lays it out, a chunk of clients per write
    (no Python step per client: a 5M-line log has ~150k). Into a file's bytes when ``out`` has
    them (a report file, stdout): polars writes each chunk's lines there itself, where handing
    ~100 MB of text through Python strings (decoded from polars, joined, encoded again) cost
    twice polars' own encoding."""
    binary = getattr(out, "buffer", None)
    if binary is None or clients.height == 0:
        _write_client_text(out, clients)
        return
    out.write("[\n  ")
    out.flush()
    last = clients.height - 1
    for start in range(0, clients.height, CHUNK_ROWS):
        lines = client_json_strings(clients.slice(start, CHUNK_ROWS)).to_frame()
        end = min(start + CHUNK_ROWS, clients.height)
        cut = lines.height - (end > last)  # the report's last client ends the array
        for piece, ending in ((lines.head(cut), ",\n  "), (lines.slice(cut), "\n ]")):
            if piece.height:
                text = io.BytesIO()  # written here: a reader gone is Python's BrokenPipeError
                piece.write_csv(text, include_header=False, quote_style="never", line_terminator=ending)
                binary.write(text.getbuffer())


def _write_client_text(out: TextIO, clients: pl.DataFrame) -> None:
    """:func:`_write_clients` into text (a stream without bytes beneath, e.g. a StringIO)."""
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
