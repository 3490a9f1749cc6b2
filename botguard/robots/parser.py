"""``RobotsTxt``: parse once, then answer many (agent, URL) questions fast.

Parsing follows Google's reference line by line (see ``_lexer``); grouping follows its
``RobotsMatcher`` state machine, which reduces to: a user-agent line that comes after an
allow/disallow line starts a new group; sitemap, unknown, blank and comment lines never end a
group; allow/disallow lines before the first user-agent line are ignored.

Per set of groups the merged rule set is compiled once and cached on the instance (an instance
is immutable from the outside; the cache only memoises): every agent that obeys the same groups,
such as all the agents no group names, shares one matcher, so a huge file is compiled once per
distinct group set, not once per agent asked about.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from botguard.robots import _lexer as lx
from botguard.robots._matcher import GroupMatcher, path_params_query
from botguard.robots.records import ALLOW, Group, Permission, RobotsParseStats, Rule

_UA_TOKEN = re.compile(rb"[A-Za-z_-]*")
#: Agents whose matcher is looked up directly; past this many the shortcut starts afresh (the
#: matchers themselves, one per distinct group set, are kept).
_AGENTS_REMEMBERED = 4096
_C_SPACE = b" \t\n\v\f\r"


def agent_token(value: str | bytes) -> str | None:
    """The product token a user-agent *value* stands for; None for the global ``*`` group.

    Google: ``*`` or ``*`` followed by whitespace is global; otherwise the value is cut to its
    leading run of ``[A-Za-z_-]`` (``Googlebot/2.1`` -> ``Googlebot``, ``*Foo`` -> ``""``).

    >>> agent_token("Googlebot/2.1"), agent_token("* extra"), agent_token("*Foo")
    ('Googlebot', None, '')
    """
    raw = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
    if raw[:1] == b"*" and (len(raw) == 1 or raw[1] in _C_SPACE):
        return None
    return _UA_TOKEN.match(raw).group().decode("ascii")  # type: ignore[union-attr]


def _agent_key(user_agent: str) -> str | None:
    """The caller's agent, folded as absl::EqualsIgnoreCase folds (ASCII only).

    Non-ASCII agents can never equal a token made of [A-Za-z_-], so they match nothing
    (``str.lower`` would wrongly fold e.g. the Kelvin sign to ``k``).
    """
    return user_agent.lower() if user_agent.isascii() else None


def _crawl_delay(value: bytes) -> float | None:
    try:
        delay = float(value.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None
    return delay if math.isfinite(delay) and delay >= 0 else None


def _is_junk(line: bytes) -> bool:
    """A non-blank, non-comment line that holds no directive (counted, never raised)."""
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith(b"#") and lx.key_value(line) is None


class _GroupBuilder:
    """Mutable accumulator used only while parsing."""

    __slots__ = ("agents", "crawl_delay", "first_line", "rules")

    def __init__(self, first_line: int) -> None:
        self.agents: list[str] = []
        self.rules: list[Rule] = []
        self.crawl_delay: float | None = None
        self.first_line = first_line

    def freeze(self) -> Group:
        return Group(tuple(self.agents), tuple(self.rules), self.crawl_delay, self.first_line)


class RobotsTxt:
    """A parsed robots.txt that decides exactly as Google's reference parser.

    >>> robots = RobotsTxt.parse("User-agent: *\\nDisallow: /private\\nAllow: /private/ok$\\n")
    >>> robots.is_allowed("FooBot", "https://example.com/private/x")
    False
    >>> robots.explain("FooBot", "/private/ok")
    Rule(line=3, directive='allow', pattern='/private/ok$')
    >>> robots.allowed_many("FooBot", ["/", "/private", "/private/ok"])
    [True, False, True]
    """

    __slots__ = ("_by_agent", "_by_token", "_global", "_matchers", "groups", "sitemaps", "stats")

    def __init__(self, groups: Sequence[Group], sitemaps: Sequence[str], stats: RobotsParseStats) -> None:
        self.groups: tuple[Group, ...] = tuple(groups)
        self.sitemaps: tuple[str, ...] = tuple(sitemaps)
        self.stats = stats
        by_token: dict[str, list[int]] = {}
        star: list[int] = []
        for index, group in enumerate(self.groups):
            for value in group.agents:
                token = agent_token(value)
                indices = star if token is None else by_token.setdefault(token.lower(), [])
                if not indices or indices[-1] != index:
                    indices.append(index)
        self._by_token = {token: tuple(indices) for token, indices in by_token.items()}
        self._global = tuple(star)
        self._matchers: dict[tuple[int, ...], GroupMatcher] = {}  # group indices -> their matcher
        self._by_agent: dict[str, GroupMatcher] = {}  # the agents asked about so far -> the same

    # -- parsing -----------------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str | bytes) -> RobotsTxt:
        """Parse a body (no size limit here: the fetch layer caps at 500 KiB)."""
        body = lx.to_bytes(text)
        rows = lx.rows(body)
        groups: list[Group] = []
        sitemaps: list[str] = []
        current: _GroupBuilder | None = None
        in_rules = False  # an allow/disallow line was seen since the last user-agent line
        directives = unknown = orphans = 0
        # Skip the per-value escaping scan when nothing in the body could need it.
        escape = lx.escape_pattern if lx.needs_escaping(body) else bytes.decode
        for number, (ua, allow, disallow, sitemap, raw, other) in enumerate(rows, 1):
            if disallow or allow:
                kind = lx.DISALLOW if disallow else lx.ALLOW
                value = raw.strip()
            elif ua:
                kind, value = lx.USER_AGENT, raw.strip()
            elif sitemap:
                kind, value = lx.SITEMAP, raw.strip()
            else:
                found = lx.slow_directive(other)
                if found is None:
                    continue
                kind, key, value = found
                if kind is lx.UNKNOWN:
                    unknown += 1
                    if current is not None and key.startswith(b"crawl-delay") and current.crawl_delay is None:
                        current.crawl_delay = _crawl_delay(value)
                    continue
            directives += 1
            if kind is lx.DISALLOW or kind is lx.ALLOW:
                if current is None:
                    orphans += 1  # rules before any user-agent line are ignored, as Google does
                    continue
                in_rules = True
                current.rules.append(Rule(number, kind, escape(value)))
            elif kind is lx.USER_AGENT:
                if current is None or in_rules:
                    if current is not None:
                        groups.append(current.freeze())
                    current = _GroupBuilder(number)
                    in_rules = False
                current.agents.append(value.decode("utf-8", "surrogateescape"))
            else:
                sitemaps.append(value.decode("utf-8", "surrogateescape"))
        if current is not None:
            groups.append(current.freeze())
        skipped = sum(1 for row in rows if row[5] and _is_junk(row[5]))
        stats = RobotsParseStats(len(rows), directives, unknown, skipped, orphans)
        return cls(groups, sitemaps, stats)

    # -- agent selection ---------------------------------------------------------------------

    def groups_for(self, user_agent: str) -> tuple[list[Group], bool]:
        """The groups ``user_agent`` obeys and whether they name it (False: the ``*`` groups).

        If any group names the agent, the ``*`` groups are ignored entirely, even when the
        named groups have no rules (that means "allowed", not "fall back to ``*``").
        """
        indices, named = self._group_indices(user_agent)
        return [self.groups[i] for i in indices], named

    def _group_indices(self, user_agent: str) -> tuple[tuple[int, ...], bool]:
        key = _agent_key(user_agent)
        named = self._by_token.get(key) if key is not None else None
        return (named, True) if named else (self._global, False)

    def rule_set(self, user_agent: str) -> tuple[int, ...]:
        """Which groups ``user_agent`` obeys (their indices): agents with the same answer obey
        the same merged rules, so a caller can judge paths once per rule set, not per agent."""
        return self._group_indices(user_agent)[0]

    def matcher(self, user_agent: str) -> GroupMatcher:
        """The merged rules ``user_agent`` obeys, compiled once per rule set."""
        return self._matcher(user_agent)

    def _matcher(self, user_agent: str) -> GroupMatcher:
        matcher = self._by_agent.get(user_agent)
        if matcher is None:
            indices, _ = self._group_indices(user_agent)
            matcher = self._matchers.get(indices)
            if matcher is None:
                rules = [rule for i in indices for rule in self.groups[i].rules]
                matcher = self._matchers[indices] = GroupMatcher(rules)
            if len(self._by_agent) >= _AGENTS_REMEMBERED:  # callers may ask about any string
                self._by_agent.clear()
            self._by_agent[user_agent] = matcher
        return matcher

    # -- questions ---------------------------------------------------------------------------

    def is_allowed(self, user_agent: str, url: str) -> bool:
        """Whether ``user_agent`` (a product token, e.g. ``Googlebot``) may fetch ``url``."""
        return self._matcher(user_agent).decide_allowed(path_params_query(url))

    def explain(self, user_agent: str, url: str) -> Rule | None:
        """The rule that decides ``url`` for ``user_agent``; None means allowed by default.

        The permission follows from it: allowed iff the result is None or an allow rule.
        """
        return self._matcher(user_agent).decide(path_params_query(url))

    def permission(self, user_agent: str, url: str) -> Permission:
        """Allowed or not, the deciding rule and the extracted path together (for reports)."""
        path = path_params_query(url)
        rule = self._matcher(user_agent).decide(path)
        return Permission(rule is None or rule.directive == ALLOW, rule, path)

    def allowed_many(self, user_agent: str, urls: Sequence[str]) -> list[bool]:
        """``is_allowed`` for many URLs of one agent: the matcher is looked up once."""
        return self._matcher(user_agent).allowed_many([path_params_query(url) for url in urls])

    def explain_many(self, user_agent: str, urls: Sequence[str]) -> list[Rule | None]:
        """``explain`` for many URLs of one agent."""
        decide, extract = self._matcher(user_agent).decide, path_params_query
        return [decide(extract(url)) for url in urls]

    def crawl_delay(self, user_agent: str) -> float | None:
        """The first valid Crawl-delay of the groups the agent obeys (Google ignores it)."""
        groups, _ = self.groups_for(user_agent)
        for group in groups:
            if group.crawl_delay is not None:
                return group.crawl_delay
        return None

    def names_agent(self, user_agent: str) -> bool:
        """Whether some group names this agent (so the ``*`` groups do not apply to it)."""
        return self.groups_for(user_agent)[1]

    def __repr__(self) -> str:
        return f"RobotsTxt(groups={len(self.groups)}, sitemaps={len(self.sitemaps)})"
