"""scan + deploy-rules on real nginx and Apache with hostile client addresses: only addresses a rule may
name become rules, non-addresses are malformed lines, and a stored ban no rule can carry never stops a
deploy (it is dropped with one warning line)."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from botguard.decide.store import DDL
from tests.deploy.conftest import Site
from tests.helpers import run_cli
from tests.render.servers import CHROME

AGENT = "python-requests/2.31.0"  # an HTTP library: its offenders are blocked by address only
HUMAN = "198.51.100.20"
#: (address as logged, how many lines): every one of them hits the honeypot.
LOGGED = [
    ("fe80::1%eth0", 3), ("::1", 3), ("fe80::2", 3), ("ff02::1", 3), ("0.0.0.0", 3),
    ("::ffff:203.0.113.9", 3), ("1.2.3.4\x00", 2), ("\x00", 1), ("999.1.1.1", 2), ("1.2.3.4x", 2),
    ("not-an-ip", 2), ("2001:DB8::1", 3), ("2001:db8:0:0:0:0:0:1", 3),
]  # fmt: skip
NOT_ADDRESSES = 2 + 1 + 2 + 2 + 2


def _line(ip: str, path: str, agent: str, n: int) -> str:
    return f'{ip} - - [04/Mar/2024:10:{n // 60:02d}:{n % 60:02d} +0000] "GET {path} HTTP/1.1" 200 5 "-" "{agent}"\n'


def _write_site(site: Site, logged: list[tuple[str, int]]) -> tuple[Path, Path]:
    """A log where every listed address hits the honeypot and one person browses; its robots.txt."""
    lines = [_line(ip, f"/trap/{k}", AGENT, 0) for ip, count in logged for k in range(count)]
    lines += [_line(HUMAN, path, CHROME, 1) for path in ("/", "/style.css", "/app.js", "/about", "/logo.png")]
    log = site.tmp / "access.log"
    log.write_bytes("".join(lines).encode("utf-8"))
    robots = site.tmp / "robots.txt"
    robots.write_text("User-agent: *\nDisallow: /trap/\n")
    config = yaml.safe_load(site.config.read_text())
    site.config.write_text(yaml.safe_dump({**config, "honeypots": ["/trap/"]}))
    return log, robots


def _scan(site: Site, log: Path, robots: Path, *extra: str):  # type: ignore[no-untyped-def]
    return run_cli("scan", str(log), "--robots", str(robots), "--config", str(site.config), "--state",
                   str(site.state), "--no-dns", *extra)  # fmt: skip


def _deploy(site: Site, *extra: str):  # type: ignore[no-untyped-def]
    option = "--nginx-dir" if site.server.kind == "nginx" else "--apache-dir"
    return run_cli("deploy-rules", option, str(site.server.rules), "--config", str(site.config), "--state",
                   str(site.state), *extra)  # fmt: skip


def _blocked_addresses(site: Site) -> set[str]:
    """The addresses the live rule files block (nginx ``geo $botguard_ip``, Apache ``-R`` tests that set
    ``botguard_block``; the first ``-R`` of a line with several is the guard covering the others)."""
    if site.server.kind == "nginx":
        text = (site.server.rules / "botguard_http.conf").read_text()
        block = re.search(r"geo \$remote_addr \$botguard_ip \{\n(.*?)\n\}", text, re.S)
        assert block, text
        return {line.split()[0] for line in block.group(1).splitlines()} - {"default"}
    text = (site.server.rules / "botguard.conf").read_text()
    lines = re.findall(r"^SetEnvIfExpr \"(.*)\" botguard_block$", text, re.M)
    blocked: set[str] = set()
    for line in lines:
        found = re.findall(r"-R '([^']+)'", line)
        blocked.update(found[1:] if len(found) > 1 else found)
    return blocked


def test_hostile_addresses_from_scan_to_live_rules(site: Site) -> None:
    """A log with zone ids, loopback, link-local, multicast, unspecified, IPv4-mapped, NUL bytes and
    garbage: the scan counts the garbage as malformed and merges spellings; the deploy passes
    ``nginx -t``/``apache2 -t`` and blocks exactly the two public offenders, on the live server."""
    log, robots = _write_site(site, LOGGED)
    r = _scan(site, log, robots)
    assert r.exit_code == 0, r.output
    assert f"malformed (bad client address {NOT_ADDRESSES})" in r.stdout, r.output
    doc = json.loads(_scan(site, log, robots, "--format", "json", "--no-save").stdout)
    assert doc["summary"]["malformed"] == NOT_ADDRESSES
    clients = {c["ip"]: c for c in doc["clients"]}
    assert set(clients) == {"fe80::1%eth0", "::1", "fe80::2", "ff02::1", "0.0.0.0", "203.0.113.9", "2001:db8::1",
                            HUMAN}  # fmt: skip
    assert clients["2001:db8::1"]["requests"] == 6 and clients["2001:db8::1"]["verdict"] == "block"

    r = _deploy(site)
    assert r.exit_code == 0, r.output
    assert "reloaded" in r.stdout and r.stderr == "", r.output
    assert _blocked_addresses(site) == {"203.0.113.9", "2001:db8::1"}
    srv = site.server
    assert site.eventually(lambda: srv.get(source="203.0.113.9"), 403) == 403
    assert srv.get(source="2001:db8::1") == 403
    assert srv.get(source=HUMAN) == 200 and srv.get("/robots.txt", source="203.0.113.9") == 200


def _store_old_bans(state: Path, *values: str) -> None:
    """Bans on addresses no rule can carry, stored as a version before the address check did."""
    now = datetime.now(UTC)
    with sqlite3.connect(state) as conn:
        conn.executescript(DDL)
        conn.executemany(
            "INSERT INTO decisions VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [("block", f"ip||{v}", "ip", v, None, '["old scan"]', "scan", now.isoformat(), now.isoformat(),
              (now + timedelta(days=1)).isoformat(), 1) for v in values],
        )  # fmt: skip


def _stored_values(state: Path) -> set[str]:
    with sqlite3.connect(state) as conn:
        return {value for (value,) in conn.execute("SELECT value FROM decisions")}


def test_stored_zone_id_ban_is_dropped_with_one_warning(site: Site) -> None:
    """A state database holding a zone-id ban (and a loopback one) deploys: one warning line, the bans
    are deleted (not in a dry run), the live rules block the clean scan's offender, the next run is quiet."""
    log, robots = _write_site(site, [("203.0.113.50", 3)])
    assert _scan(site, log, robots).exit_code == 0
    _store_old_bans(site.state, "fe80::1%eth0", "::1")

    r = _deploy(site, "--dry-run")
    assert r.exit_code == 0, r.output
    warning = ("botguard: warning: dropped 2 stored decisions no rule can carry: "
               "block ::1 (loopback address), block fe80::1%eth0 (IPv6 zone id)")  # fmt: skip
    assert r.stderr.splitlines() == [warning], r.output
    assert _stored_values(site.state) == {"fe80::1%eth0", "::1"}  # a dry run changes nothing

    r = _deploy(site)
    assert r.exit_code == 0, r.output
    assert r.stderr.splitlines() == [warning], r.output
    assert "reloaded" in r.stdout, r.output
    assert _blocked_addresses(site) == {"203.0.113.50"}
    assert _stored_values(site.state) == {"203.0.113.50"}
    assert site.eventually(lambda: site.server.get(source="203.0.113.50"), 403) == 403
    assert site.server.get(source=HUMAN) == 200

    r = _deploy(site)
    assert r.exit_code == 0 and r.stderr == "", r.output
