"""What every HTML page botguard writes needs (the challenge page, the report): data a page
script reads without it ever becoming markup, and the hashes a Content-Security-Policy allows
inline scripts and styles by.

Pages put their data in a ``<script type="application/json">`` block, which the browser never
runs; :func:`json_for_html` makes sure no string in it can end that block or open a comment.
"""

from __future__ import annotations

import base64
import hashlib
import json

__all__ = ["csp_hash", "json_for_html"]


def json_for_html(value: object) -> str:
    """JSON that cannot end its ``<script>`` block or open a comment, whatever the strings hold.

    ``<``, ``>`` and ``&`` are written as ``\\uXXXX`` escapes, as are U+2028 and U+2029 (ASCII
    output escapes every non-ASCII character).

    Examples:
        >>> json_for_html({"agent": "</script><script>alert(1)</script>"})
        '{"agent":"\\\\u003c/script\\\\u003e\\\\u003cscript\\\\u003ealert(1)\\\\u003c/script\\\\u003e"}'
    """
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def csp_hash(text: str) -> str:
    """The CSP source expression allowing exactly this inline script or style.

    Examples:
        >>> csp_hash("body{}")
        "'sha256-fJgEClQWV1hGkK4qHMO0KotTsVnMYMXTq7/suurGyUo='"
    """
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"
