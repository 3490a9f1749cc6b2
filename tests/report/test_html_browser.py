"""The HTML report in a real browser: headless Chromium opens the file offline and uses it.

The bundled example's report: every panel's chart drawn, no console error, no request leaves
the file, the client table sorts, filters and pages; a log full of hostile agents, paths and
referrers runs no script (no dialog, no CSP violation) and shows those texts as text.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from tests.helpers import run_cli
from tests.report.browser import Watched, charts, screenshot, shown, watch
from tests.serve.browser import chromium

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
#: Every chart the example's report draws (the example has traffic in each of them).
CHARTS = {"kind-shares", "time-kinds", "time-operators", "time-verdicts", "compliance", "identity", "asns",
          "verdicts"}  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def example_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("example") / "report.html"
    result = run_cli("scan", str(EXAMPLES / "access.log"), "--robots", str(EXAMPLES / "robots.txt"),
                     "--config", str(EXAMPLES / "botguard.yaml"), "--state", str(out.with_name("state.db")),
                     "--no-dns", "--format", "html", "-o", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


def _open(browser: Browser, path: Path, **options: object) -> tuple[Page, Watched]:
    page = browser.new_page(**options)  # type: ignore[arg-type]
    seen = watch(page)
    page.goto(path.as_uri())
    page.locator("#bg-clients-table[data-ready='1']").wait_for(timeout=20_000)
    return page, seen


def test_example_report_draws_every_chart_offline(browser: Browser, example_report: Path) -> None:
    page, seen = _open(browser, example_report)
    drawn = charts(page)
    assert set(drawn) == CHARTS and all(n > 0 for n in drawn.values()), drawn
    assert (seen.errors, seen.csp, seen.dialogs, seen.requests) == ([], [], [], [])
    # evidence one click away: closed, then open on a click
    evidence = page.locator("details.evidence").first
    assert evidence.get_attribute("open") is None
    evidence.locator("summary").click()
    assert evidence.get_attribute("open") is not None
    assert screenshot(page, "example-light").stat().st_size > 10_000
    page.close()


def test_example_report_in_dark_mode(browser: Browser, example_report: Path) -> None:
    """The reader's dark preference gives a dark page (and no error)."""
    page, seen = _open(browser, example_report, color_scheme="dark")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    channels = [int(c) for c in background.removeprefix("rgb(").rstrip(")").split(",")[:3]]
    assert max(channels) < 80, background
    screenshot(page, "example-dark")
    assert seen.errors == [] and seen.csp == []
    page.close()


def test_client_table_filters_sorts_and_pages(browser: Browser, example_report: Path) -> None:
    page, seen = _open(browser, example_report)
    total = shown(page)
    assert total == 357 and page.locator("#bg-clients-table tbody tr").count() == 50
    page.fill("#bg-filter", "bytespider")
    # a locator, not wait_for_function: the page's CSP forbids the eval that one needs
    page.locator("#bg-clients-table:not([data-shown='357'])").wait_for()
    assert 0 < shown(page) < total
    rows = page.locator("#bg-clients-table tbody tr").all_inner_texts()
    assert rows and all("bytespider" in r.lower() for r in rows)
    page.fill("#bg-filter", "")
    page.locator("#bg-clients-table[data-shown='357']").wait_for()
    page.select_option("#bg-verdict", "block")
    blocked = shown(page)
    assert 0 < blocked < total
    assert all(
        r.split("\t")[0].strip() == "block"
        for r in page.locator("#bg-clients-table tbody tr").all_inner_texts()
    )
    page.select_option("#bg-verdict", "")
    # sort by requests, busiest first
    page.locator("#bg-clients-table thead button", has_text="requests").click()
    column = page.evaluate(
        "[...document.querySelectorAll('#bg-clients-table thead th')].findIndex(th => th.hasAttribute('aria-sort'))"
    )
    values = page.locator(f"#bg-clients-table tbody tr td:nth-child({column + 1})").all_inner_texts()
    numbers = [int(v.replace(",", "")) for v in values]
    assert numbers == sorted(numbers, reverse=True) and numbers[0] > numbers[-1]
    page.click("#bg-next")
    assert "page 2 of 8" in page.inner_text("#bg-page")
    assert seen.errors == [] and seen.csp == []
    page.close()


# ---------------------------------------------------------------------------- hostile log

HOSTILE = [
    '<script>alert("agent")</script>',
    "x\\x22 onerror=alert(2) y",  # nginx escapes a quote in the agent as \x22
    '"><img src=x onerror=alert(3)>',
    "javascript:alert(4)",
    "Mozilla/5.0 (compatible; <svg/onload=alert(5)>bot/1.0)",
]
HOSTILE_PATHS = [
    "/internal/<script>alert(6)</script>",
    "/internal/x%22onerror=alert(7)",
    "/javascript:alert(8)",
]


def _hostile_log() -> str:
    lines = []
    for n, agent in enumerate(HOSTILE):
        ip = f"203.0.113.{n + 1}"
        for second, path in enumerate(HOSTILE_PATHS * 3):
            agent_field = agent.replace('"', "\\x22")
            lines.append(
                f'{ip} - - [04/Mar/2024:10:00:{second:02d} +0000] "GET {path} HTTP/1.1" 200 10 '
                f'"javascript:alert(9)" "{agent_field}"'
            )
        lines.append(
            f'{ip} - - [04/Mar/2024:10:01:00 +0000] "GET /internal/trap/ HTTP/1.1" 200 10 "-" "{agent_field}"'
        )
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    (root / "access.log").write_text(_hostile_log(), encoding="utf-8")
    (root / "robots.txt").write_text("User-agent: *\nDisallow: /internal/\n", encoding="utf-8")
    (root / "botguard.yaml").write_text("honeypots: [/internal/trap/]\n", encoding="utf-8")
    out = root / "report.html"
    result = run_cli("scan", str(root / "access.log"), "--robots", str(root / "robots.txt"), "--config",
                     str(root / "botguard.yaml"), "--state", str(root / "state.db"), "--no-identity",
                     "--format", "html", "-o", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


def test_hostile_log_runs_no_script(browser: Browser, hostile_report: Path) -> None:
    page, seen = _open(browser, hostile_report)
    for details in page.locator("details").all():
        details.locator("summary").click()
    page.fill("#bg-filter", "alert")
    page.wait_for_timeout(400)
    page.locator("#bg-clients-table tbody tr td.c").first.hover()
    assert seen.dialogs == [] and seen.csp == [] and seen.requests == []
    assert (
        page.evaluate(
            "document.querySelectorAll('main script, main img, main iframe, main [onerror]').length"
        )
        == 0
    )
    assert page.evaluate(
        "[...document.querySelectorAll('a[href]')].every(a => a.getAttribute('href').startsWith('#'))"
    )
    assert "/internal/<script>alert(6)</script>" in page.inner_text("#robots")
    # the agents reach the table as text (a cell's title), each one intact
    titles = page.evaluate("[...document.querySelectorAll('#bg-clients-table td.c')].map(td => td.title)")
    assert sorted(titles) == sorted(a.replace('"', "\\x22") if "x22" not in a else a for a in HOSTILE)
    screenshot(page, "hostile")
    page.close()


def test_hostile_log_markup_is_escaped(hostile_report: Path) -> None:
    """Outside the data blocks the file holds no tag from the log (checked on the bytes)."""
    html = hostile_report.read_text(encoding="utf-8")
    body = html.split("<main>", 1)[1].split('<script type="application/json"', 1)[0]
    for needle in ("<script", "<img", "<svg/onload", 'onerror="', 'javascript:alert(9)"'):
        assert needle not in body
    assert "&lt;script&gt;alert(" in body
    blocks = html.split('<script type="application/json"', 1)[1]
    assert "</script><script>" in blocks  # the page script follows the data blocks...
    assert blocks.count("</script>") == 3  # ...and no data block holds a closing tag of its own


# ---------------------------------------------------------------------------- a million lines


@pytest.fixture(scope="module")
def million_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of a generated 1M-line, 3-day log (tens of thousands of clients)."""
    tmp = tmp_path_factory.mktemp("million")
    log = tmp / "access.log"
    gen = [sys.executable, str(ROOT / "bench" / "gen_logs.py"), "--lines", "1000000", "--seed", "1", "--days", "3",
           "--out", str(log), "--robots-out", str(tmp / "robots.txt")]  # fmt: skip
    subprocess.run(gen, check=True, capture_output=True, timeout=600)
    out = tmp / "report.html"
    result = run_cli("scan", str(log), "--robots", str(tmp / "robots.txt"), "--state", str(tmp / "state.db"),
                     "--no-dns", "--format", "html", "-o", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    log.unlink()  # 230 MB
    return out


@pytest.mark.slow
def test_million_line_report(browser: Browser, million_report: Path) -> None:
    """Every chart drawn, the table (every client) filters fast; the file stays small."""
    assert million_report.stat().st_size < 5_000_000
    began = time.monotonic()
    page, seen = _open(browser, million_report)
    ready = time.monotonic() - began
    drawn = charts(page)
    assert {"kind-shares", "time-kinds", "time-operators", "time-verdicts", "compliance", "verdicts"} <= set(
        drawn
    )
    assert all(n > 0 for n in drawn.values()), drawn
    total = shown(page)
    assert total > 10_000
    page.fill("#bg-filter", "bytespider")
    page.locator(f"#bg-clients-table:not([data-shown='{total}'])").wait_for(timeout=5_000)
    assert 0 < shown(page) < total
    screenshot(page, "million")
    assert (seen.errors, seen.csp, seen.dialogs, seen.requests) == ([], [], [], [])
    assert ready < 10  # generous on a shared machine; bench/bench_report.py measures it
    page.close()


# ---------------------------------------------------------------------------- invisible text

#: Agents whose look lies: a right-to-left override shows "Googlebot/2.1", a zero-width space
#: and an isolate hide inside a name.
BIDI = ["\u202e1.2/tobelgooG", "Good\u200bBot/1.0", "Fine\u2066Bot\u2069/2.0 \ufeff"]


def test_bidi_and_invisible_characters_are_shown_not_obeyed(browser: Browser, tmp_path: Path) -> None:
    """Direction overrides, isolates and zero-width characters from the log appear as \\uXXXX in
    the report (and the terminal), so an agent cannot pose as another one on the page."""
    lines = [
        f'203.0.113.{n + 1} - - [04/Mar/2024:10:00:{s:02d} +0000] "GET /x HTTP/1.1" 200 5 "-" "{agent}"\n'
        for n, agent in enumerate(BIDI)
        for s in range(3)
    ]
    (tmp_path / "access.log").write_text("".join(lines), encoding="utf-8")
    out = tmp_path / "report.html"
    result = run_cli("scan", str(tmp_path / "access.log"), "--state", str(tmp_path / "state.db"),
                     "--no-identity", "--format", "html", "-o", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    page, seen = _open(browser, out)
    text = page.inner_text("body")
    titles = page.evaluate("[...document.querySelectorAll('#bg-clients-table td.c')].map(td => td.title)")
    page.close()
    assert not any(c in text + "".join(titles) for c in "\u202e\u200b\u2066\u2069\ufeff")
    assert "\\u202e1.2/tobelgooG" in text
    assert sorted(titles) == sorted(
        ["\\u202e1.2/tobelgooG", "Good\\u200bBot/1.0", "Fine\\u2066Bot\\u2069/2.0 \\ufeff"]
    )
    table = run_cli("scan", str(tmp_path / "access.log"), "--no-save", "--no-identity")
    assert "\u202e" not in table.output and "\\u202e1.2/tobelgooG" in table.output
    assert seen.errors == []
