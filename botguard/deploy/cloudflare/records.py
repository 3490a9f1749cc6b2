"""Records of the Cloudflare sync: the target, the live state read back, the plan, the outcome."""

from __future__ import annotations

from dataclasses import dataclass

from botguard.errors import BotguardError, ConfigError
from botguard.render.cloudflare import LeftOut, RuleSpec

__all__ = ["ApplyReport", "CloudflareError", "CloudflareTarget", "Live", "LiveRule", "MissingCredentials", "Plan",
           "RateLimited"]  # fmt: skip


class CloudflareError(BotguardError):
    """The API refused or failed a step; the message names the step (exit 1, next run resumes)."""


class RateLimited(CloudflareError):
    """Cloudflare said to come back later (e.g. the 5-minute global lockout)."""

    def __init__(self, step: str, retry_after: float | None) -> None:
        wait = f"retry after {retry_after:.0f} s" if retry_after is not None else "retry later"
        super().__init__(f"{step}: rate limited by Cloudflare, {wait}")
        self.retry_after = retry_after


class MissingCredentials(ConfigError):
    """No token, account or zone: reported before any request (exit 2)."""


@dataclass(frozen=True, slots=True)
class CloudflareTarget:
    """Where botguard's objects live."""

    account_id: str
    zone_id: str
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
class Live:
    """Cloudflare's current state, re-read every run (never cached: the dashboard may have changed it)."""

    list_id: str | None
    items: tuple[tuple[str, str], ...]  # (canonical network, item id), sorted
    ruleset_id: str | None  # the zone's http_request_firewall_custom entrypoint, if it exists
    rules: tuple[LiveRule, ...]  # ours, in ruleset order
    foreign_rules: int


@dataclass(frozen=True, slots=True)
class Plan:
    """The difference between the desired objects and :class:`Live`: exactly the writes apply makes."""

    create_list: bool
    add_items: tuple[str, ...]
    remove_items: tuple[tuple[str, str], ...]  # (network, item id)
    create_rules: tuple[RuleSpec, ...]
    update_rules: tuple[tuple[LiveRule, RuleSpec], ...]
    delete_rules: tuple[LiveRule, ...]
    create_entrypoint: bool
    left_out: tuple[LeftOut, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.create_list or self.add_items or self.remove_items or self.create_rules
                    or self.update_rules or self.delete_rules)  # fmt: skip

    def lines(self, list_name: str) -> list[str]:
        """Human-readable diff, one change per line (attacker text only inside rule expressions' counts)."""
        out = [f"+ list {list_name}"] if self.create_list else []
        out += [f"+ item {ip}" for ip in self.add_items] + [f"- item {ip}" for ip, _ in self.remove_items]
        out += [f"+ rule {r.ref} {r.action} ({len(r.expression)} chars)" for r in self.create_rules]
        out += [f"~ rule {new.ref} {old.action}->{new.action} ({len(old.expression)}->{len(new.expression)} chars)"
                for old, new in self.update_rules]  # fmt: skip
        out += [f"- rule {r.ref}" for r in self.delete_rules]
        return out


@dataclass(frozen=True, slots=True)
class ApplyReport:
    """What apply did: the plan it carried out and how many write requests it made."""

    plan: Plan
    writes: int
