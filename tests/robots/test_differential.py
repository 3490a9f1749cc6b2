"""Differential test: our verdicts against Google's unmodified C++ parser (``jwm.robotstxt``).

Every generated (robots.txt, agent, URL) case must agree, verdict for verdict, and when we name
a deciding rule its line must be the reference's ``matching_line()``. The generator is seeded
(``tests/robots/gen.py``) and biased to the features where parsers drift apart.
"""

from __future__ import annotations

import random

import pytest

from botguard.robots import RobotsTxt, limit
from botguard.robots._matcher import GroupMatcher

from . import gen
from .test_google_spec import CASES

googlebot = pytest.importorskip(
    "jwm.robotstxt.googlebot",
    reason="jwm.robotstxt (Google's reference parser) has wheels only for CPython <= 3.12",
)

SEEDS = range(8)
BODIES_PER_SEED = 500
URLS_PER_BODY = 6


def _reference(body: bytes | str, agent: str, url: str) -> tuple[bool, int]:
    matcher = googlebot.RobotsMatcher()
    allowed = matcher.OneAgentAllowedByRobots(body, agent, url)
    return allowed, matcher.matching_line()


def _disagreements(cases: list[tuple[bytes | str, str, str]]) -> list[str]:
    """Cases where either matching path (by hand, or the compiled regex) differs from Google."""
    bad = []
    parsed: dict[bytes | str, RobotsTxt] = {}
    for body, agent, url in cases:
        robots = parsed.get(body) or parsed.setdefault(body, RobotsTxt.parse(body))
        compiled = RobotsTxt.parse(body)
        compiled._matcher(agent).compile()  # the hot path a scan batch takes
        expected, line = _reference(body, agent, url)
        for engine in (robots, compiled):
            rule = engine.explain(agent, url)
            allowed = engine.is_allowed(agent, url)
            consistent = allowed == (rule is None or rule.directive == "allow")
            if allowed != expected or not consistent or (rule is not None and rule.line != line):
                bad.append(
                    f"{body!r} agent={agent!r} url={url!r}: google={expected}@{line} ours={allowed} {rule}"
                )
    return bad


@pytest.mark.parametrize("seed", SEEDS)
def test_random_bodies_agree_with_google(seed: int) -> None:
    """Thousands of generated robots.txt/agent/URL cases: 100% agreement with the reference."""
    rng = random.Random(seed)
    cases = []
    for _ in range(BODIES_PER_SEED):
        body = gen.robots_body(rng)
        cases.extend((body, gen.agent_for(rng, body), gen.url_for(rng, body)) for _ in range(URLS_PER_BODY))
    bad = _disagreements(cases)
    assert not bad, f"{len(bad)}/{len(cases)} disagree, e.g.\n" + "\n".join(bad[:5])


def test_batch_api_agrees_with_single_calls() -> None:
    """allowed_many/explain_many give exactly is_allowed/explain, URL by URL."""
    rng = random.Random(99)
    for _ in range(200):
        body = gen.robots_body(rng)
        robots = RobotsTxt.parse(body)
        agent = gen.agent_for(rng, body)
        urls = [gen.url_for(rng, body) for _ in range(10)]
        assert robots.allowed_many(agent, urls) == [robots.is_allowed(agent, u) for u in urls]
        assert robots.explain_many(agent, urls) == [robots.explain(agent, u) for u in urls]


def test_large_rule_sets_agree_with_google() -> None:
    """Bodies with hundreds of rules for one agent (the bucketed matcher) agree too."""
    rng = random.Random(7)
    cases = []
    for _ in range(15):
        lines = ["User-agent: FooBot"]
        lines += [
            gen._line(rng, rng.choice(["allow", "disallow"])).decode("utf-8", "replace") for _ in range(400)
        ]
        body = "\n".join(lines).encode("utf-8", "surrogateescape")
        cases += [(body, "FooBot", gen.url_for(rng, body)) for _ in range(60)]
    bad = _disagreements(cases)
    assert not bad, f"{len(bad)}/{len(cases)} disagree, e.g.\n" + "\n".join(bad[:5])


def test_star_led_rule_sets_agree_with_google() -> None:
    """Hundreds of rules sharing one literal prefix (``/*x``, ``*a*b``, ``/shop*?q=``: the substring
    index, not a regex, decides these) agree with Google too."""
    rng = random.Random(11)
    cases = []
    for _ in range(12):
        lines = ["User-agent: FooBot"]
        for _ in range(300):
            pattern = rng.choice(["/*", "*", "/", "/shop*"]) + gen._pattern(rng).lstrip("/")
            lines.append(f"{rng.choice(['Allow', 'Disallow'])}: {pattern}")
        body = "\n".join(lines).encode("utf-8", "surrogateescape")
        robots = RobotsTxt.parse(body)
        assert _indexed_by_substring(robots._matcher("FooBot"))  # the case this test is about
        cases += [(body, "FooBot", gen.url_for(rng, body)) for _ in range(60)]
    bad = _disagreements(cases)
    assert not bad, f"{len(bad)}/{len(cases)} disagree, e.g.\n" + "\n".join(bad[:5])


def _indexed_by_substring(matcher: GroupMatcher) -> bool:
    stack = [matcher._root]
    while stack:
        node = stack.pop()
        if node._grams is not None:
            return True
        stack.extend((node.children or {}).values())
    return False


def test_spec_table_agrees_with_google() -> None:
    """The spec table's expected answers are themselves Google's answers."""
    wrong = [c for c in CASES if _reference(c[0], c[1], c[2])[0] != c[3]]
    assert not wrong


@pytest.mark.parametrize("line", [b"Disallow: /private-area", b"Allow: /private-area", b"User-agent: FooBot"])
def test_partial_last_line_at_the_500_kib_cut_agrees_with_google(line: bytes) -> None:
    """At the limit Google reads the straddling line up to the cut; so do we, verdict for verdict."""
    head = b"User-agent: *\nDisallow: /priv\nUser-agent: FooBot\nDisallow: /private\n"
    urls = ("/p", "/pr", "/priv", "/private", "/private-a", "/private-area", "/x")
    for kept_of_line in (3, 12, 16, len(line) - 1):  # the limit falls this far into the line
        body = gen.padded(head, line + b"\nDisallow: /\n", limit.MAX_BYTES - kept_of_line)
        kept, truncation = limit.cut(body)
        assert truncation is not None and truncation.partial
        assert kept.endswith(b"\n" + line[:kept_of_line])
        robots = RobotsTxt.parse(kept)
        for agent in ("FooBot", "BarBot"):
            ours = [
                (robots.is_allowed(agent, url), getattr(robots.explain(agent, url), "line", 0))
                for url in urls
            ]
            assert ours == [_reference(kept, agent, url) for url in urls], (kept_of_line, agent)
