"""Scan results as one JSON document (the contract other tools and deploy-rules read)."""

from __future__ import annotations

import json
from typing import Any, TextIO

from botguard.judge.records import ScanResult
from botguard.judge.values import client_value, crawler_value, summary_value


def scan_document(result: ScanResult) -> dict[str, Any]:
    """The scan JSON contract: summary, clients, crawlers."""
    return {
        "summary": summary_value(result.summary),
        "clients": [client_value(c) for c in result.clients],
        "crawlers": [crawler_value(c) for c in result.crawlers],
    }


def write_json(result: ScanResult, out: TextIO) -> None:
    """Write the document; non-ASCII stays readable, control characters are escaped by json."""
    json.dump(scan_document(result), out, ensure_ascii=False, indent=1)
    out.write("\n")
