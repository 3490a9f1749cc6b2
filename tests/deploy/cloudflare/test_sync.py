"""plan/apply against the fake API through the real SDK: idempotence, ownership, faults."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from botguard.app import CloudflareReport, CloudflareRequest, Env, run_cloudflare
from botguard.config import CloudflareSettings, Settings
from botguard.decide.records import Decision, DecisionSet, Match
from botguard.deploy.cloudflare import last_applied as journal_last_applied
from botguard.deploy.cloudflare.records import MissingCredentials, RateLimited
from botguard.state import State
from tests.deploy.cloudflare.conftest import ACCOUNT, TOKEN, ZONE, seed_foreign
from tests.deploy.cloudflare.fakecf import FakeServer, Fault, dumps

NOW = datetime(2026, 1, 1, tzinfo=UTC)
DECISIONS = DecisionSet.of([
    Decision("block", Match("ua_pattern", "Bytespider")), Decision("block", Match("ua_pattern", 'Evil"Bot\\')),
    Decision("block", Match("ip", "192.0.2.1")), Decision("block", Match("ip", "2001:DB8::5")),
    Decision("block", Match("cidr", "198.51.100.0/24")), Decision("throttle", Match("ua_pattern", "SlowBot")),
])  # fmt: skip


def _run(fake: FakeServer, tmp_path: Path, verb: str = "apply", decisions: DecisionSet = DECISIONS,
         env: dict[str, str] | None = None, **conf: object) -> CloudflareReport:  # fmt: skip
    """One run against the fake; ``conf`` sets or overrides settings fields (``zone_id=`` several zones)."""
    fields = {"account_id": ACCOUNT, "zone_id": ZONE, "base_url": fake.base_url, **conf}
    cf = CloudflareSettings(**fields)  # type: ignore[arg-type]
    env = {"CLOUDFLARE_API_TOKEN": TOKEN} if env is None else env
    sleeps: list[float] = []
    request = CloudflareRequest(verb, replace(Settings(), cloudflare=cf), decisions)
    return run_cloudflare(
        request, Env(str(tmp_path / "state.db"), now=lambda: NOW, environ=env, sleep=sleeps.append)
    )


def last_applied(state_path: str) -> dict[str, Any] | None:
    """The newest apply recorded in the state database at ``state_path``."""
    with State(state_path) as state:
        return journal_last_applied(state)


def test_bootstrap_then_second_apply_makes_zero_writes(fake: FakeServer, tmp_path: Path) -> None:
    """An empty account and zone get the list, its items and the rules; the next apply writes nothing."""
    first = _run(fake, tmp_path)
    assert first.applied is not None and first.applied.writes == 3  # list, items, entrypoint with rules
    (lst,) = fake.state.lists.values()
    assert sorted(i["ip"] for i in lst["items"].values()) == ["192.0.2.1", "198.51.100.0/24", "2001:db8::/64"]
    refs = [r["ref"] for r in fake.state.entrypoints[ZONE]["rules"]]
    assert refs == ["botguard:block-ua-1", "botguard:block-list", "botguard:challenge-ua-1"]
    writes = len(fake.state.writes)
    second = _run(fake, tmp_path)
    assert second.plan.empty and second.applied is not None and second.applied.writes == 0
    assert len(fake.state.writes) == writes
    assert last_applied(str(tmp_path / "state.db"))["writes"] == 0  # type: ignore[index]


def test_plan_writes_nothing(fake: FakeServer, tmp_path: Path) -> None:
    out = _run(fake, tmp_path, verb="plan")
    assert out.plan.create_list and len(out.plan.zones[0].create_rules) == 3 and fake.state.writes == []


def test_foreign_rules_untouched_byte_for_byte(fake: FakeServer, tmp_path: Path) -> None:
    """User rules (one mentioning botguard) keep content and order through create, edit and delete."""
    foreign = dumps(seed_foreign(fake.state))
    _run(fake, tmp_path)
    _run(fake, tmp_path, decisions=DecisionSet.of([Decision("block", Match("ua_pattern", "OtherBot"))]))
    rules = fake.state.entrypoints[ZONE]["rules"]
    assert dumps(rules[:2]) == foreign
    assert [r["ref"] for r in rules[2:]] == ["botguard:block-ua-1"]
    assert not any(("1" * 32) in p or ("2" * 32) in p for _, p in fake.state.writes)


def test_changed_rule_is_edited_in_place(fake: FakeServer, tmp_path: Path) -> None:
    _run(fake, tmp_path)
    before = {r["ref"]: r["id"] for r in fake.state.entrypoints[ZONE]["rules"]}
    out = _run(
        fake,
        tmp_path,
        decisions=DecisionSet.of([*DECISIONS.decisions, Decision("block", Match("ua_pattern", "NewBot"))]),
    )
    assert out.applied is not None and out.applied.writes == 1 and len(out.plan.zones[0].update_rules) == 1
    assert {r["ref"]: r["id"] for r in fake.state.entrypoints[ZONE]["rules"]} == before


def test_adopts_existing_list_and_removes_stale_items(fake: FakeServer, tmp_path: Path) -> None:
    _run(fake, tmp_path)
    out = _run(fake, tmp_path, decisions=DecisionSet.of([Decision("block", Match("ip", "192.0.2.1"))]))
    assert [ip for ip, _ in out.plan.remove_items] == ["198.51.100.0/24", "2001:db8::/64"]
    assert len(fake.state.lists) == 1


def test_lost_response_does_not_duplicate_a_rule(fake: FakeServer, tmp_path: Path) -> None:
    """The create is applied but answered 500: botguard re-reads and finds it instead of re-sending."""
    seed_foreign(fake.state)
    fake.state.unique_refs = False
    fake.state.fail("POST", "rules", Fault(500, apply_first=True))
    _run(fake, tmp_path)
    refs = [r["ref"] for r in fake.state.entrypoints[ZONE]["rules"]]
    assert refs.count("botguard:block-ua-1") == 1
    assert _run(fake, tmp_path).plan.empty


def test_429_with_retry_after_is_honoured(fake: FakeServer, tmp_path: Path) -> None:
    """A 429 with Retry-After beyond the SDK's retries is waited out and the run completes."""
    fake.state.fail("GET", "lists", Fault(429, {"Retry-After": "0"}), times=3)
    fake.state.fail("GET", "lists", Fault(429, {"Retry-After": "2"}))
    out = _run(fake, tmp_path)
    assert out.applied is not None and out.applied.writes == 3
    assert [m for m, p in fake.state.log[:5]] == ["GET"] * 5


def test_lockout_ends_the_run_with_retry_after(fake: FakeServer, tmp_path: Path) -> None:
    fake.state.lockout = 100
    with pytest.raises(RateLimited, match="rate limited by Cloudflare, retry after 300 s"):
        _run(fake, tmp_path)
    assert fake.state.writes == [] and len(fake.state.log) <= 3


def test_missing_token_fails_before_any_request(fake: FakeServer, tmp_path: Path) -> None:
    with pytest.raises(MissingCredentials, match="no Cloudflare API token"):
        _run(fake, tmp_path, env={})
    assert fake.state.log == []


def test_email_and_key_in_env_do_not_replace_the_token(fake: FakeServer, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """CLOUDFLARE_EMAIL/API_KEY would make the SDK send X-Auth-Key instead of the Bearer token."""
    monkeypatch.setenv("CLOUDFLARE_EMAIL", "x@example.com")
    monkeypatch.setenv("CLOUDFLARE_API_KEY", "legacy-key")
    fake.state.unique_refs = False
    seed_foreign(fake.state)
    fake.state.fail("POST", "rules", Fault(500, apply_first=True))  # exercises the no-retry client copy too
    _run(fake, tmp_path)
    assert fake.state.headers and all(h.get("Authorization") == f"Bearer {TOKEN}" and "X-Auth-Key" not in h
                                      for h in fake.state.headers)  # fmt: skip


def test_rule_failure_is_resumed_by_the_next_run(fake: FakeServer, tmp_path: Path) -> None:
    """Items land, a rule create fails: exit with the step named; the next run adds only the rule."""
    seed_foreign(fake.state)
    fake.state.fail("POST", "rules", Fault(400))
    from botguard.deploy.cloudflare import CloudflareError

    with pytest.raises(CloudflareError, match="create rule botguard:block-ua-1: HTTP 400"):
        _run(fake, tmp_path)
    out = _run(fake, tmp_path)
    assert out.plan.add_items == () and not out.plan.create_list and len(out.plan.zones[0].create_rules) == 3


def test_limits_end_to_end(fake: FakeServer, tmp_path: Path) -> None:
    """10,050 blocked IPs and 1,000 agents: 10,000 items land, every rule passes the API's
    4,096-character check, what did not fit is reported, and the next apply writes nothing."""
    decisions = DecisionSet.of(
        [Decision("block", Match("ip", f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")) for i in range(10_050)]
        + [Decision("block", Match("ua_pattern", f'crawler "{i:04d}" \\ x')) for i in range(1000)]
    )  # fmt: skip
    out = _run(fake, tmp_path, decisions=decisions)
    (lst,) = fake.state.lists.values()
    assert len(lst["items"]) == 10_000 and len(out.desired.left_out) == 50
    rules = fake.state.entrypoints[ZONE]["rules"]
    assert len(rules) > 2 and all(len(r["expression"]) <= 4096 for r in rules)
    assert sum(r["expression"].count("contains") for r in rules) == 1000
    again = _run(fake, tmp_path, decisions=decisions)
    assert again.applied is not None and again.applied.writes == 0


def test_rule_quota_fails_before_any_write(fake: FakeServer, tmp_path: Path) -> None:
    """Free plan: 2 user rules + 3 of ours > 4 allowed -> clear error, nothing written."""
    seed_foreign(fake.state)
    from botguard.deploy.cloudflare import CloudflareError

    with pytest.raises(
        CloudflareError, match="3 botguard rules \\+ 2 other rules exceed the zone's 4-rule quota"
    ):
        _run(fake, tmp_path, max_rules=4)
    assert fake.state.writes == []


def test_bulk_operation_polled_with_backoff_and_failure_reported(fake: FakeServer, tmp_path: Path) -> None:
    """Polls back off (0.5, 1, 2 ... s, capped); a failed operation names the step; no rule is created."""
    fake.state.polls_to_complete = 6
    fake.state.fail_ops = True
    from botguard.deploy.cloudflare import CloudflareError

    sleeps: list[float] = []
    cf = CloudflareSettings(account_id=ACCOUNT, zone_id=ZONE, base_url=fake.base_url)
    request = CloudflareRequest("apply", replace(Settings(), cloudflare=cf), DECISIONS)
    env = Env(
        str(tmp_path / "s.db"), now=lambda: NOW, environ={"CLOUDFLARE_API_TOKEN": TOKEN}, sleep=sleeps.append
    )
    with pytest.raises(
        CloudflareError, match="add list items: bulk operation failed: This list is at the maximum"
    ):
        run_cloudflare(request, env)
    assert sleeps == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert ZONE not in fake.state.entrypoints  # no rule was created after the failed step


def test_list_of_another_kind_under_our_name_is_refused(fake: FakeServer, tmp_path: Path) -> None:
    fake.state.lists["9" * 32] = {"id": "9" * 32, "account": ACCOUNT, "name": "botguard_block", "kind": "hostname",
                                  "description": "someone else's", "num_referencing_filters": 0,
                                  "created_on": "2026-01-01T00:00:00Z", "modified_on": "2026-01-01T00:00:00Z",
                                  "items": {}}  # fmt: skip
    from botguard.deploy.cloudflare import CloudflareError

    with pytest.raises(CloudflareError, match="exists but is a hostname list"):
        _run(fake, tmp_path)
    assert fake.state.writes == []


def test_list_create_failure_leaves_no_rule_pointing_at_it(fake: FakeServer, tmp_path: Path) -> None:
    fake.state.fail("POST", "lists", Fault(400))
    from botguard.deploy.cloudflare import CloudflareError

    with pytest.raises(CloudflareError, match="create list: HTTP 400"):
        _run(fake, tmp_path)
    assert ZONE not in fake.state.entrypoints
    assert _run(fake, tmp_path).applied is not None and len(fake.state.entrypoints[ZONE]["rules"]) == 3


def test_equivalent_live_forms_make_no_diff(fake: FakeServer, tmp_path: Path) -> None:
    """`/32`, upper-case IPv6 and a duplicate in the live list compare as the canonical item."""
    _run(fake, tmp_path)
    (lst,) = fake.state.lists.values()
    for item in lst["items"].values():
        item["ip"] = {"192.0.2.1": "192.0.2.1/32", "2001:db8::/64": "2001:DB8::/64"}.get(
            item["ip"], item["ip"]
        )
    lst["items"]["d" * 32] = {"id": "d" * 32, "ip": "192.0.2.1", "comment": "", "created_on": "2026-01-01T00:00:00Z",
                              "modified_on": "2026-01-01T00:00:00Z"}  # fmt: skip
    out = _run(fake, tmp_path, verb="plan")
    assert (
        out.plan.add_items == ()
        and len(out.plan.remove_items) == 1
        and out.plan.lines("x") == ["- item 192.0.2.1"]
    )


def test_duplicated_botguard_rule_is_cleaned_up(fake: FakeServer, tmp_path: Path) -> None:
    """A duplicate ref (e.g. from another tool's lost response) keeps the first copy, deletes the rest."""
    _run(fake, tmp_path)
    rules = fake.state.entrypoints[ZONE]["rules"]
    rules.append(dict(rules[0], id="c" * 32))
    out = _run(fake, tmp_path)
    assert [r.id for r in out.plan.zones[0].delete_rules] == ["c" * 32]
    assert [r["ref"] for r in fake.state.entrypoints[ZONE]["rules"]].count("botguard:block-ua-1") == 1


def test_lost_entrypoint_creation_is_adopted(fake: FakeServer, tmp_path: Path) -> None:
    """The entrypoint (with our rules) is made but the answer lost: adopted, no error, no second one."""
    fake.state.fail("POST", "rulesets", Fault(500, apply_first=True))
    out = _run(fake, tmp_path)
    assert out.applied is not None and out.applied.failures == ()
    assert [r["ref"] for r in fake.state.entrypoints[ZONE]["rules"]] == [
        "botguard:block-ua-1", "botguard:block-list", "botguard:challenge-ua-1"]  # fmt: skip
    assert _run(fake, tmp_path).plan.empty


def test_lost_delete_answer_is_not_a_failure(fake: FakeServer, tmp_path: Path) -> None:
    """A delete applied but answered 500: the SDK re-sends it, gets 404, and that means done."""
    _run(fake, tmp_path)
    fake.state.fail("DELETE", "rule", Fault(500, apply_first=True))
    out = _run(fake, tmp_path, decisions=DecisionSet.of([Decision("block", Match("ip", "192.0.2.1"))]))
    assert out.applied is not None and out.applied.failures == ()
    assert "- rule botguard:block-ua-1 (already gone)" in out.applied.result(ZONE).done  # type: ignore[union-attr]
    assert [r["ref"] for r in fake.state.entrypoints[ZONE]["rules"]] == ["botguard:block-list"]
