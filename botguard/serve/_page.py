"""The challenge page: one self-contained HTML document (no CDN, works offline), strict CSP.

The script and the style are inline and allowed by their SHA-256 hashes in the
Content-Security-Policy, so the page needs no second request and runs no other script. Request
data reaches the page only as JSON inside a ``<script type="application/json">`` block (never
executed) with ``<``, ``>``, ``&`` and line separators written as ``\\uXXXX``; the return path is
checked to be a same-site path first (:func:`safe_return_path`).
"""

from __future__ import annotations

import re
from importlib import resources
from urllib.parse import quote

from botguard.web import csp_hash, json_for_html

__all__ = ["CSP", "page", "safe_return_path"]

_STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;margin:0;color:#1b1b1b;background:#fafafa}"
    "main{max-width:34em;margin:12vh auto;padding:0 1em}h1{font-size:1.4em}"
    "progress{width:100%;height:1em}"
    "@media (prefers-color-scheme:dark){body{color:#eee;background:#181818}}"
)
_SCRIPT = resources.files("botguard.serve").joinpath("challenge.js").read_text(encoding="utf-8")


#: Nothing loads or runs but the inline script and style; fetch only to this site.
CSP = (
    f"default-src 'none'; script-src {csp_hash(_SCRIPT)}; style-src {csp_hash(_STYLE)}; "
    "connect-src 'self'; img-src 'none'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)

_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex,nofollow">
<title>Checking your browser</title>
<style>{style}</style>
</head>
<body>
<main>
<h1>One moment, please</h1>
<p>This site lets people in and keeps bulk-downloading programs out. Your browser is solving a
small puzzle to show it is one; the page opens by itself in a moment. Nothing is installed and
nothing about you is stored except a cookie that spares you this check for a while.</p>
<label for="bg-progress">Progress of the check</label>
<progress id="bg-progress" max="1" value="0"></progress>
<p id="bg-status" role="status" aria-live="polite">Waiting for JavaScript\u2026</p>
<noscript><p><strong>This check needs JavaScript</strong>, which is turned off in your browser.
Please turn it on for this site and reload the page. If you cannot, please contact the
site's owner.</p></noscript>
</main>
<script type="application/json" id="bg-data">{data}</script>
<script>{script}</script>
</body>
</html>
"""

# A path, no scheme or host: starts with one "/", then neither "/" nor "\" (browsers read "/\"
# as "//"), and no backslash anywhere. Checked after %-encoding, so control characters and
# spaces are already %XX (browsers strip a raw tab or CR/LF: "/\t/evil.example" would become
# "//evil.example"; "/%09/evil.example" stays a path).
_SAFE_PATH = re.compile(r"/(?![/\\])[!-~]*")
_MAX_PATH = 2048


def safe_return_path(target: str | None) -> str:
    """``target`` if it is a same-site path (non-ASCII bytes %-encoded), else ``/``.

    Examples:
        >>> safe_return_path("/shop?q=1")
        '/shop?q=1'
        >>> [safe_return_path(t) for t in ("//evil.example", "/\\\\evil", "javascript:alert(1)", "https://x.example/")]
        ['/', '/', '/', '/']
        >>> safe_return_path("/\\t/evil.example\\r\\nSet-Cookie: x")
        '/%09/evil.example%0D%0ASet-Cookie:%20x'
    """
    if not target:
        return "/"
    encoded = quote(
        target.encode("utf-8", "surrogateescape"), safe="".join(chr(c) for c in range(0x21, 0x7F))
    )
    if len(encoded) > _MAX_PATH or "\\" in encoded or not _SAFE_PATH.fullmatch(encoded):
        return "/"
    return encoded


def page(challenge: str, difficulty: int, back: str) -> bytes:
    """The challenge page for one client (``back`` already checked by :func:`safe_return_path`)."""
    data = json_for_html({"challenge": challenge, "difficulty": difficulty, "back": back})
    return _TEMPLATE.format(style=_STYLE, data=data, script=_SCRIPT).encode("utf-8")
