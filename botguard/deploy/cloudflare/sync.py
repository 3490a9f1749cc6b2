"""Read Cloudflare's live state, diff it with the desired objects, apply exactly the diff.

Ownership: a rule is botguard's iff its ``ref`` starts with ``botguard:``; the list is the one
named ``list_name``. Foreign rules are never sent back, edited, deleted or moved: botguard
uses per-rule create/edit/delete (never the whole-ruleset PUT, which has no If-Match and would
overwrite a concurrent dashboard edit). Existing botguard objects are adopted by ref and name.

Order of writes keeps every intermediate state safe: the list exists (and is filled) before any
rule references it; rules are edited in place (id and position kept), created, then deleted.
Every run re-reads the live state, so a run that failed half-way is finished by the next one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import cloudflare

from botguard.deploy.cloudflare.client import call, no_retry
from botguard.deploy.cloudflare.records import (
    ApplyReport,
    CloudflareError,
    CloudflareTarget,
    Live,
    LiveRule,
    Plan,
)
from botguard.render.cloudflare import (
    PHASE,
    REF_PREFIX,
    CloudflareDesired,
    RuleSpec,
    canonical_item,
)

__all__ = ["apply_plan", "check_quota", "make_plan", "read_live"]

Sleep = Callable[[float], None]
_POLL_FIRST, _POLL_CAP, _POLL_BUDGET = 0.5, 10.0, 300.0  # seconds: bulk operation polling backoff


def _field(obj: Any, name: str, default: Any = None) -> Any:
    return obj.get(name, default) if isinstance(obj, dict) else getattr(obj, name, default)


def _entrypoint(client: cloudflare.Cloudflare, target: CloudflareTarget, sleep: Sleep) -> Any | None:
    try:
        return call("read zone rules", client.rulesets.phases.get, PHASE, zone_id=target.zone_id, sleep=sleep)
    except CloudflareError as exc:
        if "HTTP 404" in exc.message:  # the zone never had custom rules
            return None
        raise


def _split_rules(entry: Any | None) -> tuple[tuple[LiveRule, ...], int]:
    ours, foreign = [], 0
    for rule in _field(entry, "rules", None) or []:
        ref = _field(rule, "ref") or ""
        if not ref.startswith(REF_PREFIX):
            foreign += 1
            continue
        ours.append(LiveRule(_field(rule, "id"), ref, _field(rule, "description") or "", _field(rule, "action"),
                             _field(rule, "expression") or "", bool(_field(rule, "enabled", True))))  # fmt: skip
    return tuple(ours), foreign


def read_live(client: cloudflare.Cloudflare, target: CloudflareTarget, sleep: Sleep = time.sleep) -> Live:
    """The list (by exact name), its items and botguard's rules, as Cloudflare has them now."""
    lists = call("read lists", client.rules.lists.list, account_id=target.account_id, sleep=sleep)
    match = [x for x in lists if x.name == target.list_name]
    list_id = None
    items: list[tuple[str, str]] = []
    if match:
        if match[0].kind != "ip":
            raise CloudflareError(f"list {target.list_name} exists but is a {match[0].kind} list, not an IP list")
        list_id = match[0].id
        pages = call("read list items", client.rules.lists.items.list, list_id, account_id=target.account_id,
                     per_page=500, sleep=sleep)  # fmt: skip
        items = [(canonical_item(_field(i, "ip")), _field(i, "id")) for i in pages if _field(i, "ip")]
    entry = _entrypoint(client, target, sleep)
    rules, foreign = _split_rules(entry)
    return Live(list_id, tuple(sorted(items)), _field(entry, "id") if entry else None, rules, foreign)


def make_plan(desired: CloudflareDesired, live: Live) -> Plan:
    """Pure diff. Items compare in canonical form; rules by ref, field by field (no churn)."""
    want = set(desired.items)
    have: dict[str, str] = {}
    remove: list[tuple[str, str]] = []
    for ip, item_id in live.items:
        (remove.append((ip, item_id)) if ip not in want or ip in have else have.setdefault(ip, item_id))
    add = tuple(ip for ip in desired.items if ip not in have)
    by_ref: dict[str, LiveRule] = {}
    delete: list[LiveRule] = []
    for rule in live.rules:  # a duplicated ref (an earlier lost response) keeps its first copy
        (delete.append(rule) if rule.ref in by_ref else by_ref.setdefault(rule.ref, rule))
    create, update = [], []
    for spec in desired.rules:
        old = by_ref.pop(spec.ref, None)
        if old is None:
            create.append(spec)
        elif (old.description, old.action, old.expression, old.enabled) != (
                spec.description, spec.action, spec.expression, spec.enabled):  # fmt: skip
            update.append((old, spec))
    delete += by_ref.values()
    return Plan(
        create_list=live.list_id is None and bool(desired.items), add_items=add, remove_items=tuple(sorted(remove)),
        create_rules=tuple(create), update_rules=tuple(update), delete_rules=tuple(delete),
        create_entrypoint=live.ruleset_id is None and bool(create), left_out=desired.left_out,
    )  # fmt: skip


def check_quota(desired: CloudflareDesired, live: Live, max_rules: int | None) -> None:
    """Fail before any write when botguard's rules plus the user's would exceed the plan's quota."""
    if max_rules is not None and live.foreign_rules + len(desired.rules) > max_rules:
        raise CloudflareError(
            f"{len(desired.rules)} botguard rules + {live.foreign_rules} other rules exceed the zone's "
            f"{max_rules}-rule quota (cloudflare.max_rules); nothing was written"
        )


def _rule_body(spec: RuleSpec) -> dict[str, Any]:
    return {"action": spec.action, "expression": spec.expression, "description": spec.description,
            "enabled": spec.enabled, "ref": spec.ref}  # fmt: skip


class _Writer:
    """Counts write requests for one apply (the report's ``writes``; the idempotence check)."""

    def __init__(self, client: cloudflare.Cloudflare, target: CloudflareTarget, sleep: Sleep) -> None:
        self.client, self.target, self.sleep, self.writes = client, target, sleep, 0

    def write(self, step: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self.writes += 1
        return call(step, fn, *args, sleep=self.sleep, **kwargs)

    def wait_bulk(self, step: str, result: Any) -> None:
        """Poll a bulk list operation to completion with backoff (one may run per account)."""
        op_id, delay, waited = _field(result, "operation_id"), _POLL_FIRST, 0.0
        while True:
            op = call(f"{step} (poll)", self.client.rules.lists.bulk_operations.get, op_id,
                      account_id=self.target.account_id, sleep=self.sleep)  # fmt: skip
            status = _field(op, "status")
            if status == "completed":
                return
            if status == "failed":
                raise CloudflareError(f"{step}: bulk operation failed: {_field(op, 'error')}")
            if waited >= _POLL_BUDGET:
                raise CloudflareError(f"{step}: bulk operation still {status} after {waited:.0f} s")
            self.sleep(delay)
            waited += delay
            delay = min(delay * 2, _POLL_CAP)


def _apply_list(w: _Writer, plan: Plan, live: Live, name: str) -> None:
    acct = w.target.account_id
    list_id = live.list_id
    if plan.create_list:
        made = w.write("create list", w.client.rules.lists.create, account_id=acct, kind="ip", name=name,
                       description="botguard: blocked crawler addresses (managed by botguard)")  # fmt: skip
        list_id = made.id
    if plan.add_items and list_id:
        body = [{"ip": ip, "comment": "botguard"} for ip in plan.add_items]
        w.wait_bulk("add list items", w.write("add list items", w.client.rules.lists.items.create, list_id,
                                              account_id=acct, body=body))  # fmt: skip
    if plan.remove_items and list_id:
        gone = [{"id": item_id} for _, item_id in plan.remove_items]
        w.wait_bulk("remove list items", w.write("remove list items", w.client.rules.lists.items.delete, list_id,
                                                 account_id=acct, items=gone))  # fmt: skip


def _create_rule(w: _Writer, ruleset_id: str, spec: RuleSpec) -> None:
    """Create without SDK re-sends; after a failure, re-read: a lost response already made the rule."""
    zone = w.target.zone_id
    try:
        w.write(f"create rule {spec.ref}", no_retry(w.client).rulesets.rules.create, ruleset_id, zone_id=zone,
                **_rule_body(spec))  # fmt: skip
    except CloudflareError as exc:
        if any(r.ref == spec.ref for r in _split_rules(_entrypoint(w.client, w.target, w.sleep))[0]):
            return
        if "HTTP 4" in exc.message and "HTTP 429" not in exc.message:
            raise
        w.write(f"create rule {spec.ref}", w.client.rulesets.rules.create, ruleset_id, zone_id=zone, **_rule_body(spec))


def _apply_rules(w: _Writer, plan: Plan, live: Live) -> None:
    zone = w.target.zone_id
    ruleset_id = live.ruleset_id
    if plan.create_entrypoint:
        made = w.write("create zone entrypoint", no_retry(w.client).rulesets.create, zone_id=zone, kind="zone",
                       phase=PHASE, name="default", rules=[_rule_body(s) for s in plan.create_rules])  # fmt: skip
        ruleset_id = _field(made, "id")
    else:
        for spec in plan.create_rules:
            _create_rule(w, ruleset_id or "", spec)
    for old, spec in plan.update_rules:
        w.write(f"update rule {spec.ref}", w.client.rulesets.rules.edit, old.id, ruleset_id=ruleset_id, zone_id=zone,
                **_rule_body(spec))  # fmt: skip
    for rule in plan.delete_rules:
        w.write(f"delete rule {rule.ref}", w.client.rulesets.rules.delete, rule.id, ruleset_id=ruleset_id,
                zone_id=zone)  # fmt: skip


def apply_plan(client: cloudflare.Cloudflare, target: CloudflareTarget, plan: Plan, live: Live,
               sleep: Sleep = time.sleep) -> ApplyReport:  # fmt: skip
    """Make exactly the writes in ``plan``: list first, then rules (no rule ever names a missing list)."""
    w = _Writer(client, target, sleep)
    _apply_list(w, plan, live, target.list_name)
    _apply_rules(w, plan, live)
    return ApplyReport(plan, w.writes)
