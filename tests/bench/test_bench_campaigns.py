"""bench/bench_campaigns.py computes its figures right: checked on a hand-made truth table whose
every figure is worked out by hand below, and end to end through the real CLI on a small day."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_campaigns", ROOT / "bench" / "bench_campaigns.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules["bench_campaigns"] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _client(ip: str, ua: str, cls: str, *, campaign: str | None = None, before: int | None = None,
            person: bool = False, kind: str = "browser", asn: int | None = None) -> dict[str, Any]:  # fmt: skip
    return {"ip": ip, "user_agent": ua, "class": cls, "campaign": campaign, "wanted": campaign is None,
            "is_person": person, "agent_kind": kind, "campaign_requests_before": before, "asn": asn}  # fmt: skip


# name: (truth row, verdict, raised, model_score)
TABLE: dict[str, tuple[dict[str, Any], str, bool, float]] = {
    "A": (
        _client("198.51.100.1", "UA-A", "proxy_campaign", campaign="c1", before=50, asn=7922),
        "block",
        False,
        0.9,
    ),
    "B": (
        _client("198.51.100.2", "UA-B", "proxy_campaign", campaign="c1", before=55),
        "challenge",
        False,
        0.8,
    ),
    "C": (_client("198.51.100.3", "UA-C", "proxy_campaign", campaign="c1", before=51), "monitor", True, 0.7),
    "D": (_client("203.0.113.4", "UA-D", "proxy_campaign", campaign="c1", before=59), "allow", False, 0.2),
    "E": (_client("198.51.100.5", "UA-E", "proxy_campaign", campaign="c1", before=0), "monitor", False, 0.6),
    "F": (_client("192.0.2.10", "UA-F", "hosting_rotator", campaign="c2", before=10), "block", False, 0.95),
    "P1": (_client("203.0.113.50", "Person 1", "person_desktop", person=True), "allow", False, 0.1),
    "P2": (_client("2001:db8::2", "Person 2", "person_mobile", person=True), "monitor", True, 0.75),
    "P3": (_client("2001:db8::3", "Person 3", "person_cached", person=True), "challenge", False, 0.3),
    "P4": (_client("2001:db8::4", "Person 4", "person_cgnat", person=True), "block", False, 0.05),
    "G1": (
        _client("66.249.66.1", "Googlebot/2.1", "googlebot", kind="crawler", asn=15169),
        "allow",
        False,
        0.0,
    ),
    "M1": (
        _client("192.0.2.99", "UptimeRobot/2.0", "uptime_monitor", kind="service"),
        "monitor",
        False,
        0.85,
    ),
    "F1": (_client("192.0.2.77", "Feedly/1.0", "feed_reader", kind="service"), "allow", True, 0.65),
}
CAMPAIGNS = [
    {"id": "c1", "kind": "proxy_campaign", "times": list(range(100, 160))},
    {"id": "c2", "kind": "hosting_rotator", "times": list(range(200, 220))},
]
CANDIDATES = [
    {"signature": "ua_tok=ua-a", "match_kind": "ua_pattern", "match_value": "ua-a", "proposed_at": 130.0},
    {
        "signature": "ip24=198.51.100",
        "match_kind": "cidr",
        "match_value": "198.51.100.0/24",
        "proposed_at": 110.0,
    },
    {
        "signature": "asn=15169",
        "match_kind": "asn",
        "match_value": "15169",
        "proposed_at": 105.0,
    },  # Googlebot
    {
        "signature": "ip24=203.0.113",
        "match_kind": "cidr",
        "match_value": "203.0.113.0/24",
        "proposed_at": 101.0,
    },
]


def _truth_and_outputs(bench: ModuleType) -> tuple[dict[str, Any], Any]:
    truth = {"lines": 1234, "campaigns": CAMPAIGNS, "clients": [row for row, *_ in TABLE.values()]}
    scan = {
        "clients": [
            {"ip": row["ip"], "user_agent": row["user_agent"], "verdict": verdict, "model_score": score,
             "reasons": ["model: shares ip24=198.51.100 with 5 clients judged bad"] if raised else ["rule"]}
            for row, verdict, raised, score in TABLE.values()
        ]
    }  # fmt: skip
    return truth, bench.Outputs(scan, CANDIDATES, {"scan": 1.0, "watch": 2.0})


@pytest.fixture(scope="module")
def fig(bench: ModuleType) -> dict[str, Any]:
    return bench.figures(*_truth_and_outputs(bench))


def test_late_campaign_clients(fig: dict[str, Any]) -> None:
    """Late = after the campaign's first 50 requests (A, B, C, D; not E at 0 nor F at 10):
    A block and B challenge are caught, C monitor and D allow are not."""
    assert fig["late_clients"] == 4
    assert fig["late_caught"] == 0.5
    assert (fig["late_block"], fig["late_challenge"], fig["late_monitor"], fig["late_allow"]) == (0.25,) * 4
    assert fig["caught_proxy_campaign"] == 0.5
    assert math.isnan(fig["caught_hosting_rotator"])  # no late rotator client
    assert fig["campaign_clients"] == 6 and fig["unwanted_caught"] == 0.5  # A, B, F of six
    assert fig["unwanted_monitor"] == pytest.approx(2 / 6) and fig["unwanted_allow"] == pytest.approx(1 / 6)


def test_raised_counts_as_caught(fig: dict[str, Any]) -> None:
    """The raise asks for the challenge tier: late A, B caught and C raised are three of four; of
    four people P2 is raised."""
    assert fig["late_caught_or_raised"] == 0.75
    assert fig["people_raised"] == 0.25


def test_people(fig: dict[str, Any]) -> None:
    """Four people: one each blocked, challenged, monitored, allowed."""
    assert fig["people_clients"] == 4
    assert fig["people_blocked"] == 1 and fig["people_block"] == 0.25
    assert fig["people_challenge"] == 0.25 and fig["people_monitor"] == 0.25


def test_welcome_touched_and_raised(fig: dict[str, Any]) -> None:
    """Googlebot is touched by the ASN candidate, Feedly by a raise; the monitored UptimeRobot
    is counted as monitored, not touched. Raises split by truth: C, P2, F1."""
    assert fig["welcome_clients"] == 3
    assert fig["welcome_touched"] == 2
    assert fig["welcome_monitor"] == 1
    assert fig["raised"] == 3
    assert (fig["raised_unwanted"], fig["raised_person"], fig["raised_welcome"]) == (1, 1, 1)


def test_candidates(fig: dict[str, Any]) -> None:
    """asn=15169 (Googlebot) and 203.0.113.0/24 (person P1) are unsafe; c1's first safe candidate
    is the /24 at t=110, after 10 of its requests (100..109); c2 has none."""
    assert fig["candidates"] == 4 and fig["candidates_unsafe"] == 2
    assert set(fig["unsafe_signatures"]) == {"asn=15169", "ip24=203.0.113"}
    assert fig["campaigns_with_safe_candidate"] == 1
    assert fig["safe_candidate_campaign_kinds"] == {"proxy_campaign": 1}
    assert fig["requests_before_candidate_median"] == fig["requests_before_candidate_max"] == 10


def test_auc(fig: dict[str, Any]) -> None:
    """Unwanted positive. All 42 pairs: 10 misordered -> 32/42; browser agents only (people and
    campaigns, 24 pairs): 4 misordered -> 20/24."""
    assert fig["auc"] == pytest.approx(32 / 42)
    assert fig["auc_browser"] == pytest.approx(20 / 24)


def test_table_prints_every_figure(bench: ModuleType, fig: dict[str, Any]) -> None:
    """One column per seed; the hand-made figures appear as computed."""
    text = bench.table("dev seeds", [(11, fig), (12, fig)])
    head = text.splitlines()[0]
    assert head.startswith("dev seeds") and head.split()[-4:] == ["seed", "11", "seed", "12"]
    assert "50.0%" in text and "0.762 / 0.833" in text
    assert "4 (2)" in text and "1/1/1" in text


def test_undressed_and_bare_figures(bench: ModuleType, tmp_path: Path) -> None:
    """What each client never sent, read from its log lines (one request says nothing), and what
    befell the people among them: P2 never sent a referer, P3 neither a referer nor an asset, P1
    both; campaign clients C (bare, raised but monitored) and D (bare, allowed) against P3: P3
    scores 0.3, above D's 0.2 and below C's 0.7 -> AUC 1/2."""

    def line(ip: str, ua: str, path: str, referer: str = "-") -> str:
        return f'{ip} - - [23/Nov/2026:00:00:02 +0100] "GET {path} HTTP/2.0" 200 5 "{referer}" "{ua}"\n'

    log = tmp_path / "day.log"
    log.write_text(
        line("203.0.113.50", "Person 1", "/a", "https://www.example.com/")
        + line("203.0.113.50", "Person 1", "/app.js?v=2", "https://www.example.com/a")
        + line("2001:db8::2", "Person 2", "/b") + line("2001:db8::2", "Person 2", "/style.CSS")
        + line("2001:db8::3", "Person 3", "/c") + line("2001:db8::3", "Person 3", "/d")
        + "".join(line(ip, ua, "/p") * 2 for ip, ua in (("198.51.100.3", "UA-C"), ("203.0.113.4", "UA-D")))
        + line("192.0.2.10", "UA-F", "/once") + "not a log line\n"
    )  # fmt: skip
    bare = bench.undressed(log)
    assert bare == {
        ("203.0.113.50", "Person 1"): (False, False),
        ("2001:db8::2", "Person 2"): (True, False),
        ("2001:db8::3", "Person 3"): (True, True),
        ("198.51.100.3", "UA-C"): (True, True),
        ("203.0.113.4", "UA-D"): (True, True),
    }
    got = bench.figures(*_truth_and_outputs(bench), bare)
    assert (
        got["no_referer_people"],
        got["no_referer_people_challenge"],
        got["no_referer_people_raised"],
    ) == (2, 1, 1)
    assert (got["no_asset_people"], got["no_asset_people_challenge"], got["no_asset_people_block"]) == (
        1,
        1,
        0,
    )
    assert (got["bare_people"], got["bare_people_challenge"], got["bare_people_raised"]) == (1, 1, 0)
    assert got["bare_unwanted"] == 2 and got["bare_unwanted_caught"] == 0.0
    assert got["auc_bare"] == pytest.approx(1 / 2)
    assert "2 / 1 / 0 / 1" in bench.table("dev seeds", [(11, got)])


def test_join_keeps_clients_the_scan_lacks(bench: ModuleType) -> None:
    """A truth client missing from the scan is joined to None (and counted as unjoined)."""
    truth, out = _truth_and_outputs(bench)
    out.scan["clients"].pop(0)
    joined = bench.join(truth, out.scan)
    assert joined[0][1] is None and all(s is not None for _, s in joined[1:])
    assert bench.figures(truth, out)["unjoined"] == 1


def test_matches_each_kind(bench: ModuleType) -> None:
    """ua_pattern is a case-insensitive substring; cidr works for IPv6; asn accepts an AS prefix."""
    client = {"ip": "2001:db8::7", "user_agent": "Mozilla/5.0 NovaScrape/2", "asn": 64500}
    assert bench.matches({"match_kind": "ua_pattern", "match_value": "novascrape"}, client)
    assert not bench.matches({"match_kind": "ua_pattern", "match_value": "nova-scrape"}, client)
    assert bench.matches({"match_kind": "cidr", "match_value": "2001:db8::/48"}, client)
    assert not bench.matches({"match_kind": "cidr", "match_value": "198.51.100.0/24"}, client)
    assert bench.matches({"match_kind": "asn", "match_value": "AS64500"}, client)
    assert not bench.matches({"match_kind": "asn", "match_value": "64501"}, client)
    assert not bench.matches({"match_kind": "asn", "match_value": "64500"}, {**client, "asn": None})
    assert not bench.matches(
        {"match_kind": "ua_pattern", "match_value": "none"}, {**client, "user_agent": None}
    )


def test_candidates_merge_watch_and_list(bench: ModuleType) -> None:
    """watch's NDJSON (epoch) and candidates list (ISO) give one candidate with an epoch time."""
    ndjson = json.dumps({"signature": "asn=1", "match_kind": "asn", "proposed_at": 1795400450.0}) + "\n"
    listed = json.dumps({"candidates": [{"signature": "asn=1", "status": "proposed",
                                         "proposed_at": "2026-11-23T02:20:50+00:00"},
                                        {"signature": "ip24=1.2.3", "proposed_at": None}]})  # fmt: skip
    merged = {c["signature"]: c for c in bench.merge_candidates(ndjson, listed)}
    assert merged["asn=1"]["proposed_at"] == 1795400450.0 and merged["asn=1"]["status"] == "proposed"
    assert merged["asn=1"]["match_kind"] == "asn"
    assert merged["ip24=1.2.3"]["proposed_at"] is None


def test_real_logs_list_what_botguard_acts_on(bench: ModuleType) -> None:
    """Without truth: blocked, challenged, raised or candidate-covered clients are listed, others not."""
    _, out = _truth_and_outputs(bench)
    listed = {c["ip"] for c in bench.flagged(out.scan, [CANDIDATES[0]])}
    # A (block, and under ua-a), B (challenge), C (raised), F (block), P2 (raised), P3, P4, F1 (raised)
    assert listed == {"198.51.100.1", "198.51.100.2", "198.51.100.3", "192.0.2.10", "2001:db8::2",
                      "2001:db8::3", "2001:db8::4", "192.0.2.77"}  # fmt: skip
    out.scan["summary"] = {"lines": 99, "malformed": 1, "clients": len(TABLE)}
    report = bench.real_report(Path("access.log"), bench.Outputs(out.scan, [CANDIDATES[0]], {}))
    assert "access.log: 99 lines (1 malformed), 13 clients, 1 candidates, 8 clients acted on" in report
    assert "(monitor, not acted on: 2 clients: rule)" in report  # E and M1; C and P2 are raised
    assert "candidates=ua_tok=ua-a" in report and "UA-D" not in report


@pytest.mark.slow
def test_end_to_end_on_a_small_day(
    bench: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Generate a day (as JSON lines), run the real scan, watch and candidates commands, join: every
    client of the truth is found in the scan and the table is printed under its seed set."""
    out = tmp_path / "figures.json"
    code = bench.main(["--lines", "20000", "--seeds", "5", "--format", "json", "--out-dir", str(tmp_path), "--json", str(out),
                       "--botguard", f"{sys.executable} -m botguard"])  # fmt: skip
    assert code == 0
    fig = json.loads(out.read_text())["5"]
    truth = json.loads(next(tmp_path.glob("day-s5-l20000-d1-json-*.log.truth.json")).read_text())
    assert fig["lines"] == truth["lines"] and fig["clients"] == len(truth["clients"]) and fig["unjoined"] == 0
    assert fig["late_clients"] > 0 and fig["people_clients"] > 0 and fig["welcome_clients"] > 0
    assert 0.0 <= fig["auc"] <= 1.0
    printed = capsys.readouterr().out
    assert "other seeds" in printed and "seed 5" in printed
    assert "botguard scan --campaigns" in printed


def test_real_mode_reports_a_log_botguard_cannot_read(bench: ModuleType, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    """A log the scan refuses is named with botguard's reason and the run exits 1, without a traceback."""
    code = bench.main(
        ["--real", str(tmp_path / "missing.log"), "--botguard", f"{sys.executable} -m botguard"]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "missing.log: not measured:" in out and "Traceback" not in out
