"""Hostile access-log lines for differential tests of a compiled parser against the polars path.

Everything read from a log is hostile: a compiled fast path must either take a line and type it
exactly as the polars path does, or hand it back. These generators make the lines most likely
to find where the two disagree, or where C reads or writes outside its buffers: near-valid
fields (31 Feb, +2400, 256.1.1.1, status 99999, bytes 2**63), every byte value, quotes,
backslashes, CR/NUL/0x1F, huge fields, and valid lines mutated byte by byte.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

IP = [
    "1.2.3.4",
    "0.0.0.0",
    "255.255.255.255",
    "256.1.1.1",
    "1.2.3.256",
    "01.2.3.4",
    "1.2.3.04",
    "1.2.3.00",
    "001.002.003.004",
    "1.2.3",
    "1.2.3.4.5",
    "1..3.4",
    ".1.2.3",
    "1.2.3.",
    "4294967296",
    "1.2.3.4:80",
    "::1",
    "::ffff:1.2.3.4",
    "::FFFF:1.2.3.4",
    "2001:DB8::1",
    "2001:db8:0:0:0:0:0:1",
    "fe80::1%eth0",
    "[::1]",
    "-",
    "",
    "x",
    "+1.2.3.4",
    "1.2.3.-4",
    "1.2.3.4\x00",
    "\uff11.2.3.4",
    "1.2.3.4\t",
    "99999999999999999999.1.1.1",
    "1.2.3.4/24",
    "0x7f.0.0.1",
    "127.1",
    "10.0.0.1 ",
]
TIME = [
    "[04/Mar/2024:00:00:00 +0100]",
    "[31/Feb/2024:00:00:00 +0000]",
    "[29/Feb/2023:00:00:00 +0000]",
    "[29/Feb/2024:23:59:59 +0000]",
    "[00/Jan/2024:00:00:00 +0000]",
    "[32/Jan/2024:00:00:00 +0000]",
    "[01/jan/2024:00:00:00 +0000]",
    "[01/JAN/2024:00:00:00 +0000]",
    "[01/Jan/0000:00:00:00 +0000]",
    "[01/Jan/0001:00:00:00 +0000]",
    "[31/Dec/9999:23:59:59 +0000]",
    "[31/Dec/9999:23:59:59 -1400]",
    "[01/Jan/0001:00:00:00 +1400]",
    "[01/Jan/10000:00:00:00 +0000]",
    "[01/Jan/2024:00:00:00 +9999]",
    "[01/Jan/2024:00:00:00 -9999]",
    "[01/Jan/2024:00:00:00 +2400]",
    "[01/Jan/2024:00:00:00 +2359]",
    "[01/Jan/2024:00:00:00 -0000]",
    "[01/Jan/2024:00:00:00 +0060]",
    "[01/Jan/2024:00:00:00 +0099]",
    "[01/Jan/2024:24:00:00 +0000]",
    "[01/Jan/2024:23:59:60 +0000]",
    "[01/Jan/2024:23:60:00 +0000]",
    "[01/Jan/2024:00:00:00 +01:00]",
    "[01/Jan/2024:00:00:00  +0000]",
    "[01/Jan/2024:00:00:00 Z]",
    "[1/Jan/2024:00:00:00 +0000]",
    "[ 1/Jan/2024:00:00:00 +0000]",
    "[01/Jan/24:00:00:00 +0000]",
    "[01/Jan/2024:0:00:00 +0000]",
    "[01/Jan/2024:00:00:00.123 +0000]",
    "[01/Jan/2024:00:00:00]",
    "01/Jan/2024:00:00:00 +0000",
    "[]",
    "[01/Jan/2024:00:00:00 +0000",
    "[01/Jan/2024 00:00:00 +0000]",
    "[01/Jan/2024:00:00:00 +000]",
    "[01/Jan/2024:00:00:00 +00000]",
    "[01/Jan/2024:00:00:00 \uff0b0000]",
    "[01/Jan/2024:00:00:00 +0000] ",
    "[\uff101/Jan/2024:00:00:00 +0000]",
    "[01/Jan/-001:00:00:00 +0000]",
    "[01/Jan/+024:00:00:00 +0000]",
    "[01/Jan/2024:-1:00:00 +0000]",
    "[01/Jan/2024:+1:00:00 +0000]",
]
REQUEST = [
    "GET / HTTP/1.1",
    "GET /a?b=1&c=%20 HTTP/1.0",
    "",
    "-",
    "GET",
    "GET /",
    "GET / HTTP/1.1 x",
    "get / HTTP/1.1",
    "GET http://Example.com:80/p?q HTTP/1.1",
    "GET http://h HTTP/1.1",
    "CONNECT h:443 HTTP/1.1",
    "GET * HTTP/1.1",
    "OPTIONS * HTTP/1.1",
    "GET /a%00b HTTP/1.1",
    "GET  / HTTP/1.1",
    "GET /\t HTTP/1.1",
    "GET / HTTP/1.1 ",
    " GET / HTTP/1.1",
    "\x16\x03\x01\x00",
    "SSH-2.0-Go",
    'GET /a\\"b HTTP/1.1',
    "GET /a\\ HTTP/1.1",
    "GET /\u00e9 HTTP/1.1",
    "GET / HTTP/10.1",
    "GET / HTTP/1",
    "GET / HTTP/1.",
    "GET / HTTP/2.0",
    "GET / HTTP/2",
    "GET / http/1.1",
    "GET / HTTPS/1.1",
    "A" * 32 + " / HTTP/1.1",
    "A" * 33 + " / HTTP/1.1",
    "G_T / HTTP/1.1",
    "-GET / HTTP/1.1",
    "GET /" + "a" * 5000 + " HTTP/1.1",
    "GET /%zz HTTP/1.1",
    "GET //x HTTP/1.1",
    "GET ?x HTTP/1.1",
    "GET x HTTP/1.1",
    "M-SEARCH * HTTP/1.1",
    "GET /\x7f HTTP/1.1",
    "GET /\x1f HTTP/1.1",
    "GET /\r HTTP/1.1",
    "GET /a b HTTP/1.1",
    "PROPFIND /dav HTTP/1.1",
    "GET /\u2028 HTTP/1.1",
    "GET HTTP/1.1",
]
STATUS = [
    "200",
    "99",
    "100",
    "999",
    "1000",
    "99999",
    "-",
    "",
    "0200",
    "+200",
    "2e2",
    "32767",
    "32768",
    "65535",
    "-1",
    "\u0662\u0660\u0660",
    "0",
    "000",
    "099",
    "200.0",
    "20",
    "2OO",
]
BYTES = [
    "0",
    "-",
    "",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999999",
    "-1",
    "-0",
    "+5",
    "00012",
    "1e3",
    "1.5",
    "0x10",
    "\u0661",
    "--",
    "12 ",
    "1_000",
    "-9223372036854775808",
    "-9223372036854775809",
]
QUOTED = [
    "-",
    "",
    "--",
    "- ",
    " -",
    "https://a.example/",
    "Mozilla/5.0 (X11; Linux x86_64)",
    'a\\"b',
    "a\\",
    "a\\\\",
    '\\"',
    "\\x22",
    "a\x00b",
    "a\rb",
    "a\tb",
    "a\x1fb",
    "a\x7fb",
    "\u00e9\u4e2d",
    "\ufffd",
    'a" "b',
    "a" * 70000,
    "a" * 65000,
    "\\",
    "\\\\\\",
    '"',
    "a b c",
    "%E2%80%A8",
    "\u2028",
    "\ud7ff",
]
TAILS = [
    "",
    " ",
    ' "x"',
    ' "x" 1',
    "\r",
    "\t",
    " -",
    '"',
    ' "',
    "\x00",
    " \x1f",
    ' "a\\"b" x y z',
    ' "x" "y" 1 2',
    " \t",
    "\t x",
    " \u00a0",
    "\u00a0x",
    " \u3000",
    " \x0b",
    " \x0c",
    ' "a" \\',
    " \\",
    "  ",
    ' - "-" "-"',
    " 1.2.3.4",
    " " + "y" * 20000,
]
HOSTS = ["www.example.com", "WWW.Example.COM:443", "h:", ":80", "-", "", "[::1]:80", "h\u00e9", "a:b:c"]


def ipv6_spellings(rng: random.Random, count: int) -> Iterator[str]:
    """IPv6 addresses spelled every way a log may hold them: compressed or not, with leading
    zeros, upper case, one zero group compressed, ties between zero runs, dotted-quad tails."""
    import ipaddress

    for _ in range(count):
        groups = [rng.choice([0, 0, 0, 1, 0xFFFF, rng.randrange(65536), rng.randrange(16)]) for _ in range(8)]
        if rng.random() < 0.2:
            groups[:6] = [0, 0, 0, 0, 0, rng.choice([0, 0xFFFF])]
        address = ipaddress.IPv6Address(b"".join(g.to_bytes(2, "big") for g in groups))
        form = rng.randrange(7)
        if form == 0:
            yield address.compressed
        elif form == 1:
            yield address.exploded
        elif form == 2:
            yield ":".join(f"{g:x}" for g in groups)  # no compression at all
        elif form == 3:
            yield address.compressed.upper()
        elif form == 4:
            yield (
                ":".join(f"{g:x}" for g in groups[:6]) + ":" + str(ipaddress.IPv4Address(address.packed[12:]))
            )
        elif form == 5:  # compress one run of zeros that is not the longest, or a single zero
            zeros = [i for i, g in enumerate(groups) if g == 0]
            at = rng.choice(zeros) if zeros else 0
            yield (
                ":".join(f"{g:x}" for g in groups[:at]) + "::" + ":".join(f"{g:x}" for g in groups[at + 1 :])
            )
        else:
            yield address.compressed + rng.choice(["%eth0", "%1", "%", ":", "::", ":0", "/64", "]"])


def combined(ip: str, time: str, request: str, status: str, size: str, referer: str, agent: str) -> str:
    """A combined line from its fields, quoted as nginx quotes them (without escaping)."""
    return f'{ip} - - {time} "{request}" {status} {size} "{referer}" "{agent}"'


VALID = combined("1.2.3.4", TIME[0], REQUEST[0], "200", "5", "-", "curl/8")


def field_lines() -> Iterator[str]:
    """The valid line with one field replaced by each of its hostile variants (and two at once)."""
    base = ["1.2.3.4", TIME[0], REQUEST[0], "200", "5", "https://a.example/", "Mozilla/5.0"]
    pools = [IP, TIME, REQUEST, STATUS, BYTES, QUOTED, QUOTED]
    for index, pool in enumerate(pools):
        for value in pool:
            fields = list(base)
            fields[index] = value
            yield combined(*fields)
    for tail in TAILS:
        yield VALID + tail
    for host in HOSTS:
        yield f"{host} {VALID}"
    yield from ("", " ", "\t", "#", "# comment", '"', '""', VALID.replace(" ", "  ", 1), " " + VALID)
    yield VALID.replace(" - - ", " x y ")
    yield VALID.replace(" - - ", " - user name ")
    yield VALID.replace(" - - ", ' - "u" ')


def random_field_lines(rng: random.Random, count: int) -> Iterator[str]:
    """Lines whose every field is drawn from its hostile pool (many wrong fields at once)."""
    for _ in range(count):
        fields = [rng.choice(p) for p in (IP, TIME, REQUEST, STATUS, BYTES, QUOTED, QUOTED)]
        for i in range(len(fields)):  # most fields valid, so the line gets deep into the parser
            if rng.random() < 0.6:
                fields[i] = ["1.2.3.4", TIME[0], REQUEST[0], "200", "5", "-", "curl/8"][i]
        line = combined(*fields) + (rng.choice(TAILS) if rng.random() < 0.2 else "")
        yield f"{rng.choice(HOSTS)} {line}" if rng.random() < 0.1 else line


SPECIAL = [
    b'"',
    b"\\",
    b"\x00",
    b"\r",
    b"\n",
    b"\x1f",
    b" ",
    b"\t",
    b"-",
    b"[",
    b"]",
    b":",
    b"/",
    b"+",
    b"\xff",
    b"\xc3",
    b"\xc3\xa9",
    b"\xe2\x80\xa8",
    b"\xf0\x9f\x98\x80",
    b"\xed\xa0\x80",
    b"\x7f",
    b"9",
    b"0",
    b".",
    b"%",
]


def mutate(line: bytes, rng: random.Random) -> bytes:
    """``line`` with 1-4 byte-level edits: a flipped, inserted, deleted or duplicated piece."""
    data = bytearray(line)
    for _ in range(rng.randint(1, 4)):
        at = rng.randint(0, len(data))
        kind = rng.randrange(6)
        if kind == 0 and data and at < len(data):
            data[at] = rng.randrange(256)
        elif kind == 1:
            data[at:at] = rng.choice(SPECIAL)
        elif kind == 2 and data:
            del data[at : at + rng.randint(1, 8)]
        elif kind == 3 and data:
            start = rng.randrange(len(data))
            data[at:at] = data[start : start + rng.randint(1, 40)]
        elif kind == 4:
            data[at:at] = bytes([rng.randrange(256)])
        else:
            digit = rng.choice(b"0123456789")
            data[at:at] = bytes([digit]) * rng.randint(1, 25)
    return bytes(data)


def random_bytes_line(rng: random.Random) -> bytes:
    """Up to 200 random bytes (any value but the newline) in one line."""
    return bytes(rng.choice([b for b in range(256) if b != 10]) for _ in range(rng.randint(0, 200)))


def every_byte_lines() -> Iterator[bytes]:
    """The valid line with each byte value 0..255 (not \\n) put in each field once."""
    text = VALID.encode()
    cuts = [i for i, c in enumerate(text) if c in b' "[]/:'] + [len(text)]
    for value in range(256):
        if value == 10:
            continue
        for cut in cuts:
            yield text[:cut] + bytes([value]) + text[cut:]


def block_of(lines: list[bytes], *, final_newline: bool = True) -> bytes:
    """Lines joined into a block as the readers hand it over (ends with a newline)."""
    data = b"\n".join(lines)
    return data + b"\n" if final_newline and lines else data
