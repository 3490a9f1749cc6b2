"""Property test: thousands of hostile agents, rendered, accepted by the real servers, each blocked.

Three layers: (1) every generated file passes ``nginx -t`` (no warnings) and ``apache2 -t``;
(2) in Python, every rule regex matches the agent it was made for and none matches Chrome
or Googlebot; (3) a few hundred agents, sent raw to the running servers, get 403 while
Chrome gets 200.
"""

from __future__ import annotations

import random
import re

import pytest

from botguard.decide import Decision, DecisionSet, Match
from botguard.render.apache import ApacheRenderer
from botguard.render.base import TextRenderer
from botguard.render.nginx import NginxRenderer
from tests.render.hostile import hostile_agents
from tests.render.servers import CHROME, check, running
from tests.render.test_servers import GOOGLEBOT

COUNT = 3000
SAMPLE = 300
AGENTS = hostile_agents(COUNT)


FIXED = set(hostile_agents(0))


def _kind(ua: str) -> str:
    """Short fixed agents (";", "'") as substrings would match every browser: exact rules;
    generated agents carry a unique marker: substring rules."""
    return "ua_exact" if ua in FIXED else "ua_pattern"


def _decisions() -> DecisionSet:
    return DecisionSet.of([Decision("block", Match(_kind(ua), ua)) for ua in AGENTS])  # type: ignore[arg-type]


def _sent(ua: str) -> str:
    return ua if ua in FIXED else "x " + ua


def _pcre_as_python(regex: str) -> re.Pattern[bytes]:
    """Form B regexes are also valid Python bytes regexes (``\\xHH`` escapes, ``^$(?:|)``)."""
    return re.compile(regex.encode("ascii"), re.IGNORECASE)


def test_corpus_is_hostile_and_large() -> None:
    """The corpus has the size, the injection strings, long and invalid-UTF-8 agents."""
    assert len(AGENTS) == COUNT and len({a.lower() for a in AGENTS}) == COUNT
    assert 'zz" 1; "~*" 1; "zz' in AGENTS and "default" in AGENTS
    assert any(len(a.encode("utf-8", "surrogateescape")) > 4000 for a in AGENTS)
    assert any("\udcff" in a or "\udc80" in a for a in AGENTS)


def test_every_rule_matches_its_agent_and_spares_chrome() -> None:
    """For every agent, the rule made for it matches it (also inside a longer agent); Chrome matches none."""
    renderer = TextRenderer()
    for ua in AGENTS:
        pattern = _pcre_as_python(renderer.ua_regex(Decision("block", Match(_kind(ua), ua))))  # type: ignore[arg-type]
        raw = ua.encode("utf-8", "surrogateescape")
        assert pattern.search(raw if ua in FIXED else b"Mozilla/5.0 " + raw + b" tail"), ua[:80]
        assert not pattern.search(CHROME.encode()) and not pattern.search(GOOGLEBOT.encode()), ua[:80]


@pytest.mark.parametrize("kind", ["nginx", "apache"])
def test_hostile_rules_pass_the_real_server_and_block_each_agent(kind: str) -> None:
    """Real `-t` accepts the files; sampled agents get 403; Chrome and Googlebot get 200."""
    renderer = NginxRenderer() if kind == "nginx" else ApacheRenderer()
    files = {f.name: f.text for f in renderer.render(_decisions())}
    sendable = [a for a in AGENTS if len(a.encode("utf-8", "surrogateescape")) < 7000]
    sample = random.Random(7).sample(sendable, SAMPLE) + [a for a in AGENTS[:25] if a in sendable]
    with running(kind, files) as srv:
        validate = [a for a in srv.validate if a != "-q"]
        result = check(validate)
        assert result.returncode == 0 and "[warn]" not in result.stderr, result.stderr
        assert srv.get(ua=CHROME) == 200
        assert srv.get(ua=GOOGLEBOT) == 200
        wrong = [(ua[:60], status) for ua in sample if (status := srv.get(ua=_sent(ua))) != 403]
        assert not wrong, wrong[:10]
        assert srv.get("/robots.txt", ua=sample[0]) == 200


@pytest.mark.parametrize("kind", ["nginx", "apache"])
def test_hostile_agents_in_allowlisted_client_pairs(kind: str) -> None:
    """Hostile agents as (IP, agent) allow pairs: allowed from that IP only, blocked elsewhere."""
    from botguard.config import AllowedClient, Allowlist
    from botguard.decide import allow_decisions

    sendable = [a for a in AGENTS if len(a.encode("utf-8", "surrogateescape")) < 1500]
    sample = random.Random(11).sample(sendable, 100) + [a for a in AGENTS[:25] if a in sendable]
    allow = Allowlist(clients=tuple(AllowedClient("127.0.0.1", ua) for ua in sample))
    ds = DecisionSet.of(
        [Decision("block", Match("ua_exact", ua)) for ua in sample] + list(allow_decisions(allow))
    )
    renderer = NginxRenderer() if kind == "nginx" else ApacheRenderer()
    with running(kind, {f.name: f.text for f in renderer.render(ds)}) as srv:
        wrong = [(ua[:40], s) for ua in sample if (s := srv.get(ua=ua, source="127.0.0.1")) != 200]
        wrong += [(ua[:40], s) for ua in sample if (s := srv.get(ua=ua, source="127.0.0.3")) != 403]
        assert not wrong, wrong[:10]
        assert srv.get(ua=CHROME, source="127.0.0.3") == 200
