"""The challenge tier end to end, as a user runs it: scan a log -> deploy-rules -> nginx/Apache + serve.

A log with a person, a program walking pages (no referer, no asset), Bytespider breaking robots.txt
and Googlebot is scanned by the real CLI; deploy-rules writes the block rules and the challenge
routing into the running server's rule directory, checks and reloads it; serve runs beside it.
Then the program's next request gets the challenge page, Bytespider 403, the person and Googlebot
the content, /robots.txt is 200 for everyone, and headless Chromium at the program's address
solves the challenge and gets the content.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from botguard.config import ServeSettings
from botguard.decide import Decision, DecisionSet, Match
from botguard.render.challenge import challenge_targets
from tests.helpers import run_cli
from tests.serve.browser import chromium, solve_in
from tests.serve.site import CHROME, CONTENT, Site, _commands, _serve_yaml, site

PERSON_IP = "198.51.100.20"
PROGRAM_IP = "198.51.100.7"
BYTESPIDER_IP = "203.0.113.2"
GOOGLEBOT_IP = "66.249.66.1"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
BYTESPIDER = "Mozilla/5.0 (compatible; Bytespider; spider-feedback@bytedance.com)"
START = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def _line(ip: str, second: int, path: str, agent: str, referer: str = "-") -> str:
    when = (START + timedelta(seconds=second)).strftime("%d/%b/%Y:%H:%M:%S +0000")
    return f'{ip} - - [{when}] "GET {path} HTTP/1.1" 200 512 "{referer}" "{agent}"'


def access_log() -> str:
    """A person (pages, their assets, same-site referers), a program (pages only), Bytespider in
    /private/ (disallowed) and Googlebot reading robots.txt first."""
    lines = []
    for i in range(4):
        page = f"/product/{100 + i}"
        lines.append(_line(PERSON_IP, i * 30, page, CHROME, "https://www.example.com/"))
        lines += [_line(PERSON_IP, i * 30 + 1, a, CHROME, "https://www.example.com" + page)
                  for a in ("/static/site.css", "/static/app.js", f"/img/{100 + i}.jpg")]  # fmt: skip
    lines += [_line(PROGRAM_IP, i * 3, f"/product/{200 + i}", CHROME) for i in range(8)]
    lines += [_line(BYTESPIDER_IP, i * 2, f"/private/{i}", BYTESPIDER) for i in range(6)]
    lines.append(_line(GOOGLEBOT_IP, 0, "/robots.txt", GOOGLEBOT))
    lines += [_line(GOOGLEBOT_IP, 10 + i * 20, f"/product/{300 + i}", GOOGLEBOT) for i in range(5)]
    return "\n".join(sorted(lines, key=lambda line: line.split("[", 1)[1])) + "\n"


def deploy_config(running: Site, path: Path) -> Path:
    """The user's config: the server's own check and reload commands, and serve's settings."""
    validate, reload, _ = _commands(running.kind, running.prefix)
    serve = _serve_yaml(running.settings) | {"listen": running.settings.listen}
    other = "apache" if running.kind == "nginx" else "nginx"
    conf = {"deploy": {running.kind: {"validate": validate, "reload": reload},
                       other: {"validate": [], "reload": []}}, "serve": serve}  # fmt: skip
    path.write_text(json.dumps(conf))  # JSON is YAML
    return path


@pytest.fixture(scope="module", params=["nginx", "apache"])
def deployed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp(request.param)
    # the site starts with no challenge (a target no request comes from); serve runs beside it
    nobody = challenge_targets(DecisionSet())
    with site(request.param, tmp, ServeSettings(timeout=5.0), nobody) as running:
        log, robots = tmp / "access.log", tmp / "robots.txt"
        log.write_text(access_log())
        robots.write_text("User-agent: *\nDisallow: /private/\n")
        state = str(running.serve.state)
        r = run_cli("scan", str(log), "--robots", str(robots), "--no-dns", "--state", state, "--format", "json",
                    "--output", str(tmp / "scan.json"))  # fmt: skip
        assert r.exit_code == 0, r.output
        verdicts = {c["ip"]: c["verdict"] for c in json.loads((tmp / "scan.json").read_text())["clients"]}
        assert verdicts == {PERSON_IP: "allow", PROGRAM_IP: "challenge", BYTESPIDER_IP: "block",
                            GOOGLEBOT_IP: "allow"}  # fmt: skip
        option = "--nginx-dir" if request.param == "nginx" else "--apache-dir"
        config = deploy_config(running, tmp / "deploy.json")
        r = run_cli("deploy-rules", option, str(running.prefix / "botguard"), "--config", str(config),
                    "--state", state)  # fmt: skip
        assert r.exit_code == 0 and "1 block, 1 challenge" in r.stdout and "reloaded" in r.stdout, r.output
        assert "does not answer" not in r.stderr, r.output  # serve is up
        yield running


def _eventually_challenged(running: Site, stable: int = 10) -> bool:
    """After a reload the old workers answer for a moment: poll until the new rules answer
    ``stable`` times in a row (a loaded machine may take seconds)."""
    deadline, streak = time.monotonic() + 30, 0
    while streak < stable:
        if time.monotonic() > deadline:
            return False
        streak = streak + 1 if running.get(ip=PROGRAM_IP).challenged else 0
        if not streak:
            time.sleep(0.05)
    return True


def test_the_scan_decides_who_the_server_challenges_blocks_and_serves(deployed: Site) -> None:
    assert _eventually_challenged(deployed)
    assert deployed.get(ip=PROGRAM_IP, ua="curl/8.5.0").challenged  # the address, whatever agent
    assert deployed.get(ip=BYTESPIDER_IP, ua=BYTESPIDER).status == 403
    assert not deployed.get(ip=BYTESPIDER_IP, ua=BYTESPIDER).challenged
    person = deployed.get(ip=PERSON_IP, ua=CHROME)
    assert (person.status, person.body) == (200, CONTENT)
    googlebot = deployed.get(ip=GOOGLEBOT_IP, ua=GOOGLEBOT)
    assert (googlebot.status, googlebot.body) == (200, CONTENT)
    for ip, ua in (
        (PROGRAM_IP, CHROME),
        (BYTESPIDER_IP, BYTESPIDER),
        (PERSON_IP, CHROME),
        (GOOGLEBOT_IP, GOOGLEBOT),
    ):
        assert deployed.get("/robots.txt", ip=ip, ua=ua).status == 200, ip


def test_chromium_at_the_challenged_address_solves_and_gets_the_content(deployed: Site) -> None:
    assert _eventually_challenged(deployed)
    with chromium() as browser:
        context = browser.new_context(extra_http_headers={"X-Forwarded-For": PROGRAM_IP})
        page = context.new_page()
        solve_in(page, f"http://127.0.0.1:{deployed.port}/index.html")
        assert CONTENT.strip() in page.content()
        context.close()
    assert deployed.get(ip=PROGRAM_IP).challenged  # the same address without the pass still is


@pytest.mark.parametrize("kind", ["nginx", "apache"])
def test_the_allowlist_wins_inside_a_challenged_network(kind: str, tmp_path: Path) -> None:
    """A challenged /24 with an allowlisted address and an allowlisted (address, agent) pair in it:
    the server sends those straight to the content, the rest of the network to the challenge."""
    decisions = DecisionSet.of([
        Decision("challenge", Match("cidr", "198.51.100.0/24")),
        Decision("allow", Match("ip", "198.51.100.30")),
        Decision("allow", Match("client", "Monitor/1.0", "198.51.100.31")),
    ])  # fmt: skip
    with site(kind, tmp_path, ServeSettings(timeout=5.0), challenge_targets(decisions)) as running:
        assert running.get(ip="198.51.100.29").challenged
        assert running.get(ip="198.51.100.30").body == CONTENT
        assert running.get(ip="198.51.100.31", ua="Monitor/1.0").body == CONTENT
        assert running.get(ip="198.51.100.31", ua=CHROME).challenged
