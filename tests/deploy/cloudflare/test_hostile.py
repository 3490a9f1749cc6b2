"""The hostile user-agent corpus (tests/render/hostile.py) through the Cloudflare renderer.

Cloudflare has no ``nginx -t``: instead every expression is read back by a strict reader of the
rules language (tests/deploy/cloudflare/rules_lang.py) and evaluated. No agent may escape its string:
the string literals read back are exactly the agents (lower-cased A-Z only, as Cloudflare's
``lower()``) and the guards' literals, and the grammar accepts nothing else. Each agent's rule
blocks it, and no rule blocks Chrome, Googlebot, ``/robots.txt`` or a verified bot.
"""

from __future__ import annotations

import random
from collections import Counter

from botguard.decide import Decision, DecisionSet, Match
from botguard.render.cloudflare import MAX_EXPRESSION, MAX_UA, render_cloudflare
from tests.deploy.cloudflare.rules_lang import (
    Request,
    RulesSyntaxError,
    evaluate,
    lower,
    parse,
    strings,
    tokenize,
)
from tests.render.hostile import hostile_agents
from tests.render.servers import CHROME
from tests.render.test_servers import GOOGLEBOT

AGENTS = hostile_agents(3000)
FIXED = set(hostile_agents(0))
SAMPLE = 300


def _kind(ua: str) -> str:
    """As the nginx/Apache hostile test: short fixed agents exact, generated ones as substrings."""
    return "ua_exact" if ua in FIXED else "ua_pattern"


def _sent(ua: str) -> str:
    """The header value Cloudflare sees (surrounding spaces and tabs are not part of it)."""
    return ua.strip(" \t") if ua in FIXED else f"Mozilla/5.0 {ua} tail"


def _renderable(ua: str) -> bool:
    """What a header can carry: no control characters (but surrounding tabs), valid UTF-8."""
    ua = ua.strip(" \t")
    return not any(ord(c) < 0x20 or ord(c) == 0x7F or 0xDC80 <= ord(c) <= 0xDCFF for c in ua)


def _render() -> tuple[list, object]:
    ds = DecisionSet.of([Decision("block", Match(_kind(ua), ua)) for ua in AGENTS])  # type: ignore[arg-type]
    desired = render_cloudflare(ds)
    return [(r, parse(r.expression)) for r in desired.rules], desired


RULES, DESIRED = _render()


def test_tokenizer_is_strict() -> None:
    """The reader refuses what Cloudflare would misread or botguard must never write."""
    for bad in ['"a\\nb"', '"abc', '"a\\x41"', 'r"raw"', "a ; b", "http.user_agent contains 'x'", '"\x01"']:
        try:
            tokenize(bad)
        except RulesSyntaxError:
            continue
        raise AssertionError(f"accepted {bad!r}")
    assert [t.value for t in tokenize('lower(http.user_agent) contains "a\\"b\\\\"')] == [
        "lower", "(", "http.user_agent", ")", "contains", 'a"b\\']  # fmt: skip
    for bad in ['http.user_agent contains "a" "b"', 'http.user_agent contains "a" or true', "ip.src in {x}"]:
        try:
            parse(bad)
        except (RulesSyntaxError, ValueError):
            continue
        raise AssertionError(f"parsed {bad!r}")


def test_every_expression_is_valid_and_within_the_limit() -> None:
    assert len(RULES) > 10
    assert all(len(rule.expression) <= MAX_EXPRESSION for rule, _ in RULES)


def test_no_agent_escapes_its_string() -> None:
    """The literals read back are exactly the agents and the guard's, nothing more, nothing less."""
    renderable = [ua for ua in AGENTS if _renderable(ua)]
    # Agents with a tab or invalid UTF-8 are left out (reported): the corpus is rich in both.
    assert 1000 < len(renderable) < len(AGENTS)
    want = Counter(lower(ua.strip(" \t"))[:MAX_UA] for ua in renderable)
    want["/robots.txt"] = len(RULES)
    got = Counter(s for _, tree in RULES for s in strings(tree))
    assert got == want
    left = {x.value for x in DESIRED.left_out}  # type: ignore[attr-defined]
    assert len(left) == len(AGENTS) - len(renderable)
    assert all("control characters or invalid UTF-8" in x.reason for x in DESIRED.left_out)  # type: ignore[attr-defined]


def test_exact_agents_use_eq_and_patterns_contains() -> None:
    """`;` or `'` as a substring would block every browser: exact agents compare whole."""
    text = " ".join(rule.expression for rule, _ in RULES)
    assert 'lower(http.user_agent) eq ";"' in text and 'lower(http.user_agent) contains ";"' not in text


def test_each_agent_is_blocked_and_browsers_bots_and_robots_are_not() -> None:
    """Sampled agents (all fixed ones too) are matched by a rule; Chrome and Googlebot by none."""
    sample = random.Random(7).sample([ua for ua in AGENTS if _renderable(ua)], SAMPLE)
    sample += [ua for ua in FIXED if _renderable(ua)]
    trees = [tree for _, tree in RULES]
    missed = [ua[:60] for ua in sample if not any(evaluate(t, Request(_sent(ua))) for t in trees)]
    assert not missed, missed[:10]
    for ua in (CHROME, GOOGLEBOT):
        assert not any(evaluate(t, Request(ua)) for t in trees), ua
    for ua in sample[:50]:
        assert not any(evaluate(t, Request(_sent(ua), path="/robots.txt")) for t in trees)
        assert not any(evaluate(t, Request(_sent(ua), bot=True)) for t in trees)


def test_hostile_agents_as_allowlisted_clients() -> None:
    """Hostile agents as (IP, agent) allow pairs: exempt from that IP only."""
    from botguard.config import AllowedClient, Allowlist
    from botguard.decide import allow_decisions

    sample = [ua for ua in random.Random(11).sample(AGENTS, 60) if _renderable(ua) and len(ua) < 300][:20]
    allow = Allowlist(clients=tuple(AllowedClient("192.0.2.1", ua) for ua in sample))
    ds = DecisionSet.of(
        [Decision("block", Match("ua_exact", ua)) for ua in sample] + list(allow_decisions(allow))
    )
    trees = [parse(r.expression) for r in render_cloudflare(ds).rules]
    for ua in sample:
        sent = ua.strip(" \t")
        assert not any(evaluate(t, Request(sent, ip="192.0.2.1")) for t in trees), ua[:60]
        assert any(evaluate(t, Request(sent, ip="192.0.2.3")) for t in trees), ua[:60]
