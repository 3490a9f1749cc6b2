"""robots.txt decisions for a whole column of request targets at once (polars), as the engine decides.

Why: a scan asks about tens of thousands of distinct (agent, path) pairs per million lines, but
the agents obey only a few distinct rule sets (every agent no group names obeys the ``*``
groups). Per rule set, each rule is one column operation over all the paths: ``starts_with``
for a plain prefix, ``==`` for ``/exact$``, an anchored regex where ``*`` appears (polars' regex
engine runs in linear time, so no pattern can backtrack). The first rule in the engine's
precedence order that matches a path decides it (longest pattern first, Allow before Disallow
on ties, then file order; ``index.html`` fallbacks included), exactly as
:meth:`~botguard.robots._matcher.GroupMatcher.decide`.

The engine stays the oracle (``tests/robots/test_columns.py`` compares the two on fuzzed rule
sets and on the benchmark logs) and the fallback: a rule set with more rules than
:data:`COLUMN_MAX_RULES` (a generated file with thousands of rules for one agent, where the
engine's trie is faster than one pass per rule), and a column of at most
:data:`ENGINE_MAX_TARGETS` targets, are decided path by path by the engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from botguard.robots._matcher import GroupMatcher, path_params_query
from botguard.robots.parser import RobotsTxt
from botguard.robots.records import ALLOW, Rule

__all__ = [
    "COLUMN_MAX_RULES", "ENGINE_MAX_TARGETS", "PathVerdicts", "judge_paths", "judge_versions",
    "logged_target", "logged_targets", "refusing_ranks",
]  # fmt: skip

#: Rule sets up to this size are decided column-wise; larger ones path by path by the engine.
COLUMN_MAX_RULES = 128
#: Columns of up to this many targets are decided path by path by the engine: the column-wise
#: chain costs ~0.7 ms however few the targets (the bench robots.txt's 6-rule group: 0.8 ms for
#: 1 path, 0.9 for 512, 1.6 for 4,096), the engine ~0.25 us a path (0.03, 0.15, 1.0 ms). A scan
#: judges each batch's new paths, a handful once the first batches are past.
ENGINE_MAX_TARGETS = 1024


@dataclass(frozen=True, slots=True)
class PathVerdicts:
    """Decisions for a column of targets, row for row.

    ``allowed`` is Boolean; ``rule`` (Int32) indexes ``rules``, the deciding rule, and is null
    where no rule decides (allowed by default).
    """

    allowed: pl.Series
    rule: pl.Series
    rules: tuple[Rule, ...]


def judge_paths(matcher: GroupMatcher, targets: pl.Series) -> PathVerdicts:
    """What ``matcher`` decides for each target (non-null request targets, as logged)."""
    precedence = matcher.precedence
    rules = tuple(rule for _, rule in precedence)
    if not precedence:  # no rule with a pattern: everything allowed by default
        none = pl.repeat(None, targets.len(), dtype=pl.Int32, eager=True).alias("rule")
        return PathVerdicts(pl.repeat(True, targets.len(), eager=True).alias("allowed"), none, rules)
    if (
        targets.len() <= ENGINE_MAX_TARGETS
        or len(precedence) > COLUMN_MAX_RULES
        or not all(_expressible(p) for p, _ in precedence)
    ):
        return _engine_verdicts(matcher, targets, rules)
    rank = pl.select(_rank_expr([p for p, _ in precedence], pl.lit(request_paths(targets)))).to_series()
    allow_at = pl.Series([rule.directive == ALLOW for rule in rules], dtype=pl.Boolean)
    allowed = rank.is_null() | allow_at.gather(rank.fill_null(0)).fill_null(True)
    return PathVerdicts(allowed.alias("allowed"), rank.alias("rule"), rules)


def _engine_verdicts(matcher: GroupMatcher, targets: pl.Series, rules: tuple[Rule, ...]) -> PathVerdicts:
    """:func:`judge_paths` by the engine, target by target, all in Python until the two
    columns it returns: a scan judges a handful of new targets per batch, and each polars step
    on a Series costs ~0.1 ms however short it is (the column steps of :func:`request_paths`
    and of the verdicts were ten of them per call)."""
    ranks = [matcher.rank(path_params_query(target)) for target in targets.to_list()]
    allowed = [rank is None or rules[rank].directive == ALLOW for rank in ranks]
    return PathVerdicts(
        pl.Series("allowed", allowed, dtype=pl.Boolean), pl.Series("rule", ranks, dtype=pl.Int32), rules
    )


def judge_versions(versions: Sequence[RobotsTxt], user_agent: str, targets: pl.Series) -> PathVerdicts:
    """Decisions under several robots.txt versions in effect at once (a host's history).

    A target is allowed when any version allows it (a compliant crawler may follow any of
    them); the deciding rule is the first version's (the live one: what evidence quotes), and
    only where the target is disallowed, as :class:`~botguard.robots.history.RobotsTimeline`
    decides.
    """
    live = judge_paths(versions[0].matcher(user_agent), targets)
    allowed = live.allowed
    for other in versions[1:]:
        if allowed.all():
            break
        allowed = allowed | judge_paths(other.matcher(user_agent), targets).allowed
    both = pl.DataFrame([live.rule.alias("rule"), allowed.alias("allowed")])
    rule = both.select(pl.when(~pl.col("allowed")).then(pl.col("rule"))).to_series()
    return PathVerdicts(allowed, rule, live.rules)


def refusing_ranks(
    versions: Sequence[RobotsTxt], user_agent: str, targets: Sequence[str]
) -> tuple[list[int | None], tuple[Rule, ...]]:
    """:func:`judge_versions` of a few request targets (as logged), in plain Python: for each,
    the index of its deciding rule in the rules returned (the live version's) where it is
    disallowed, None where allowed. The engine decides, target by target, as
    :func:`judge_paths` does for a column of at most :data:`ENGINE_MAX_TARGETS`; no polars
    step (each costs ~0.1 ms however few the targets)."""
    paths = [path_params_query(logged_target(target)) for target in targets]
    live = versions[0].matcher(user_agent)
    rules = tuple(rule for _, rule in live.precedence)
    ranks = [live.rank(path) for path in paths] if rules else [None] * len(paths)
    refused = [rank is not None and rules[rank].directive != ALLOW for rank in ranks]
    for other in versions[1:]:
        if not any(refused):
            break
        matcher = other.matcher(user_agent)
        precedence = matcher.precedence
        for at, path in enumerate(paths):
            if refused[at] and precedence:
                rank = matcher.rank(path)
                refused[at] = rank is not None and precedence[rank][1].directive != ALLOW
            elif refused[at]:  # no rule with a pattern: everything allowed by default
                refused[at] = False
    return [rank if no else None for rank, no in zip(ranks, refused, strict=True)], rules


def logged_targets(targets: pl.Series) -> pl.Series:
    """Request targets as an access log holds them (origin-form paths), spelled as URLs the
    engine reads back as those very paths.

    The engine reads what it is given as a URL (Google's ``GetPathParamsQuery``), where a leading
    ``//`` starts a host: ``//private/x`` would be judged as ``/x``. A logged target is a path,
    and a crawler checking ``https://host//private/x`` matches ``//private/x``; judged as
    ``/x`` it would be charged with rules it never broke, or pass ones it broke.
    """
    return targets.str.replace(r"^//", _AS_URL + "//")


#: What makes a logged target that starts with ``//`` a URL whose path is that target.
_AS_URL = "http://h"


def logged_target(target: str) -> str:
    """:func:`logged_targets` of one target (the model's per-request labels)."""
    return _AS_URL + target if target.startswith("//") else target


def request_paths(targets: pl.Series) -> pl.Series:
    """Each target's path as the engine reads it (:func:`path_params_query`): a clean origin-form
    target is its own path; only the odd ones (absolute URLs, ``#``, NUL, ``//``) reach Python."""
    odd = (
        ~targets.str.starts_with("/")
        | targets.str.starts_with("//")
        | targets.str.contains("#", literal=True)
        | targets.str.contains("\x00", literal=True)
    ).fill_null(False)
    rows = odd.arg_true()
    if rows.len() == 0:
        return targets
    fixed = pl.Series([path_params_query(t) for t in targets.gather(rows).to_list()], dtype=pl.String)
    return targets.clone().scatter(rows, fixed)  # scatter writes in place: never into the caller's


def _expressible(pattern: str) -> bool:
    """Whether polars can hold the pattern (a lone surrogate cannot be UTF-8)."""
    try:
        pattern.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _matches(pattern: str, path: pl.Expr) -> pl.Expr:
    """``pattern`` matches a prefix of ``path`` (``*``: any run of characters; a final ``$``:
    the end of the path)."""
    anchored = pattern.endswith("$")
    body = pattern[:-1] if anchored else pattern
    if "*" not in body:
        return path == body if anchored else path.str.starts_with(body)
    regex = "(?s)^" + ".*".join(pl.escape_regex(segment) for segment in body.split("*"))
    return path.str.contains(regex + (r"\z" if anchored else ""))


def _rank_expr(patterns: list[str], path: pl.Expr) -> pl.Expr:
    """The index of the first pattern that matches each path; null when none does."""
    chain: pl.Expr = pl.lit(None, dtype=pl.Int32)
    for index in reversed(range(len(patterns))):
        chain = pl.when(_matches(patterns[index], path)).then(pl.lit(index, dtype=pl.Int32)).otherwise(chain)
    return chain.alias("rule")
