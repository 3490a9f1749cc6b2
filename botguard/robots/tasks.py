"""The functions behind ``botguard robots check|lint|generate``: read inputs, decide, format.

The click commands only parse options, call one of these and print the returned text, so
everything here is testable without click. Errors are raised as :mod:`botguard.errors` types;
nothing here prints or exits.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from botguard.errors import InputError, Location, UsageError
from botguard.robots.generate import generate, validate_token
from botguard.robots.lint import lint
from botguard.robots.parser import RobotsTxt, agent_token
from botguard.robots.records import LintFinding, Permission, Truncation


def read_file(path: str) -> bytes:
    """A whole file as bytes (a scan JSON, or a robots.txt to merge into); ``-`` is stdin."""
    if path == "-":
        import sys

        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror}", Location(path)) from None


def check(body: bytes, agent: str, urls: Sequence[str]) -> list[Permission]:
    """Allowed or not, and the deciding rule, for each URL."""
    robots = RobotsTxt.parse(body)
    return [robots.permission(agent, url) for url in urls]


def agent_note(agent: str) -> str | None:
    """A hint when ``--agent`` is not a bare product token (it would then match no group)."""
    if agent and agent_token(agent) == agent:
        return None
    return (
        f"--agent {agent!r} is compared exactly with each group's product token, as Google does; "
        "pass a token such as 'Googlebot', not a full User-Agent header"
    )


def format_check(agent: str, urls: Sequence[str], permissions: Sequence[Permission], fmt: str) -> str:
    """One line per URL (text) or a JSON document with the deciding rule of each."""
    if fmt == "json":
        rows = [
            {
                "url": url,
                "path": v.path,
                "allowed": v.allowed,
                "rule": None
                if v.rule is None
                else {"line": v.rule.line, "directive": v.rule.directive, "pattern": v.rule.pattern},
            }
            for url, v in zip(urls, permissions)
        ]
        return json.dumps({"agent": agent, "results": rows}, indent=2, ensure_ascii=False)
    lines = []
    for url, v in zip(urls, permissions):
        why = (
            f"line {v.rule.line}: {v.rule.directive.capitalize()}: {v.rule.pattern}"
            if v.rule
            else "no rule matches"
        )
        lines.append(f"{'allowed' if v.allowed else 'disallowed'}\t{url}\t({why})")
    return "\n".join(lines)


def lint_file(body: bytes, truncation: Truncation | None = None) -> list[LintFinding]:
    """Findings for one robots.txt (as ``limit.read_robots`` read it), sorted by line."""
    return lint(body, truncation)


def format_lint(path: str, findings: Sequence[LintFinding], fmt: str) -> str:
    """``FILE:LINE: severity: message [code]`` per finding, or JSON."""
    if fmt == "json":
        return json.dumps(
            [
                {"line": f.line, "severity": f.severity, "code": f.code, "message": f.message}
                for f in findings
            ],
            indent=2,
            ensure_ascii=False,
        )
    return "\n".join(f"{path}:{f}" for f in findings)


def strict_failure(findings: Iterable[LintFinding]) -> bool:
    """``--strict`` fails on warnings and errors; info findings never fail."""
    return any(f.severity != "info" for f in findings)


def tokens_from_scan(path: str) -> list[str]:
    """Tokens of the crawlers a scan JSON report gives the verdict ``block``.

    Uses each crawler's ``robots_token`` when present, else the catalogue's token for its name,
    else the name itself if it is a valid token; crawlers without any token are skipped.
    """
    try:
        report = json.loads(read_file(path))
        crawlers = report["crawlers"]
    except (ValueError, KeyError, TypeError):
        raise InputError(
            "not a botguard scan JSON report (no top-level 'crawlers' list)", Location(path)
        ) from None
    tokens = []
    for crawler in crawlers if isinstance(crawlers, list) else []:
        if not isinstance(crawler, dict) or crawler.get("verdict") != "block":
            continue
        token = crawler.get("robots_token") or _catalog_token(crawler.get("name"))
        name = crawler.get("name")
        if token is None and isinstance(name, str) and agent_token(name) == name and name:
            token = name  # the name is itself a valid token; names like "AI2Bot" are skipped
        if token is not None:
            try:
                tokens.append(validate_token(token, path))
            except UsageError as exc:
                raise InputError(exc.message, Location(path)) from None
    return tokens


def _catalog_token(name: object) -> str | None:
    if not isinstance(name, str):
        return None
    try:
        from botguard.catalog import load_catalog

        return load_catalog().by_name(name).robots_token
    except (ImportError, KeyError, LookupError):
        return None


def tokens_from_categories(categories: Sequence[str]) -> list[str]:
    """Tokens of every catalogue crawler in the given categories (those that have a token)."""
    if not categories:
        return []
    from botguard.catalog import load_catalog

    catalog = load_catalog()
    known = {c.category for c in catalog.crawlers}
    for category in categories:
        if category not in known:
            raise UsageError(f"unknown --category {category!r} (known: {', '.join(sorted(known))})")
    return [c.robots_token for c in catalog.crawlers if c.category in categories and c.robots_token]


def generate_robots(
    agents: Sequence[str],
    scan_json: str | None,
    categories: Sequence[str],
    merge: str | None,
    content_signal: str | None,
) -> tuple[str, list[str]]:
    """The robots.txt text blocking every requested token, and notes on changed groups."""
    tokens = [validate_token(a) for a in agents]
    if scan_json is not None:
        tokens += tokens_from_scan(scan_json)
    tokens += tokens_from_categories(categories)
    if not tokens and content_signal is None:
        raise UsageError("nothing to generate: give --agent, --from or --category (or --content-signal)")
    existing = read_file(merge) if merge is not None else None
    return generate(existing, tokens, content_signal)
