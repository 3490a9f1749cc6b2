"""A real browser as a challenged client: Chromium loads a page, solves the work, gets the content.

On nginx and Apache, with serve at its default difficulty; the same address without the pass
(curl-like clients) keeps getting the challenge.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route

from botguard.config import ServeSettings
from botguard.render.records import ChallengeTargets
from tests.serve.browser import chromium, solve_in
from tests.serve.site import CHALLENGED_IP, CHALLENGED_NET, CONTENT, OTHER_IP, Site, site

HOSTILE_AGENT = "Mozilla/5.0 \"><script>alert(1)</script> ${jndi:ldap://x/a} 'q' |pipe; {x} \\ end"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture(scope="module", params=["nginx", "apache"])
def running(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    targets = ChallengeTargets((CHALLENGED_NET,), (HOSTILE_AGENT,))
    with site(
        request.param, tmp_path_factory.mktemp(request.param), ServeSettings(timeout=5.0), targets
    ) as s:
        yield s


def _context(browser: Browser, ip: str, **options: object) -> BrowserContext:
    return browser.new_context(extra_http_headers={"X-Forwarded-For": ip}, **options)  # type: ignore[arg-type]


def _watch(page: Page) -> list[str]:
    """Collect dialogs (injected script) and CSP violations, which must never happen."""
    problems: list[str] = []
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
    return problems


def test_browser_solves_the_challenge_and_gets_the_content(running: Site, browser: Browser) -> None:
    """Challenged address: the page, solved by Chromium (Web Crypto), then the content; the pass
    holds on the next visits while the same address without it is still challenged."""
    context = _context(browser, CHALLENGED_IP)
    page = context.new_page()
    problems = _watch(page)
    seconds = solve_in(page, f"http://127.0.0.1:{running.port}/index.html?from=test")
    assert page.url.endswith("/index.html?from=test") and seconds < 30
    page.goto(f"http://127.0.0.1:{running.port}/dir/")
    assert "dir " + CONTENT.strip() in page.content()
    names = {c["name"] for c in context.cookies()}
    assert {"bg_e", "bg_h", "bg_k", "bgpass"} <= names and all(c["httpOnly"] for c in context.cookies())
    assert running.get(ip=CHALLENGED_IP).challenged  # curl-like, same address, no pass
    assert problems == []
    context.close()


def test_plain_http_site_uses_the_javascript_sha256(running: Site, browser: Browser) -> None:
    """Not a secure context (crypto.subtle missing): the plain-JS SHA-256 solves it."""
    context = _context(browser, CHALLENGED_IP)
    page = context.new_page()
    problems = _watch(page)
    solve_in(page, f"http://plain.test:{running.port}/index.html")
    # the content page has the challenge page's origin, so the challenge ran without Web Crypto too
    assert page.url.startswith("http://plain.test:")
    assert page.evaluate("[window.isSecureContext, typeof crypto.subtle]") == [False, "undefined"]
    assert problems == []
    context.close()


def test_hostile_agent_and_path_are_inert(running: Site, browser: Browser) -> None:
    """A challenged hostile agent passes (the servers and serve hash the same bytes), no script it
    or the path carries runs, and an off-site return path becomes "/"."""
    context = _context(browser, OTHER_IP, user_agent=HOSTILE_AGENT)
    page = context.new_page()
    problems = _watch(page)
    solve_in(
        page, f"http://127.0.0.1:{running.port}/index.html?q=%3C/script%3E%3Cscript%3Ealert(2)%3C/script%3E"
    )
    page.goto(f"http://127.0.0.1:{running.port}//evil.example/")
    assert page.url.startswith(f"http://127.0.0.1:{running.port}/")
    assert problems == []
    context.close()


def test_without_javascript_the_page_explains(running: Site, browser: Browser) -> None:
    """JavaScript off: the visitor reads why and what to do (noscript), nothing else happens."""
    context = _context(browser, CHALLENGED_IP, java_script_enabled=False)
    page = context.new_page()
    page.goto(f"http://127.0.0.1:{running.port}/index.html")
    assert "This check needs JavaScript" in page.inner_text("body")
    assert "the real content" not in page.content()
    context.close()


def test_fail_open_in_the_browser(tmp_path: Path, browser: Browser) -> None:
    """serve killed: the challenged browser gets the content straight away (nginx)."""
    with site("nginx", tmp_path, ServeSettings(timeout=5.0)) as s:
        s.serve.stop()
        context = _context(browser, CHALLENGED_IP)
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{s.port}/index.html")
        assert "the real content" in page.content()
        context.close()


def test_serve_dying_mid_check_still_opens_the_page(tmp_path: Path, browser: Browser) -> None:
    """serve stops between the challenge and its verification: the page retries, then opens the
    content (the server fails open) instead of stranding the visitor."""
    with site("nginx", tmp_path, ServeSettings(timeout=5.0)) as s:
        context = _context(browser, CHALLENGED_IP)
        page = context.new_page()
        attempts: list[str] = []

        def stop_serve_first(route: Route) -> None:
            if s.serve.proc is not None:
                s.serve.stop()
            attempts.append(route.request.url)
            route.continue_()

        page.route("**/.botguard/verify", stop_serve_first)
        page.goto(f"http://127.0.0.1:{s.port}/index.html")
        page.locator("body", has_text="the real content").wait_for(timeout=60_000)
        assert len(attempts) == 3
        context.close()
