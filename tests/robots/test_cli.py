"""`botguard robots check|lint|generate` through the real CLI entry point (in-process)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from botguard.robots import RobotsTxt

from . import gen

try:  # tests/ is not a package: pytest puts it on sys.path as the root of tests/robots
    from helpers import run_cli
except ImportError:  # pragma: no cover - if tests/ becomes a package
    from tests.helpers import run_cli

CORPUS = Path(__file__).parent / "corpus"
SHOP = str(CORPUS / "typical-shop.txt")


def test_check_prints_verdict_and_deciding_line() -> None:
    """check: one line per URL with allowed/disallowed and the deciding rule's line."""
    r = run_cli("robots", "check", "--robots", SHOP, "--agent", "FooBot", "/", "/cart?x", "/search/")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].startswith("allowed\t/\t(no rule matches)")
    assert lines[1] == "disallowed\t/cart?x\t(line 6: Disallow: /cart)"
    assert "line 12: Allow: /search/index.html" in lines[2]


def test_check_json() -> None:
    """check --format json carries the rule's line, directive and pattern."""
    r = run_cli("robots", "check", "--robots", SHOP, "--agent", "GPTBot", "--format", "json", "/x")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)["results"][0]
    assert result == {
        "url": "/x",
        "path": "/x",
        "allowed": False,
        "rule": {"line": 25, "directive": "disallow", "pattern": "/"},
    }


def test_check_missing_file_is_exit_1() -> None:
    """An unreadable robots.txt is a runtime error with a one-line reason."""
    r = run_cli("robots", "check", "--robots", "/nonexistent/robots.txt", "--agent", "x", "/")
    assert r.exit_code == 1 and "cannot read robots.txt" in r.stderr


def test_lint_clean_file_exits_0_silently(tmp_path: Path) -> None:
    """A clean file: no output, exit 0, even with --strict."""
    path = tmp_path / "robots.txt"
    path.write_text("User-agent: *\nDisallow: /private/\n")
    r = run_cli("robots", "lint", "--strict", str(path))
    assert (r.exit_code, r.stdout) == (0, ""), r.output


def test_lint_findings_exit_0_or_3_with_strict() -> None:
    """Findings print one per line with the line number; --strict turns warnings into exit 3."""
    path = str(CORPUS / "messy-crlf-typos.txt")
    r = run_cli("robots", "lint", path)
    assert r.exit_code == 0, r.output
    assert f"{path}:2: warning: 'disalow' is a typo" in r.stdout
    assert run_cli("robots", "lint", "--strict", path).exit_code == 3


def test_lint_info_only_does_not_fail_strict(tmp_path: Path) -> None:
    """Info findings (e.g. a cut user-agent value) never fail --strict."""
    path = tmp_path / "robots.txt"
    path.write_text("User-agent: Googlebot/2.1\nDisallow: /x\n")
    r = run_cli("robots", "lint", "--strict", str(path))
    assert r.exit_code == 0 and "agent-cut" in r.stdout, r.output


def _oversized(tmp_path: Path) -> Path:
    """600 KiB: a ``*`` group, comments, and past the 500 KiB limit a FooBot group disallowing all."""
    path = tmp_path / "robots.txt"
    tail = b"User-agent: FooBot\nDisallow: /\n" + b"# padding\n" * (100 * 1024 // 10)
    path.write_bytes(gen.padded(b"User-agent: *\nDisallow: /cart\n", tail, 500 * 1024)[: 600 * 1024])
    return path


def test_check_reads_the_first_500_kib_with_a_warning(tmp_path: Path) -> None:
    """A local file over 500 KiB is judged as Google reads it: the group past the limit is ignored."""
    path = _oversized(tmp_path)
    r = run_cli("robots", "check", "--robots", str(path), "--agent", "FooBot", "/page", "/cart")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == [
        "allowed\t/page\t(no rule matches)",
        "disallowed\t/cart\t(line 2: Disallow: /cart)",
    ]
    assert r.stderr == (
        f"botguard: warning: {path}: only the first 500 KiB of 600 KiB is read, as Google reads it: "
        "everything after line 5122 is ignored\n"
    )


def test_check_from_stdin_is_cut_too(tmp_path: Path) -> None:
    """``--robots -`` reads at most 500 KiB from the pipe (its size is unknown)."""
    body = _oversized(tmp_path).read_bytes()
    r = run_cli("robots", "check", "--robots", "-", "--agent", "FooBot", "/page", stdin=body)
    assert r.exit_code == 0 and r.stdout.startswith("allowed\t/page"), r.output
    assert "warning: -: only the first 500 KiB is read, as Google reads it" in r.stderr


def test_lint_of_an_oversized_file_says_so(tmp_path: Path) -> None:
    """lint lints the first 500 KiB, reports the cut on the last line read, and --strict fails."""
    path = _oversized(tmp_path)
    r = run_cli("robots", "lint", "--format", "json", str(path))
    assert r.exit_code == 0, r.output
    findings = json.loads(r.stdout)
    assert [(f["line"], f["code"], f["severity"]) for f in findings] == [(5122, "file-too-large", "warning")]
    assert "only the first 500 KiB of 600 KiB is read" in findings[0]["message"]
    assert "botguard: warning:" in r.stderr
    assert run_cli("robots", "lint", "--strict", str(path)).exit_code == 3


def test_generate_agents_new_file() -> None:
    """generate --agent: one Disallow: / group per token, sorted."""
    r = run_cli("robots", "generate", "--agent", "GPTBot", "--agent", "CCBot")
    assert r.exit_code == 0, r.output
    robots = RobotsTxt.parse(r.stdout)
    assert not robots.is_allowed("GPTBot", "/") and not robots.is_allowed("CCBot", "/x")
    assert robots.is_allowed("Googlebot", "/")
    assert r.stdout.index("User-agent: CCBot") < r.stdout.index("User-agent: GPTBot")


@pytest.mark.parametrize("token", ["GPT\nBot", "Bot/1.0", "Foo Bar", "a\rDisallow: /", "*", ""])
def test_generate_rejects_unsafe_tokens(token: str) -> None:
    """A token is only [A-Za-z_-]+: newlines can never inject a directive."""
    r = run_cli("robots", "generate", "--agent", token)
    assert r.exit_code == 2 and "invalid robots.txt token" in r.stderr, r.output


def test_generate_from_scan_json(tmp_path: Path) -> None:
    """--from takes the tokens of crawlers whose verdict is block."""
    scan = tmp_path / "scan.json"
    scan.write_text(
        json.dumps(
            {
                "summary": {},
                "clients": [],
                "crawlers": [
                    {"name": "GPTBot", "verdict": "block", "robots_token": "GPTBot"},
                    {"name": "Googlebot", "verdict": "allow", "robots_token": "Googlebot"},
                    {"name": "Bytespider", "verdict": "block"},
                ],
            }
        )
    )
    r = run_cli("robots", "generate", "--from", str(scan))
    assert r.exit_code == 0, r.output
    robots = RobotsTxt.parse(r.stdout)
    assert not robots.is_allowed("GPTBot", "/") and not robots.is_allowed("Bytespider", "/")
    assert robots.is_allowed("Googlebot", "/")


def test_generate_from_scan_with_hostile_token_is_input_error(tmp_path: Path) -> None:
    """A hostile token inside scan JSON is refused (exit 1), not rendered."""
    scan = tmp_path / "scan.json"
    scan.write_text(
        json.dumps({"crawlers": [{"name": "x", "verdict": "block", "robots_token": "X\nAllow: /"}]})
    )
    r = run_cli("robots", "generate", "--from", str(scan))
    assert r.exit_code == 1 and "invalid robots.txt token" in r.stderr, r.output


def test_generate_merge_keeps_other_groups(tmp_path: Path) -> None:
    """--merge: every other group keeps its exact lines; blocked tokens lose older groups' lines."""
    out = tmp_path / "robots.txt"
    r = run_cli(
        "robots",
        "generate",
        "--merge",
        SHOP,
        "--agent",
        "Googlebot",
        "--agent",
        "Bytespider",
        "--content-signal",
        "search=yes, ai-train=no",
        "--output",
        str(out),
    )
    assert r.exit_code == 0, r.output
    text = out.read_text()
    for block in (
        "User-agent: Googlebot-Image\nAllow: /images/\nDisallow: /images/private/\nDisallow: /*.gif$\n",
        "User-agent: AhrefsBot\nCrawl-delay: 10\nDisallow: /catégorie/\n",
        "User-agent: GPTBot\nUser-agent: CCBot\nUser-agent: ClaudeBot\nDisallow: /\n",
    ):
        assert block in text
    assert "User-agent: *\nContent-Signal: search=yes, ai-train=no\nDisallow: /cart\n" in text
    assert "note: removed blocked crawlers' User-agent lines" in r.stderr
    before, after = RobotsTxt.parse(Path(SHOP).read_bytes()), RobotsTxt.parse(text)
    assert not after.is_allowed("Googlebot", "/") and not after.is_allowed("Bytespider", "/")
    for agent in ("Bingbot", "FooBot", "GPTBot", "Googlebot-Image", "AhrefsBot"):
        for url in ("/", "/cart", "/account/login", "/images/private/a", "/x.gif", "/search/"):
            assert after.is_allowed(agent, url) == before.is_allowed(agent, url), (agent, url)


def test_generate_is_idempotent(tmp_path: Path) -> None:
    """Merging the same plan into its own output changes nothing."""
    first = tmp_path / "a.txt"
    run_cli("robots", "generate", "--merge", SHOP, "--agent", "GPTBot", "--output", str(first))
    again = run_cli("robots", "generate", "--merge", str(first), "--agent", "GPTBot")
    assert again.stdout == first.read_text()


def test_generate_bad_content_signal() -> None:
    """--content-signal only takes name=yes|no pairs."""
    r = run_cli("robots", "generate", "--agent", "X", "--content-signal", "search=yes\nDisallow: /")
    assert r.exit_code == 2, r.output


def test_generate_nothing_is_usage_error() -> None:
    """No token source at all is a usage error."""
    assert run_cli("robots", "generate").exit_code == 2


def test_generate_category_from_catalogue() -> None:
    """--category blocks every catalogue crawler of that category that has a token."""
    pytest.importorskip("botguard.catalog")
    r = run_cli("robots", "generate", "--category", "ai-training")
    assert r.exit_code == 0, r.output
    assert not RobotsTxt.parse(r.stdout).is_allowed("GPTBot", "/")
    assert run_cli("robots", "generate", "--category", "no-such").exit_code == 2


def test_check_warns_about_full_user_agent_strings() -> None:
    """A full UA string as --agent matches no group (Google semantics): say so on stderr."""
    r = run_cli("robots", "check", "--robots", SHOP, "--agent", "Mozilla/5.0 (compatible; GPTBot/1.0)", "/")
    assert r.exit_code == 0 and r.stdout.startswith("allowed") and "product token" in r.stderr, r.output


def test_generate_dedupes_tokens_case_insensitively() -> None:
    """GPTBot and gptbot are one token: one group."""
    r = run_cli("robots", "generate", "--agent", "GPTBot", "--agent", "gptbot")
    assert r.stdout.lower().count("user-agent: gptbot") == 1, r.output
