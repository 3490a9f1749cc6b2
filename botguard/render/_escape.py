"""Escaping as data: the one form every server parser leaves alone (notes/webservers.md, Form B).

Only ``[A-Za-z0-9_]`` stays literal; every other UTF-8 byte becomes ``\\xHH``. nginx's and
Apache's config tokenizers never touch ``\\x``; PCRE reads it as that byte. No quote, space,
``;``, ``{``, ``#``, ``$`` or backslash of the input survives, so an agent like
``zz" 1; "~*" 1; "zz`` cannot inject a rule. CR/LF cannot occur in a real header: rejected.
"""

from __future__ import annotations

import string

from botguard.errors import BotguardError

__all__ = ["LITERAL_BYTES", "RenderError", "escape_units", "hex_word"]

#: Bytes written as themselves.
LITERAL_BYTES = frozenset((string.ascii_letters + string.digits + "_").encode())
#: How every other byte is written.
BYTE_ESCAPE = "\\x{:02x}"


class RenderError(BotguardError):
    """A decision cannot be written as a safe rule (e.g. a user agent containing CR/LF)."""


def _raw(value: str) -> bytes:
    # surrogateescape: a log's invalid UTF-8 bytes come back as the bytes the client sent
    return value.encode("utf-8", "surrogateescape")


def escape_units(
    value: str, literal: frozenset[int] = LITERAL_BYTES, byte_escape: str = BYTE_ESCAPE
) -> list[str]:
    """``value`` as a list of escaped units (one per byte), so truncation never splits an escape."""
    raw = _raw(value)
    if b"\r" in raw or b"\n" in raw:
        raise RenderError(f"user agent with CR/LF cannot be matched by a server rule: {value[:60]!r}")
    return [chr(b) if b in literal else byte_escape.format(b) for b in raw]


def hex_word(value: str) -> str:
    """Form B of ``value``.

    Examples:
        >>> hex_word('zz" 1; "~*')
        'zz\\\\x22\\\\x201\\\\x3b\\\\x20\\\\x22\\\\x7e\\\\x2a'
        >>> print(hex_word("GPT_Bot/1.0"))
        GPT_Bot\\x2f1\\x2e0
    """
    return "".join(escape_units(value))
