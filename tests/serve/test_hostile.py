"""Hostile agents and paths through the whole challenge flow on real nginx and Apache.

Agents from the render tests' hostile corpus (quotes, braces, ``${...}``, backslashes, UTF-8)
and raw non-UTF-8 bytes are challenged exactly, pass (the server and serve hash the same bytes)
and are never reflected; paths cannot redirect off-site or inject a header.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from botguard.config import ServeSettings
from botguard.render.records import ChallengeTargets
from tests.render.hostile import FIXED
from tests.serve.site import CHALLENGED_IP, CONTENT, OTHER_IP, Site, pass_for, site

RAW_BYTES = b"RawBot/1.0 \xff\xfe \xc3("  # not UTF-8: logs and headers carry such bytes
AGENTS = [agent for agent in FIXED if agent.strip(" \t")]


@pytest.fixture(scope="module", params=["nginx", "apache"])
def running(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    agents = (*AGENTS, RAW_BYTES.decode("utf-8", "surrogateescape"))
    targets = ChallengeTargets(("198.51.100.0/24",), agents)
    with site(
        request.param,
        tmp_path_factory.mktemp(request.param),
        ServeSettings(difficulty=4, timeout=5.0),
        targets,
    ) as s:
        yield s


@pytest.mark.parametrize("agent", [*AGENTS, RAW_BYTES], ids=lambda a: repr(a)[:24])
def test_hostile_agent_is_challenged_then_passes(running: Site, agent: str | bytes) -> None:
    """Exactly this agent is challenged; it is not echoed; its solved challenge opens the content."""
    page = running.get(ip=OTHER_IP, ua=agent)
    assert page.challenged, (agent, page.status)
    text = agent if isinstance(agent, str) else agent.decode("utf-8", "replace")
    if len(text) > 3:
        assert text not in page.body
    cookies = pass_for(running.port, OTHER_IP, agent)
    reply = running.get(ip=OTHER_IP, ua=agent, cookies=cookies)
    assert (reply.status, reply.body) == (200, CONTENT), agent


@pytest.mark.parametrize(
    "path",
    [
        '/x"><script>alert(1)</script>',
        "/a%0D%0ASet-Cookie:%20evil=1",
        "//evil.example/",
        "/\\evil.example",
        "/%2F%2Fevil.example",
        "/${jndi:ldap://x/a}",
    ],
)
def test_hostile_path_is_not_an_open_redirect_or_injection(running: Site, path: str) -> None:
    """The return path is this site's (or "/"); no header comes from the path; no markup leaks."""
    reply = running.get(path, ip=CHALLENGED_IP)
    if running.kind == "apache" and "%2F" in path:  # AllowEncodedSlashes Off: Apache's own 404 first
        assert reply.status == 404 and CONTENT not in reply.body
        return
    assert reply.challenged, (path, reply.status)
    back = str(reply.challenge()["back"])
    assert back.startswith("/") and not back.startswith(("//", "/\\")) and "\\" not in back
    assert "<script>alert" not in reply.body and reply.headers.get_all("Set-Cookie") is None
    assert "evil" not in json.dumps(dict(reply.headers))


@pytest.mark.parametrize(
    "path",
    [
        "/.botguard/../index.html",
        "/.botguard/%2e%2e/index.html",
        "/.botguard//../index.html",
        "/.botguard/./../dir/",
        "/.botguard/gate/../../index.html",
        "/robots.txt/../index.html",
    ],
)
def test_dot_segments_after_an_exempt_path_are_still_challenged(running: Site, path: str) -> None:
    """A path that starts like /.botguard/ or /robots.txt but resolves elsewhere is judged by
    where it resolves: the content never reaches a challenged client without a pass."""
    reply = running.get(path, ip=CHALLENGED_IP)
    assert reply.challenged and CONTENT.strip() not in reply.body, (path, reply.status)


@pytest.mark.parametrize("path", ["/.botguard/report", "/%2ebotguard/report", "/.%62otguard/report"])
def test_serve_reached_through_the_site_always_carries_the_servers_headers(running: Site, path: str) -> None:
    """However /.botguard/ is spelled, serve sees the server's binding headers (never a client's):
    the admin report is not reachable from the public site, and a forged address is not logged."""
    assert running.get(path, ip=OTHER_IP).status == 404
    forged = {"X-Botguard-Client": "192.0.2.99", "X-Botguard-Bind": "192.0.2.99"}
    gate = path.replace("report", "gate")
    assert running.get(gate, ip=OTHER_IP, headers=forged).status in (403, 404)
    assert "192.0.2.99" not in running.serve.log.read_text()


@pytest.mark.parametrize("body", [b"[" * 3000, b'{"a":' * 800, b"\xff\xfe", b"[1]", b"null"])
def test_malformed_verification_bodies_get_a_400_not_a_crash(running: Site, body: bytes) -> None:
    """Deeply nested, undecodable or wrongly shaped JSON is "malformed" (400), logged like any request."""
    reply = running.get("/.botguard/verify", ip=CHALLENGED_IP, method="POST", body=body)
    assert (reply.status, json.loads(reply.body)) == (400, {"ok": False, "reason": "malformed"})
    assert json.loads(running.serve.log.read_text().splitlines()[-1])["outcome"] == "malformed"


def test_a_request_serve_cannot_parse_is_one_log_line_not_a_traceback(running: Site) -> None:
    """An agent with a control character (nginx passes it on, Apache refuses it itself) is not
    something serve's HTTP parser takes: the client gets a 400 (never the content), and serve's
    log gets one JSON line, not a traceback on stderr (any client could fill the admin's journal)."""
    before = len(running.serve.log.read_text().splitlines())
    reply = running.get(ip=CHALLENGED_IP, ua=b"Evil\x16Bot/1.0")
    assert reply.status == 400 and CONTENT not in reply.body
    logged = [json.loads(line) for line in running.serve.log.read_text().splitlines()[before:]]
    assert [line.get("event") for line in logged] == ([] if running.kind == "apache" else ["bad-request"])
    proc = running.serve.proc
    assert proc is not None and proc.stderr is not None
    os.set_blocking(proc.stderr.fileno(), False)
    assert b"Traceback" not in (proc.stderr.read() or b"")


def test_an_oversized_verification_body_is_refused_and_logged(running: Site) -> None:
    """A body over serve's 4 KiB is a 413 (never the content), and like every request one line in
    serve's access log, with that status."""
    reply = running.get(
        "/.botguard/verify", ip=CHALLENGED_IP, method="POST", body=b'{"a": "' + b"x" * 6000 + b'"}'
    )
    assert reply.status == 413 and CONTENT not in reply.body
    last = json.loads(running.serve.log.read_text().splitlines()[-1])
    assert (last["route"], last["status"], last["client"]) == ("/.botguard/verify", 413, CHALLENGED_IP), last


@pytest.mark.parametrize("host", ["0.0.0.0", "127.0.0.1"])
def test_serve_reachable_from_other_machines_says_so(host: str, tmp_path: Path) -> None:
    """serve believes the X-Botguard-* headers: whoever reaches it directly can send them and get
    passes for any address and agent. Listening beyond loopback is allowed (a container network)
    but its first log lines say so; on loopback they do not."""
    from tests.render.servers import free_port
    from tests.serve.site import Serve

    config = tmp_path / "botguard.yaml"
    config.write_text("serve: {difficulty: 4}\n")
    serve = Serve(f"{host}:{free_port()}", tmp_path / "state.db", config)
    serve.start()
    try:
        events = [json.loads(line) for line in serve.log.read_text().splitlines() if '"event"' in line]
    finally:
        serve.stop()
    warned = [e for e in events if e.get("event") == "warning"]
    if host == "127.0.0.1":
        assert warned == [], events
    else:
        assert len(warned) == 1 and "any address and agent" in warned[0]["warning"], events
