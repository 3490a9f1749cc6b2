"""bench/gen_day.py writes what it promises: every population at its configured size, campaigns of
30-200 addresses with 1-12 requests each, shared CGNAT addresses, cached visits without assets,
ordered time, a truth that the written lines (re-read here independently) and botguard agree with.
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import json
import re
import sys
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.helpers import run_cli

ROOT = Path(__file__).resolve().parents[2]
LINES = 20_000
SEED = 5

#: Combined log format, written here apart from the generator's writer.
COMBINED = re.compile(
    r'^(?P<ip>[0-9a-f:.]+) - - \[(?P<time>[^\]]+)\] "(?P<method>[A-Z]+) (?P<path>\S+) (?P<proto>HTTP/[0-9.]+)" '
    r'(?P<status>\d{3}) (?P<size>\d+) "(?P<ref>[^"]*)" "(?P<ua>[^"]*)"$'
)
ASSET = re.compile(r"^/(?:static|media)/|^/favicon\.ico$")
CURRENT_BROWSER = re.compile(r"(?:Chrome|Edg|Firefox)/1[4-9]\d\.|Version/(?:18|2\d)\.|SamsungBrowser/")


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[name] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.fixture(scope="module")
def gen() -> ModuleType:
    return _load("gen_day")


@pytest.fixture(scope="module")
def day(gen: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], list[dict]]:
    """A 20k-line day: the log, its truth, and its lines parsed here."""
    log = tmp_path_factory.mktemp("day") / "access.log"
    truth = gen.generate(log, LINES, SEED)
    rows = []
    for line in log.read_text(encoding="utf-8").splitlines():
        m = COMBINED.match(line)
        assert m, line
        rows.append(m.groupdict())
    return log, truth, rows


def _truth_of(truth: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(c["ip"], c["user_agent"]): c for c in truth["clients"]}


def test_same_seed_same_bytes_other_seed_other_day(gen: ModuleType, day: tuple, tmp_path: Path) -> None:
    """The generator is deterministic per seed, and the seed matters."""
    log, _, _ = day
    again, other = tmp_path / "again.log", tmp_path / "other.log"
    gen.generate(again, LINES, SEED)
    gen.generate(other, LINES, SEED + 1)
    digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (log, again, other)]
    assert digest[0] == digest[1] != digest[2]
    truths = [json.loads(Path(f"{p}.truth.json").read_text()) for p in (log, again)]
    for t in truths:
        del t["site"]["robots"]  # the companion file's name follows the log's
    assert truths[0] == truths[1]


def test_every_population_at_its_configured_size(gen: ModuleType, day: tuple) -> None:
    """Each population of the mix is present, with as many units as the mix gives the day."""
    _, truth, rows = day
    units = gen.Mix().units(LINES)
    assert truth["units_per_day"] == units
    assert set(truth["populations"]) == set(units)
    campaigns = Counter(c["kind"] for c in truth["campaigns"])
    for kind in (
        "proxy_campaign",
        "hosting_rotator",
        "slow_walker",
        "headless_fleet",
        "fake_googlebot",
        "bad_bot",
    ):
        assert campaigns[kind] == units[kind], kind
    clients = Counter(c["class"] for c in truth["clients"])
    for kind in ("person_desktop", "person_mobile", "googlebot", "bingbot", "feed_reader", "uptime_monitor"):
        assert clients[kind] == units[kind], kind  # one client per unit (fresh address each)
    assert truth["lines"] == len(rows) == sum(p["requests"] for p in truth["populations"].values())
    assert 0.8 * LINES <= len(rows) <= 1.2 * LINES


def test_proxy_campaigns_have_30_to_200_addresses_of_1_to_12_requests(day: tuple) -> None:
    """Residential-proxy campaigns: 30-200 addresses, 1-12 requests each, current agents, counted from the lines."""
    _, truth, rows = day
    who = _truth_of(truth)
    per_ip: dict[str, Counter[str]] = defaultdict(Counter)
    protocols: Counter[str] = Counter()
    for r in rows:
        t = who[(r["ip"], r["ua"])]
        if t["class"] == "proxy_campaign":
            per_ip[t["campaign"]][r["ip"]] += 1
            protocols[r["proto"]] += 1
            assert not ASSET.match(r["path"]), r
            assert CURRENT_BROWSER.search(r["ua"]), r["ua"]
    proxies = [c for c in truth["campaigns"] if c["kind"] == "proxy_campaign"]
    assert proxies
    for camp in proxies:
        counts = per_ip[camp["id"]]
        assert 30 <= len(counts) <= 200 and len(counts) == camp["addresses"] == camp["ips"], camp["id"]
        assert all(1 <= n <= 12 for n in counts.values()), camp["id"]
        assert all(n <= camp["max_requests_per_address"] for n in counts.values())
    assert protocols["HTTP/2.0"] > protocols["HTTP/1.1"]


def test_catalogue_walks_are_split_across_addresses(day: tuple) -> None:
    """In a catalogue-order campaign, consecutive product ids come from different addresses."""
    _, truth, rows = day
    who = _truth_of(truth)
    walking = {
        c["id"] for c in truth["campaigns"] if c["kind"] == "proxy_campaign" and c["walk"] == "catalogue"
    }
    assert walking
    last: dict[str, tuple[int, str]] = {}
    steps = handovers = 0
    for r in rows:
        t = who[(r["ip"], r["ua"])]
        m = re.fullmatch(r"/product/(\d+)", r["path"])
        if t["campaign"] in walking and m:
            pid = int(m.group(1))
            prev = last.get(t["campaign"])
            if prev and pid == prev[0] + 1:
                steps += 1
                handovers += r["ip"] != prev[1]
            last[t["campaign"]] = (pid, r["ip"])
    assert steps > 100 and handovers > steps / 4


def test_cgnat_addresses_carry_several_people(day: tuple) -> None:
    """A CGNAT address is shared by 3-12 people; some even share the agent (one client, several people)."""
    _, truth, _ = day
    people: Counter[str] = Counter()
    for c in truth["clients"]:
        if c["class"] == "person_cgnat":
            people[c["ip"]] += c["people"]
    assert people and all(3 <= n <= 12 for n in people.values())
    assert any(c["people"] >= 2 for c in truth["clients"] if c["class"] == "person_cgnat")


def test_cached_repeat_visitors_load_no_assets(day: tuple) -> None:
    """Repeat visitors request pages only; first visits load their assets (so the contrast is real)."""
    _, truth, rows = day
    who = _truth_of(truth)
    assets: Counter[str] = Counter()
    for r in rows:
        assets[who[(r["ip"], r["ua"])]["class"]] += bool(ASSET.match(r["path"]))
    assert truth["populations"]["person_cached"]["requests"] > 0 and assets["person_cached"] == 0
    assert assets["person_desktop"] > truth["populations"]["person_desktop"]["requests"] / 2
    assert assets["headless_fleet"] > 0  # headless Chrome loads assets too


def test_timestamps_ordered(day: tuple) -> None:
    """Lines are in time order, across every actor."""
    _, _, rows = day
    stamps = [datetime.strptime(r["time"], "%d/%b/%Y:%H:%M:%S %z") for r in rows]
    assert all(a <= b for a, b in itertools.pairwise(stamps))
    assert (stamps[-1] - stamps[0]).total_seconds() > 20 * 3600


def test_truth_counts_match_the_lines(day: tuple) -> None:
    """Per client requests, assets and campaign order re-derived from the lines equal the truth."""
    _, truth, rows = day
    requests: Counter[tuple[str, str]] = Counter()
    seen_before: dict[tuple[str, str], int] = {}
    campaign_lines: Counter[str] = Counter()
    who = _truth_of(truth)
    for r in rows:
        key = (r["ip"], r["ua"])
        requests[key] += 1
        camp = who[key]["campaign"]
        if camp:
            seen_before.setdefault(key, campaign_lines[camp])
            campaign_lines[camp] += 1
    for key, t in who.items():
        assert requests[key] == t["requests"], key
        assert t["campaign_requests_before"] == seen_before.get(key), key
        assert t["wanted"] == (t["campaign"] is None)  # every unwanted client belongs to a campaign
    for camp in truth["campaigns"]:
        assert len(camp["times"]) == camp["requests"] == campaign_lines[camp["id"]]


@pytest.mark.parametrize("fmt", ["combined", "vhost_combined", "json"])
def test_botguard_parses_every_line(gen: ModuleType, fmt: str, day: tuple, tmp_path: Path) -> None:
    """botguard detects and reads 100% of the lines in each format the generator writes, and agrees with the
    truth on robots.txt: every disallowed and honeypot request, verified and spoofed crawlers."""
    log = day[0] if fmt == "combined" else tmp_path / f"{fmt}.log"
    truth = day[1] if fmt == "combined" else gen.generate(log, LINES, SEED, fmt=fmt)
    r = run_cli(
        "scan", str(log), "--robots", f"{log}.robots.txt", "--config", f"{log}.botguard.yaml",
        "--state", str(tmp_path / "state.db"), "--format", "json", "--no-dns", "--no-model",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    summary = doc["summary"]
    assert summary["lines"] == summary["parsed"] == truth["lines"] and summary["malformed"] == 0
    who = _truth_of(truth)
    scanned = {(c["ip"], c["user_agent"]): c for c in doc["clients"]}
    assert scanned.keys() == who.keys()
    for key, c in scanned.items():
        t = who[key]
        assert (c["requests"], c["disallowed_requests"], c["honeypot_requests"]) == (
            t["requests"], t["disallowed"], t["honeypot"]
        ), key  # fmt: skip
        if t["class"] in ("googlebot", "bingbot"):
            assert c["identity"] == "verified", key
        if t["class"] == "fake_googlebot":
            assert c["identity"] == "spoofed", key
    assert any(t["honeypot"] for t in who.values())


def test_two_days_stay_in_order_with_each_day_complete(gen: ModuleType, tmp_path: Path) -> None:
    """--days 2: each day gets the whole mix, campaigns are named by day, time never goes back."""
    log = tmp_path / "two.log"
    assert gen.main(["--out", str(log), "--lines", str(2 * LINES), "--days", "2", "--seed", "7"]) == 0
    truth = json.loads(Path(f"{log}.truth.json").read_text())
    units = gen.Mix().units(LINES)
    per_day = Counter((c["day"], c["kind"]) for c in truth["campaigns"])
    assert per_day[(0, "proxy_campaign")] == per_day[(1, "proxy_campaign")] == units["proxy_campaign"]
    assert all(c["id"].startswith(f"d{c['day']}-") for c in truth["campaigns"])
    stamps = [
        datetime.strptime(m["time"], "%d/%b/%Y:%H:%M:%S %z") for m in map(COMBINED.match, log.open()) if m
    ]
    assert len(stamps) == truth["lines"] and all(a <= b for a, b in itertools.pairwise(stamps))
    assert (stamps[-1] - stamps[0]).total_seconds() > 44 * 3600


def test_bad_arguments_exit_2(gen: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A non-positive size is a usage error (exit 2, one line), not a traceback."""
    with pytest.raises(SystemExit) as exc:
        gen.main(["--out", str(tmp_path / "x.log"), "--lines", "0"])
    assert exc.value.code == 2
    assert "--lines and --days must be positive" in capsys.readouterr().err
    assert not (tmp_path / "x.log").exists()
