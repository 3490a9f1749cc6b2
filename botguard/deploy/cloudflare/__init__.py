"""Cloudflare sync: an account IP list and zone WAF custom rules, through the official SDK.

``run_cloudflare`` is the ``botguard cloudflare plan|apply|status`` verb; ``read_live`` /
``make_plan`` / ``apply_plan`` the read-diff-write steps (see ``sync.py`` for ownership and the
order of writes); ``make_client`` builds a token-only SDK client. The rendering itself is pure
and lives in :mod:`botguard.render.cloudflare`.
"""

from botguard.deploy.cloudflare.app import (
    CloudflareOutcome,
    CloudflareRequest,
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
    MissingCredentials,
    Plan,
    RateLimited,
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
    "MissingCredentials",
    "Plan",
    "RateLimited",
    "apply_plan",
    "check_cloudflare",
    "last_applied",
    "make_client",
    "make_plan",
    "read_live",
    "run_cloudflare",
    "sync_cloudflare",
    "target_of",
]  # fmt: skip
