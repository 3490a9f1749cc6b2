"""Cloudflare sync: an account IP list and zone WAF custom rules, through the official SDK.

``read_live`` / ``make_plan`` / ``apply_plan`` are the read-diff-write steps (see ``sync.py``
for ownership and the order of writes); ``verify_token`` / ``check_write_access`` the permission
checks made before any write (``access.py``); ``make_client`` builds a token-only SDK client;
``record_apply`` / ``last_applied`` keep what each apply did in the state database
(``journal.py``). The ``botguard cloudflare plan|apply|status`` verb that drives them is
:mod:`botguard.app.cloudflare`; the rendering itself is pure and lives in
:mod:`botguard.render.cloudflare`.
"""

from botguard.deploy.cloudflare.access import check_write_access, verify_token
from botguard.deploy.cloudflare.client import make_client, target_of
from botguard.deploy.cloudflare.journal import last_applied, record_apply
from botguard.deploy.cloudflare.records import (
    ApplyReport,
    CloudflareError,
    CloudflareTarget,
    Live,
    MissingPermission,
    Plan,
)
from botguard.deploy.cloudflare.sync import apply_plan, make_plan, read_live

__all__ = [
    "ApplyReport", "CloudflareError", "CloudflareTarget", "Live", "MissingPermission", "Plan",
    "apply_plan", "check_write_access", "last_applied", "make_client", "make_plan", "read_live",
    "record_apply", "target_of", "verify_token",
]  # fmt: skip
