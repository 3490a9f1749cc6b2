"""Make log-controlled text safe to show, in every stage that prints or logs it.

User agents and paths come from a log an attacker writes. On a terminal, control characters
(ANSI escapes) could repaint the screen, and rich would read "[bold]" as markup, so text is
shown with control characters as \\xHH and always through rich ``Text`` (never markup).
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str, limit: int | None = None) -> str:
    """Control characters as \\xHH; optionally cut to `limit` characters with an ellipsis."""
    shown = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    if limit is not None and len(shown) > limit:
        shown = shown[: max(limit - 1, 1)] + "…"
    return shown
