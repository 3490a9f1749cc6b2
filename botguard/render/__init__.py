"""Render stage: a decision set -> rule files, one backend per target (see ``base.py``).

:func:`renderers` is the registry: target name -> a configured :class:`Renderer`, Cloudflare
included. Deploy takes its targets from it and the contract tests run over every entry. A
companion (the challenge tier's routing files, ``botguard.serve``) registers under a target's
name and renders with it, as an extension would.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from botguard.render._escape import RenderError
from botguard.render.apache import ApacheRenderer
from botguard.render.base import Combined, Renderer
from botguard.render.cloudflare import CloudflareRenderer
from botguard.render.nginx import NginxRenderer
from botguard.render.records import RuleFile

__all__ = ["ApacheRenderer", "NginxRenderer", "RenderError", "Renderer", "RuleFile", "renderers"]


def renderers(
    rate: int = 2,
    burst: int = 4,
    *,
    list_name: str = "botguard_block",
    guard_bots: bool = True,
    companions: Mapping[str, Renderer] | None = None,
) -> Mapping[str, Renderer]:
    """Every built-in target by name, configured with the throttle policy (nginx) and the
    Cloudflare list and bot guard; registered exactly as an extension would be. Each companion
    renders with the target of its name (its files follow the target's own)."""
    built: dict[str, Renderer] = {
        "nginx": NginxRenderer(rate=rate, burst=burst),
        "apache": ApacheRenderer(),
        "cloudflare": CloudflareRenderer(list_name=list_name, guard_bots=guard_bots),
    }
    for name, companion in (companions or {}).items():
        built[name] = Combined(name, (built[name], companion))
    return MappingProxyType(built)
