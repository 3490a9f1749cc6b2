"""Scan JSON documents for tests: every contract key present, with plain defaults a test overrides.

A test that needs a scan (``deploy-rules --from``, decisions, impact) writes the few facts it is
about; the rest are the values of an ordinary client or crawler, so the document stays a scan.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from typing import Any

from botguard.judge.records import ClientVerdict, ScanResult
from botguard.judge.values import scan_from_json
from botguard.report.json import write_json

T = "2024-03-04T10:00:00Z"


def client_value(ip: str, user_agent: str, verdict: str, **fields: Any) -> dict[str, Any]:
    """One client of the scan JSON contract (``fields`` override the defaults)."""
    value: dict[str, Any] = {
        "ip": ip, "user_agent": user_agent, "crawler": None, "operator": None, "category": "unknown",
        "requests": 3, "robots_fetched": 0, "robots_fetched_first": None, "disallowed_requests": 0,
        "honeypot_requests": 0, "compliance": None, "verified": None, "identity": None, "asn": None,
        "as_org": None, "country": None, "score": 0, "verdict": verdict, "reasons": [f"{verdict} reason"],
        "first_seen": T, "last_seen": T, "evidence": [], "model_score": None,
    }  # fmt: skip
    return value | fields


def crawler_value(name: str, verdict: str, **fields: Any) -> dict[str, Any]:
    """One crawler roll-up of the scan JSON contract (``fields`` override the defaults)."""
    value: dict[str, Any] = {
        "name": name, "operator": name, "category": "unknown", "clients": 1, "ips": 1, "requests": 3,
        "disallowed_requests": 0, "compliance": None, "verdict": verdict, "asns": [],
    }  # fmt: skip
    return value | fields


def scan_value(clients: Iterable[dict[str, Any]], crawlers: Iterable[dict[str, Any]] = ()) -> dict[str, Any]:
    """A whole scan document around these clients and crawlers."""
    clients = list(clients)
    summary = {"lines": 0, "parsed": 0, "malformed": 0, "clients": len(clients), "first_seen": None,
               "last_seen": None, "robots": None, "model": None}  # fmt: skip
    return {"summary": summary, "clients": clients, "crawlers": list(crawlers)}


def scan_records(doc: dict[str, Any]) -> ScanResult:
    """A scan document read back as records, as ``deploy-rules --from`` reads it."""
    return scan_from_json(json.dumps(doc), "test scan")


def client_records(*clients: dict[str, Any]) -> list[ClientVerdict]:
    """Client values as records."""
    return scan_records(scan_value(clients)).client_rows()


def scan_json(result: ScanResult) -> str:
    """The scan's JSON report (``--format json``), as text."""
    out = io.StringIO()
    write_json(result, out)
    return out.getvalue()


def canonical(text: str) -> dict[str, Any]:
    """The scan JSON with clients and crawlers in a fixed order (ordering aside)."""
    doc = json.loads(text)
    doc["clients"].sort(key=lambda c: (c["ip"], c["user_agent"] or ""))
    doc["crawlers"].sort(key=lambda c: c["name"])
    return doc
