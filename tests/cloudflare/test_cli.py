"""`botguard cloudflare plan|apply|status` end to end against the fake API."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cloudflare.conftest import ACCOUNT, TOKEN, ZONE, seed_foreign
from tests.cloudflare.fakecf import FakeServer
from tests.helpers import run_cli


def _config(tmp_path: Path, fake: FakeServer) -> str:
    path = tmp_path / "botguard.yaml"
    path.write_text(f"cloudflare:\n  account_id: {ACCOUNT}\n  zone_id: {ZONE}\n  base_url: {fake.base_url}\n")
    return str(path)


def test_missing_token_is_a_one_line_usage_error(fake: FakeServer, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN", raising=False)
    r = run_cli("cloudflare", "apply", "--config", _config(tmp_path, fake), "--state", str(tmp_path / "s.db"))
    assert r.exit_code == 2, r.output
    assert (
        r.stderr
        == "botguard: error: no Cloudflare API token: set CLOUDFLARE_API_TOKEN or cloudflare.api_token\n"
    )
    assert fake.state.log == []


def test_plan_apply_status(fake: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no decisions botguard owns nothing: an empty plan, a zero-write apply, status in sync."""
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    seed_foreign(fake.state)
    args = ("--config", _config(tmp_path, fake), "--state", str(tmp_path / "s.db"))
    r = run_cli("cloudflare", "plan", *args)
    assert r.exit_code == 0, r.output
    assert "0 changes" in r.stdout and "2 rules not botguard's" in r.stdout
    r = run_cli("cloudflare", "apply", *args)
    assert r.exit_code == 0 and "applied: 0 write requests" in r.stdout, r.output
    r = run_cli("cloudflare", "status", *args)
    assert r.exit_code == 0 and "in sync: yes" in r.stdout and f"last apply: zone {ZONE}: ok" in r.stdout, (
        r.output
    )
    assert fake.state.writes == []
