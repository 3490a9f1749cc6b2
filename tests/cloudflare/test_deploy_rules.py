"""`deploy-rules --cloudflare`: the decisions deploy-rules just made also go to Cloudflare."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.cloudflare.conftest import ACCOUNT, TOKEN, ZONE
from tests.cloudflare.fakecf import FakeServer
from tests.deploy.conftest import scan_doc
from tests.helpers import run_cli


def _args(tmp_path: Path, fake: FakeServer) -> list[str]:
    (tmp_path / "rules").mkdir()
    (tmp_path / "scan.json").write_text(json.dumps(scan_doc(with_ip_block=True)))
    conf = {"deploy": {"nginx": {"validate": [], "reload": []}},
            "cloudflare": {"account_id": ACCOUNT, "zone_id": ZONE, "base_url": fake.base_url}}  # fmt: skip
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(conf))
    return ["deploy-rules", "--cloudflare", "--from", str(tmp_path / "scan.json"), "--nginx-dir",
            str(tmp_path / "rules"), "--config", str(tmp_path / "c.yaml"), "--state", str(tmp_path / "s.db")]  # fmt: skip


def test_dry_run_plans_then_apply_then_nothing(fake: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
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


def test_missing_token_stops_before_the_servers(fake: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN", raising=False)
    args = _args(tmp_path, fake)
    r = run_cli(*args)
    assert r.exit_code == 2 and "no Cloudflare API token" in r.stderr, r.output
    assert not list((tmp_path / "rules").iterdir()) and fake.state.log == []
