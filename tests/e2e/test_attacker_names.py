"""Bots named after parts of people's agents are blocked by their exact agent, never by that part.

The re-audit's attack: each bot calls itself by a part of a real person's agent (``Weixin/1.0
(+http://evil1.example/bot)``: WeChat's in-app browser says ``Weixin``) and hits the honeypot
twice. ``botguard scan`` (the example config and robots.txt) and ``deploy-rules`` on real nginx
and apache2: from a new address every attacker agent is refused, and every person's agent of
``tests/decide/data/people_agents.txt`` is served.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.decide.test_people_agents import F1_NAMES, PEOPLE
from tests.deploy.conftest import Site
from tests.helpers import run_cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NEW_ADDRESS = "127.0.0.2"
AGENTS = {name: f"{name}/1.0 (+http://evil{i}.example/bot)" for i, name in enumerate(F1_NAMES)}
ADDRESSES = {agent: f"198.51.100.{10 + i}" for i, agent in enumerate(AGENTS.values())}
#: The catalogue names this one an automation library: a shared tool, blocked by address only.
TOOL = AGENTS["HeadlessChrome"]
ATTACKERS = tuple(agent for agent in AGENTS.values() if agent != TOOL)


def _attack_log() -> str:
    lines = []
    for agent, ip in ADDRESSES.items():
        lines += [
            f'{ip} - - [04/Mar/2024:00:0{minute}:00 +0100] "GET /internal/trap/ HTTP/1.1" 200 1 "-" "{agent}"\n'
            for minute in (0, 1)
        ]
    return "".join(lines)


@pytest.fixture
def attacked(site: Site) -> Site:
    """The attack log scanned into the site's state and deployed with ``deploy-rules``."""
    log = site.tmp / "attack.log"
    log.write_text(_attack_log(), encoding="ascii")
    r = run_cli("scan", str(log), "--config", str(EXAMPLES / "botguard.yaml"),
                "--robots", str(EXAMPLES / "robots.txt"), "--state", str(site.state), "--no-dns",
                "-o", str(site.tmp / "report.txt"))  # fmt: skip
    assert r.exit_code == 0, r.output
    option = "--nginx-dir" if site.server.kind == "nginx" else "--apache-dir"
    r = run_cli("deploy-rules", option, str(site.server.rules), "--config", str(site.config),
                "--state", str(site.state))  # fmt: skip
    assert r.exit_code == 0, r.output
    return site


def _agent_rules(state: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(state) as conn:
        return sorted(conn.execute("SELECT kind, value FROM decisions WHERE kind LIKE 'ua%'").fetchall())


def test_every_attacker_gets_its_exact_agent_blocked_and_no_name(attacked: Site) -> None:
    assert _agent_rules(attacked.state) == sorted(("ua_exact", agent) for agent in ATTACKERS)


def test_attackers_are_refused_and_people_served_from_a_new_address(attacked: Site) -> None:
    """Every attacker refused by agent; every person served; the tool refused on its own address only."""
    srv = attacked.server
    assert attacked.eventually(lambda: srv.get(ua=ATTACKERS[0], source=NEW_ADDRESS), 403) == 403
    let_in = [agent for agent in ATTACKERS if srv.get(ua=agent, source=NEW_ADDRESS) != 403]
    refused = [
        (agent[:70], status) for agent in PEOPLE if (status := srv.get(ua=agent, source=NEW_ADDRESS)) != 200
    ]
    tool = (srv.get(ua=TOOL, source=NEW_ADDRESS), srv.get(ua=TOOL, source=ADDRESSES[TOOL]))
    assert (let_in, refused, tool) == ([], [], (200, 403))
