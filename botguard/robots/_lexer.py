"""Line-level lexing of a robots.txt body, byte for byte as Google's reference (robots.cc) does.

Leniency policy (this is where it is applied; each rule cites the reference's behaviour):

* the body is bytes; a ``str`` is encoded as UTF-8 first (surrogate escapes round-trip bytes);
* any prefix of the UTF-8 BOM ``EF BB BF`` at the very start is skipped; elsewhere it is data;
* lines end at LF, CR or CRLF, mixed freely; a missing final terminator is fine;
* only the first 16 663 bytes of a line are kept (2083 * 8 - 1), the rest is dropped;
* a NUL byte ends the line (the reference works on NUL-terminated C strings);
* everything from the first ``#`` is a comment, even inside a value;
* key and value are split at the first ``:``; failing that, at whitespace, but only when the
  line is exactly two whitespace-free tokens; an empty key drops the line;
* keys match case-insensitively as *prefixes*, with Google's accepted typos.

Nothing here raises: a line that cannot be read is simply not a directive.
"""

from __future__ import annotations

import re

#: Bytes kept per line: the reference's buffer is 2083 * 8 bytes including the final NUL.
MAX_LINE_BYTES = 2083 * 8 - 1

_BOM = b"\xef\xbb\xbf"

# Key kinds. Strings, so records and lint output read naturally.
USER_AGENT = "user-agent"
ALLOW = "allow"
DISALLOW = "disallow"
SITEMAP = "sitemap"
UNKNOWN = "unknown"

#: The one vocabulary table: key kind -> accepted spellings (case-insensitive prefixes),
#: checked in this order, as ParsedRobotsKey::Parse does. Spellings after the first are the
#: typos Google accepts (lint reports them).
KEY_SPELLINGS: tuple[tuple[str, tuple[bytes, ...]], ...] = (
    (USER_AGENT, (b"user-agent", b"useragent", b"user agent")),
    (ALLOW, (b"allow",)),
    (DISALLOW, (b"disallow", b"dissallow", b"dissalow", b"disalow", b"diasllow", b"disallaw")),
    (SITEMAP, (b"sitemap", b"site-map")),
)

_ALL_SPELLINGS = tuple(s for _, spellings in KEY_SPELLINGS for s in spellings)

_HEX = b"0123456789ABCDEF"
# A rule value needs rewriting only if it has a non-ASCII byte or a lower-case %-escape.
_NEEDS_ESCAPE = re.compile(rb"[\x80-\xff]|%(?:[a-f][0-9A-Fa-f]|[0-9A-F][a-f])")
_ESCAPE_TOKEN = re.compile(rb"%[0-9A-Fa-f]{2}|[\x80-\xff]")


def to_bytes(text: str | bytes) -> bytes:
    """The body as bytes; text is encoded as UTF-8, keeping surrogate-escaped raw bytes."""
    if isinstance(text, bytes):
        return text
    return text.encode("utf-8", "surrogateescape")


def strip_bom(body: bytes) -> bytes:
    """Skip the longest prefix of the UTF-8 BOM at the very start (``EF``, ``EF BB``, all three)."""
    if body[:1] != b"\xef":
        return body
    if body[:3] == _BOM:
        return body[3:]
    return body[2:] if body[:2] == _BOM[:2] else body[1:]


def split_lines(body: bytes) -> list[bytes]:
    """Lines as the reference sees them: LF/CR/CRLF ends, 16 663-byte cap, cut at NUL.

    ``bytes.splitlines`` breaks at exactly LF, CR and CRLF (unlike ``str.splitlines``), which is
    the reference's rule, including its line numbering.
    """
    lines = strip_bom(body).splitlines()
    if b"\x00" in body or len(body) > MAX_LINE_BYTES:
        lines = [_cap(line) for line in lines]
    return lines


def _cap(line: bytes) -> bytes:
    line = line[:MAX_LINE_BYTES]
    nul = line.find(b"\x00")
    return line if nul < 0 else line[:nul]


def key_value(line: bytes) -> tuple[bytes, bytes] | None:
    """Split one line into (key, value), or None when the line holds no directive."""
    hash_pos = line.find(b"#")
    if hash_pos >= 0:
        line = line[:hash_pos]
    line = line.strip()
    sep = line.find(b":")
    if sep < 0:
        # Google-specific: accept whitespace instead of a forgotten colon, but only when the
        # line is exactly two whitespace-free tokens ("disallow /x").
        sep = _first_blank(line)
        if sep < 0:
            return None
        rest = line[sep:].lstrip(b" \t")
        if b" " in rest or b"\t" in rest:
            return None
    key = line[:sep].strip()
    if not key:
        return None
    return key, line[sep + 1 :].strip()


def _first_blank(line: bytes) -> int:
    space, tab = line.find(b" "), line.find(b"\t")
    if space < 0:
        return tab
    return space if tab < 0 or space < tab else tab


def key_kind(key: bytes) -> str:
    """Classify a key the way ParsedRobotsKey::Parse does (prefix match, typos accepted)."""
    lowered = key.lower()
    if lowered.startswith(_ALL_SPELLINGS):
        for kind, spellings in KEY_SPELLINGS:
            if lowered.startswith(spellings):
                return kind
    return UNKNOWN


def canonical_spelling(key: bytes) -> bytes | None:
    """The accepted spelling a key starts with (lint uses it to flag typos and suffixes)."""
    lowered = key.lower()
    for spelling in _ALL_SPELLINGS:
        if lowered.startswith(spelling):
            return spelling
    return None


def escape_pattern(value: bytes) -> str:
    """Normalise a rule value as MaybeEscapePattern does, returning ASCII text.

    ``%xx`` escapes are upper-cased, bytes >= 0x80 become ``%XX``; nothing is decoded and no
    reserved character is encoded (so ``%62`` never matches ``b``).
    """
    if value.isascii() and (b"%" not in value or _NEEDS_ESCAPE.search(value) is None):
        return value.decode("ascii")
    return _ESCAPE_TOKEN.sub(_escape_one, value).decode("ascii")


def _escape_one(match: re.Match[bytes]) -> bytes:
    token = match.group()
    if len(token) == 3:
        return token.upper()
    byte = token[0]
    return bytes((37, _HEX[byte >> 4], _HEX[byte & 15]))


def _spelling_group(spellings: tuple[bytes, ...]) -> bytes:
    return b"(" + b"|".join(re.escape(s) for s in spellings) + b")"


# Fast path for the common line shape "<known key><anything>:<value>[#comment]": one C-level
# findall over the whole body yields one tuple per line (the kind's group is non-empty). Any
# other line lands in the last group and goes through key_value(), the authoritative slow path.
# Greedy, disjoint character classes keep this regex linear in the line length.
_FAST_LINE = re.compile(
    rb"^[ \t\x0b\x0c]*(?:"
    + b"|".join(_spelling_group(spellings) for _, spellings in KEY_SPELLINGS)
    + rb")[^:#\n]*:([^#\n]*)[^\n]*$|^([^\n]*)$",
    re.MULTILINE | re.IGNORECASE,
)
_FAST_KINDS = tuple(kind for kind, _ in KEY_SPELLINGS)


def rows(body: bytes) -> list[tuple[bytes, bytes, bytes, bytes, bytes, bytes]]:
    """One tuple per line: ``(user-agent, allow, disallow, sitemap, value, other)``.

    Exactly one of the four key groups is non-empty when the line took the fast path (then
    ``value`` is its raw, unstripped value); otherwise ``other`` holds the whole line for
    :func:`slow_directive`. Line numbers are the 1-based positions in the list, as Google counts.
    """
    body = strip_bom(body)
    if b"\x00" in body or _has_long_line(body):
        return [(b"", b"", b"", b"", b"", line) for line in split_lines(body)]
    if b"\r" in body:  # CRLF is one line end, a lone CR is one too: same numbering
        body = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return _FAST_LINE.findall(body)


def _has_long_line(body: bytes) -> bool:
    """Whether some line is longer than the reference keeps (the fast path does not cut lines)."""
    return len(body) > MAX_LINE_BYTES and max(map(len, body.splitlines())) > MAX_LINE_BYTES


def slow_directive(line: bytes) -> tuple[str, bytes, bytes] | None:
    """(kind, lower-cased key, value) for a line the fast path did not take; None if no directive."""
    if not line or line[0] == 35:  # blank or "#..." at column 0
        return None
    kv = key_value(line)
    if kv is None:
        return None
    return key_kind(kv[0]), kv[0].lower(), kv[1]


def needs_escaping(body: bytes) -> bool:
    """Whether any rule value in ``body`` could change under :func:`escape_pattern`."""
    return _NEEDS_ESCAPE.search(body) is not None
