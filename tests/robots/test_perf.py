"""Performance guards (correctness, not benchmarks: bounds are generous on purpose)."""

from __future__ import annotations

import random
import time

from botguard.robots import RobotsTxt


def _timed(fn):  # type: ignore[no-untyped-def]
    """The result and the CPU seconds it took: the guards are about blow-ups (backtracking, a
    quadratic parse), which CPU time shows whatever else the machine runs; wall time failed at
    load 19 on 2 cores (1.15 s for a 0.2 s parse)."""
    start = time.process_time()
    result = fn()
    return result, time.process_time() - start


def test_pathological_pattern_is_fast() -> None:
    """`/*a*a*a*a*a*a*b` against a 10 KB path cannot backtrack catastrophically."""
    robots = RobotsTxt.parse("User-agent: *\nDisallow: /*a*a*a*a*a*a*b\nAllow: /*a*a*a*a*a*a*a*a*a*a*a*c$\n")
    path = "/" + "a" * 10_000
    verdicts, elapsed = _timed(
        lambda: [
            robots.is_allowed("x", path),
            robots.is_allowed("x", path + "b"),
            robots.is_allowed("x", path + "c"),
        ]
    )
    assert verdicts == [True, False, True]
    assert elapsed < 1.0


def test_500_kib_parses_quickly() -> None:
    """A 500 KiB robots.txt parses in well under a second and then answers a batch."""
    rng = random.Random(1)
    lines = ["User-agent: *"]
    size = 0
    while size < 500 * 1024:
        line = rng.choice(["Disallow: /", "Allow: /"]) + "/".join(
            rng.choice(["shop", "p*", "q$", "%aa", "\u00e9", "cat", "x"]) for _ in range(rng.randint(1, 8))
        )
        lines.append(line)
        size += len(line) + 1
    body = "\n".join(lines)
    robots, elapsed = _timed(lambda: RobotsTxt.parse(body))
    assert elapsed < 1.0
    verdicts, elapsed = _timed(lambda: robots.allowed_many("x", [f"/shop/cat/{i}" for i in range(200)]))
    assert len(verdicts) == 200 and elapsed < 5.0


def test_agents_obeying_the_same_groups_share_one_matcher() -> None:
    """A huge rule set is compiled once per set of groups, not once per agent asked about: every
    agent no group names shares the ``*`` matcher, and a token in any case shares its group's."""
    robots = RobotsTxt.parse(
        "User-agent: *\nDisallow: /a\n\nUser-agent: FooBot\nUser-agent: BarBot\nDisallow: /b\n"
        "\nUser-agent: foobot\nDisallow: /c\n"
    )
    unnamed = robots._matcher("Googlebot")
    assert all(robots._matcher(agent) is unnamed for agent in ("bingbot", "GPTBot", "x", "*", "B\u00e4rBot"))
    foo = robots._matcher("FooBot")
    assert robots._matcher("FOOBOT") is foo and foo is not unnamed
    assert robots._matcher("BarBot") is not foo  # BarBot obeys only the first named group
    assert len(robots._matchers) == 3
    verdicts = [robots.is_allowed(agent, "/c") for agent in ("foobot", "BarBot", "Googlebot")]
    assert verdicts == [False, True, True]
