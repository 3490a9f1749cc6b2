"""Seeded generator of adversarial robots.txt bodies, agents and URLs for differential tests.

Biased to the features where Python parsers drift from Google's reference: key typos and
prefixes, missing colons, mixed line endings, BOM fragments, NUL bytes, ``*`` and ``$``,
%-escapes in either case, non-UTF-8 bytes, index.html rules, repeated and empty user-agent
lines, ``#`` inside values, very long lines.
"""

from __future__ import annotations

import random

AGENTS = [
    "FooBot",
    "foobot",
    "BarBot",
    "Googlebot",
    "Googlebot-Image",
    "GPT_Bot",
    "baz-bot",
    "",
    "*",
    "Foo",
    "Foo Bar",
    "FooBot/1.0",
    "foo*",
    "Qux",
    "a",
    "\u212a",
    "B\u00e4rBot",
]
UA_VALUES = [
    "FooBot",
    "foobot",
    "FOOBOT",
    "BarBot",
    "Googlebot",
    "googlebot/2.1",
    "Googlebot-Image",
    "GPT_Bot",
    "baz-bot",
    "*",
    "* ",
    "*foo",
    "* FooBot",
    "Foo Bar",
    "FooBot/1.0",
    "Foo",
    "",
    " ",
    "Qux(compat)",
    "a",
    "k",
    "B\u00e4rBot",
    "*\tx",
    "\tFooBot",
    "Foo\x0bBot",
]
KEYS_UA = [
    "user-agent",
    "User-Agent",
    "USER-AGENT",
    "useragent",
    "user agent",
    "user-agentx",
    "User-agents",
    "user_agent",
    "agent",
    "user-agen",
]
KEYS_ALLOW = ["allow", "Allow", "ALLOW", "allowed", "Allows", "alow", "allow-x"]
KEYS_DISALLOW = [
    "disallow",
    "Disallow",
    "DISALLOW",
    "dissallow",
    "dissalow",
    "disalow",
    "diasllow",
    "disallaw",
    "disallows",
    "disalloww",
    "dis-allow",
    "Disallow-all",
]
KEYS_OTHER = [
    "sitemap",
    "Site-map",
    "crawl-delay",
    "Crawl-delay",
    "host",
    "noindex",
    "content-signal",
    "clean-param",
    "request-rate",
    "",
]
SEGMENTS = [
    "a",
    "b",
    "x",
    "fish",
    "page",
    "index.html",
    "index.htm",
    "index.php",
    "foo",
    "bar",
    "baz",
    "p.php",
    "q",
    "%aa",
    "%2F",
    "%2f",
    "%62%61%7A",
    "baz",
    "\u00e9",
    "%C3%A9",
    "\u30c4",
    "%E3%83%84",
    "A",
    "Fish",
    "$",
    "*",
    ";",
    "?",
    "=",
    "&",
    ".",
    "..",
    "~",
    "+",
    ":",
]
BOMS = [b"", b"", b"", b"\xef", b"\xef\xbb", b"\xef\xbb\xbf", b"\xef\x11\xbf", b"\xbb\xbf"]
ENDINGS = [b"\n", b"\n", b"\n", b"\r\n", b"\r", b"\n\n", b"\r\r\n", b"\n\r"]


def _pattern(rng: random.Random) -> str:
    n = rng.choice([0, 1, 1, 2, 2, 3, 4])
    parts = [rng.choice(SEGMENTS) for _ in range(n)]
    sep = rng.choice(["/", "/", "/", "*", "/*", "", "*/"])
    pat = ("/" if rng.random() < 0.85 else "") + sep.join(parts)
    r = rng.random()
    if r < 0.15:
        pat += "$"
    elif r < 0.25:
        pat += "*"
    elif r < 0.30:
        pat += "/"
    if rng.random() < 0.03:
        pat = ""
    if rng.random() < 0.02:
        pat = "*"
    return pat


def _sep(rng: random.Random) -> str:
    return rng.choice([": ", ":", " : ", ":\t", " ", "\t", "  ", ": ", ": ", "::", " :"])


def _line(rng: random.Random, kind: str) -> bytes:
    if kind == "ua":
        key = rng.choice(KEYS_UA) if rng.random() < 0.3 else rng.choice(["User-agent", "user-agent"])
        value = rng.choice(UA_VALUES)
    elif kind == "allow":
        key, value = rng.choice(KEYS_ALLOW) if rng.random() < 0.3 else "Allow", _pattern(rng)
    elif kind == "disallow":
        key, value = rng.choice(KEYS_DISALLOW) if rng.random() < 0.3 else "Disallow", _pattern(rng)
    else:
        key, value = (
            rng.choice(KEYS_OTHER),
            rng.choice(["5", "http://x/s.xml", "/x", "search=yes, ai-train=no", ""]),
        )
    indent = rng.choice(["", "", "", " ", "\t"])
    sep = _sep(rng) if rng.random() < 0.4 else ": "
    text = f"{indent}{key}{sep}{value}"
    r = rng.random()
    if r < 0.05:
        text += " # comment"
    elif r < 0.08:
        text += "#x"
    elif r < 0.10:
        text += rng.choice([" ", "\t", " \x0b", "\x0c"])
    elif r < 0.12:
        text += " extra"
    raw = text.encode("utf-8")
    r = rng.random()
    if r < 0.02:
        raw = raw.replace(b"\xc3\xa9", b"\xe9")  # Latin-1 byte, not UTF-8
    elif r < 0.03:
        raw += b"\x00/nul-tail"
    elif r < 0.04:
        cut = rng.randrange(len(raw) + 1)
        raw = raw[:cut] + b"\xef\xbb\xbf" + raw[cut:]  # BOM mid-file
    elif r < 0.045:
        raw += b"/" + b"a" * rng.choice([16640, 16650, 16663, 16670, 17000]) + b"/tail"
    return raw


def _kinds(rng: random.Random) -> list[str]:
    """Line kinds: usually well-formed groups (so rules apply), sometimes pure chaos."""
    if rng.random() < 0.3:
        weights = {"ua": 3, "allow": 3, "disallow": 4, "other": 1, "blank": 1, "comment": 0.5, "junk": 0.5}
        names = list(weights)
        return rng.choices(names, [weights[k] for k in names], k=rng.choice([0, 1, 2, 3, 4, 6, 8, 12, 20]))
    kinds: list[str] = []
    if rng.random() < 0.2:
        kinds.append(rng.choice(["allow", "disallow", "other"]))
    for _ in range(rng.choice([1, 1, 2, 3, 4])):
        kinds += ["ua"] * rng.choice([1, 1, 1, 2, 3])
        for _ in range(rng.choice([0, 1, 2, 3, 4, 5])):
            kinds.append(
                rng.choices(
                    ["allow", "disallow", "other", "blank", "comment", "junk"], [4, 5, 0.5, 0.5, 0.3, 0.3]
                )[0]
            )
    return kinds


def robots_body(rng: random.Random) -> bytes:
    """One random robots.txt body (bytes)."""
    out = [rng.choice(BOMS)]
    for kind in _kinds(rng):
        if kind == "blank":
            line = rng.choice([b"", b" ", b"\t"])
        elif kind == "comment":
            line = b"# " + rng.choice([b"Disallow: /", b"hi", b""])
        elif kind == "junk":
            line = rng.choice(
                [
                    b"foo bar baz",
                    b":",
                    b": /x",
                    b"disallow",
                    b"allow /a /b",
                    b"\x00disallow: /",
                    b"disallow:/a b",
                    b"*",
                    b"user-agent",
                ]
            )
        else:
            line = _line(rng, kind)
        out.append(line)
        out.append(rng.choice(ENDINGS))
    if out and rng.random() < 0.3:
        out.pop()  # no final line terminator
    return b"".join(out)


def url(rng: random.Random) -> str:
    """One random URL or path (str; non-ASCII characters go to the matcher as UTF-8)."""
    n = rng.choice([0, 1, 1, 2, 3, 4])
    path = "/" + "/".join(rng.choice(SEGMENTS) for _ in range(n))
    r = rng.random()
    if r < 0.15:
        path += "/"
    elif r < 0.25:
        path += "?" + rng.choice(["a=1", "id=fish", "q=http://x.y/z", ""])
    elif r < 0.3:
        path += "#frag"
    prefix = rng.choice(
        [
            "http://example.com",
            "https://example.com:8080",
            "",
            "",
            "",
            "//example.com",
            "example.com",
            "ftp://a",
            "http://x.y?q",
            "a",
            "http://x.y#f",
            "http://u@h",
        ]
    )
    if rng.random() < 0.03:
        path = path.replace("/", ";", 1) if rng.random() < 0.5 else path.replace("/", "?", 1)
    if rng.random() < 0.01:
        path += "\x00/zz"
    return prefix + path


def agent(rng: random.Random) -> str:
    return rng.choice(AGENTS)


def _values_after_keys(body: bytes) -> list[str]:
    out = []
    for line in body.replace(b"\r", b"\n").split(b"\n"):
        for sep in (b":", b" ", b"\t"):
            if sep in line:
                out.append(line.split(sep, 1)[1].strip().decode("utf-8", "replace"))
                break
    return out


def _instantiate(rng: random.Random, pattern: str) -> str:
    """A path near what ``pattern`` matches: stars filled, maybe cut short or extended."""
    pattern = pattern.split("#", 1)[0]
    if pattern.endswith("$") and rng.random() < 0.7:
        pattern = pattern[:-1]
    out = "".join(
        rng.choice(["", "x", "a/b", "/", ".php", "index.html"]) if ch == "*" else ch for ch in pattern
    )
    r = rng.random()
    if r < 0.2 and out:
        out = out[: rng.randrange(len(out))]
    elif r < 0.5:
        out += rng.choice(["/", "x", "/index.html", "?q=1", ".html", "$", "/a"])
    elif r < 0.55:
        out = out.replace("%C3%A9", "\u00e9").replace("%AA", "%aa")
    if not out.startswith("/") and rng.random() < 0.8:
        out = "/" + out
    return out


def url_for(rng: random.Random, body: bytes) -> str:
    """A URL biased to hit the rules of ``body`` (otherwise almost every case is 'allowed')."""
    values = [v for v in _values_after_keys(body) if v.startswith(("/", "*"))]
    if values and rng.random() < 0.75:
        path = _instantiate(rng, rng.choice(values))
        prefix = rng.choice(["http://example.com", "", "", "https://h:1", "//h"])
        return prefix + (path if path.startswith(("/", "?", ";")) or not prefix else "/" + path)
    return url(rng)


def agent_for(rng: random.Random, body: bytes) -> str:
    """An agent biased to be named by ``body``."""
    if rng.random() < 0.7:
        values = [
            line.split(b":", 1)[-1].strip().decode("utf-8", "replace")
            for line in body.replace(b"\r", b"\n").split(b"\n")
            if b"agent" in line.lower()
        ]
        if values:
            value = rng.choice(values)
            token = ""
            for ch in value:
                if ch.isascii() and (ch.isalpha() or ch in "-_"):
                    token += ch
                else:
                    break
            if rng.random() < 0.3:
                token = token.swapcase()
            return token
    return agent(rng)


def padded(head: bytes, tail: bytes, fill_to: int) -> bytes:
    """``head``, then comment lines up to ``fill_to`` bytes, then ``tail``: a file whose
    ``tail`` starts exactly at byte ``fill_to`` (for tests of the 500 KiB limit)."""
    comment = b"# " + b"x" * 97 + b"\n"
    body = head + comment * ((fill_to - len(head)) // len(comment))
    return body + b"#" * (fill_to - len(body) - 1) + b"\n" + tail
