"""Spec table for `robots lint`: each case names the line and the finding code it must give."""

from __future__ import annotations

import random

import pytest

from botguard.robots import lint as lint_module
from botguard.robots._matcher import index_html_fallback
from botguard.robots.lint import lint
from botguard.robots.records import LintFinding, Rule


def _codes(body: str | bytes) -> set[tuple[int, str]]:
    return {(f.line, f.code) for f in lint(body)}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Disallow: /x\nUser-agent: *\nDisallow: /y\n", {(1, "rule-before-agent")}),
        ("User-agent: *\nNoindex: /x\n", {(2, "unknown-directive")}),
        ("User-agent: *\nCrawl-delay: 5\nContent-Signal: ai-train=no\n", set()),
        ("User-agent: *\nDisalow: /x\n", {(2, "key-typo")}),
        ("Useragent: *\nDisallow: /x\n", {(1, "key-typo")}),
        ("User-agent: *\nDisallows: /x\n", {(2, "key-suffix")}),
        ("User-agent: *\nDisallow /x\n", {(2, "missing-colon")}),
        ("User-agent: *\nDisallow /x /y\n", {(2, "ignored-line")}),
        ("User-agent: *\nDisallow: /a#b\n", {(2, "hash-in-path")}),
        ("User-agent: *\nDisallow: /a # note\n", set()),
        (b"User-agent: *\n\xef\xbb\xbfDisallow: /x\n", {(2, "bom-mid-file"), (2, "unknown-directive")}),
        (b"\xefUser-agent: *\nDisallow: /x\n", {(1, "partial-bom")}),
        (b"User-agent: *\nDisallow: /a\x00b\n", {(2, "nul-byte")}),
        ("User-agent: *\nDisallow: /" + "a" * 17000 + "\n", {(2, "line-too-long")}),
        ("User-agent: Googlebot/2.1\nDisallow: /x\n", {(1, "agent-cut")}),
        ("User-agent: *Bot\nDisallow: /x\n", {(1, "agent-empty")}),
        ("User-agent: * all\nDisallow: /x\n", {(1, "agent-star-suffix")}),
        ("User-agent: *\nDisallow: /a\nAllow: /a\n", {(2, "shadowed-rule")}),
        ("User-agent: *\nAllow: /a\nDisallow: /a*\n", {(2, "shadowed-rule")}),
        ("User-agent: *\nDisallow: /a\nDisallow: /a\n", {(3, "duplicate-rule")}),
        ("User-agent: *\nDisallow: /a\nDisallow: /a/b\n", set()),  # longer rule: not provably redundant
        ("User-agent: *\nDisallow: /a/b\nDisallow: /a/b*\n", {(2, "redundant-rule")}),
        ("User-agent: *\nDisallow: /a/b\nAllow: /a\n", set()),  # longer disallow still decides /a/b
        ("User-agent: *\nDisallow: /\nAllow: /*\n", {(2, "shadowed-rule")}),
        ("User-agent: *\nAllow: /d/index.html\nDisallow: /d/\n", set()),
        ("User-agent: *\nDisallow: /a\nUser-agent: Foo\nAllow: /a\n", set()),  # different agents
        (
            "User-agent: Foo\nDisallow: /a\nUser-agent: foo\nAllow: /a\n",
            {(2, "shadowed-rule")},
        ),  # merged groups
        ("User-agent: *\nDisallow: /\nUser-agent: Foo\n", {(3, "group-without-rules")}),
        ("User-agent: *\nDisallow: /private/\n", set()),
    ],
)
def test_lint_finding(body: str | bytes, expected: set[tuple[int, str]]) -> None:
    """Each body yields exactly these (line, code) findings."""
    assert _codes(body) == expected


def test_lint_never_crashes_on_garbage() -> None:
    """Binary garbage gives findings, never an exception."""
    rng = random.Random(5)
    for _ in range(50):
        lint(bytes(rng.randrange(256) for _ in range(500)))


# -- the shadow check against the pairwise comparison it replaced ---------------------------------


def _pairwise_shadowed(rules: list[Rule]) -> list[LintFinding]:
    """The quadratic oracle: compare every rule with every other, keep the first (earliest-line)
    rule that beats and provably covers it. Written independently of lint's index."""

    def covers(wide: str, narrow: str) -> bool:
        core = wide.rstrip("*")
        if "*" in core or core.endswith("$") or (not core and wide != "*"):
            return False
        star = narrow.find("*")
        literal = narrow if star < 0 else narrow[:star]
        if literal.endswith("$") and star < 0:
            literal = literal[:-1]
        return literal.startswith(core)

    def beats(a: Rule, b: Rule) -> bool:
        if len(a.pattern) != len(b.pattern):
            return len(a.pattern) > len(b.pattern)
        if a.directive != b.directive:
            return a.directive == "allow"
        return a.line < b.line

    findings = []
    for rule in rules:
        if not rule.pattern or (rule.directive == "allow" and index_html_fallback(rule.pattern)):
            continue
        for other in rules:
            if (
                other is not rule
                and other.pattern
                and beats(other, rule)
                and covers(other.pattern, rule.pattern)
            ):
                same = other.directive == rule.directive
                code = (
                    "duplicate-rule"
                    if same and other.pattern == rule.pattern
                    else ("redundant-rule" if same else "shadowed-rule")
                )
                verb = "repeats" if code == "duplicate-rule" else "is covered by"
                effect = "never decides anything" if not same else "changes nothing"
                message = (
                    f"{rule.directive.capitalize()}: {rule.pattern} {effect}: it {verb} "
                    f"{other.directive.capitalize()}: {other.pattern} (line {other.line})"
                )
                severity = "warning" if not same or code == "duplicate-rule" else "info"
                findings.append(LintFinding(rule.line, code, message, severity))
                break
    return findings


def _overlapping_body(rng: random.Random, rules: int) -> str:
    """Rules over a tiny alphabet, so that many cover, repeat or shadow each other."""
    lines = ["User-agent: *"]
    for _ in range(rules):
        if rng.random() < 0.05:
            lines.append(rng.choice(["User-agent: FooBot", "User-agent: *", "User-agent: foobot"]))
        pattern = "/" + "".join(rng.choice("ab/*") for _ in range(rng.randint(0, 4)))
        pattern = rng.choice(["", "*", "$", "*$"]) if rng.random() < 0.03 else pattern
        pattern += rng.choice(["", "", "", "*", "**", "$"])
        lines.append(f"{rng.choice(['Allow', 'Disallow', 'Disallow'])}: {pattern}")
    return "\n".join(lines) + "\n"


def _with_pairwise(monkeypatch: pytest.MonkeyPatch, body: str) -> list[LintFinding]:
    with monkeypatch.context() as patched:
        patched.setattr(lint_module, "_shadowed", _pairwise_shadowed)
        return lint(body)


def test_shadow_index_finds_what_pairwise_comparison_finds(monkeypatch: pytest.MonkeyPatch) -> None:
    """On 300 random small files the indexed check reports exactly the pairwise check's findings,
    each against the same covering rule (the earliest line)."""
    rng = random.Random(12)
    shadowed = 0
    for _ in range(300):
        body = _overlapping_body(rng, rng.randint(1, 40))
        expected = _with_pairwise(monkeypatch, body)
        assert lint(body) == expected, body
        shadowed += sum(f.code in ("shadowed-rule", "redundant-rule", "duplicate-rule") for f in expected)
    assert shadowed > 1000  # the files exercise the check, not only its empty case


def test_shadow_index_on_thousands_of_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 3,000-rule file of site-like paths: the same findings as the pairwise check."""
    rng = random.Random(13)
    words = ["shop", "cart", "blog", "api", "static", "p1", "p2", "tag", "x"]
    lines = ["User-agent: *"]
    for _ in range(3000):
        path = "/" + "/".join(rng.choice(words) for _ in range(rng.randint(1, 4)))
        path += rng.choice(["", "", "/", "*", "$", "*.json$", "?"])
        lines.append(f"{rng.choice(['Allow', 'Disallow', 'Disallow'])}: {path}")
    body = "\n".join(lines) + "\n"
    found = lint(body)
    assert found == _with_pairwise(monkeypatch, body)
    assert sum(f.code == "shadowed-rule" for f in found) > 100
