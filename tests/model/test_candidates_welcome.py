"""No rule candidate covers a welcome service: an uptime monitor in the hosting AS a scraper rotates
through (the real CLI: `watch --once`, `candidates list`, on a deterministic log)."""

from __future__ import annotations

import ipaddress
import json
import random
from pathlib import Path
from typing import Any

from tests.e2e.traffic import BROWSERS, ROBOTS, Line
from tests.helpers import run_cli

MONITOR = ("116.203.51.3", "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)")
FEED = ("5.9.200.17", "Mozilla/5.0 (compatible; inoreader.com; 1 subscribers)")
SCRAPER = "Go-http-client/1.1"
HETZNER = ("65.108", "95.216", "65.109", "135.181")  # AS24940, as is the monitor's address
PAGES = [f"/articles/{n}" for n in range(300)]


def _lines(seed: int = 3) -> list[Line]:
    """Two hours: people on residential networks, a monitor polling / every five minutes and a
    feed reader every ten from Hetzner, and from 20 minutes in a scraper rotating through 100
    Hetzner addresses in four /24s that ignores robots.txt (20-30 requests per address)."""
    rng = random.Random(seed)
    lines = [Line(300.0 * k + 7, MONITOR[0], "/", MONITOR[1]) for k in range(24)]
    lines += [Line(600.0 * k + 31, FEED[0], "/feed.xml", FEED[1]) for k in range(12)]
    for p in range(40):
        ip, ua, t = (
            f"73.{rng.randint(1, 250)}.{rng.randint(1, 250)}.{p + 1}",
            rng.choice(BROWSERS),
            rng.uniform(0, 6000),
        )
        for _ in range(rng.randint(2, 6)):
            page = rng.choice(PAGES)
            lines.append(Line(t, ip, page, ua, referer="https://www.example.com/"))
            lines += [
                Line(t + 0.3, ip, f"/static/app.{ext}", ua, referer=f"https://www.example.com{page}")
                for ext in ("css", "js")
            ]
            t += rng.uniform(20, 90)
    t = 1200.0
    for a in range(100):
        ip = f"{HETZNER[a % 4]}.{10 + a % 4}.{rng.randint(1, 250)}"
        for _ in range(rng.randint(20, 30)):
            path = rng.choice(PAGES) if rng.random() < 0.6 else f"/private/doc-{rng.randint(0, 99)}"
            lines.append(Line(t, ip, path, SCRAPER))
            t += rng.uniform(0.5, 1.5)
    return sorted(lines, key=lambda line: line.t)


def _covers(candidate: dict[str, Any], ip: str, agent: str) -> bool:
    kind, value = candidate["match_kind"], candidate["match_value"]
    if kind == "ua_pattern":
        return value.lower() in agent.lower()
    if kind == "cidr":
        return ipaddress.ip_address(ip) in ipaddress.ip_network(value)
    return kind == "asn" and value == "24940"  # every address of this log's hosting clients is AS24940


def test_no_candidate_covers_a_monitor_or_feed_reader_in_the_scrapers_hosting_as(tmp_path: Path) -> None:
    log, robots, db = tmp_path / "access.log", tmp_path / "robots.txt", str(tmp_path / "state.db")
    log.write_text("".join(line.text() + "\n" for line in _lines()))
    robots.write_text(ROBOTS)
    r = run_cli("watch", str(log), "--once", "--robots", str(robots), "--state", db, "--format", "json")
    assert r.exit_code == 0, r.output
    r = run_cli("candidates", "list", "--format", "json", "--state", db)
    assert r.exit_code == 0, r.output
    candidates = json.loads(r.stdout)["candidates"]
    scraper_ips = {line.ip for line in _lines() if line.ua == SCRAPER}
    assert any(_covers(c, ip, SCRAPER) for c in candidates for ip in scraper_ips), (
        candidates
    )  # it still works
    for ip, agent in (MONITOR, FEED):
        assert [c["signature"] for c in candidates if _covers(c, ip, agent)] == []
