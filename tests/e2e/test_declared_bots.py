"""Unknown self-declared bots are blocked by agent, from any address, on every target.

A log of 240 hostile self-declared bot agents (tests/render/hostile.py ``declared_bots``), each
breaking robots.txt from its own address, is scanned by the real CLI and deployed to real
nginx and apache2 with ``deploy-rules``. Every agent is then refused from a *new* address (not
its logged one); Chrome, the real Googlebot, python-requests and an app's CFNetwork agent from
that address are not. The Cloudflare renderer's expressions for the same scan read back, through
the strict rules-language reader, exactly the agents and tokens the decisions hold.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from botguard.config import Allowlist, DecideSettings
from botguard.decide import DecisionSet, build_decisions, catalog_lookup
from botguard.render.cloudflare import MAX_UA, render_cloudflare
from tests.deploy.cloudflare.rules_lang import Request, evaluate, lower, parse, strings
from tests.deploy.conftest import Site
from tests.helpers import run_cli
from tests.judge.scans import scan_records
from tests.render.hostile import HOSTILE_CLASSES, declared_bots
from tests.render.servers import CHROME
from tests.render.test_servers import GOOGLEBOT

AGENTS = declared_bots(240)
PYTHON_REQUESTS = "python-requests/2.31.0"
APP = "BotFinder/3.1 CFNetwork/1404.0.5 Darwin/22.3.0"  # an app with "bot" in its name: shared runtime
NEW_ADDRESS = "127.0.0.2"
ROBOTS = "User-agent: *\nDisallow: /private/\n"
STAMP = "[04/Mar/2024:10:{:02d}:00 +0000]"


def _nginx_logged(agent: str) -> str:
    """The agent as nginx's ``escape=default`` writes it: ``"``, ``\\`` and non-printable bytes as \\xHH."""
    raw = agent.encode("utf-8", "surrogateescape")
    return "".join(chr(b) if 0x20 <= b < 0x7F and b not in b'"\\' else f"\\x{b:02X}" for b in raw)


def _apache_logged(agent: str) -> str:
    """The agent as Apache writes it: ``\\"``, ``\\\\``, ``\\t``, other control and non-ASCII bytes as \\xhh."""
    out = []
    for b in agent.encode("utf-8", "surrogateescape"):
        if b in b'"\\':
            out.append("\\" + chr(b))
        elif b == 0x09:
            out.append("\\t")
        elif 0x20 <= b < 0x7F:
            out.append(chr(b))
        else:
            out.append(f"\\x{b:02x}")
    return "".join(out)


def _line(ip: str, path: str, agent: str, minute: int, logged: str) -> str:
    return f'{ip} - - {STAMP.format(minute)} "GET {path} HTTP/1.1" 200 512 "-" "{logged}"\n'


def _log() -> str:
    """Every bot breaks robots.txt three times; a person browses; Googlebot, python-requests and
    the app fetch pages robots.txt forbids too (the last two are blocked, by address only)."""
    lines = []
    for i, agent in enumerate(AGENTS):
        ip = f"198.51.{100 + i // 200}.{i % 200 + 1}"
        logged = _nginx_logged(agent) if i % 2 else _apache_logged(agent)
        lines += [_line(ip, f"/private/{i}/{n}", agent, n, logged) for n in range(3)]
    for n, path in enumerate(["/", "/style.css", "/app.js", "/blog/", "/logo.png", "/blog/a"]):
        lines.append(_line("192.0.2.10", path, CHROME, n, CHROME))
    for n in range(3):
        lines.append(_line("66.249.66.1", f"/blog/{n}", GOOGLEBOT, n, GOOGLEBOT))
        lines.append(_line("192.0.2.20", f"/private/r{n}", PYTHON_REQUESTS, n, PYTHON_REQUESTS))
        lines.append(_line("192.0.2.21", f"/private/a{n}", APP, n, APP))
    return "".join(lines)


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``botguard scan`` of the log: the scan document's path."""
    tmp = tmp_path_factory.mktemp("declared")
    (tmp / "access.log").write_text(_log(), encoding="ascii")
    (tmp / "robots.txt").write_text(ROBOTS)
    out = tmp / "scan.json"
    r = run_cli("scan", str(tmp / "access.log"), "--robots", str(tmp / "robots.txt"), "--format", "json",
                "-o", str(out), "--no-save", "--no-dns")  # fmt: skip
    assert r.exit_code == 0, r.output
    return out


def _decisions(scan: Path) -> DecisionSet:
    """What deploy-rules decides for the scan (the same function, the bundled catalogue)."""
    records = scan_records(json.loads(scan.read_text()))
    return build_decisions(
        records.client_rows(), records.crawlers, catalog_lookup(), Allowlist(), DecideSettings()
    )


def _server_refuses_header(kind: str, agent: str) -> bool:
    """apache2 (HttpProtocolOptions Strict) answers 400 to control characters but tab in a header."""
    return kind == "apache" and any((ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in agent)


def test_corpus_covers_every_hostile_class_and_all_block(scanned: Path) -> None:
    """>= 200 self-declared bots, every hostile class among them, each judged block."""
    assert len(AGENTS) >= 200
    for name, text in HOSTILE_CLASSES.items():
        assert any(text in agent for agent in AGENTS), name
    clients = json.loads(scanned.read_text())["clients"]
    verdicts = {c["ip"]: c["verdict"] for c in clients}
    assert sum(1 for ip, v in verdicts.items() if ip.startswith("198.51.") and v == "block") == len(AGENTS)
    assert verdicts["192.0.2.10"] == "allow" and verdicts["192.0.2.20"] == "block"


def test_each_bot_gets_a_user_agent_rule_and_shared_agents_do_not(scanned: Path) -> None:
    """A UA rule covers every bot (its token or its exact, decoded agent); python-requests and the
    CFNetwork app get IP rules only; no UA rule matches Chrome, Googlebot or those two."""
    ds = _decisions(scanned)
    ua = [d.match for d in ds.select("block", "ua_pattern", "ua_exact")]
    kinds = {m.kind for m in ua}
    assert kinds == {"ua_pattern", "ua_exact"}

    def covered(agent: str) -> bool:
        folded = agent.strip(" \t").lower()
        return any(
            (m.value.lower() in folded) if m.kind == "ua_pattern" else m.value.strip(" \t").lower() == folded
            for m in ua
        )

    assert [a[:60] for a in AGENTS if not covered(a)] == []
    assert not any(covered(a) for a in (CHROME, GOOGLEBOT, PYTHON_REQUESTS, APP))
    ips = {d.match.value for d in ds.select("block", "ip")}
    assert {"192.0.2.20", "192.0.2.21"} <= ips and "192.0.2.10" not in ips and "66.249.66.1" not in ips


def test_deployed_rules_refuse_each_bot_from_a_new_address(site: Site, scanned: Path) -> None:
    """deploy-rules on real nginx/apache2: every bot refused from 127.0.0.2, the others served."""
    r = run_cli(*site.args(scanned))
    assert r.exit_code == 0, r.output
    srv = site.server
    assert site.eventually(lambda: srv.get(ua=AGENTS[0], source=NEW_ADDRESS), 403) == 403
    wrong = []
    for agent in AGENTS:
        want = 400 if _server_refuses_header(srv.kind, agent) else 403
        if (status := srv.get(ua=agent, source=NEW_ADDRESS)) != want:
            wrong.append((agent[:60], status))
    assert wrong == []
    for agent in (CHROME, GOOGLEBOT, PYTHON_REQUESTS, APP):
        assert srv.get(ua=agent, source=NEW_ADDRESS) == 200, agent
    assert srv.get("/robots.txt", ua=AGENTS[0], source=NEW_ADDRESS) == 200


def _expressible(value: str) -> bool:
    """What a Cloudflare string can carry: no control characters (but surrounding tabs), valid UTF-8."""
    value = value.strip(" \t")
    return not any(ord(c) < 0x20 or ord(c) == 0x7F or 0xDC80 <= ord(c) <= 0xDCFF for c in value)


def test_cloudflare_expressions_read_back_the_agents(scanned: Path) -> None:
    """The strict reader reads back exactly the tokens and agents of the UA decisions; agents a
    Cloudflare string cannot carry (tab, control characters, invalid UTF-8) are reported."""
    ds = _decisions(scanned)
    desired = render_cloudflare(ds)
    rules = [parse(rule.expression) for rule in desired.rules]
    ua = [d.match for d in ds.select("block", "ua_pattern", "ua_exact")]
    got = sorted(s for tree in rules for s in strings(tree) if s != "/robots.txt")
    want = sorted(lower(m.value.strip(" \t"))[:MAX_UA] for m in ua if _expressible(m.value))
    assert got == want
    left = {x.value for x in desired.left_out if "control characters or invalid UTF-8" in x.reason}
    unexpressible = [m.value for m in ua if not _expressible(m.value)]
    assert unexpressible and len(left) == len(unexpressible)
    assert any("\t" in value.strip(" \t") for value in unexpressible)
    sent = [a for a in AGENTS if _expressible(a)]
    missed = [a[:60] for a in sent if not any(evaluate(t, Request(a.strip(" \t"))) for t in rules)]
    assert missed == []
    for agent in (CHROME, GOOGLEBOT, PYTHON_REQUESTS, APP):
        assert not any(evaluate(t, Request(agent)) for t in rules), agent
