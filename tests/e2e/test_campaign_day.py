"""End to end on a day botguard was not written against (bench/gen_day.py, dev seed 12):
`botguard watch --once` -> a rule candidate for one of the day's campaigns -> approved ->
`deploy-rules` to a real nginx -> a new address of that campaign is refused; a person of the day
and Googlebot get 200. The scan of the same day raises campaign clients, blocks no person and
raises at most 0.5% of them (a reader stepping on the next id of a campaign's walk can be).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from botguard.decide import DecisionSet
from botguard.render.nginx import NginxRenderer
from tests.deploy.conftest import Site, write_config
from tests.e2e.traffic import GOOGLEBOT
from tests.helpers import run_cli
from tests.render.servers import running

ROOT = Path(__file__).resolve().parents[2]
NEW_ADDRESS = "198.51.100.77"  # an address the day never saw (sent as X-Forwarded-For)


@pytest.fixture
def site(tmp_path: Path) -> Any:
    with running("nginx", {f.name: f.text for f in NginxRenderer().render(DecisionSet())}) as server:
        config = tmp_path / "botguard.yaml"
        write_config(config, "nginx", server)
        yield Site(server, tmp_path, config, tmp_path / "state.db")


def _day(tmp: Path, config: Path) -> tuple[Path, Path, dict[str, Any]]:
    """60k lines of seed 12, its robots.txt, its truth; the day's honeypot added to the site config."""
    log = tmp / "access.log"
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "gen_day.py"), "--out", str(log), "--lines", "60000", "--seed", "12"],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    config.write_text(config.read_text() + Path(f"{log}.botguard.yaml").read_text())
    return log, Path(f"{log}.robots.txt"), json.loads(Path(f"{log}.truth.json").read_text())


def test_watch_candidate_approved_deployed_refuses_a_new_address_of_the_campaign(site: Site) -> None:
    srv, db = site.server, str(site.state)
    log, robots, truth = _day(site.tmp, site.config)
    common = ["--robots", str(robots), "--config", str(site.config), "--state", db]
    scan = run_cli(
        "scan",
        str(log),
        *common,
        "--no-dns",
        "--campaigns",
        "--format",
        "json",
        "-o",
        str(site.tmp / "scan.json"),
    )
    assert scan.exit_code == 0, scan.output
    clients = json.loads((site.tmp / "scan.json").read_text())["clients"]
    who = {(t["ip"], t["user_agent"]): t for t in truth["clients"]}
    raised = [who[(c["ip"], c["user_agent"])] for c in clients
              if any(r.startswith("model: ") for r in c["reasons"])]  # fmt: skip
    people = sum(t["is_person"] for t in truth["clients"])
    assert sum(not t["wanted"] for t in raised) >= 50
    assert sum(t["is_person"] for t in raised) <= 0.005 * people  # the target: at most 0.5% of people
    assert not [t for t in raised if t["wanted"] and not t["is_person"]]  # no welcome crawler or service
    blocked = [who[(c["ip"], c["user_agent"])] for c in clients if c["verdict"] == "block"]
    assert not [t for t in blocked if t["is_person"]]

    watch = run_cli("watch", str(log), "--once", *common, "--format", "json")
    assert watch.exit_code == 0, watch.output
    r = run_cli("candidates", "list", "--format", "json", "--status", "proposed", "--state", db)
    assert r.exit_code == 0, r.output
    proposed = json.loads(r.stdout)["candidates"]
    campaigns = {t["user_agent"]: t["campaign"] for t in truth["clients"] if t["campaign"] is not None}
    chosen = next(
        (c, agent) for c in proposed for agent in campaigns
        if c["match_kind"] == "ua_pattern" and c["match_value"].lower() in agent.lower()
    )  # fmt: skip
    candidate, agent = chosen
    person = next(t["user_agent"] for t in truth["clients"] if t["class"] == "person_desktop")
    assert candidate["match_value"].lower() not in person.lower()

    # The scan's own rules already name this bot; deploy a scan without its clients, so the model's
    # rule is the only one that can refuse it.
    doc = json.loads((site.tmp / "scan.json").read_text())
    doc["clients"] = [c for c in doc["clients"] if c["user_agent"] != agent]
    without = site.scan("without-campaign", doc)
    deploy = ["deploy-rules", "--from", str(without), "--nginx-dir", str(srv.rules), "--config", str(site.config),
              "--state", db]  # fmt: skip
    r = run_cli(*deploy)
    assert r.exit_code == 0, r.output
    assert site.eventually(lambda: srv.get(ua=agent, source=NEW_ADDRESS), 200) == 200  # not yet approved
    r = run_cli("candidates", "approve", candidate["signature"], "--state", db, "--config", str(site.config))
    assert r.exit_code == 0, r.output
    r = run_cli(*deploy)
    assert r.exit_code == 0 and "reloaded" in r.stdout, r.output
    assert site.eventually(lambda: srv.get(ua=agent, source=NEW_ADDRESS), 403) == 403
    for welcome in (person, GOOGLEBOT):
        assert srv.get(ua=welcome, source=NEW_ADDRESS) == 200, welcome
