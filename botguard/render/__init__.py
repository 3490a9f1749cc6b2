"""Render stage: a decision set -> rule files, one backend per target (see ``base.py``).

``RENDERERS`` is the registry (read-only); every entry satisfies :class:`Renderer`, and the
contract tests run over all of them. ``render_all`` picks targets by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from botguard.decide.records import DecisionSet
from botguard.render._escape import RenderError, hex_word
from botguard.render.apache import ApacheRenderer
from botguard.render.base import Renderer, TextRenderer
from botguard.render.nginx import NginxRenderer
from botguard.render.records import RuleFile

__all__ = ["RENDERERS", "ApacheRenderer", "NginxRenderer", "RenderError", "Renderer", "RuleFile", "TextRenderer",
           "hex_word", "renderers"]  # fmt: skip

#: Built-in targets, registered exactly as an extension would be.
RENDERERS: Mapping[str, Renderer] = MappingProxyType({"nginx": NginxRenderer(), "apache": ApacheRenderer()})


def renderers(rate: int = 2, burst: int = 4) -> Mapping[str, Renderer]:
    """The built-in targets configured with the throttle policy."""
    return MappingProxyType({"nginx": NginxRenderer(rate=rate, burst=burst), "apache": ApacheRenderer()})


def render(target: str, decisions: DecisionSet) -> tuple[RuleFile, ...]:
    """Render with a registered target by name."""
    return RENDERERS[target].render(decisions)
