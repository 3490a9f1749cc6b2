"""Debian's Chromium, headless, driven by playwright (no browser download: the system binary)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # a name that is not loopback, so a page there is not a secure context (no crypto.subtle)
    "--host-resolver-rules=MAP plain.test 127.0.0.1",
]  # fmt: skip


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium for the block; a missing binary fails (CI installs it)."""
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def solve_in(page: Page, url: str) -> float:
    """Load ``url`` as a challenged client and wait for the content: seconds from the challenge
    page's arrival to the solved challenge's POST."""
    seen: dict[str, float] = {}
    page.on("response", lambda r: seen.setdefault("page", time.monotonic()) if r.status == 403 else None)
    page.on(
        "request",
        lambda r: seen.setdefault("verify", time.monotonic()) if "/.botguard/verify" in r.url else None,
    )
    page.goto(url)
    # a locator, not wait_for_function: the challenge page's CSP forbids the eval that one needs
    page.locator("body", has_text="the real content").wait_for(timeout=60_000)
    assert {"page", "verify"} <= set(seen), seen
    return seen["verify"] - seen["page"]
