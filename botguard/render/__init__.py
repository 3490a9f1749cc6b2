"""Render stage: a decision set -> rule files, one backend per target (see ``base.py``).

:func:`renderers` is the registry: target name -> a configured :class:`Renderer`, Cloudflare
included. Deploy takes its targets from it and the contract tests run over every entry. Given
serve's keyring, nginx and Apache also render the challenge tier's routing files
(``challenge.py``) beside their block rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from botguard.config import ServeSettings
from botguard.keyring import Keyring
from botguard.render.apache import ApacheRenderer
from botguard.render.base import Combined, Renderer
from botguard.render.challenge import ChallengeRenderer
from botguard.render.cloudflare import CloudflareRenderer
from botguard.render.nginx import NginxRenderer
from botguard.render.records import RuleFile

__all__ = ["Renderer", "RuleFile", "renderers"]


def renderers(
    rate: int = 2,
    burst: int = 4,
    *,
    list_name: str = "botguard_block",
    guard_bots: bool = True,
    keyring: Keyring | None = None,
    serve: ServeSettings | None = None,
) -> Mapping[str, Renderer]:
    """Every built-in target by name, configured with the throttle policy (nginx) and the
    Cloudflare list and bot guard; registered exactly as an extension would be. With ``keyring``
    nginx and Apache render the challenge routing to serve (``serve``: where it listens, how long
    the server waits, what a pass is bound to) after their block rules."""
    built: dict[str, Renderer] = {
        "nginx": NginxRenderer(rate=rate, burst=burst),
        "apache": ApacheRenderer(),
        "cloudflare": CloudflareRenderer(list_name=list_name, guard_bots=guard_bots),
    }
    if keyring is not None:
        for name in ("nginx", "apache"):
            routing = ChallengeRenderer(name, serve or ServeSettings(), keyring)
            built[name] = Combined(name, (built[name], routing))
    return MappingProxyType(built)
