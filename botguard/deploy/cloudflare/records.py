"""Records of the Cloudflare sync: the target, the live state read back, the plan, the outcome.

One account IP list is shared by every zone; each zone has its own custom rules. So the live
state, the plan and the apply report each have an account part (the list) and one part per zone.
"""

from __future__ import annotations

from dataclasses import dataclass

from botguard.errors import BotguardError, ConfigError
from botguard.render.cloudflare import LeftOut, RuleSpec

__all__ = ["ApplyReport", "CloudflareError", "CloudflareTarget", "Live", "LiveRule", "LiveZone",
           "MissingCredentials", "MissingPermission", "NotAttempted", "Plan", "RateLimited", "ScopeResult",
           "ZonePlan"]  # fmt: skip


class CloudflareError(BotguardError):
    """The API refused or failed a step; the message names the step (exit 1, next run resumes)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status  # the HTTP status, when the API answered


class RateLimited(CloudflareError):
    """Cloudflare said to come back later (e.g. the 5-minute global lockout)."""

    def __init__(self, step: str, retry_after: float | None) -> None:
        wait = f"retry after {retry_after:.0f} s" if retry_after is not None else "retry later"
        super().__init__(f"{step}: rate limited by Cloudflare, {wait}", 429)
        self.retry_after = retry_after


class NotAttempted(CloudflareError):
    """A scope skipped because an earlier step failed (the list, or a rate limit)."""


class MissingCredentials(ConfigError):
    """No token, account or zone: reported before any request (exit 2)."""


class MissingPermission(MissingCredentials):
    """The token is invalid or lacks a permission the run needs: reported before any write (exit 2)."""


@dataclass(frozen=True, slots=True)
class CloudflareTarget:
    """Where botguard's objects live: one account list, custom rules in each zone."""

    account_id: str
    zone_ids: tuple[str, ...]
    list_name: str = "botguard_block"


@dataclass(frozen=True, slots=True)
class LiveRule:
    """A botguard-owned rule as Cloudflare has it (only ``ref`` prefix ``botguard:`` is ours)."""

    id: str
    ref: str
    description: str
    action: str
    expression: str
    enabled: bool


@dataclass(frozen=True, slots=True)
class LiveZone:
    """One zone's ``http_request_firewall_custom`` entrypoint, split into ours and the rest."""

    zone_id: str
    ruleset_id: str | None  # None: the zone never had custom rules
    rules: tuple[LiveRule, ...]  # ours, in ruleset order
    foreign_rules: int
    error: str | None = None  # the zone could not be read: nothing is planned or written there


@dataclass(frozen=True, slots=True)
class Live:
    """Cloudflare's current state, re-read every run (never cached: the dashboard may have changed it)."""

    list_id: str | None
    items: tuple[tuple[str, str], ...]  # (canonical network, item id), sorted
    zones: tuple[LiveZone, ...]
    other_items: int = 0  # items in the account's other lists (the 10,000-item cap is per account)


@dataclass(frozen=True, slots=True)
class ZonePlan:
    """The rule writes for one zone."""

    zone_id: str
    create_rules: tuple[RuleSpec, ...]
    update_rules: tuple[tuple[LiveRule, RuleSpec], ...]
    delete_rules: tuple[LiveRule, ...]
    create_entrypoint: bool

    @property
    def empty(self) -> bool:
        return not (self.create_rules or self.update_rules or self.delete_rules)

    def lines(self) -> list[str]:
        out = [f"+ rule {r.ref} {r.action} ({len(r.expression)} chars)" for r in self.create_rules]
        out += [
            f"~ rule {new.ref} {old.action}->{new.action} "
            f"({len(old.expression)}->{len(new.expression)} chars)"
            for old, new in self.update_rules
        ]
        out += [f"- rule {r.ref}" for r in self.delete_rules]
        return out


@dataclass(frozen=True, slots=True)
class Plan:
    """The difference between the desired objects and :class:`Live`: exactly the writes apply makes."""

    create_list: bool
    add_items: tuple[str, ...]
    remove_items: tuple[tuple[str, str], ...]  # (network, item id)
    zones: tuple[ZonePlan, ...]
    left_out: tuple[LeftOut, ...] = ()

    @property
    def list_empty(self) -> bool:
        return not (self.create_list or self.add_items or self.remove_items)

    @property
    def empty(self) -> bool:
        return self.list_empty and all(z.empty for z in self.zones)

    def list_lines(self, list_name: str) -> list[str]:
        out = [f"+ list {list_name}"] if self.create_list else []
        return (
            out + [f"+ item {ip}" for ip in self.add_items] + [f"- item {ip}" for ip, _ in self.remove_items]
        )

    def lines(self, list_name: str) -> list[str]:
        """Human-readable diff, one change per line; a zone's rule changes carry its id."""
        out = self.list_lines(list_name)
        for zone in self.zones:
            out += [f"zone {zone.zone_id}: {line}" for line in zone.lines()]
        return out


@dataclass(frozen=True, slots=True)
class ScopeResult:
    """What apply did in one scope (``"list"`` or a zone id): the steps done, and the failure if any."""

    scope: str
    writes: int = 0
    done: tuple[str, ...] = ()
    error: BotguardError | None = None  # a CloudflareError, or MissingPermission for a refused list write


@dataclass(frozen=True, slots=True)
class ApplyReport:
    """What apply did: the plan, and per scope (the account list, then each zone) the writes made."""

    plan: Plan
    results: tuple[ScopeResult, ...]

    @property
    def writes(self) -> int:
        return sum(r.writes for r in self.results)

    @property
    def failures(self) -> tuple[ScopeResult, ...]:
        return tuple(r for r in self.results if r.error is not None)

    def result(self, scope: str) -> ScopeResult | None:
        return next((r for r in self.results if r.scope == scope), None)
