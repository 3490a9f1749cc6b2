"""Cloudflare sync: an account IP list and zone WAF custom rules, through the official SDK.

``run_cloudflare`` is the ``botguard cloudflare plan|apply|status`` verb; ``read_live`` /
``make_plan`` / ``apply_plan`` the read-diff-write steps (see ``sync.py`` for ownership and the
order of writes); ``verify_token`` / ``check_write_access`` the permission checks made before
any write (``access.py``); ``make_client`` builds a token-only SDK client. The rendering itself
is pure and lives in :mod:`botguard.render.cloudflare`.
"""

from botguard.deploy.cloudflare.access import check_write_access, verify_token
from botguard.deploy.cloudflare.app import (
    CloudflareOutcome,
    CloudflareRequest,
    SyncFailed,
    check_cloudflare,
    last_applied,
    run_cloudflare,
    sync_cloudflare,
)
from botguard.deploy.cloudflare.client import make_client, target_of
from botguard.deploy.cloudflare.records import (
    ApplyReport,
    CloudflareError,
    CloudflareTarget,
    Live,
    LiveRule,
    LiveZone,
    MissingCredentials,
    MissingPermission,
    Plan,
    RateLimited,
    ScopeResult,
    ZonePlan,
)
from botguard.deploy.cloudflare.sync import apply_plan, make_plan, read_live

__all__ = [
    "ApplyReport",
    "CloudflareError",
    "CloudflareOutcome",
    "CloudflareRequest",
    "CloudflareTarget",
    "Live",
    "LiveRule",
    "LiveZone",
    "MissingCredentials",
    "MissingPermission",
    "Plan",
    "RateLimited",
    "ScopeResult",
    "SyncFailed",
    "ZonePlan",
    "apply_plan",
    "check_cloudflare",
    "check_write_access",
    "last_applied",
    "make_client",
    "make_plan",
    "read_live",
    "run_cloudflare",
    "sync_cloudflare",
    "target_of",
    "verify_token",
]  # fmt: skip
