"""``botguard verify IP [--ua UA]``: is this client who its user agent says?"""

from __future__ import annotations

from dataclasses import dataclass

from botguard.app.env import Env
from botguard.config import Settings
from botguard.identity import IdentityEvidence
from botguard.identity.verify import verify_ip

__all__ = ["VerifyReport", "VerifyRequest", "run_verify"]


@dataclass(frozen=True, slots=True)
class VerifyRequest:
    """One IP and, optionally, the user agent it sent (the claim to check)."""

    ip: str
    settings: Settings
    user_agent: str | None = None
    dns: bool = True  # reverse and forward DNS (--no-dns: published IP ranges only)


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The evidence: published range matched, PTR and forward DNS, network (ASN)."""

    evidence: IdentityEvidence


def run_verify(request: VerifyRequest, env: Env) -> VerifyReport:
    """Gather the identity evidence (DNS answers are cached in the state database)."""
    evidence = verify_ip(
        request.ip, request.user_agent, request.settings.identity, dns=request.dns, state_path=env.state_path
    )
    return VerifyReport(evidence)
