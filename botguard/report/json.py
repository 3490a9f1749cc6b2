"""Scan results as one JSON document (the contract other tools and deploy-rules read)."""

from __future__ import annotations

import json
from typing import Any, TextIO

from botguard.judge.records import ScanResult
from botguard.judge.values import client_json_lines, crawler_value, summary_value


def scan_document(result: ScanResult) -> dict[str, Any]:
    """The scan JSON contract as plain values: summary, clients, crawlers."""
    return {
        "summary": summary_value(result.summary),
        "clients": [json.loads(line) for line in client_json_lines(result.clients)],
        "crawlers": [crawler_value(c) for c in result.crawlers],
    }


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _array(items: list[str]) -> str:
    return "[" + ",".join("\n  " + item for item in items) + ("\n ]" if items else "]")


def write_json(result: ScanResult, out: TextIO) -> None:
    """Write the document with one client or crawler per line: greppable, fast, valid JSON."""
    out.write('{"summary": ' + _dump(summary_value(result.summary)))
    out.write(',\n "clients": ' + _array(client_json_lines(result.clients)))
    out.write(',\n "crawlers": ' + _array([_dump(crawler_value(c)) for c in result.crawlers]))
    out.write("\n}\n")
