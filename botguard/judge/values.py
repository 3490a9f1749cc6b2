"""Scan records as plain JSON-ready values: the scan JSON contract (DESIGN.md), in one place."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl

from botguard.judge.records import CLIENT_JSON_KEYS, CrawlerNetwork, CrawlerRollup, ModelSummary, ScanSummary

#: Keys of each crawler roll-up in the scan JSON contract (DESIGN.md's, plus `asns`: the
#: networks the crawler was seen from, which the identity issue asks roll-ups to list).
CRAWLER_KEYS = (
    "name", "operator", "category", "clients", "ips", "requests", "disallowed_requests",
    "compliance", "verdict", "asns",
)  # fmt: skip

#: Keys of the summary in the scan JSON contract.
SUMMARY_KEYS = ("lines", "parsed", "malformed", "clients", "first_seen", "last_seen", "robots", "model")

#: Timestamps in every report: ISO 8601, UTC, second resolution, with a Z.
ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, the form every report uses."""
    return None if moment is None else moment.strftime(ISO_FORMAT)


def client_json_frame(clients: pl.DataFrame) -> pl.DataFrame:
    """The clients frame reduced to the contract's keys, timestamps as ISO strings."""
    evidence_time = pl.element().struct.with_fields(pl.field("time").dt.strftime(ISO_FORMAT))
    return clients.select(CLIENT_JSON_KEYS).with_columns(
        pl.col("first_seen", "last_seen").dt.strftime(ISO_FORMAT),
        pl.col("evidence").list.eval(evidence_time),
    )


def client_json_lines(clients: pl.DataFrame) -> list[str]:
    """One compact JSON object per client, in frame order (polars writes them column-wise)."""
    if clients.height == 0:
        return []
    return client_json_frame(clients).write_ndjson().splitlines()


def network_value(network: CrawlerNetwork) -> dict[str, Any]:
    return {"asn": network.asn, "as_org": network.as_org, "ips": network.ips, "requests": network.requests}


def crawler_value(rollup: CrawlerRollup) -> dict[str, Any]:
    value = {key: getattr(rollup, key) for key in CRAWLER_KEYS}
    value["asns"] = [network_value(n) for n in rollup.asns]
    return value


def model_value(model: ModelSummary) -> dict[str, Any]:
    return {
        "clients_scored": model.clients_scored,
        "trained_on": model.trained_on,
        "signatures": model.signatures,
        "raised": model.raised,
        "raised_to": {"monitor": model.raised_to_monitor, "block": model.raised_to_block},
    }


def summary_value(summary: ScanSummary) -> dict[str, Any]:
    value = {key: getattr(summary, key) for key in SUMMARY_KEYS}
    value["first_seen"] = iso(summary.first_seen)
    value["last_seen"] = iso(summary.last_seen)
    value["robots"] = dict(summary.robots) or None
    value["model"] = None if summary.model is None else model_value(summary.model)
    return value
