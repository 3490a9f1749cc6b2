"""Make log-controlled text safe to show, in every stage that prints or logs it.

User agents and paths come from a log an attacker writes. On a terminal, control characters
(ANSI escapes) could repaint the screen, and rich would read "[bold]" as markup, so text is
shown with control characters as \\xHH and always through rich ``Text`` (never markup). On a
page or a terminal that applies the Unicode bidirectional algorithm, direction overrides and
isolates reorder what follows them ("\\u202e1.2/tobelgooG" reads "Googlebot/2.1") and zero-width
characters hide inside a name: those are shown as \\uXXXX.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: Bidi marks, embeddings, overrides and isolates; zero-width and invisible format characters.
_INVISIBLE = re.compile("[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def printable(text: str, limit: int | None = None) -> str:
    """Control characters as \\xHH, bidi and invisible characters as \\uXXXX; optionally cut to
    `limit` characters with an ellipsis.

    Examples:
        >>> printable("\\x1b[2J\\u202e1.2/tobelgooG")
        '\\\\x1b[2J\\\\u202e1.2/tobelgooG'
    """
    shown = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    shown = _INVISIBLE.sub(lambda m: f"\\u{ord(m.group()):04x}", shown)
    if limit is not None and len(shown) > limit:
        shown = shown[: max(limit - 1, 1)] + "…"
    return shown
