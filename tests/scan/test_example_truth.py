"""The bundled example log against the generator's ground truth (examples/access.log.truth.json).

Every client class is known there, so this checks counts and verdicts end to end on the very
scan `make demo` runs.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import run_cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    state = tmp_path_factory.mktemp("state") / "state.db"
    r = run_cli(
        "scan", str(EXAMPLES / "access.log"), "--robots", str(EXAMPLES / "robots.txt"),
        "--config", str(EXAMPLES / "botguard.yaml"), "--state", str(state), "--format", "json",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    truth = json.loads((EXAMPLES / "access.log.truth.json").read_text())
    return json.loads(r.stdout), truth


def test_line_counts_match_truth(scanned: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """Lines, parsed and malformed equal what the generator wrote."""
    doc, truth = scanned
    for key in ("lines", "parsed", "malformed"):
        assert doc["summary"][key] == truth[key], key


def test_per_client_counts_match_truth(scanned: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """Requests, robots.txt fetches, disallowed and honeypot counts equal the truth for every client."""
    doc, truth = scanned
    got = {(c["ip"], c["user_agent"]): c for c in doc["clients"]}
    for expected in truth["clients"]:
        client = got[(expected["ip"], expected["user_agent"])]
        assert client["requests"] == expected["requests"], expected
        assert client["robots_fetched"] == expected["robots_fetches"], expected
        assert client["robots_fetched_first"] == expected["robots_fetched_first"], expected
        assert client["disallowed_requests"] == expected["disallowed_requests"], expected
        assert client["honeypot_requests"] == expected["honeypot_requests"], expected


def test_no_person_is_blocked_or_monitored(scanned: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """The 130 human clients (the ones not listed in the truth's client list) are all allowed."""
    doc, truth = scanned
    listed = {(c["ip"], c["user_agent"]) for c in truth["clients"]}
    humans = [c for c in doc["clients"] if (c["ip"], c["user_agent"]) not in listed]
    assert len(humans) == truth["classes"]["human"]["clients"]
    assert Counter(c["verdict"] for c in humans) == {"allow": len(humans)}


@pytest.mark.parametrize(
    "klass",
    ["search_bot", "ai_compliant", "seo_bot", "ai_violator", "robots_violator", "honeypot", "crawl_delay_violator",
     "library", "scanner"],
)  # fmt: skip
def test_verdicts_match_truth_per_class(scanned: tuple[dict[str, Any], dict[str, Any]], klass: str) -> None:
    """Every client of the class gets one of the verdicts the truth allows for it."""
    doc, truth = scanned
    got = {(c["ip"], c["user_agent"]): c for c in doc["clients"]}
    members = [c for c in truth["clients"] if c["class"] == klass]
    assert members, klass
    wrong = [
        (c["ip"], got[(c["ip"], c["user_agent"])]["verdict"], c["expected_verdicts"])
        for c in members
        if got[(c["ip"], c["user_agent"])]["verdict"] not in c["expected_verdicts"]
    ]
    assert wrong == []


def test_disguised_scrapers_are_never_allowed_on_strong_evidence(scanned: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """Browser-UA scrapers: most are caught per client (monitor or block); the rest look like a
    short human visit (2-3 requests with referers) and need the signals of later stages (ASN,
    model). None of them is blocked without evidence, and the share caught stays high."""
    doc, truth = scanned
    got = {(c["ip"], c["user_agent"]): c for c in doc["clients"]}
    members = [got[(c["ip"], c["user_agent"])] for c in truth["clients"] if c["class"] == "disguised_scraper"]
    caught = [c for c in members if c["verdict"] in ("monitor", "block")]
    assert len(caught) / len(members) >= 0.7
    for client in members:
        if client["verdict"] == "block":
            assert client["disallowed_requests"] or client["honeypot_requests"]


def test_crawlers_rollup_matches_truth(scanned: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """Per crawler, requests in the roll-up equal the truth's (the generator's label is a prefix
    of the catalogue name, e.g. Seekport -> Seekport Crawler)."""
    doc, truth = scanned
    for name, expected in truth["crawlers"].items():
        (rollup,) = [c for c in doc["crawlers"] if c["name"].lower().startswith(name.lower())]
        assert rollup["requests"] == expected["requests"], name
        assert rollup["disallowed_requests"] == expected["disallowed_requests"], name
