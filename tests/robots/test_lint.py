"""Spec table for `robots lint`: each case names the line and the finding code it must give."""

from __future__ import annotations

import pytest

from botguard.robots.lint import lint


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
    import random

    rng = random.Random(5)
    for _ in range(50):
        lint(bytes(rng.randrange(256) for _ in range(500)))
