"""``deploy-rules --from SCAN.json`` reads the file into the judge's records before anything else:
a file that is not a scan is one error line (exit 1), and what is deployed stays as it was."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from botguard.config import load_settings
from botguard.decide import build_decisions, catalog_lookup
from botguard.decide.store import load_decisions
from botguard.deploy.impact import impact
from botguard.judge.values import scan_from_json
from botguard.state import State
from tests.deploy.conftest import BLOCKED_IP, scan_doc
from tests.helpers import run_cli

GOOD = scan_doc(with_ip_block=True)


def _with_client(**fields: object) -> str:
    """The good scan with its blocked automated browser changed."""
    clients = [c | fields if c["ip"] == BLOCKED_IP else c for c in GOOD["clients"]]
    return json.dumps(GOOD | {"clients": clients})


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("[]", "no top-level 'clients' and 'crawlers' lists"),
        (json.dumps({"deploy": {"nginx": {"dir": "/etc/nginx/botguard"}}}), "no top-level 'clients' and 'crawlers'"),
        (json.dumps(GOOD | {"clients": {}}), "no top-level 'clients' and 'crawlers' lists"),
        (_with_client(verdict="ban"), "clients[2] verdict is not allow, monitor, challenge or block"),
        (_with_client(requests="5"), "a client value has the wrong type"),
        (_with_client(last_seen="04/Mar/2024:10:00:00"), "clients[2] last_seen is not a time like"),
        (json.dumps(GOOD | {"crawlers": [{"name": "Bytespider"}]}), "crawlers[0] has no 'operator'"),
    ],
)  # fmt: skip
def test_a_file_that_is_not_a_scan_changes_nothing(tmp_path: Path, content: str, problem: str) -> None:
    """The rules on disk and the decisions in the state stay those of the last good scan."""
    rules, scan = tmp_path / "rules", tmp_path / "scan.json"
    rules.mkdir()
    conf = {"deploy": {"nginx": {"validate": [], "reload": []}}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(conf))
    args = ["deploy-rules", "--from", str(scan), "--nginx-dir", str(rules), "--config", str(tmp_path / "c.yaml"),
            "--state", str(tmp_path / "s.db")]  # fmt: skip
    scan.write_text(json.dumps(GOOD))
    first = run_cli(*args)
    assert first.exit_code == 0, first.output
    deployed = {f.name: f.read_bytes() for f in rules.iterdir()}
    with State(tmp_path / "s.db") as state:
        decided = load_decisions(state)
    assert "Bytespider" in deployed["botguard_http.conf"].decode() and len(decided) == 2

    scan.write_text(content)
    r = run_cli(*args)
    assert r.exit_code == 1, r.output
    assert r.stderr.startswith("botguard: error: not a botguard scan JSON report: "), r.output
    assert problem in r.stderr and r.stderr.endswith(f" in {scan}\n") and r.stderr.count("\n") == 1, r.output
    assert {f.name: f.read_bytes() for f in rules.iterdir()} == deployed
    with State(tmp_path / "s.db") as state:
        assert load_decisions(state) == decided


GOLDEN = Path(__file__).parent / "golden" / "example-decisions.jsonl"
EXAMPLE_SCAN = Path(__file__).parents[1] / "judge" / "golden" / "example-scan.json"
ROOT = Path(__file__).resolve().parents[2]


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def test_the_example_scan_gives_the_reviewed_decisions_and_impact() -> None:
    """The example's report, read as deploy-rules reads it, gives exactly the reviewed decisions
    (reasons and times included) and dry-run impact (BOTGUARD_UPDATE_GOLDEN=1 rewrites them)."""
    settings = load_settings(ROOT / "examples" / "botguard.yaml")
    scan = scan_from_json(EXAMPLE_SCAN.read_text(encoding="utf-8"), str(EXAMPLE_SCAN))
    clients = scan.client_rows()
    decisions = build_decisions(clients, scan.crawlers, catalog_lookup(), settings.allowlist, settings.decide)
    shown = impact(clients, decisions)
    lines = [
        [d.action, d.match.kind, d.match.value, d.match.ip, list(d.reasons), d.source, _iso(d.first_seen),
         _iso(d.last_seen)] for d in decisions.decisions
    ]  # fmt: skip
    lines += [
        ["impact", r.group, r.clients, r.requests, r.blocked_clients, r.blocked_requests, r.challenged_clients,
         r.challenged_requests] for r in shown.rows
    ]  # fmt: skip
    lines.append(["challenged people", shown.challenged_people])
    lines += [["example", e] for e in shown.examples]
    text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    if os.environ.get("BOTGUARD_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8")
