"""``botguard robots check|lint|generate``: ask, audit and write robots.txt files.

Each reads its inputs as a crawler would (a local robots.txt counts to its first 500 KiB: the
report says when a file was longer) and returns what the CLI shows; the text formats are
:mod:`botguard.robots.tasks`'. ``-`` reads standard input.
"""

from __future__ import annotations

from dataclasses import dataclass

from botguard.app.env import Env
from botguard.robots import tasks
from botguard.robots.limit import read_robots
from botguard.robots.records import LintFinding, Permission, Truncation

__all__ = [
    "RobotsCheckReport", "RobotsCheckRequest", "RobotsGenerateReport", "RobotsGenerateRequest",
    "RobotsLintReport", "RobotsLintRequest", "run_robots_check", "run_robots_generate", "run_robots_lint",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class RobotsCheckRequest:
    """May ``agent`` (a product token) fetch each URL under the robots.txt at ``robots_path``?"""

    robots_path: str
    agent: str
    urls: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RobotsCheckReport:
    """One verdict (with its deciding rule) per URL; a hint when ``agent`` is not a bare token."""

    permissions: tuple[Permission, ...]
    truncation: Truncation | None = None  # the file is longer than a crawler reads
    note: str | None = None


@dataclass(frozen=True, slots=True)
class RobotsLintRequest:
    """Audit one robots.txt; with ``strict`` any warning fails the run."""

    path: str
    strict: bool = False


@dataclass(frozen=True, slots=True)
class RobotsLintReport:
    """The findings, sorted by line, and whether ``strict`` makes them a failure."""

    findings: tuple[LintFinding, ...]
    truncation: Truncation | None = None
    failed: bool = False


@dataclass(frozen=True, slots=True)
class RobotsGenerateRequest:
    """Which crawler tokens to block (named, from a scan report, by category), merged into a file."""

    agents: tuple[str, ...] = ()
    scan_json: str | None = None
    categories: tuple[str, ...] = ()
    merge: str | None = None
    content_signal: str | None = None


@dataclass(frozen=True, slots=True)
class RobotsGenerateReport:
    """The robots.txt text, and notes on the groups of ``merge`` it changed."""

    text: str
    notes: tuple[str, ...] = ()


def run_robots_check(request: RobotsCheckRequest, env: Env) -> RobotsCheckReport:
    """Google's exact decision for each URL."""
    body, truncation = read_robots(request.robots_path)
    permissions = tasks.check(body, request.agent, request.urls)
    return RobotsCheckReport(tuple(permissions), truncation, tasks.agent_note(request.agent))


def run_robots_lint(request: RobotsLintRequest, env: Env) -> RobotsLintReport:
    """Lines Google ignores, reads differently from other parsers, or that never apply."""
    body, truncation = read_robots(request.path)
    findings = tasks.lint_file(body, truncation)
    return RobotsLintReport(tuple(findings), truncation, request.strict and tasks.strict_failure(findings))


def run_robots_generate(request: RobotsGenerateRequest, env: Env) -> RobotsGenerateReport:
    """Groups disallowing every requested token (an error when nothing is requested)."""
    text, notes = tasks.generate_robots(
        request.agents, request.scan_json, request.categories, request.merge, request.content_signal
    )
    return RobotsGenerateReport(text, tuple(notes))
