"""Read Cloudflare's live state, diff it with the desired objects, apply exactly the diff.

Ownership: a rule is botguard's iff its ``ref`` starts with ``botguard:``; the list is the one
named ``list_name``. Foreign rules are never sent back, edited, deleted or moved: botguard
uses per-rule create/edit/delete (never the whole-ruleset PUT, which has no If-Match and would
overwrite a concurrent dashboard edit). Existing botguard objects are adopted by ref and name.

Several zones share the one account list; each zone's rules are read, planned and written on
their own, so a zone that fails is named and the others still get (and record) their changes.

Order of writes keeps every intermediate state safe: the list exists (and is filled) before any
rule references it; rules are edited in place (id and position kept), created, then deleted.
Every run re-reads the live state, so a run that failed half-way is finished by the next one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import cloudflare

from botguard.deploy.cloudflare.access import (
    LISTS_EDIT,
    LISTS_READ,
    WAF_EDIT,
    WAF_READ,
    denied,
    denied_message,
)
from botguard.deploy.cloudflare.client import Sleep, call, field, no_retry, rule_body
from botguard.deploy.cloudflare.records import (
    ApplyReport,
    CloudflareError,
    CloudflareTarget,
    Live,
    LiveRule,
    LiveZone,
    MissingPermission,
    NotAttempted,
    Plan,
    RateLimited,
    ScopeResult,
    ZonePlan,
)
from botguard.errors import BotguardError
from botguard.render.cloudflare import (
    PHASE,
    REF_PREFIX,
    CloudflareDesired,
    RuleSpec,
    canonical_item,
)

__all__ = ["apply_plan", "check_quota", "make_plan", "read_live"]

_POLL_FIRST, _POLL_CAP, _POLL_BUDGET = 0.5, 10.0, 300.0  # seconds: bulk operation polling backoff


def _entrypoint(client: cloudflare.Cloudflare, zone_id: str, sleep: Sleep) -> Any | None:
    try:
        return call(
            f"zone {zone_id}: read rules", client.rulesets.phases.get, PHASE, zone_id=zone_id, sleep=sleep
        )
    except CloudflareError as exc:
        if exc.status == 404:  # the zone never had custom rules
            return None
        raise


def _split_rules(entry: Any | None) -> tuple[tuple[LiveRule, ...], int]:
    ours, foreign = [], 0
    for rule in field(entry, "rules", None) or []:
        ref = field(rule, "ref") or ""
        if not ref.startswith(REF_PREFIX):
            foreign += 1
            continue
        ours.append(
            LiveRule(
                field(rule, "id"),
                ref,
                field(rule, "description") or "",
                field(rule, "action"),
                field(rule, "expression") or "",
                bool(field(rule, "enabled", True)),
            )
        )
    return tuple(ours), foreign


def _read_list(client: cloudflare.Cloudflare, target: CloudflareTarget,
               sleep: Sleep) -> tuple[str | None, list[tuple[str, str]], int]:  # fmt: skip
    lists = call("read lists", client.rules.lists.list, account_id=target.account_id, sleep=sleep)
    match = [x for x in lists if x.name == target.list_name]
    others = sum(int(field(x, "num_items") or 0) for x in lists if x.name != target.list_name)
    if not match:
        return None, [], others
    if match[0].kind != "ip":
        raise CloudflareError(f"list {target.list_name} exists but is a {match[0].kind} list, not an IP list")
    pages = call("read list items", client.rules.lists.items.list, match[0].id, account_id=target.account_id,
                 per_page=500, sleep=sleep)  # fmt: skip
    items = [(canonical_item(field(i, "ip")), field(i, "id")) for i in pages if field(i, "ip")]
    return match[0].id, items, others


def read_live(client: cloudflare.Cloudflare, target: CloudflareTarget, sleep: Sleep = time.sleep) -> Live:
    """The list (by exact name), its items, and botguard's rules in each zone, as Cloudflare has them now.

    A refused read (403) is a :class:`MissingPermission` naming the permission; any other failure
    to read one zone is kept in that zone's :attr:`LiveZone.error` (the other zones still sync).
    """
    try:
        list_id, items, others = _read_list(client, target, sleep)
    except CloudflareError as exc:
        if denied(exc):
            need = f'"{LISTS_READ}" on account {target.account_id} ("{LISTS_EDIT}" to apply)'
            raise MissingPermission(denied_message([need])) from None
        raise
    zones, refused = [], []
    for zone_id in target.zone_ids:
        try:
            entry = _entrypoint(client, zone_id, sleep)
        except RateLimited:
            raise
        except CloudflareError as exc:
            if denied(exc):
                refused.append(zone_id)
            zones.append(LiveZone(zone_id, None, (), 0, exc.message))
            continue
        rules, foreign = _split_rules(entry)
        zones.append(LiveZone(zone_id, field(entry, "id") if entry else None, rules, foreign))
    if refused:
        need = f'"{WAF_READ}" on zone {", ".join(refused)} ("{WAF_EDIT}" to apply)'
        raise MissingPermission(denied_message([need]))
    return Live(list_id, tuple(sorted(items)), tuple(zones), others)


def _zone_plan(desired: CloudflareDesired, live: LiveZone) -> ZonePlan:
    by_ref: dict[str, LiveRule] = {}
    delete: list[LiveRule] = []
    if live.error is not None:
        return ZonePlan(live.zone_id, (), (), (), False)
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
    return ZonePlan(live.zone_id, tuple(create), tuple(update), tuple(delete),
                    create_entrypoint=live.ruleset_id is None and bool(create))  # fmt: skip


def make_plan(desired: CloudflareDesired, live: Live) -> Plan:
    """Pure diff. Items compare in canonical form; rules by ref, field by field (no churn), per zone."""
    want = set(desired.items)
    have: dict[str, str] = {}
    remove: list[tuple[str, str]] = []
    for ip, item_id in live.items:
        (remove.append((ip, item_id)) if ip not in want or ip in have else have.setdefault(ip, item_id))
    add = tuple(ip for ip in desired.items if ip not in have)
    return Plan(
        create_list=live.list_id is None and bool(desired.items),
        add_items=add,
        remove_items=tuple(sorted(remove)),
        zones=tuple(_zone_plan(desired, zone) for zone in live.zones),
        left_out=desired.left_out,
    )


def check_quota(desired: CloudflareDesired, live: Live, max_rules: int | None) -> None:
    """Fail before any write when botguard's rules plus the user's would exceed a zone's quota."""
    if max_rules is None:
        return
    for zone in live.zones:
        if zone.error is None and zone.foreign_rules + len(desired.rules) > max_rules:
            raise CloudflareError(
                f"zone {zone.zone_id}: {len(desired.rules)} botguard rules + {zone.foreign_rules} other "
                f"rules exceed the zone's {max_rules}-rule quota (cloudflare.max_rules); nothing was written"
            )


class _Writer:
    """Counts one scope's write requests and the steps done (the report; the idempotence check)."""

    def __init__(self, client: cloudflare.Cloudflare, target: CloudflareTarget, sleep: Sleep) -> None:
        self.client, self.target, self.sleep, self.writes = client, target, sleep, 0
        self.done: list[str] = []

    def write(self, step: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self.writes += 1
        return call(step, fn, *args, sleep=self.sleep, **kwargs)

    def wait_bulk(self, step: str, result: Any) -> None:
        """Poll a bulk list operation to completion with backoff (one may run per account)."""
        op_id, delay, waited = field(result, "operation_id"), _POLL_FIRST, 0.0
        while True:
            op = call(f"{step} (poll)", self.client.rules.lists.bulk_operations.get, op_id,
                      account_id=self.target.account_id, sleep=self.sleep)  # fmt: skip
            status = field(op, "status")
            if status == "completed":
                return
            if status == "failed":
                raise CloudflareError(f"{step}: bulk operation failed: {field(op, 'error')}")
            if waited >= _POLL_BUDGET:
                raise CloudflareError(f"{step}: bulk operation still {status} after {waited:.0f} s")
            self.sleep(delay)
            waited += delay
            delay = min(delay * 2, _POLL_CAP)

    def result(self, scope: str, error: BotguardError | None = None) -> ScopeResult:
        return ScopeResult(scope, self.writes, tuple(self.done), error)


def _apply_list(w: _Writer, plan: Plan, live: Live, name: str) -> None:
    acct = w.target.account_id
    list_id = live.list_id
    if plan.create_list:
        made = w.write("create list", w.client.rules.lists.create, account_id=acct, kind="ip", name=name,
                       description="botguard: blocked crawler addresses (managed by botguard)")  # fmt: skip
        list_id = made.id
        w.done.append(f"+ list {name}")
    if plan.add_items and list_id:
        body = [{"ip": ip, "comment": "botguard"} for ip in plan.add_items]
        w.wait_bulk("add list items", w.write("add list items", w.client.rules.lists.items.create, list_id,
                                              account_id=acct, body=body))  # fmt: skip
        w.done.append(f"+ {len(plan.add_items)} items")
    if plan.remove_items and list_id:
        gone = [{"id": item_id} for _, item_id in plan.remove_items]
        w.wait_bulk(
            "remove list items",
            w.write(
                "remove list items", w.client.rules.lists.items.delete, list_id, account_id=acct, items=gone
            ),
        )
        w.done.append(f"- {len(plan.remove_items)} items")


def _create_rule(w: _Writer, zone: str, ruleset_id: str, spec: RuleSpec) -> None:
    """Create without SDK re-sends; after a failure, re-read: a lost response already made the rule."""
    step = f"zone {zone}: create rule {spec.ref}"
    try:
        w.write(step, no_retry(w.client).rulesets.rules.create, ruleset_id, zone_id=zone, **rule_body(spec))
    except CloudflareError as exc:
        if any(r.ref == spec.ref for r in _split_rules(_entrypoint(w.client, zone, w.sleep))[0]):
            return
        if exc.status is not None and 400 <= exc.status < 500 and exc.status != 429:
            raise
        w.write(step, w.client.rulesets.rules.create, ruleset_id, zone_id=zone, **rule_body(spec))


def _apply_zone(w: _Writer, plan: ZonePlan, live: LiveZone) -> None:
    zone = plan.zone_id
    ruleset_id = live.ruleset_id
    if plan.create_entrypoint:
        bodies = [rule_body(s) for s in plan.create_rules]
        try:
            made = w.write(
                f"zone {zone}: create entrypoint",
                no_retry(w.client).rulesets.create,
                zone_id=zone,
                kind="zone",
                phase=PHASE,
                name="default",
                rules=bodies,
            )
        except CloudflareError:  # a lost response may have made it: adopt it if it has all our rules
            made = _entrypoint(w.client, zone, w.sleep)
            if made is None or not {s.ref for s in plan.create_rules} <= {
                r.ref for r in _split_rules(made)[0]
            }:
                raise
        ruleset_id = field(made, "id")
        w.done += [f"+ rule {s.ref}" for s in plan.create_rules]
    else:
        for spec in plan.create_rules:
            _create_rule(w, zone, ruleset_id or "", spec)
            w.done.append(f"+ rule {spec.ref}")
    for old, spec in plan.update_rules:
        w.write(
            f"zone {zone}: update rule {spec.ref}",
            w.client.rulesets.rules.edit,
            old.id,
            ruleset_id=ruleset_id,
            zone_id=zone,
            **rule_body(spec),
        )
        w.done.append(f"~ rule {spec.ref}")
    for rule in plan.delete_rules:
        try:
            w.write(f"zone {zone}: delete rule {rule.ref}", w.client.rulesets.rules.delete, rule.id,
                    ruleset_id=ruleset_id, zone_id=zone)  # fmt: skip
        except (
            CloudflareError
        ) as exc:  # 404: already gone (e.g. the SDK re-sent a delete whose answer was lost)
            if exc.status != 404:
                raise
            w.done.append(f"- rule {rule.ref} (already gone)")
            continue
        w.done.append(f"- rule {rule.ref}")


def _list_refused(w: _Writer, exc: CloudflareError) -> BotguardError:
    """A refused list write: the Edit permission is missing (no rule was written before it)."""
    if not denied(exc):
        return exc
    if w.done:
        return MissingPermission(
            f'the Cloudflare API token lacks "{LISTS_EDIT}" on account {w.target.account_id}; '
            f"done before the refusal: {', '.join(w.done)}"
        )
    return MissingPermission(denied_message([f'"{LISTS_EDIT}" on account {w.target.account_id}']))


def apply_plan(client: cloudflare.Cloudflare, target: CloudflareTarget, plan: Plan, live: Live,
               sleep: Sleep = time.sleep) -> ApplyReport:  # fmt: skip
    """Make exactly the writes in ``plan``: the list first, then each zone's rules.

    Never raises for an API failure: the report has one :class:`ScopeResult` per scope (``list``,
    then each zone) with the steps done and the error. A failed list step leaves every zone
    untouched (no rule may name a list that is not there yet); a failed zone leaves the others
    going, except after a rate limit (every call would be refused: the next run resumes).
    """
    results: list[ScopeResult] = []
    w = _Writer(client, target, sleep)
    stop: BotguardError | None = None
    try:
        _apply_list(w, plan, live, target.list_name)
        results.append(w.result("list"))
    except CloudflareError as exc:
        stop = _list_refused(w, exc)
        results.append(w.result("list", stop))
    for zone_plan, zone_live in zip(plan.zones, live.zones, strict=True):
        zone = zone_plan.zone_id
        if stop is not None:
            why = "the list step failed" if results[0].error is not None else "rate limited"
            results.append(ScopeResult(zone, error=NotAttempted(f"zone {zone}: not attempted ({why})")))
            continue
        if zone_live.error is not None:
            results.append(ScopeResult(zone, error=CloudflareError(zone_live.error)))
            continue
        w = _Writer(client, target, sleep)
        try:
            _apply_zone(w, zone_plan, zone_live)
            results.append(w.result(zone))
        except CloudflareError as exc:
            if denied(exc):  # the write checks passed but Cloudflare refused: name the permission
                exc = CloudflareError(
                    f'{exc.message} (the token lacks "{WAF_EDIT}" on zone {zone}?)', exc.status
                )
            results.append(w.result(zone, exc))
            if isinstance(exc, RateLimited):
                stop = exc
    return ApplyReport(plan, tuple(results))
