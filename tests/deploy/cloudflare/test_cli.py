"""`botguard cloudflare plan|apply|status` end to end against the fake API."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.cloudflare.conftest import ACCOUNT, TOKEN, ZONE, seed_foreign
from tests.deploy.cloudflare.fakecf import FakeServer
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


def test_left_out_agents_are_shown_without_their_control_characters(
    fake: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An agent Cloudflare cannot carry is reported, its escape sequences shown as \\xHH, never sent raw."""
    from datetime import UTC, datetime

    from botguard.config import Allowlist, DecideSettings
    from botguard.decide import Decision, DecisionSet, Match, record_decisions
    from botguard.state import State

    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    now = datetime.now(UTC)
    agent = "q5z bell\x07esc\x1b[2J bot"
    with State(tmp_path / "s.db") as state:
        ds = DecisionSet.of([Decision("block", Match("ua_exact", agent), ("r",), "scan", now, now)])
        record_decisions(state, ds, now, DecideSettings(), Allowlist())
    r = run_cli("cloudflare", "plan", "--config", _config(tmp_path, fake), "--state", str(tmp_path / "s.db"))
    assert r.exit_code == 0, r.output
    assert "left out: q5z bell\\x07esc\\x1b[2J bot (user agent with control characters" in r.stderr
    assert "\x1b" not in r.stderr and "\x07" not in r.stderr
