"""A stored agent rule no server can carry (CR/LF, empty: an older or hand-edited state database)
never stops a deploy on real nginx and Apache: it is dropped with one warning line, the rest deploys."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from botguard.decide import Match
from botguard.decide.store import DDL
from tests.deploy.conftest import Site
from tests.e2e.test_addresses import _deploy, _scan, _write_site

BOT = "EvilBot/1.0 (+https://evil.io/bot)"
CRLF = "evil\r\nbot"


def _store(state: Path, *rules: tuple[str, str]) -> None:
    """Agent rules seeded by SQL, as an older version or a hand-edited database holds them."""
    now = datetime.now(UTC)
    with sqlite3.connect(state) as conn:
        conn.executescript(DDL)
        conn.executemany(
            "INSERT INTO decisions VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [("block", Match(kind, value).key, kind, value, None, '["old scan"]', "scan",  # type: ignore[arg-type]
              now.isoformat(), now.isoformat(), (now + timedelta(days=1)).isoformat(), 1) for kind, value in rules],
        )  # fmt: skip


def _stored(state: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(state) as conn:
        return sorted(conn.execute("SELECT kind, value FROM decisions WHERE kind LIKE 'ua%'").fetchall())


def test_stored_crlf_and_empty_agent_rules_are_dropped_and_the_deploy_goes_on(site: Site) -> None:
    log, robots = _write_site(site, [("203.0.113.50", 3)])
    assert _scan(site, log, robots).exit_code == 0
    _store(site.state, ("ua_exact", CRLF), ("ua_pattern", ""), ("ua_pattern", "EvilBot"))

    r = _deploy(site)
    assert r.exit_code == 0, r.output
    warning = ("botguard: warning: dropped 2 stored decisions no rule can carry: "
               "block  (empty user agent), block evil\\x0d\\x0abot (user agent with CR/LF)")  # fmt: skip
    assert r.stderr.splitlines() == [warning], r.output
    assert _stored(site.state) == [("ua_pattern", "EvilBot")]
    srv = site.server
    assert site.eventually(lambda: srv.get(ua=BOT, source="127.0.0.2"), 403) == 403
    assert srv.get(source="203.0.113.50") == 403 and srv.get(source="127.0.0.2") == 200

    r = _deploy(site)
    assert r.exit_code == 0 and r.stderr == "", r.output
    assert _stored(site.state) == [("ua_pattern", "EvilBot")]
