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
    by_token: dict[str | None, list[Rule]] = defaultdict(list)
    named_with_rules: dict[str, bool] = {}
    for group in robots.groups:
        tokens = {None if t is None else t.lower() for t in map(agent_token, group.agents)}
        for token in tokens:
            by_token[token].extend(group.rules)
            if token:
                named_with_rules[token] = named_with_rules.get(token, False) or bool(group.rules)
    for rules in by_token.values():
        findings += _shadowed(sorted(set(rules), key=lambda r: r.line))
    star_has_rules = bool(by_token.get(None))
    for group in robots.groups:
        tokens = [agent_token(v) for v in group.agents]
        if not group.rules and star_has_rules and any(t and not named_with_rules[t.lower()] for t in tokens):
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


def _covers(wide: str, narrow: str) -> bool:
    """Provably: every path ``narrow`` matches is matched by ``wide`` (prefix-literal ``wide``)."""
    core = wide.rstrip("*")
    if "*" in core or core.endswith("$") or (not core and wide != "*"):
        return False
    star = narrow.find("*")
    literal = narrow if star < 0 else narrow[:star]
    if literal.endswith("$") and star < 0:
        literal = literal[:-1]
    return literal.startswith(core)


def _beats(a: Rule, b: Rule) -> bool:
    """Whether ``a`` takes precedence over ``b`` when both match (longer; allow wins ties)."""
    if len(a.pattern) != len(b.pattern):
        return len(a.pattern) > len(b.pattern)
    if a.directive != b.directive:
        return a.directive == ALLOW
    return a.line < b.line


def _shadowed(rules: list[Rule]) -> list[LintFinding]:
    findings = []
    for rule in rules:
        if not rule.pattern or (rule.directive == ALLOW and index_html_fallback(rule.pattern)):
            continue
        for other in rules:
            if other is rule or not other.pattern or not _beats(other, rule):
                continue
            if _covers(other.pattern, rule.pattern):
                same = other.directive == rule.directive
                code = (
                    "duplicate-rule"
                    if same and other.pattern == rule.pattern
                    else ("redundant-rule" if same else "shadowed-rule")
                )
                verb = "repeats" if code == "duplicate-rule" else "is covered by"
                effect = "never decides anything" if not same else "changes nothing"
                findings.append(
                    LintFinding(
                        rule.line,
                        code,
                        f"{rule.directive.capitalize()}: {rule.pattern} {effect}: it {verb} "
                        f"{other.directive.capitalize()}: {other.pattern} (line {other.line})",
                        WARNING if not same or code == "duplicate-rule" else INFO,
                    )
                )
                break
    return findings
