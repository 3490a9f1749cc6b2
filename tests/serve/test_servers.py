"""The challenge tier on real nginx and Apache: routing, native pass checks, fail-open, escaping.

Each test runs the generated files in a test site (realip/remoteip from X-Forwarded-For) with
``botguard serve`` in a subprocess; passes are earned by solving the challenge in Python (the
browser tests do it in Chromium).
"""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from botguard.config import ServeSettings
from botguard.decide.records import Decision, DecisionSet, Match
from botguard.keyring import Key, rotate
from botguard.render.records import ChallengeTargets
from botguard.serve._tokens import pass_cookies
from tests.serve.site import (
    CHALLENGED_AGENT,
    CHALLENGED_IP,
    CHROME,
    CONTENT,
    NEIGHBOUR_IP,
    OTHER_IP,
    Site,
    pass_for,
    site,
)

KINDS = ("nginx", "apache")


@pytest.fixture(scope="module", params=KINDS)
def running(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with site(request.param, tmp_path_factory.mktemp(request.param)) as s:
        yield s


def test_unchallenged_client_gets_the_content(running: Site) -> None:
    """A client outside the challenged set is untouched."""
    reply = running.get(ip=OTHER_IP)
    assert (reply.status, reply.body) == (200, CONTENT)


def test_challenged_address_gets_the_challenge_never_the_content(running: Site) -> None:
    """A challenged address without a pass gets the page (403), for pages, directories and POSTs."""
    for path in ("/index.html", "/dir/", "/index.html?q=1"):
        reply = running.get(path, ip=CHALLENGED_IP)
        assert reply.challenged and CONTENT.strip() not in reply.body, (path, reply.status)
    posted = running.get("/index.html", ip=CHALLENGED_IP, method="POST", body=b"{}")
    assert posted.challenged


def test_challenged_agent_gets_the_challenge(running: Site) -> None:
    """An exact challenged agent from any address gets the challenge; case does not matter."""
    assert running.get(ip=OTHER_IP, ua=CHALLENGED_AGENT).challenged
    assert running.get(ip=OTHER_IP, ua=CHALLENGED_AGENT.upper()).challenged
    assert running.get(ip=OTHER_IP, ua=CHALLENGED_AGENT + " more").status == 200


def test_robots_txt_and_serve_itself_are_never_challenged(running: Site) -> None:
    """/robots.txt is 200 for a challenged client (that spelling only: the path is case-sensitive);
    /.botguard/healthz reaches serve."""
    reply = running.get("/robots.txt", ip=CHALLENGED_IP, ua=CHALLENGED_AGENT)
    assert reply.status == 200 and "Disallow" in reply.body
    assert running.get("/ROBOTS.TXT", ip=CHALLENGED_IP, ua=CHALLENGED_AGENT).challenged
    assert running.get("/.botguard/healthz", ip=CHALLENGED_IP).status == 200


def test_solved_challenge_gives_a_pass_the_server_checks_itself(running: Site) -> None:
    """After verification the same client gets the content, with no request reaching serve."""
    cookies = pass_for(running.port, CHALLENGED_IP)
    assert set(cookies) == {"bg_k", "bg_e", "bg_h", "bgpass"}
    before = running.serve.log.read_text().count("\n")
    for path in ("/index.html", "/dir/"):
        reply = running.get(path, ip=CHALLENGED_IP, cookies=cookies)
        assert reply.status == 200 and CONTENT in reply.body, (path, reply.status)
    assert running.serve.log.read_text().count("\n") == before  # checked natively: no call to Python


def test_pass_is_bound_to_address_and_agent(running: Site) -> None:
    """The same cookies from another address (even the same /24) or another agent are refused."""
    cookies = pass_for(running.port, CHALLENGED_IP)
    assert running.get(ip=NEIGHBOUR_IP, cookies=cookies).challenged
    assert running.get(ip=CHALLENGED_IP, ua=CHROME + " x", cookies=cookies).challenged
    assert running.get(ip=CHALLENGED_IP, ua=None, cookies=cookies).challenged


def test_forged_and_expired_passes_are_refused(running: Site) -> None:
    """A wrong hash, an unknown secret, an expired pass, an edited expiry: the challenge again."""
    key = running.ring.keys[0]
    good = pass_cookies(key, CHALLENGED_IP, CHROME, int(time.time()) + 600).as_dict()
    assert running.get(ip=CHALLENGED_IP, cookies=good).status == 200  # the test's own forge is right...
    expired = pass_cookies(key, CHALLENGED_IP, CHROME, int(time.time()) - 5).as_dict()
    edited = {**good, "bg_e": str(int(good["bg_e"]) + 86400),
              "bgpass": good["bgpass"].replace(good["bgpass"].split("-")[1], "20991231235959")}  # fmt: skip
    flipped = {**good, "bg_h": good["bg_h"][::-1], "bgpass": good["bgpass"][:-4] + "0000"}
    stranger = Key("ffffffff", "f" * 64, 0.0)  # a key the server does not hold
    wrong_key = pass_cookies(stranger, CHALLENGED_IP, CHROME, int(time.time()) + 600).as_dict()
    for cookies in (expired, edited, flipped, wrong_key):
        assert running.get(ip=CHALLENGED_IP, cookies=cookies).challenged, cookies


def test_client_cannot_choose_its_binding(running: Site) -> None:
    """X-Botguard-* headers a client sends are replaced by the server's own values."""
    forged = {"X-Botguard-Bind": NEIGHBOUR_IP, "X-Botguard-UA": "other"}
    page = running.get(ip=CHALLENGED_IP, headers=forged)
    cookies = pass_for(running.port, CHALLENGED_IP)
    assert page.challenged and running.get(ip=CHALLENGED_IP, cookies=cookies).status == 200
    line = [json.loads(x) for x in running.serve.log.read_text().splitlines() if '"challenged"' in x][-1]
    assert line["client"] == CHALLENGED_IP


def test_serve_access_log_never_holds_secrets(running: Site) -> None:
    """One JSON line per request: no cookie value, challenge or key."""
    cookies = pass_for(running.port, CHALLENGED_IP)
    text = running.serve.log.read_text()
    lines = [json.loads(x) for x in text.splitlines()]
    assert {"time", "client", "route", "status", "outcome", "ms"} <= set(lines[-1])
    for secret in [*cookies.values(), *(k.secret for k in running.ring.keys)]:
        assert secret not in text


@pytest.mark.parametrize("kind", KINDS)
def test_network_binding_lets_the_same_24_pass(kind: str, tmp_path: Path) -> None:
    """With bind: network, a pass works from the same /24 and not from another one."""
    targets = ChallengeTargets(("198.51.100.0/24", "192.0.2.0/24"))
    with site(kind, tmp_path, ServeSettings(difficulty=8, bind="network", timeout=5.0), targets) as s:
        cookies = pass_for(s.port, CHALLENGED_IP)
        assert s.get(ip=NEIGHBOUR_IP, cookies=cookies).status == 200
        assert s.get(ip="192.0.2.7", cookies=cookies).challenged


@pytest.mark.parametrize("kind", KINDS)
def test_rotation_keeps_old_passes_until_the_files_drop_their_key(kind: str, tmp_path: Path) -> None:
    """After a rotation both keys verify; a ring without the old key refuses its passes."""
    with site(kind, tmp_path) as s:
        old = pass_for(s.port, CHALLENGED_IP)
        ring = rotate(tmp_path / "serve-secret.json", time.time(), s.settings.cookie_lifetime)
        assert len(ring.keys) == 2
        s.rerender(ring)
        assert s.get(ip=CHALLENGED_IP, cookies=old).status == 200
        new = pass_cookies(ring.keys[0], CHALLENGED_IP, CHROME, int(time.time()) + 600).as_dict()
        assert s.get(ip=CHALLENGED_IP, cookies=new).status == 200
        s.rerender(type(ring)(ring.keys[:1]))
        assert s.get(ip=CHALLENGED_IP, cookies=old).challenged
        assert s.get(ip=CHALLENGED_IP, cookies=new).status == 200


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_fail_open_when_serve_is_down(kind: str, how: str, tmp_path: Path) -> None:
    """serve stopped or killed: challenged clients get the content (directories and query strings
    too), unchallenged ones are untouched, the server still validates."""
    with site(kind, tmp_path) as s:
        assert s.get(ip=CHALLENGED_IP).challenged
        s.serve.stop(getattr(signal, how))
        for path, want in (
            ("/index.html?q=1", CONTENT),
            ("/dir/", "dir " + CONTENT),
            ("/robots.txt", "Disallow"),
        ):
            reply = s.get(path, ip=CHALLENGED_IP)
            assert want in reply.body, (path, reply.status, reply.body[:200])
            # nginx serves the content as it is (200); Apache keeps the ErrorDocument's status
            assert reply.status == (200 if kind == "nginx" or path == "/robots.txt" else 503), (
                path,
                reply.status,
            )
        assert s.get(ip=OTHER_IP).status == 200
        assert s.validate().returncode == 0
        s.serve.start()
        assert s.get(ip=CHALLENGED_IP).challenged  # and back when serve is


@pytest.fixture()
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung serve)."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    listener.close()


@pytest.mark.parametrize("kind", KINDS)
def test_fail_open_when_serve_hangs(kind: str, tmp_path: Path, silent_port: int) -> None:
    """serve accepts but never answers: after the timeout the challenged client gets the content."""
    settings = ServeSettings(difficulty=8, timeout=1.0)
    with site(kind, tmp_path, settings, start_serve=False) as s:
        s.settings = ServeSettings(difficulty=8, timeout=1.0, listen=f"127.0.0.1:{silent_port}")
        s.rerender()
        started = time.monotonic()
        reply = s.get(ip=CHALLENGED_IP)
        assert CONTENT in reply.body and time.monotonic() - started < 5, reply.status


@pytest.mark.parametrize("kind", KINDS)
def test_serve_on_a_unix_socket(kind: str, tmp_path: Path) -> None:
    """listen: unix:/path works end to end: challenge, pass, content; and fails open when stopped."""
    with site(kind, tmp_path, unix=True) as s:
        assert s.serve.listen.startswith("unix:")
        cookies = pass_for(s.port, CHALLENGED_IP)
        assert s.get(ip=CHALLENGED_IP, cookies=cookies).status == 200
        s.serve.stop()
        assert CONTENT in s.get(ip=CHALLENGED_IP).body


@pytest.mark.parametrize("kind", KINDS)
def test_block_rules_win_over_the_challenge_even_when_serve_is_down(kind: str, tmp_path: Path) -> None:
    """A client both blocked (agent) and challenged (address) gets 403, never the challenge or,
    with serve down, the content: fail-open never widens access."""
    blocks = DecisionSet.of([Decision("block", Match("ua_pattern", "BlockedBot"))])
    with site(kind, tmp_path, blocks=blocks) as s:
        assert s.get(ip=CHALLENGED_IP, ua="BlockedBot/2.0").status == 403
        s.serve.stop(signal.SIGKILL)
        reply = s.get(ip=CHALLENGED_IP, ua="BlockedBot/2.0")
        assert reply.status == 403 and CONTENT not in reply.body
        assert CONTENT in s.get(ip=CHALLENGED_IP).body  # the challenged, unblocked client: fail-open
