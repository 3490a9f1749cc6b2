"""End to end: an unseen crawler family is learned, proposed, approved, deployed and blocked.

A generated log (tests/e2e/traffic.py) where NovaScrape, on no list, appears one hour in on
rotating hosting IPs and ignores robots.txt. The learner proposes a rule; a person approves it with
`botguard candidates approve`; `botguard deploy-rules` puts it on a real nginx (127.0.0.1, high
port); a *new* NovaScrape client (new IP, new version) gets 403, Chrome and Googlebot get 200.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from botguard.config import load_settings
from botguard.decide import DecisionSet
from botguard.logs import read_batches
from botguard.model.store import CandidateStore
from botguard.model.stream import StreamLearner
from botguard.render.nginx import NginxRenderer
from botguard.robots.sources import RobotsSources, parse_robots_option
from botguard.state import State
from tests.deploy.conftest import Site, write_config
from tests.e2e.traffic import BROWSERS, GOOGLEBOT, NOVA, NOVA_NEXT, write
from tests.helpers import run_cli
from tests.render.servers import running

NEW_CLIENT = "127.0.0.5"  # an address the log never saw


def _learn(log: Path, robots: Path, db: Path) -> int:
    """Replay the log through the learner in time order; store its proposals. Returns how many."""
    with State(db) as state:
        learner = StreamLearner.from_config(
            load_settings(None), robots=RobotsSources(parse_robots_option([str(robots)], False)), state=state
        )
        for batch in read_batches([str(log)]):
            learner.observe(batch.requests)
        return CandidateStore(state).upsert(learner.candidates())


def _candidates(db: Path, *extra: str) -> dict[str, dict[str, Any]]:
    r = run_cli("candidates", "list", "--format", "json", "--state", str(db), *extra)
    assert r.exit_code == 0, r.output
    return {row["signature"]: row for row in json.loads(r.stdout)["candidates"]}


def _covers(row: dict[str, Any], agent: str) -> bool:
    return row["match_kind"] == "ua_pattern" and row["match_value"].lower() in agent.lower()


@pytest.fixture
def site(tmp_path: Path) -> Any:
    with running("nginx", {f.name: f.text for f in NginxRenderer().render(DecisionSet())}) as server:
        config = tmp_path / "botguard.yaml"
        write_config(config, "nginx", server)
        yield Site(server, tmp_path, config, tmp_path / "state.db")


def test_unseen_family_is_learned_approved_deployed_and_blocked(site: Site) -> None:
    tmp, db, srv = site.tmp, site.state, site.server
    log, robots, lines = write(tmp)
    scan = run_cli("scan", str(log), "--robots", str(robots), "--state", str(db), "--no-dns", "--format", "json",
                   "-o", str(tmp / "scan.json"), "--config", str(site.config))  # fmt: skip
    assert scan.exit_code == 0, scan.output

    assert _learn(log, robots, db) >= 1
    proposed = _candidates(db, "--status", "proposed")
    family = {sig: row for sig, row in proposed.items() if _covers(row, NOVA)}
    assert family, proposed
    for row in proposed.values():  # nothing proposed would touch people or the real Googlebot
        assert not any(_covers(row, agent) for agent in (*BROWSERS, GOOGLEBOT)), row
        assert row["deployed"] is False and row["why"] == "awaiting review"
    nova_requests = sum(1 for line in lines if line.ua == NOVA)
    for row in family.values():
        assert row["support_ips"] >= 3 and row["requests_to_candidate"] <= nova_requests
        assert (
            row["reason"].startswith("model: ") and f"requests from {row['support_ips']} IPs" in row["reason"]
        )

    deploy = ["deploy-rules", "--nginx-dir", str(srv.rules), "--config", str(site.config), "--state", str(db)]
    r = run_cli(*deploy)  # the scan's own rules: NovaScrape's old IPs at most, nothing for a new one
    assert r.exit_code == 0, r.output
    assert site.eventually(lambda: srv.get(ua=NOVA_NEXT, source=NEW_CLIENT), 200) == 200

    r = run_cli("candidates", "approve", *family, "--state", str(db), "--config", str(site.config))
    assert r.exit_code == 0, r.output
    dry = run_cli(*deploy, "--dry-run")
    assert dry.exit_code == 0 and "WARNING" not in dry.stderr, dry.output
    assert (
        "humans              clients 0/" in dry.stdout and "verified good bots  clients 0/" in dry.stdout
    ), dry.output
    model_part = dry.stdout[dry.stdout.index("the model's rules alone") :]
    examples = [line for line in model_part.splitlines() if "e.g." in line]
    assert examples and all("NovaScrape/1.0" in line for line in examples), dry.output

    r = run_cli(*deploy)
    assert r.exit_code == 0 and "reloaded" in r.stdout, r.output
    assert site.eventually(lambda: srv.get(ua=NOVA_NEXT, source=NEW_CLIENT), 403) == 403
    assert srv.get(ua=NOVA_NEXT.upper(), source="127.0.0.6") == 403  # case-insensitive, any address
    for agent in (*BROWSERS, GOOGLEBOT):
        assert srv.get(ua=agent, source=NEW_CLIENT) == 200, agent
    assert srv.get("/robots.txt", ua=NOVA_NEXT, source=NEW_CLIENT) == 200  # robots.txt is never blocked

    r = run_cli("candidates", "reject", *family, "--state", str(db))  # a reviewer changes their mind
    assert r.exit_code == 0, r.output
    assert run_cli(*deploy).exit_code == 0
    assert site.eventually(lambda: srv.get(ua=NOVA_NEXT, source=NEW_CLIENT), 200) == 200
