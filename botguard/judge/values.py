"""Scan records as plain JSON-ready values: the scan JSON contract (DESIGN.md), in one place."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botguard.judge.records import ClientVerdict, CrawlerRollup, Evidence, ScanSummary

#: Keys of each client in the scan JSON contract (DESIGN.md), in order.
CLIENT_KEYS = (
    "ip", "user_agent", "crawler", "operator", "category", "requests", "robots_fetched",
    "robots_fetched_first", "disallowed_requests", "honeypot_requests", "compliance", "verified",
    "identity", "asn", "as_org", "country", "score", "verdict", "reasons", "first_seen",
    "last_seen", "evidence",
)  # fmt: skip

#: Keys of each crawler roll-up in the scan JSON contract.
CRAWLER_KEYS = (
    "name", "operator", "category", "clients", "ips", "requests", "disallowed_requests",
    "compliance", "verdict",
)  # fmt: skip

#: Keys of the summary in the scan JSON contract.
SUMMARY_KEYS = ("lines", "parsed", "malformed", "clients", "first_seen", "last_seen", "robots")


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, the form every report uses."""
    if moment is None:
        return None
    return moment.isoformat().replace("+00:00", "Z") if moment.tzinfo else moment.isoformat() + "Z"


def evidence_value(item: Evidence) -> dict[str, Any]:
    return {
        "time": iso(item.time),
        "method": item.method,
        "target": item.target,
        "status": item.status,
        "rule": item.rule,
        "line": item.line,
    }


def client_value(client: ClientVerdict) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for key in CLIENT_KEYS:
        raw = getattr(client, key)
        if key in ("first_seen", "last_seen"):
            raw = iso(raw)
        elif key == "reasons":
            raw = list(raw)
        elif key == "evidence":
            raw = [evidence_value(item) for item in raw]
        value[key] = raw
    return value


def crawler_value(rollup: CrawlerRollup) -> dict[str, Any]:
    return {key: getattr(rollup, key) for key in CRAWLER_KEYS}


def summary_value(summary: ScanSummary) -> dict[str, Any]:
    value = {key: getattr(summary, key) for key in SUMMARY_KEYS}
    value["first_seen"] = iso(summary.first_seen)
    value["last_seen"] = iso(summary.last_seen)
    value["robots"] = dict(summary.robots) or None
    return value
