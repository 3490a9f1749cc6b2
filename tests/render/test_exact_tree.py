"""Exact agents as prefix-tree regexes: the same matches as one anchored regex per agent, in fewer bytes."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from botguard.decide.records import Decision, Match
from botguard.render.nginx import NginxRenderer
from tests.render.hostile import FIXED

NGINX = NginxRenderer()
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
# few letters and the bytes escaping cares about, so agents share prefixes and collide
AGENT = st.text(st.sampled_from('aAb/ .;"\\$~{}\té'), min_size=1, max_size=12).filter(
    lambda a: a.strip(" \t")
)


def _matches(tokens: list[str], agent: str) -> bool:
    """As nginx's ``~*`` does (ASCII case folding), with Python's re on the same escapes."""
    subject = agent.encode("utf-8", "surrogateescape").decode("latin-1")
    return any(re.search(token.removeprefix("~*"), subject, re.IGNORECASE | re.ASCII) for token in tokens)


def _one_by_one(agents: list[str], agent: str) -> bool:
    regexes = [NGINX.ua_regex(Decision("block", Match("ua_exact", a))) for a in agents]
    return _matches(regexes, agent)


@given(st.lists(AGENT, min_size=1, max_size=12), AGENT)
def test_the_tree_matches_exactly_what_the_agents_match_one_by_one(agents: list[str], other: str) -> None:
    tokens = NGINX.exact_alternations(agents, "~*")
    for agent in agents:
        shouted = "".join(c.upper() if c.isascii() else c for c in agent)  # ~* folds ASCII only
        assert _matches(tokens, agent) and _matches(tokens, f" \t{shouted}  ")
    assert _matches(tokens, other) == _one_by_one(agents, other)
    assert _matches(tokens, other + "x") == _one_by_one(agents, other + "x")


def test_hostile_agents_and_a_shared_browser_prefix() -> None:
    """The hostile corpus and 100 agents sharing Chrome's prefix: each matched, Chrome not, fewer bytes."""
    agents = [a for a in FIXED if a.strip(" \t")] + [f"{CHROME[:40]} Scraper{i:03d}/1.0" for i in range(100)]
    tokens = NGINX.exact_alternations(agents, "~*")
    assert all(_matches(tokens, a) for a in agents)
    assert not _matches(tokens, CHROME) and not _matches(tokens, CHROME[:40])
    plain = NGINX.alternations(
        tuple(NGINX.ua_regex(Decision("block", Match("ua_exact", a))) for a in agents), "~*"
    )
    assert sum(map(len, tokens)) < sum(map(len, plain)) / 2
    assert all(len(t) <= NGINX.max_token for t in tokens)


def test_many_agents_split_into_tokens_the_server_accepts_and_a_long_one_keeps_its_prefix() -> None:
    agents = [f"Agent{i:05d}-{'x' * 40}" for i in range(400)] + ["L" * 5000]
    tokens = NGINX.exact_alternations(agents, "~*")
    assert len(tokens) > 2 and all(len(t) <= NGINX.max_token for t in tokens)
    assert all(_matches(tokens, a) for a in agents) and not _matches(tokens, "Agent99999")
