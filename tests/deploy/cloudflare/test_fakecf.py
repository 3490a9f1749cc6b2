"""The fake API answers in shapes the real SDK's own models parse."""

from __future__ import annotations

import cloudflare
from cloudflare.types.rulesets.rule_create_response import Ruleset

from tests.deploy.cloudflare.conftest import ACCOUNT, TOKEN, ZONE, seed_foreign
from tests.deploy.cloudflare.fakecf import PHASE, FakeServer


def _client(fake: FakeServer) -> cloudflare.Cloudflare:
    return cloudflare.Cloudflare(api_token=TOKEN, base_url=fake.base_url, max_retries=0)


def _ruleset(raw: object) -> Ruleset:
    return raw if isinstance(raw, Ruleset) else Ruleset.model_validate(raw)


def test_every_endpoint_parses_with_the_sdk_models(fake: FakeServer) -> None:
    """Lists, items, bulk operations and rulesets round-trip through the SDK's typed models."""
    seed_foreign(fake.state)
    cf = _client(fake)
    created = cf.rules.lists.create(account_id=ACCOUNT, kind="ip", name="botguard_block", description="d")
    assert created is not None and created.name == "botguard_block"
    assert [x.name for x in cf.rules.lists.list(account_id=ACCOUNT)] == ["botguard_block"]
    op = cf.rules.lists.items.create(
        created.id, account_id=ACCOUNT, body=[{"ip": "192.0.2.1"}, {"ip": "2001:db8::/64"}]
    )
    assert op is not None and op.operation_id
    status = [
        cf.rules.lists.bulk_operations.get(op.operation_id, account_id=ACCOUNT).status for _ in range(2)
    ]
    assert status[-1] == "completed"
    items = list(cf.rules.lists.items.list(created.id, account_id=ACCOUNT, per_page=1))
    assert sorted(i.ip for i in items) == ["192.0.2.1", "2001:db8::/64"]  # two pages through the cursor
    entry = cf.rulesets.phases.get(PHASE, zone_id=ZONE)
    assert [r.ref for r in entry.rules] == ["user-geo", "mine"]
    # rules.create/edit/delete are typed Union[Ruleset, object, None] and come back as dicts:
    # validate them with the SDK's Ruleset model explicitly.
    after = _ruleset(
        cf.rulesets.rules.create(entry.id, zone_id=ZONE, action="block", expression="true", ref="botguard:x")
    )
    assert [r.ref for r in after.rules][-1] == "botguard:x"
    rid = after.rules[-1].id
    edited = _ruleset(
        cf.rulesets.rules.edit(
            rid, ruleset_id=entry.id, zone_id=ZONE, action="managed_challenge", expression="true"
        )
    )
    assert edited.rules[-1].action == "managed_challenge"
    gone = _ruleset(cf.rulesets.rules.delete(rid, ruleset_id=entry.id, zone_id=ZONE))
    assert len(gone.rules) == 2
    assert len(fake.state.writes) == 5


def test_missing_entrypoint_is_a_404_and_create_makes_one(fake: FakeServer) -> None:
    cf = _client(fake)
    try:
        cf.rulesets.phases.get(PHASE, zone_id=ZONE)
    except cloudflare.NotFoundError:
        pass
    else:  # pragma: no cover
        raise AssertionError("expected 404")
    made = cf.rulesets.create(
        zone_id=ZONE,
        kind="zone",
        phase=PHASE,
        name="default",
        rules=[{"action": "block", "expression": "true", "ref": "botguard:a"}],
    )
    assert _ruleset(made).rules[0].ref == "botguard:a"


def test_token_endpoints_dry_runs_and_refusals_parse_with_the_sdk(fake: FakeServer) -> None:
    """verify (user and account-owned), the token's own policies, dry-run writes (result null,
    nothing applied) and a refused request (PermissionDeniedError 403, code 10000)."""
    from cloudflare.types.shared.token import Token
    from cloudflare.types.user.token_verify_response import TokenVerifyResponse

    from tests.deploy.cloudflare.fakecf import LISTS_READ, WAF_EDIT

    seed_foreign(fake.state)
    fake.state.token({LISTS_READ, WAF_EDIT, "API Tokens Read"})
    cf = _client(fake)
    verified = cf.user.tokens.verify()
    assert isinstance(verified, TokenVerifyResponse) and verified.status == "active"
    token = cf.user.tokens.get(verified.id)
    assert isinstance(token, Token) and token.policies is not None
    names = {g.name for p in token.policies for g in p.permission_groups}
    assert names == {LISTS_READ, WAF_EDIT, "API Tokens Read"}
    entry = cf.rulesets.phases.get(PHASE, zone_id=ZONE)
    rule_id = entry.rules[0].id
    assert cf.rulesets.rules.create(entry.id, zone_id=ZONE, action="block", expression="true", ref="botguard:x",
                                    dry_run=True) is None  # fmt: skip
    assert cf.rulesets.rules.edit(rule_id, ruleset_id=entry.id, zone_id=ZONE, action="block", expression="true",
                                  dry_run=True) is None  # fmt: skip
    assert cf.rulesets.rules.delete(rule_id, ruleset_id=entry.id, zone_id=ZONE, dry_run=True) is None
    assert cf.rulesets.create(zone_id="e" * 32, kind="zone", phase=PHASE, name="default", dry_run=True,
                              rules=[{"action": "block", "expression": "true", "ref": "botguard:a"}]) is None  # fmt: skip
    assert fake.state.writes == [] and len(fake.state.dry_runs) == 4
    assert [r.ref for r in cf.rulesets.phases.get(PHASE, zone_id=ZONE).rules] == ["user-geo", "mine"]
    try:
        cf.rules.lists.create(account_id=ACCOUNT, kind="ip", name="botguard_block")
    except cloudflare.PermissionDeniedError as exc:
        assert exc.status_code == 403 and exc.body["errors"][0]["code"] == 10000  # type: ignore[index]
    else:  # pragma: no cover
        raise AssertionError("expected 403")
    fake.state.token({LISTS_READ}, owner=ACCOUNT)
    assert cf.accounts.tokens.verify(account_id=ACCOUNT).status == "active"  # type: ignore[union-attr]
    try:
        cf.user.tokens.verify()
    except cloudflare.AuthenticationError as exc:
        assert exc.body["errors"][0]["code"] == 1000  # type: ignore[index]
    else:  # pragma: no cover
        raise AssertionError("expected 401")
