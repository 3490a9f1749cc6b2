"""Several zones: one shared account list, rules synced per zone, failures named per zone."""

from __future__ import annotations

from pathlib import Path

import pytest

from botguard.app.cloudflare import CloudflareReport, SyncFailed
from botguard.decide.records import Decision, DecisionSet, Match
from tests.deploy.cloudflare.conftest import ACCOUNT, TOKEN, ZONE, seed_foreign
from tests.deploy.cloudflare.fakecf import FakeServer, Fault
from tests.deploy.cloudflare.test_access import seed_decisions
from tests.deploy.cloudflare.test_sync import DECISIONS, last_applied
from tests.deploy.cloudflare.test_sync import _run as run_sync
from tests.helpers import run_cli

ZONE2, ZONE3 = "e" * 32, "d" * 32
ZONES = (ZONE, ZONE2, ZONE3)
REFS = ["botguard:block-ua-1", "botguard:block-list", "botguard:challenge-ua-1"]


def _run(fake: FakeServer, tmp_path: Path, verb: str = "apply", zones: tuple[str, ...] = ZONES,
         decisions: DecisionSet = DECISIONS) -> CloudflareReport:  # fmt: skip
    return run_sync(fake, tmp_path, verb, decisions, zone_id=zones)


def _refs(fake: FakeServer, zone: str) -> list[str]:
    return [r["ref"] for r in fake.state.entrypoints[zone]["rules"] if r["ref"].startswith("botguard:")]


def test_one_list_rules_in_every_zone_then_zero_writes(fake: FakeServer, tmp_path: Path) -> None:
    seed_foreign(fake.state)  # ZONE has user rules; ZONE2 and ZONE3 have no entrypoint yet
    first = _run(fake, tmp_path)
    assert first.applied is not None and len(fake.state.lists) == 1
    assert [(r.scope, r.writes, r.error) for r in first.applied.results] == [
        ("list", 2, None), (ZONE, 3, None), (ZONE2, 1, None), (ZONE3, 1, None)]  # fmt: skip
    assert all(_refs(fake, z) == REFS for z in ZONES)
    log = len(fake.state.log)
    second = _run(fake, tmp_path)
    assert second.plan.empty and second.applied is not None and second.applied.writes == 0
    # budget of a run with nothing to do: verify + lists + one items page + one entrypoint per zone
    assert fake.state.log[log:] == [("GET", p) for p in [
        "/client/v4/user/tokens/verify", f"/client/v4/accounts/{ACCOUNT}/rules/lists",
        f"/client/v4/accounts/{ACCOUNT}/rules/lists/{next(iter(fake.state.lists))}/items",
        *(f"/client/v4/zones/{z}/rulesets/phases/http_request_firewall_custom/entrypoint" for z in ZONES)]]  # fmt: skip
    last = last_applied(str(tmp_path / "state.db"))
    assert last is not None and last["writes"] == 0 and set(last["zones"]) == set(ZONES)


def test_failing_zone_names_itself_and_the_others_are_applied_and_recorded(
    fake: FakeServer, tmp_path: Path
) -> None:
    fake.state.fail("POST", "rulesets", Fault(400, zone=ZONE2))
    with pytest.raises(SyncFailed) as caught:
        _run(fake, tmp_path)
    assert str(caught.value).startswith(f"zone {ZONE2}: create entrypoint: HTTP 400")
    assert _refs(fake, ZONE) == REFS and _refs(fake, ZONE3) == REFS and ZONE2 not in fake.state.entrypoints
    last = last_applied(str(tmp_path / "state.db"))
    assert last is not None and last["list"]["error"] is None
    assert last["zones"][ZONE]["error"] is None and last["zones"][ZONE3]["error"] is None
    assert last["zones"][ZONE2]["error"].startswith(f"zone {ZONE2}: create entrypoint: HTTP 400")
    assert last["zones"][ZONE]["changes"] == [f"+ rule {r}" for r in REFS]
    # the next run finishes ZONE2 only
    writes = len(fake.state.writes)
    out = _run(fake, tmp_path)
    assert out.applied is not None and [r.writes for r in out.applied.results] == [0, 0, 1, 0]
    assert len(fake.state.writes) == writes + 1 and _refs(fake, ZONE2) == REFS


def test_half_applied_zone_records_what_was_done(fake: FakeServer, tmp_path: Path) -> None:
    """In a zone with an entrypoint, the second rule create fails: the first is recorded as done."""
    seed_foreign(fake.state)
    fake.state.fail("POST", "rules", Fault(400, zone=ZONE))
    fake.state.fail("POST", "rules", Fault(400, zone=ZONE))  # also refuse the reconciling re-send
    with pytest.raises(SyncFailed, match=f"zone {ZONE}: create rule botguard:block-ua-1: HTTP 400"):
        _run(fake, tmp_path, zones=(ZONE,))
    last = last_applied(str(tmp_path / "state.db"))
    assert last is not None and last["list"]["changes"] == ["+ list botguard_block", "+ 3 items"]
    assert last["zones"][ZONE]["changes"] == [] and last["zones"][ZONE]["writes"] == 1


def test_unreadable_zone_is_named_the_others_sync(fake: FakeServer, tmp_path: Path) -> None:
    fake.state.fail("GET", "entrypoint", Fault(500, {"x-should-retry": "false"}, zone=ZONE3))
    with pytest.raises(SyncFailed, match=f"zone {ZONE3}: read rules: HTTP 500"):
        _run(fake, tmp_path)
    assert _refs(fake, ZONE) == REFS and _refs(fake, ZONE2) == REFS and ZONE3 not in fake.state.entrypoints
    assert last_applied(str(tmp_path / "state.db"))["zones"][ZONE3]["error"].startswith(
        f"zone {ZONE3}: read rules"
    )  # type: ignore[index]


def test_lockout_during_a_zone_stops_the_rest(fake: FakeServer, tmp_path: Path) -> None:
    """A 5-minute lockout while writing ZONE2: ZONE3 is not attempted (every call would be refused)."""
    fake.state.fail("POST", "rulesets", Fault(429, {"Retry-After": "300"}, zone=ZONE2), times=3)
    with pytest.raises(SyncFailed, match=f"zone {ZONE2}: create entrypoint: rate limited by Cloudflare, retry after 300 s; "
                                          "1 zone\\(s\\) not attempted"):  # fmt: skip
        _run(fake, tmp_path)
    assert ZONE3 not in fake.state.entrypoints and _refs(fake, ZONE) == REFS


def test_other_lists_items_lower_the_cap(fake: FakeServer, tmp_path: Path) -> None:
    """The 10,000-item cap is per account: what another list holds is not available to ours."""
    other = {f"{i:032x}": {"id": f"{i:032x}", "ip": f"10.0.{i // 256}.{i % 256}", "comment": "",
                           "created_on": "2026-01-01T00:00:00Z", "modified_on": "2026-01-01T00:00:00Z"}
             for i in range(9_998)}  # fmt: skip
    fake.state.lists["9" * 32] = {"id": "9" * 32, "account": ACCOUNT, "name": "someone_else", "kind": "ip",
                                  "description": "", "num_referencing_filters": 0, "items": other,
                                  "created_on": "2026-01-01T00:00:00Z", "modified_on": "2026-01-01T00:00:00Z"}  # fmt: skip
    out = _run(fake, tmp_path, zones=(ZONE,))
    assert out.desired.items == ("192.0.2.1", "198.51.100.0/24")
    assert [x.reason for x in out.desired.left_out] == ["over the 2-item list cap"]
    assert len(fake.state.lists["9" * 32]["items"]) == 9_998  # never read nor written
    assert not any("9" * 32 in p for _, p in fake.state.log)


def test_cli_plan_apply_status_per_zone(
    fake: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    config = tmp_path / "c.yaml"
    config.write_text(
        f"cloudflare:\n  account_id: {ACCOUNT}\n  zone_id: [{ZONE}, {ZONE2}]\n  base_url: {fake.base_url}\n"
    )
    seed_decisions(tmp_path / "state.db")
    args = ("--config", str(config), "--state", str(tmp_path / "state.db"))
    r = run_cli("cloudflare", "plan", *args)
    assert r.exit_code == 0, r.output
    assert (
        f"zone {ZONE}: + rule botguard:block-ua-1 block" in r.stdout
        and f"zone {ZONE2}: + rule botguard:block-list" in r.stdout
    )
    assert "rules in each of 2 zone(s)" in r.stdout and fake.state.writes == []
    fake.state.fail("POST", "rulesets", Fault(400, zone=ZONE2))
    r = run_cli("cloudflare", "apply", *args)
    assert r.exit_code == 1, r.output
    assert f"applied zone {ZONE}: 1 write requests, ok" in r.stdout
    assert (
        f"applied zone {ZONE2}: 1 write requests, failed: zone {ZONE2}: create entrypoint: HTTP 400"
        in r.stdout
    )
    assert (
        r.stderr.startswith(f"botguard: error: zone {ZONE2}: create entrypoint: HTTP 400")
        and r.stderr.count("\n") == 1
    )
    r = run_cli("cloudflare", "status", *args)
    assert r.exit_code == 0, r.output
    assert f"zone {ZONE}: 0 rules not botguard's; in sync: yes" in r.stdout
    assert f"zone {ZONE2}: 0 rules not botguard's; in sync: no" in r.stdout
    assert f"last apply: zone {ZONE2}: failed: zone {ZONE2}: create entrypoint: HTTP 400" in r.stdout
    r = run_cli("cloudflare", "apply", *args)
    assert r.exit_code == 0 and f"applied zone {ZONE2}: 1 write requests, ok" in r.stdout, r.output
    r = run_cli("cloudflare", "apply", *args)
    assert r.exit_code == 0 and "applied: 0 write requests" in r.stdout, r.output


def test_single_zone_config_is_unchanged(fake: FakeServer, tmp_path: Path) -> None:
    """`zone_id: <id>` (a string) is the one-zone case, as before."""
    out = _run(fake, tmp_path, zones=(ZONE,))
    assert out.target.zone_ids == (ZONE,) and [z.zone_id for z in out.plan.zones] == [ZONE]
    ds = DecisionSet.of([Decision("block", Match("ip", "192.0.2.1"))])
    assert _run(fake, tmp_path, zones=(ZONE,), decisions=ds).applied is not None
