"""The application layer: every verb runs as ``run_<verb>(request, env)`` without click, with its
state, clock and output taken from the ``Env`` it is given."""

from __future__ import annotations

import importlib
import io
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

import botguard.app
from botguard.app import (
    CandidatesListRequest,
    CandidatesReviewRequest,
    DeployRequest,
    Env,
    RobotsCheckRequest,
    RobotsGenerateRequest,
    RobotsLintRequest,
    ScanRequest,
    WatchRequest,
    run_candidates_list,
    run_candidates_review,
    run_deploy,
    run_robots_check,
    run_robots_generate,
    run_robots_lint,
    run_scan,
    run_watch,
)
from botguard.config import load_settings
from botguard.decide.store import load_decisions
from botguard.errors import UsageError
from botguard.judge.store import latest_scan
from botguard.model.store import CandidateStore
from botguard.report.json import scan_document
from botguard.robots.limit import MAX_BYTES
from botguard.robots.sources import RobotsOption
from botguard.state import State
from tests.e2e.traffic import write
from tests.helpers import run_cli
from tests.model.test_candidates_store import candidate

ROOT = Path(__file__).resolve().parents[2]
LOG, ROBOTS = ROOT / "examples" / "access.log", ROOT / "examples" / "robots.txt"
#: A clock far from the wall clock: anything stamped with the real time instead would show.
LATER = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)


def _scan_request(**options: object) -> ScanRequest:
    return ScanRequest(
        paths=(str(LOG),), settings=load_settings(None), robots=RobotsOption(default=str(ROBOTS)), dns=False,
        **options,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state database holding one scan of the bundled example log, made through run_scan."""
    state = tmp_path_factory.mktemp("app") / "state.db"
    run_scan(_scan_request(), Env(state_path=str(state)))
    return state


def test_every_exported_name_resolves_to_its_verb_module() -> None:
    """`botguard.app` exports each verb module's request, report and function, and nothing stale."""
    exported = set(botguard.app.__all__)
    for name in exported:
        assert getattr(botguard.app, name) is not None
    modules = {"candidates", "cloudflare", "deploy", "robots", "scan", "update", "verify", "watch"}
    for module in modules:
        verb = importlib.import_module(f"botguard.app.{module}")
        runs = {n for n in verb.__all__ if n.startswith("run_")}
        assert runs and runs <= exported, module
        for run in runs:
            stem = "".join(part.title() for part in run.removeprefix("run_").split("_"))
            assert {f"{stem}Request", f"{stem}Report"} <= exported, run


def test_one_verb_does_not_load_the_others() -> None:
    """`botguard robots check` loads neither the Cloudflare SDK nor numpy (start-up time)."""
    code = "import sys, botguard.cli.robots, botguard.app; print(sorted(m for m in ('cloudflare', 'numpy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stderr


def test_scan_is_the_cli_scan_and_saves_to_the_env_state(scanned: Path, tmp_path: Path) -> None:
    """run_scan gives the document `scan --format json` prints, reports progress to the Env, and
    stores the scan in the Env's state database."""
    seen: list[int] = []
    report = run_scan(_scan_request(save=False, fail_on="block"), Env(progress=seen.append))
    assert sum(seen) == report.result.summary.lines > 0
    assert report.result.verdict_counts()["block"] and report.fail_on_met
    assert not run_scan(_scan_request(save=False), Env()).fail_on_met  # no fail_on: never met
    cli = run_cli("scan", str(LOG), "--robots", str(ROBOTS), "--no-dns", "--no-save", "--format", "json",
                  "--state", str(tmp_path / "unused.db"))  # fmt: skip
    assert cli.exit_code == 0, cli.output
    assert scan_document(report.result) == json.loads(cli.stdout)
    with State(scanned) as state:
        assert latest_scan(state) is not None


def test_scan_without_paths_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="no log file given"):
        run_scan(ScanRequest(paths=(), settings=load_settings(None)), Env())


def test_deploy_dry_run_uses_the_env_clock_and_writes_nothing(scanned: Path, tmp_path: Path) -> None:
    """A dry run diffs and replays the scanned traffic; its decisions expire relative to Env.now;
    neither the rules directory nor the stored decisions change."""
    rules = tmp_path / "rules"
    rules.mkdir()
    request = DeployRequest(load_settings(None), nginx_dir=str(rules), dry_run=True)
    report = run_deploy(request, Env(state_path=str(scanned), now=lambda: LATER))
    (outcome,) = report.outcomes
    assert outcome.target == "nginx" and outcome.changed and "+++" in outcome.diff
    assert report.impact is not None and report.impact.rows
    blocks = [d for d in report.decisions.decisions if d.action == "block"]
    assert blocks and all(d.expires_at is not None and d.expires_at > LATER for d in blocks)
    assert list(rules.iterdir()) == []
    with State(scanned) as state:
        assert load_decisions(state) == {}
    assert report.cloudflare is None and report.cloudflare_failure is None


def test_candidates_list_and_review_use_the_env_clock(tmp_path: Path) -> None:
    """Rows are the JSON contract `candidates list` prints; a review is stamped with Env.now."""
    state_path = tmp_path / "state.db"
    with State(state_path) as state:
        CandidateStore(state).upsert([candidate(), candidate("asn=64500", "asn", "64500")], now=LATER)
    env = Env(state_path=str(state_path), now=lambda: LATER)
    rows = run_candidates_list(CandidatesListRequest(load_settings(None)), env).rows
    assert {row["signature"] for row in rows} == {"ua_tok=novascrape", "asn=64500"}
    cli = run_cli("candidates", "list", "--format", "json", "--state", str(state_path))
    assert [r["signature"] for r in json.loads(cli.stdout)["candidates"]] == [r["signature"] for r in rows]
    (approved,) = run_candidates_review(
        CandidatesReviewRequest("approve", ("ua_tok=novascrape",)), env
    ).changed
    assert approved.status == "approved" and approved.reviewed_at == LATER
    only = run_candidates_list(CandidatesListRequest(load_settings(None), "approved"), env).rows
    assert [row["signature"] for row in only] == ["ua_tok=novascrape"]


def test_a_review_is_approve_or_reject() -> None:
    with pytest.raises(UsageError, match="unknown review 'maybe'"):
        CandidatesReviewRequest("maybe", ("x",))


def test_watch_once_streams_candidates_to_the_env(tmp_path: Path) -> None:
    """watch --once as a function: candidates go to Env.stdout as proposed, the status line to
    Env.log, the totals come back in the report, the candidates land in the Env's state."""
    log, robots, lines = write(tmp_path)
    out, said = io.StringIO(), []
    request = WatchRequest(paths=(str(log),), settings=load_settings(None), robots=RobotsOption(default=str(robots)),
                           once=True)  # fmt: skip
    report = run_watch(request, Env(state_path=str(tmp_path / "s.db"), stdout=out, log=said.append))
    assert (report.lines, report.parsed, report.malformed) == (len(lines), len(lines), 0)
    printed = out.getvalue().splitlines()
    assert len(printed) == report.new_candidates > 0
    assert any(line.startswith("candidate ua_tok=novascrape:") for line in printed)
    assert said[-1].startswith(f"watch: {len(lines)} lines ({len(lines)} parsed, 0 malformed)")
    with State(tmp_path / "s.db") as state:
        assert len(CandidateStore(state).list()) == report.new_candidates
    assert (tmp_path / "s.model").is_dir()  # the snapshot, beside the Env's state database


def test_robots_check_lint_and_generate(tmp_path: Path) -> None:
    """The robots verbs as functions: Google's verdicts with the deciding rule, the 500 KiB cut and
    the full-UA hint in the report, lint's strict outcome, the generated groups."""
    robots = tmp_path / "robots.txt"
    robots.write_bytes(b"User-agent: GPTBot\nDisallow: /private/\n" + b"# padding\n" * (MAX_BYTES // 10))
    report = run_robots_check(RobotsCheckRequest(str(robots), "GPTBot", ("/private/a", "/public")), Env())
    assert [v.allowed for v in report.permissions] == [False, True]
    rule = report.permissions[0].rule
    assert rule is not None and (rule.line, rule.pattern) == (2, "/private/")
    assert report.truncation is not None and report.note is None
    full_ua = run_robots_check(RobotsCheckRequest(str(robots), "Mozilla/5.0 GPTBot", ("/",)), Env())
    assert full_ua.note is not None and "product token" in full_ua.note
    odd = tmp_path / "odd.txt"
    odd.write_text("User-agent: *\nDisalow: /x\n")
    assert run_robots_lint(RobotsLintRequest(str(odd), strict=True), Env()).failed
    lenient = run_robots_lint(RobotsLintRequest(str(odd)), Env())
    assert lenient.findings and not lenient.failed
    generated = run_robots_generate(RobotsGenerateRequest(agents=("GPTBot", "CCBot")), Env())
    assert "User-agent: GPTBot" in generated.text and "Disallow: /" in generated.text
