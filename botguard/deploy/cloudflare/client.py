"""The SDK client, built safely, one wrapper that turns SDK failures into botguard errors, and the
shapes sync and access share (a field of an SDK object or dict; a rule's body).

Two SDK pitfalls handled here (shared/notes/cloudflare.md): with no credentials the SDK raises a
bare ``TypeError`` on the first request, so the token is checked first; and ``CLOUDFLARE_EMAIL``
/ ``CLOUDFLARE_API_KEY`` in the environment silently replace the Bearer token (even an explicit
one, and again in every ``with_options`` copy), so they are cleared on every client we use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import cloudflare

from botguard.config import CloudflareSettings
from botguard.deploy.cloudflare.records import (
    CloudflareError,
    CloudflareTarget,
    MissingCredentials,
    RateLimited,
)
from botguard.render.cloudflare import RuleSpec

__all__ = ["Sleep", "call", "field", "make_client", "no_retry", "rule_body", "target_of"]

T = TypeVar("T")
#: How a run waits (``time.sleep``; tests pass a recorder so backoff costs no time).
Sleep = Callable[[float], None]
#: Longest Retry-After botguard waits for in-process; longer (the 5-minute lockout) ends the run.
MAX_WAIT = 60.0


def target_of(settings: CloudflareSettings) -> CloudflareTarget:
    """Account and zone(s) from the config, or a one-line error before any request."""
    if not settings.account_id or not settings.zone_ids:
        raise MissingCredentials(
            "cloudflare.account_id and cloudflare.zone_id must be set in the config file"
        )
    return CloudflareTarget(settings.account_id, settings.zone_ids, settings.list_name)


def _token_only(client: cloudflare.Cloudflare) -> cloudflare.Cloudflare:
    client.api_email = None
    client.api_key = None
    client.user_service_key = None
    return client


def make_client(
    settings: CloudflareSettings, env: Mapping[str, str], max_retries: int = 2
) -> cloudflare.Cloudflare:
    """A client that authenticates with the API token only (env ``CLOUDFLARE_API_TOKEN`` first)."""
    token = env.get("CLOUDFLARE_API_TOKEN") or settings.api_token
    if not token:
        raise MissingCredentials("no Cloudflare API token: set CLOUDFLARE_API_TOKEN or cloudflare.api_token")
    base_url = settings.base_url or env.get("CLOUDFLARE_BASE_URL") or None
    client = cloudflare.Cloudflare(api_token=token, base_url=base_url, max_retries=max_retries, timeout=30.0)
    return _token_only(client)


def no_retry(client: cloudflare.Cloudflare) -> cloudflare.Cloudflare:
    """A copy that never re-sends (non-idempotent creates are reconciled by re-reading instead)."""
    return _token_only(client.with_options(max_retries=0))


def field(obj: Any, name: str, default: Any = None) -> Any:
    """``name`` of an SDK model or a plain dict (the SDK returns either, depending on the call)."""
    return obj.get(name, default) if isinstance(obj, dict) else getattr(obj, name, default)


def rule_body(spec: RuleSpec) -> dict[str, Any]:
    """The custom rule as the rulesets API takes it (create, edit, and their dry runs)."""
    return {"action": spec.action, "expression": spec.expression, "description": spec.description,
            "enabled": spec.enabled, "ref": spec.ref}  # fmt: skip


def _retry_after(exc: cloudflare.APIStatusError) -> float | None:
    value = exc.response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _messages(exc: cloudflare.APIStatusError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    errors = body.get("errors") or []
    text = "; ".join(
        f"{e['code']}: {e.get('message')}" if e.get("code") is not None else str(e.get("message"))
        for e in errors
        if isinstance(e, dict)
    )
    return text or exc.message


def call(step: str, fn: Callable[..., T], *args: Any, sleep: Sleep, attempts: int = 3,
         **kwargs: Any) -> T:  # fmt: skip
    """``fn(*args, **kwargs)`` with botguard's own 429 handling on top of the SDK's retries.

    The SDK already retried short waits; after that a Retry-After up to :data:`MAX_WAIT` is
    honoured here ``attempts`` times, a longer one (the global lockout) ends the run with
    :class:`RateLimited` so the next cron run resumes instead of hammering the API.
    """
    for attempt in range(attempts):
        try:
            return fn(*args, **kwargs)
        except cloudflare.RateLimitError as exc:
            wait = _retry_after(exc)
            if wait is None or wait > MAX_WAIT or attempt == attempts - 1:
                raise RateLimited(step, wait) from None
            sleep(wait)
        except cloudflare.APIStatusError as exc:
            raise CloudflareError(
                f"{step}: HTTP {exc.status_code}: {_messages(exc)}", exc.status_code
            ) from None
        except cloudflare.APIConnectionError as exc:
            raise CloudflareError(f"{step}: cannot reach the Cloudflare API: {exc.message}") from None
    raise AssertionError("unreachable")  # pragma: no cover
