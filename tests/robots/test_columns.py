"""Column-wise robots.txt decisions equal the engine's, path for path (the engine is the oracle).

Fuzzed rule sets (``tests/robots/gen.py``: wildcards, ``$``, %-escapes in either case,
Allow/Disallow ties, index.html rules, several groups, odd URLs) and the paths of generated
access logs, decided both ways: 0 differences in the verdict and in the deciding rule.
"""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path

import polars as pl
import pytest

from botguard.logs import read_batches
from botguard.robots import RobotsTxt, columns
from botguard.robots.columns import judge_paths, judge_versions, logged_targets, refusing_ranks
from botguard.robots.history import RobotsTimeline
from botguard.robots.records import Rule

from . import gen

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _columns_whatever_the_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """The column-wise path under test even for a few targets (a scan gives those to the engine)."""
    monkeypatch.setattr(columns, "ENGINE_MAX_TARGETS", 0)


def _polars_text(text: str) -> bool:
    """Whether a string can be a polars value (a log's targets always can)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _differences(robots: RobotsTxt, agent: str, urls: list[str]) -> list[str]:
    verdicts = judge_paths(robots.matcher(agent), pl.Series(urls, dtype=pl.String))
    got_rules = [None if i is None else verdicts.rules[i] for i in verdicts.rule.to_list()]
    bad = []
    for url, allowed, rule in zip(urls, verdicts.allowed.to_list(), got_rules, strict=True):
        want_rule = robots.explain(agent, url)
        if allowed != robots.is_allowed(agent, url) or rule != want_rule:
            bad.append(f"agent={agent!r} url={url!r}: columns {allowed} {rule}, engine {want_rule}")
    return bad


def _fuzzed_cases(seed: int, bodies: int = 150) -> list[tuple[RobotsTxt, str, list[str]]]:
    rng = random.Random(seed)
    cases = []
    for _ in range(bodies):
        body = gen.robots_body(rng)
        robots = RobotsTxt.parse(body)
        for _ in range(3):
            agent = gen.agent_for(rng, body)
            urls = [u for u in (gen.url_for(rng, body) for _ in range(40)) if _polars_text(u)]
            cases.append((robots, agent, urls))
    return cases


@pytest.mark.parametrize("seed", range(6))
def test_fuzzed_rule_sets_decide_as_the_engine(seed: int) -> None:
    """Thousands of fuzzed (rule set, agent, URL) cases: verdict and deciding rule equal the engine's."""
    bad = [d for robots, agent, urls in _fuzzed_cases(seed) for d in _differences(robots, agent, urls)]
    assert not bad, f"{len(bad)} differences, e.g.\n" + "\n".join(bad[:5])


def test_rule_sets_too_big_for_columns_fall_back_to_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past COLUMN_MAX_RULES the engine decides path by path, with the same answers."""
    monkeypatch.setattr(columns, "COLUMN_MAX_RULES", 0)
    bad = [d for robots, agent, urls in _fuzzed_cases(11, 60) for d in _differences(robots, agent, urls)]
    assert not bad, "\n".join(bad[:5])


@pytest.mark.parametrize("engine_max", [0, 10**6])
def test_few_targets_go_to_the_engine_with_the_same_answers(
    monkeypatch: pytest.MonkeyPatch, engine_max: int
) -> None:
    """A column of up to ENGINE_MAX_TARGETS targets is decided path by path by the engine (the
    column-wise chain costs more for a few), with the same answers as the columns give."""
    monkeypatch.setattr(columns, "ENGINE_MAX_TARGETS", engine_max)
    asked: list[str] = []
    real = columns.GroupMatcher.rank
    monkeypatch.setattr(
        columns.GroupMatcher, "rank", lambda self, path: asked.append(path) or real(self, path)
    )
    bad = [d for robots, agent, urls in _fuzzed_cases(12, 40) for d in _differences(robots, agent, urls)]
    assert not bad, "\n".join(bad[:5])
    assert bool(asked) == (engine_max > 0)


def test_ties_wildcards_and_anchors_decide_as_the_engine() -> None:
    """The precedence corners, spelled out: longest wins, Allow wins a tie, `$` ends, `*` spans."""
    robots = RobotsTxt.parse(
        "User-agent: *\nDisallow: /a\nAllow: /a\nDisallow: /b*c$\nAllow: /b/index.html\n"
        "Disallow: /b/\nDisallow: /p%C3%A9\nDisallow: /x*y*z\nAllow: /x*y*z$\nDisallow: /$\n"
    )
    urls = ["/a", "/abc", "/bxc", "/bxcd", "/b/", "/b/index.html", "/b/x", "/p%C3%A9", "/p%c3%a9",
            "/xayz", "/xyzz", "/", "/q", "http://h/bc", "/b?c", "/bc#f", "//h/a"]  # fmt: skip
    assert _differences(robots, "FooBot", urls) == []
    verdicts = judge_paths(robots.matcher("FooBot"), pl.Series(urls))
    # /a: Allow wins the tie; /bxc: `$` ends /b*c; /b/: the index.html fallback; /b/x: Disallow /b/
    assert verdicts.allowed.to_list()[:7] == [True, True, False, True, True, True, False]


def test_versions_decide_as_the_timeline() -> None:
    """Several versions in effect: allowed when any allows; the live version's rule as evidence."""
    rng = random.Random(5)
    for _ in range(150):
        versions = tuple(RobotsTxt.parse(gen.robots_body(rng)) for _ in range(rng.choice([1, 2, 3])))
        timeline = RobotsTimeline((), (versions,))
        body = gen.robots_body(rng)
        agent = gen.agent_for(rng, body)
        urls = [u for u in (gen.url_for(rng, body) for _ in range(30)) if _polars_text(u)]
        verdicts = judge_versions(versions, agent, pl.Series(urls, dtype=pl.String))
        allowed = timeline.allowed_many(0, agent, urls)
        assert verdicts.allowed.to_list() == allowed
        rules: list[Rule | None] = [None if i is None else verdicts.rules[i] for i in verdicts.rule.to_list()]
        explained = timeline.explain_many(0, agent, urls)
        assert rules == [None if ok else rule for ok, rule in zip(allowed, explained, strict=True)]


def test_refusing_ranks_are_the_versions_verdicts() -> None:
    """The plain-Python verdicts of a few targets (a scan's new pairs) equal the column-wise
    ones of the same logged targets, ``//`` ones included: refused with the live version's rule
    where every version refuses, allowed (None) elsewhere."""
    rng = random.Random(7)
    for _ in range(150):
        versions = tuple(RobotsTxt.parse(gen.robots_body(rng)) for _ in range(rng.choice([1, 2, 3])))
        body = gen.robots_body(rng)
        agent = gen.agent_for(rng, body)
        urls = [u for u in (gen.url_for(rng, body) for _ in range(30)) if _polars_text(u)]
        urls += ["/" + u for u in urls[:5]]  # a target starting with // is a path, not a host
        verdicts = judge_versions(versions, agent, logged_targets(pl.Series(urls, dtype=pl.String)))
        ranks, rules = refusing_ranks(versions, agent, urls)
        assert rules == verdicts.rules
        assert ranks == verdicts.rule.to_list()


def _bench_log(tmp_path: Path, lines: int, seed: int) -> tuple[Path, Path]:
    spec = importlib.util.spec_from_file_location("gen_logs", ROOT / "bench" / "gen_logs.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules["gen_logs"] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    log, robots = tmp_path / "access.log", tmp_path / "robots.txt"
    args = ["--lines", str(lines), "--seed", str(seed), "--out", str(log), "--robots-out", str(robots)]
    assert module.main(args) == 0
    return log, robots


def test_bench_log_paths_decide_as_the_engine(tmp_path: Path) -> None:
    """Every distinct target of a generated benchmark log, for the agents of its robots.txt and for
    fuzzed rule sets: 0 differences."""
    log, robots_path = _bench_log(tmp_path, 30_000, 3)
    targets = (
        pl.concat([b.requests.select("target") for b in read_batches([str(log)])])
        .drop_nulls()
        .unique()
        .get_column("target")
        .to_list()
    )
    assert len(targets) > 1000
    robots = RobotsTxt.parse(robots_path.read_bytes())
    bad = []
    for agent in ("FooBot", "GPTBot", "AhrefsBot", "Googlebot", "MJ12bot"):
        bad += _differences(robots, agent, targets)
    rng = random.Random(8)
    for _ in range(40):
        body = gen.robots_body(rng)
        bad += _differences(RobotsTxt.parse(body), gen.agent_for(rng, body), targets)
    assert not bad, f"{len(bad)} differences, e.g.\n" + "\n".join(bad[:5])


def test_judging_leaves_the_callers_targets_as_they_were() -> None:
    """Targets the engine reads differently (``//x``, absolute, ``#``, NUL) are rewritten for
    judging only: the caller's column is not changed. (Written into in place, ``//favicon.ico``
    became ``/`` in the judge's verdict frame, and a scan counted every ``/`` request twice.)"""
    robots = RobotsTxt.parse(b"User-agent: *\nDisallow: /private\n")
    targets = pl.Series(["/", "//favicon.ico", "http://h/private", "/a#b", "/p\x00"])
    before = targets.to_list()
    verdicts = judge_versions((robots,), "bot", targets)
    assert targets.to_list() == before
    assert verdicts.allowed.to_list() == [True, True, False, True, True]
