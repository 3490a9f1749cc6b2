"""Hostile agents and paths through the whole challenge flow on real nginx and Apache.

Agents from the render tests' hostile corpus (quotes, braces, ``${...}``, backslashes, UTF-8)
and raw non-UTF-8 bytes are challenged exactly, pass (the server and serve hash the same bytes)
and are never reflected; paths cannot redirect off-site or inject a header.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

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
