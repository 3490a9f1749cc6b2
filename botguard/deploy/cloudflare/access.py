"""Is the token valid, and may it do what this run is about to do? Answered before any write.

Cloudflare answers a missing permission with HTTP 403 (error code 10000 "Authentication error",
or "request is not authorized" on rulesets), the same for a read and a write, and has no
request that asks "may I write this list?" without writing. So, in order:

1. ``GET /user/tokens/verify`` (``/accounts/{id}/tokens/verify`` for an account-owned token):
   an invalid, expired or disabled token is one line, before anything else;
2. the reads every run makes anyway (the account's lists, each zone's entrypoint): a 403 there
   names the *Read* permission (``read_live`` maps it with :func:`denied_message`);
3. before the first write, the *Edit* permissions the plan needs: from the token's own policies
   when the token may read them (``API Tokens Read``), else for each zone a ``?dry_run=true``
   copy of its first rule write (validated, never persisted). A token that can read but not
   edit the list, and cannot read its own policies, is caught by the first list write: list
   writes come before any rule write, so that refused request is the only one made.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import cloudflare

from botguard.deploy.cloudflare.client import Sleep, call, field, no_retry, rule_body
from botguard.deploy.cloudflare.records import (
    CloudflareError,
    CloudflareTarget,
    Live,
    LiveZone,
    MissingPermission,
    Plan,
    RateLimited,
    ZonePlan,
)
from botguard.render.cloudflare import PHASE

__all__ = ["LISTS_EDIT", "LISTS_READ", "WAF_EDIT", "WAF_READ", "TokenInfo", "check_write_access", "denied",
           "denied_message", "granted", "verify_token"]  # fmt: skip

LISTS_READ, LISTS_EDIT = "Account Filter Lists Read", "Account Filter Lists Edit"
WAF_READ, WAF_EDIT = "Zone WAF Read", "Zone WAF Edit"
# Permission group names that allow the writes (older tokens say "Write" where newer say "Edit").
_LIST_WRITERS = frozenset({LISTS_EDIT, "Account Filter Lists Write"})
_ZONE_WRITERS = frozenset({WAF_EDIT, "Zone WAF Write", "Firewall Services Edit", "Firewall Services Write"})


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """The verified token: its id and who owns it (``user`` or ``account``)."""

    id: str
    owner: str


def denied(exc: CloudflareError) -> bool:
    """The API refused the token for this resource (401/403), as opposed to failing."""
    return exc.status in (401, 403)


def denied_message(needs: list[str]) -> str:
    """One line naming every missing permission (``needs``: 'X on account/zone Y' phrases)."""
    return f"the Cloudflare API token lacks {' and '.join(needs)}; nothing was written"


def verify_token(
    client: cloudflare.Cloudflare, target: CloudflareTarget, sleep: Sleep = time.sleep
) -> TokenInfo:
    """The token's id if it is valid and active, else :class:`MissingPermission` (one line)."""
    result: object  # the user's or the account's verify response: read by field()
    try:
        result, owner = call("verify API token", client.user.tokens.verify, sleep=sleep), "user"
    except RateLimited:
        raise
    except CloudflareError as first:
        if first.status is None or first.status >= 500:
            raise
        try:  # an account-owned token verifies under its account
            result = call(
                "verify API token", client.accounts.tokens.verify, account_id=target.account_id, sleep=sleep
            )
            owner = "account"
        except RateLimited:
            raise
        except CloudflareError as exc:
            if exc.status is None or exc.status >= 500:
                raise
            reason = first.message.split(": HTTP ", 1)[-1]
            raise MissingPermission(
                f"the Cloudflare API token is not valid (HTTP {reason}); nothing was written"
            ) from None
    status = field(result, "status")
    if status != "active":
        raise MissingPermission(f"the Cloudflare API token is {status or 'not active'}; nothing was written")
    return TokenInfo(str(field(result, "id") or ""), owner)


def _policies(client: cloudflare.Cloudflare, target: CloudflareTarget, token: TokenInfo,
              sleep: Sleep) -> list[dict[str, Any]] | None:  # fmt: skip
    """The token's own policies, or None when it may not read them (the usual case)."""
    if not token.id:
        return None
    try:
        if token.owner == "account":
            got = call(
                "read token permissions",
                client.accounts.tokens.get,
                token.id,
                account_id=target.account_id,
                sleep=sleep,
            )
        else:
            got = call("read token permissions", client.user.tokens.get, token.id, sleep=sleep)
    except RateLimited:
        raise
    except CloudflareError:
        return None
    policies = field(got, "policies")
    if policies is None:
        return None
    return [p if isinstance(p, dict) else p.model_dump() for p in policies]


def _keys(resources: Any) -> Iterator[str]:
    """Resource names of a policy, nested ones included (``{account: {zone.*: *}}``)."""
    if isinstance(resources, dict):
        for key, value in resources.items():
            yield key
            yield from _keys(value)


def _covers(key: str, resource: str) -> bool:
    return key == resource or (key.endswith("*") and resource.startswith(key[:-1]))


def granted(policies: list[dict[str, Any]], groups: frozenset[str], resource: str) -> bool | None:
    """Whether the policies let ``groups`` act on ``resource``: True, False, or None when unsure.

    False only when it is certain: no allow policy names the permission, a deny policy covers
    the resource, or every allow policy naming it lists other resources of the same kind only.

    Examples:
        >>> zone = "com.cloudflare.api.account.zone.ff"
        >>> pol = [{"effect": "allow", "permission_groups": [{"name": "Zone WAF Edit"}],
        ...         "resources": {"com.cloudflare.api.account.zone.ee": "*"}}]
        >>> granted(pol, frozenset({"Zone WAF Edit"}), zone), granted(pol, frozenset({"Zone WAF Read"}), zone)
        (False, False)
        >>> pol[0]["resources"] = {
        ...     "com.cloudflare.api.account.aa": {"com.cloudflare.api.account.zone.*": "*"}}
        >>> granted(pol, frozenset({"Zone WAF Edit"}), zone)
        True
    """
    naming = [p for p in policies if groups & {field(g, "name") for g in p.get("permission_groups") or []}]
    kind = resource.rsplit(".", 1)[0] + "."
    if any(
        p.get("effect") == "deny" and any(_covers(k, resource) for k in _keys(p.get("resources")))
        for p in naming
    ):
        return False
    allow = [p for p in naming if p.get("effect") == "allow"]
    if not allow:
        return False
    keys = [k for p in allow for k in _keys(p.get("resources"))]
    if any(_covers(k, resource) for k in keys):
        return True
    same_kind = all(k.startswith(kind) and not k.endswith("*") and "." not in k[len(kind) :] for k in keys)
    return False if keys and same_kind else None


def _probe(
    client: cloudflare.Cloudflare, zone: LiveZone, plan: ZonePlan, sleep: Sleep
) -> CloudflareError | None:
    """A ``?dry_run=true`` copy of the zone's first rule write; the error if the API refused it."""
    cf, z = no_retry(client), zone.zone_id
    step = f"zone {z}: check write permission"
    try:
        if zone.ruleset_id is None:
            call(step, cf.rulesets.create, zone_id=z, kind="zone", phase=PHASE, name="default",
                 rules=[rule_body(s) for s in plan.create_rules], dry_run=True, sleep=sleep)  # fmt: skip
        elif plan.update_rules:
            old, spec = plan.update_rules[0]
            call(step, cf.rulesets.rules.edit, old.id, ruleset_id=zone.ruleset_id, zone_id=z, dry_run=True,
                 sleep=sleep, **rule_body(spec))  # fmt: skip
        elif plan.create_rules:
            call(step, cf.rulesets.rules.create, zone.ruleset_id, zone_id=z, dry_run=True, sleep=sleep,
                 **rule_body(plan.create_rules[0]))  # fmt: skip
        else:
            call(
                step,
                cf.rulesets.rules.delete,
                plan.delete_rules[0].id,
                ruleset_id=zone.ruleset_id,
                zone_id=z,
                dry_run=True,
                sleep=sleep,
            )
    except RateLimited:
        raise
    except CloudflareError as exc:
        return exc
    return None


def check_write_access(client: cloudflare.Cloudflare, target: CloudflareTarget, token: TokenInfo, plan: Plan,
                       live: Live, sleep: Sleep = time.sleep) -> int:  # fmt: skip
    """Raise :class:`MissingPermission` before any write if a permission the plan needs is missing.

    Returns the number of dry-run requests made (0 when the token's policies answered).
    """
    writing = [(z, p) for z, p in zip(live.zones, plan.zones, strict=True) if not p.empty and z.error is None]
    if plan.list_empty and not writing:
        return 0
    policies = _policies(client, target, token, sleep)
    missing: list[str] = []
    account = f"com.cloudflare.api.account.{target.account_id}"
    if policies is not None and not plan.list_empty and granted(policies, _LIST_WRITERS, account) is False:
        missing.append(f'"{LISTS_EDIT}" on account {target.account_id}')
    probes = 0
    for zone, zone_plan in writing:
        verdict = None
        if policies is not None:
            verdict = granted(policies, _ZONE_WRITERS, f"com.cloudflare.api.account.zone.{zone.zone_id}")
        if verdict is None:  # the policies could not say: let the API validate a dry run
            probes += 1
            refused = _probe(client, zone, zone_plan, sleep)
            verdict = not (refused is not None and denied(refused))
        if verdict is False:
            missing.append(f'"{WAF_EDIT}" on zone {zone.zone_id}')
    if missing:
        raise MissingPermission(denied_message(missing))
    return probes
