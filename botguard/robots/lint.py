"""``robots lint``: find lines that do not do what their author meant, one finding per line.

Four families, each reported with the line number Google's parser would give:

* lines Google ignores: rules before any user-agent line, unknown directives, unparsable lines;
* lines other parsers read differently from Google: accepted typos and key suffixes
  (``Disalow``, ``Disallows``), a missing colon, a BOM or NUL mid-file, ``#`` glued to a path,
  over-long lines, user-agent values that Google cuts (``Googlebot/2.1``, ``Foo Bar``);
* rules that can never decide: shadowed by an equal-or-longer rule that matches every path they
  match (allow wins ties), duplicates, and groups that can never apply;
* a file longer than the 500 KiB Google reads (the caller reads only that much, see ``limit``):
  reported on the last line read.

The shadowing check is sound but incomplete: it only reports what it can prove.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable

from botguard.robots import _lexer as lx
from botguard.robots._matcher import index_html_fallback
from botguard.robots.parser import RobotsTxt, agent_token
from botguard.robots.records import ALLOW, LintFinding, Rule, Truncation

#: Directives Google ignores but other crawlers read: not worth a warning.
KNOWN_EXTENSIONS = frozenset(
    {
        b"crawl-delay",
        b"host",
        b"clean-param",
        b"content-signal",
        b"content-usage",
        b"request-rate",
        b"visit-time",
    }
)

WARNING, INFO = "warning", "info"
_CANONICAL = {kind: spellings[0] for kind, spellings in lx.KEY_SPELLINGS}  # kind -> correct spelling


def lint(text: str | bytes, truncation: Truncation | None = None) -> list[LintFinding]:
    """All findings for a robots.txt body, sorted by line.

    ``truncation`` says the body is the start of a longer file (``limit.read_robots``).
    """
    body = lx.to_bytes(text)
    findings = list(_line_findings(body))
    findings += _rule_findings(RobotsTxt.parse(body))
    if truncation is not None:
        findings.append(
            LintFinding(truncation.line, "file-too-large", f"file too large: {truncation}", WARNING)
        )
    return sorted(set(findings), key=lambda f: (f.line, f.code))


def _line_findings(body: bytes) -> Iterable[LintFinding]:
    if body[:3] != b"\xef\xbb\xbf" and body[:1] == b"\xef":
        yield LintFinding(1, "partial-bom", "file starts with a partial byte-order mark", WARNING)
    raw_lines = lx.strip_bom(body).splitlines()
    seen_agent = False
    for number, raw in enumerate(raw_lines, 1):
        yield from _raw_line_findings(number, raw)
        line = lx._cap(raw)
        kv = lx.key_value(line)
        if kv is None:
            stripped = line.split(b"#", 1)[0].strip()
            if stripped:
                yield LintFinding(
                    number, "ignored-line", "not a directive: Google ignores this line", WARNING
                )
            continue
        key, value = kv
        kind = lx.key_kind(key)
        yield from _key_findings(number, line, key, kind)
        if kind == lx.USER_AGENT:
            seen_agent = True
            yield from _agent_findings(number, value)
        elif kind in (lx.ALLOW, lx.DISALLOW):
            if not seen_agent:
                yield LintFinding(
                    number, "rule-before-agent", "rule before any User-agent line: ignored by Google", WARNING
                )
            if _hash_glued(line):
                yield LintFinding(
                    number,
                    "hash-in-path",
                    "'#' starts a comment even inside a path: the rule ends before it",
                    WARNING,
                )


def _raw_line_findings(number: int, raw: bytes) -> Iterable[LintFinding]:
    if b"\xef\xbb\xbf" in (raw if number > 1 else raw[1:]):  # the file's own BOM is already stripped
        yield LintFinding(
            number, "bom-mid-file", "byte-order mark inside the file corrupts this line", WARNING
        )
    if b"\x00" in raw:
        yield LintFinding(number, "nul-byte", "NUL byte: Google's parser ends the line there", WARNING)
    if len(raw) > lx.MAX_LINE_BYTES:
        yield LintFinding(
            number,
            "line-too-long",
            f"line longer than {lx.MAX_LINE_BYTES} bytes: the rest is dropped",
            WARNING,
        )


def _key_findings(number: int, line: bytes, key: bytes, kind: str) -> Iterable[LintFinding]:
    text = key.decode("utf-8", "replace")
    if kind == lx.UNKNOWN:
        if key.lower() in KNOWN_EXTENSIONS:
            return
        yield LintFinding(
            number, "unknown-directive", f"unknown directive '{text}': ignored by Google", WARNING
        )
        return
    spelling = lx.canonical_spelling(key)
    canonical = _CANONICAL[kind]
    if spelling != canonical:
        yield LintFinding(
            number,
            "key-typo",
            f"'{text}' is a typo Google accepts as '{canonical.decode()}'; other parsers ignore the line",
            WARNING,
        )
    elif len(key) != len(spelling):
        yield LintFinding(
            number,
            "key-suffix",
            f"'{text}' is read as '{canonical.decode()}' by Google "
            "(prefix match) but ignored by other parsers",
            WARNING,
        )
    if b":" not in line.split(b"#", 1)[0]:
        yield LintFinding(
            number,
            "missing-colon",
            "no ':' after the key: Google accepts whitespace, other parsers ignore the line",
            WARNING,
        )


def _agent_findings(number: int, value: bytes) -> Iterable[LintFinding]:
    token = agent_token(value)
    if token is None:
        if value.strip() != b"*":
            yield LintFinding(
                number, "agent-star-suffix", "text after '*' is ignored: this is the * group", INFO
            )
        return
    text = value.decode("utf-8", "replace")
    if not token:
        yield LintFinding(
            number,
            "agent-empty",
            f"user-agent '{text}' reduces to an empty token: the group applies to no crawler",
            WARNING,
        )
    elif token != text:
        yield LintFinding(
            number,
            "agent-cut",
            f"user-agent '{text}' is matched as '{token}' (Google keeps only the leading [A-Za-z_-] run)",
            INFO,
        )


def _hash_glued(line: bytes) -> bool:
    """A '#' right after a path character (``/a#b``): the author probably meant a fragment."""
    hash_pos = line.find(b"#")
    return hash_pos > 0 and line[hash_pos - 1 : hash_pos] not in (b" ", b"\t", b":")


def _rule_findings(robots: RobotsTxt) -> list[LintFinding]:
    findings: list[LintFinding] = []
    groups_of: dict[str | None, list[int]] = defaultdict(list)  # token -> the groups it obeys
    named_with_rules: dict[str, bool] = {}
    for index, group in enumerate(robots.groups):
        tokens = {None if t is None else t.lower() for t in map(agent_token, group.agents)}
        for token in tokens:
            groups_of[token].append(index)
            if token:
                named_with_rules[token] = named_with_rules.get(token, False) or bool(group.rules)
    # Tokens that obey the same groups share one merged rule set: check each set once (a group
    # naming thousands of agents must not be checked thousands of times).
    for group_set in {tuple(indices) for indices in groups_of.values()}:
        rules = {rule for i in group_set for rule in robots.groups[i].rules}
        findings += _shadowed(sorted(rules, key=lambda r: r.line))
    star_has_rules = any(robots.groups[i].rules for i in groups_of.get(None, ()))
    for group in robots.groups:
        agents = [agent_token(v) for v in group.agents]
        if not group.rules and star_has_rules and any(t and not named_with_rules[t.lower()] for t in agents):
            findings.append(
                LintFinding(
                    group.first_line,
                    "group-without-rules",
                    "named group with no rules: Google allows everything for it "
                    "and does not fall back to the * group",
                    INFO,
                )
            )
    return findings


def _core(wide: str) -> str | None:
    """The literal every path ``wide`` matches starts with, when that is all ``wide`` asks.

    ``/a``, ``/a*`` and ``/a**`` match exactly the paths starting with ``/a``; ``*`` matches every
    path (core ``""``). Any other pattern (an inner ``*``, a ``$``) gets None: it covers nothing
    provably.
    """
    core = wide.rstrip("*")
    if "*" in core or core.endswith("$") or (not core and wide != "*"):
        return None
    return core


def _literal(narrow: str) -> str:
    """The literal start every path ``narrow`` matches must have."""
    star = narrow.find("*")
    literal = narrow if star < 0 else narrow[:star]
    if literal.endswith("$") and star < 0:
        literal = literal[:-1]
    return literal


def _precedence(rule: Rule) -> tuple[int, bool, int]:
    """Google's precedence as an order: ``a`` beats ``b`` iff ``_precedence(a) > _precedence(b)``.

    Longer patterns win, allow wins ties, and among equals the earliest line decides.
    """
    return len(rule.pattern), rule.directive == ALLOW, -rule.line


class _CoverIndex:
    """The rules that provably cover others, by core (see :func:`_core`).

    A rule is covered by a wider one when the wider rule's core starts its literal, so the
    candidates for a rule are found by looking up the prefixes of its literal, only at the
    lengths some core has: near-linear in the file, where comparing every pair was quadratic.
    Within one core the rules are kept in precedence order with a running minimum of their
    lines, so "the earliest line among those that beat this rule" is one bisection.
    """

    def __init__(self, rules: list[Rule]) -> None:
        by_core: dict[str, list[Rule]] = defaultdict(list)
        for rule in rules:
            core = _core(rule.pattern) if rule.pattern else None
            if core is not None:
                by_core[core].append(rule)
        self._lengths = sorted({len(core) for core in by_core})
        self._buckets: dict[str, tuple[list[tuple[int, bool, int]], list[Rule]]] = {}
        for core, members in by_core.items():
            members.sort(key=_precedence)
            earliest: list[Rule] = []  # earliest[i]: the earliest-line rule among members[i:]
            for rule in reversed(members):
                earliest.append(rule if not earliest or rule.line < earliest[-1].line else earliest[-1])
            earliest.reverse()
            self._buckets[core] = ([_precedence(r) for r in members], earliest)

    def first_cover(self, rule: Rule) -> Rule | None:
        """The earliest-line rule that beats ``rule`` and matches every path it matches."""
        literal, rank, best = _literal(rule.pattern), _precedence(rule), None
        for length in self._lengths:
            if length > len(literal):
                break
            bucket = self._buckets.get(literal[:length])
            if bucket is None:
                continue
            ranks, earliest = bucket
            at = bisect_right(ranks, rank)
            if at < len(ranks) and (best is None or earliest[at].line < best.line):
                best = earliest[at]
        return best


def _shadowed(rules: list[Rule]) -> list[LintFinding]:
    """Rules that never decide, each reported against the earliest rule that covers it."""
    index, findings = _CoverIndex(rules), []
    for rule in rules:
        if not rule.pattern or (rule.directive == ALLOW and index_html_fallback(rule.pattern)):
            continue
        other = index.first_cover(rule)
        if other is not None:
            findings.append(_shadow_finding(rule, other))
    return findings


def _shadow_finding(rule: Rule, other: Rule) -> LintFinding:
    same = other.directive == rule.directive
    code = (
        "duplicate-rule"
        if same and other.pattern == rule.pattern
        else ("redundant-rule" if same else "shadowed-rule")
    )
    verb = "repeats" if code == "duplicate-rule" else "is covered by"
    effect = "never decides anything" if not same else "changes nothing"
    return LintFinding(
        rule.line,
        code,
        f"{rule.directive.capitalize()}: {rule.pattern} {effect}: it {verb} "
        f"{other.directive.capitalize()}: {other.pattern} (line {other.line})",
        WARNING if not same or code == "duplicate-rule" else INFO,
    )
