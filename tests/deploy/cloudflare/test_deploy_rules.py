"""`deploy-rules --cloudflare`: the decisions deploy-rules just made also go to Cloudflare."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from tests.deploy.cloudflare.conftest import ACCOUNT, TOKEN, ZONE
from tests.deploy.cloudflare.fakecf import FakeServer
from tests.deploy.conftest import BLOCKED_IP, scan_doc
from tests.helpers import run_cli


def _args(tmp_path: Path, fake: FakeServer) -> list[str]:
    (tmp_path / "rules").mkdir()
    (tmp_path / "scan.json").write_text(json.dumps(scan_doc(with_ip_block=True)))
    conf = {"deploy": {"nginx": {"validate": [], "reload": []}},
            "cloudflare": {"account_id": ACCOUNT, "zone_id": ZONE, "base_url": fake.base_url}}  # fmt: skip
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(conf))
    return ["deploy-rules", "--cloudflare", "--from", str(tmp_path / "scan.json"), "--nginx-dir",
            str(tmp_path / "rules"), "--config", str(tmp_path / "c.yaml"), "--state", str(tmp_path / "s.db")]  # fmt: skip


def test_dry_run_plans_then_apply_then_nothing(
    fake: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    args = _args(tmp_path, fake)
    r = run_cli(*args, "--dry-run")
    assert r.exit_code == 0 and "+ rule botguard:block-ua-1" in r.stdout, r.output
    assert fake.state.writes == []
    r = run_cli(*args)
    assert r.exit_code == 0 and fake.state.writes, r.output
    writes = len(fake.state.writes)
    r = run_cli(*args)
    assert r.exit_code == 0 and "applied: 0 write requests" in r.stdout, r.output
    assert len(fake.state.writes) == writes


def test_missing_token_stops_before_the_servers(
    fake: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN", raising=False)
    args = _args(tmp_path, fake)
    r = run_cli(*args)
    assert r.exit_code == 2 and "no Cloudflare API token" in r.stderr, r.output
    assert not list((tmp_path / "rules").iterdir()) and fake.state.log == []


def _cloudflare_only(tmp_path: Path, fake: FakeServer) -> list[str]:
    """No nginx/Apache target anywhere: the config has only the cloudflare section."""
    (tmp_path / "scan.json").write_text(json.dumps(scan_doc(with_ip_block=True)))
    conf = {"cloudflare": {"account_id": ACCOUNT, "zone_id": ZONE, "base_url": fake.base_url}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(conf))
    return ["deploy-rules", "--cloudflare", "--from", str(tmp_path / "scan.json"), "--config", str(tmp_path / "c.yaml"),
            "--state", str(tmp_path / "state" / "s.db")]  # fmt: skip


def _stored(state_path: Path) -> tuple[int, int]:
    """(decisions recorded, Cloudflare applies recorded) in a state database."""
    import sqlite3

    if not state_path.exists():
        return 0, 0
    conn = sqlite3.connect(state_path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    count = [conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] if t in tables else 0
             for t in ("decisions", "cloudflare_applied")]  # fmt: skip
    return count[0], count[1]


def test_cloudflare_alone_is_a_target(
    fake: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cloudflare-only users: no --nginx-dir/--apache-dir; decisions are still recorded (expiry and
    escalation work); the second run writes nothing."""
    from botguard.app.deploy import current_decisions
    from botguard.config import load_settings
    from botguard.state import State

    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    (tmp_path / "state").mkdir()
    args = _cloudflare_only(tmp_path, fake)
    r = run_cli(*args)
    assert r.exit_code == 0, r.output
    assert "decisions: 2 block" in r.stdout and "applied: 3 write requests" in r.stdout, r.output
    state = tmp_path / "state" / "s.db"
    with State(state) as opened:
        active = current_decisions(opened, load_settings(tmp_path / "c.yaml"), datetime.now(UTC))
    assert {d.match.value for d in active.decisions if d.action == "block"} == {"Bytespider", BLOCKED_IP}
    assert _stored(state) == (2, 2)
    r = run_cli(*args)
    assert r.exit_code == 0 and "applied: 0 write requests" in r.stdout, r.output


def test_cloudflare_alone_dry_run_writes_nothing_anywhere(fake: FakeServer, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    (tmp_path / "state").mkdir()
    args = _cloudflare_only(tmp_path, fake)
    r = run_cli(*args, "--dry-run")
    assert r.exit_code == 0, r.output
    assert (
        "+ list botguard_block" in r.stdout and f"zone {ZONE}: + rule botguard:block-ua-1 block" in r.stdout
    )
    assert "impact on the scanned traffic" in r.stdout and "applied:" not in r.stdout
    assert fake.state.writes == [] and fake.state.dry_runs == []
    assert _stored(tmp_path / "state" / "s.db") == (0, 0)


def test_without_any_target_it_is_still_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "scan.json").write_text(json.dumps(scan_doc(with_ip_block=True)))
    r = run_cli("deploy-rules", "--from", str(tmp_path / "scan.json"), "--state", str(tmp_path / "s.db"))
    assert (
        r.exit_code == 2
        and "nothing to deploy to: pass --nginx-dir, --apache-dir or --cloudflare" in r.stderr
    )


def test_a_challenged_client_becomes_a_managed_challenge_rule(
    fake: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scan's challenge verdict reaches the zone as a managed_challenge rule on its address;
    without nginx or Apache no serve secret is made (Cloudflare challenges by itself)."""
    from tests.deploy.conftest import client

    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    (tmp_path / "state").mkdir()
    args = _cloudflare_only(tmp_path, fake)
    doc = scan_doc(with_ip_block=False)
    doc["clients"].append(client("198.51.100.7", "Mozilla/5.0 Chrome/131.0", None, "automated", "challenge"))
    (tmp_path / "scan.json").write_text(json.dumps(doc))
    r = run_cli(*args)
    assert r.exit_code == 0 and "1 challenge" in r.stdout, r.output
    rules = [rule for entry in fake.state.entrypoints.values() for rule in entry["rules"]]
    challenge = [rule for rule in rules if rule["action"] == "managed_challenge"]
    assert [rule["ref"] for rule in challenge] == ["botguard:challenge-ip-1"], rules
    assert "198.51.100.7" in challenge[0]["expression"]
    assert not (tmp_path / "state" / "serve-secret.json").exists()
